import Foundation
import X509

/// The registry's objects and AWS's rules for them, as a value: every operation checks its input and
/// preconditions, then changes the state or throws the AWS error, so a refused call changes nothing.
/// Stores (in memory, SQLite) hold this state; the rules live here once.
public struct RegistryState: Sendable {
    public let arns: ARNs
    /// The gateway's own CA: what CreateKeysAndCertificate and CreateCertificateFromCsr sign with (AWS's
    /// Amazon CA). Certificates it signed may be registered without registering it. Not stored.
    public let localCA: Certificate?
    var policies: [String: Policy] = [:]
    var things: [String: Thing] = [:]
    var certificates: [String: DeviceCertificate] = [:]
    var caCertificates: [String: CACertificateRecord] = [:]
    /// Policy name -> targets (certificate ARNs) it is attached to.
    var policyTargets: [String: Set<String>] = [:]
    /// Thing name -> principal (certificate ARN) -> how it is attached.
    var thingPrincipals: [String: [String: ThingPrincipalType]] = [:]
    /// GetRegistrationCode's value, the same on every call until DeleteRegistrationCode.
    var registrationCode: String?
    var thingTypes: [String: ThingType] = [:]
    var thingGroups: [String: ThingGroup] = [:]
    /// Thing name -> the static groups it is in.
    var groupMemberships: [String: Set<String>] = [:]
    /// Resource ARN -> its tags.
    var tags: [String: [String: String]] = [:]
    /// CA certificate id (registered or the gateway's CA) -> its uploaded revocation list.
    var revocationLists: [String: RevocationListRecord] = [:]
    /// ACM certificate id -> imported server certificate.
    var serverCertificates: [String: ServerCertificateRecord] = [:]
    /// Name -> domain configuration (`iot:Data-ATS` only once updated).
    var domainConfigurations: [String: DomainConfigurationRecord] = [:]
    /// Access key id -> a data-plane key with IoT policies.
    var accessKeys: [String: AccessKeyRecord] = [:]
    /// Event type -> whether its registry events are published (UpdateEventConfigurations).
    var eventConfigurations: [String: EventConfigurationRecord] = [:]
    /// Name -> billing group (a thing names its own).
    var billingGroups: [String: BillingGroup] = [:]
    /// Name -> role alias.
    var roleAliases: [String: RoleAliasRecord] = [:]
    /// Name -> topic rule.
    var topicRules: [String: TopicRuleRecord] = [:]
    /// Destination id -> topic rule destination.
    var topicRuleDestinations: [String: TopicRuleDestinationRecord] = [:]
    /// The key temporary credentials are signed with (hex), once the credentials provider has issued any.
    var credentialKey: String?
    /// UpdateIndexingConfiguration's; nil: everything OFF.
    var indexingConfiguration: IndexingConfigurationRecord?
    /// Dynamic thing group name -> its parsed query (derived from `thingGroups`, not stored).
    var dynamicQueries: [String: FleetQuery] = [:]
    /// Thing name -> the shadow and connectivity fields dynamic groups' queries name, as the gateway last
    /// read them (`Registry.setLiveFields`; not stored).
    public internal(set) var liveFields: [String: FleetDocument] = [:]

    public init(arns: ARNs, localCA: Certificate? = nil) {
        self.arns = arns
        self.localCA = localCA
    }

    // MARK: policies

    public mutating func createPolicy(name: String, document: String, now: Double) throws(RegistryError) -> Policy {
        try PolicyRules.checkName(name)
        try PolicyRules.checkDocument(document)
        guard policies[name] == nil else {
            throw RegistryError(.resourceAlreadyExists, "Policy cannot be created - name already exists (name=\(name))",
                                resourceID: name, resourceARN: arns.policy(name))
        }
        let policy = Policy(name: name, versions: [PolicyVersion(versionID: "1", document: document, createdAt: now)],
                            defaultVersionID: "1", createdAt: now, lastModifiedAt: now, generationID: Self.newGenerationID(),
                            lastVersionNumber: 1)
        policies[name] = policy
        return policy
    }

    public func policy(named name: String) throws(RegistryError) -> Policy {
        guard let policy = policies[name] else {
            throw RegistryError(.resourceNotFound, "Policy not found (name=\(name.prefix(128)))")
        }
        return policy
    }

    /// A page of policies in creation order (ascending or not), and the marker of the next page.
    public func listPolicies(marker: String?, pageSize: Int?, ascending: Bool) throws(RegistryError) -> (policies: [Policy], nextMarker: String?) {
        let sorted = policies.values.sorted { ($0.createdAt, $0.name) < ($1.createdAt, $1.name) }
        let page = try Self.page(ascending ? sorted : sorted.reversed(), key: \.name, marker: marker, pageSize: pageSize, maximum: 250)
        return (page.items, page.nextMarker)
    }

    public mutating func deletePolicy(name: String) throws(RegistryError) {
        let policy = try policy(named: name)
        guard policy.versions.count == 1 else {
            throw RegistryError(.deleteConflict, "The policy cannot be deleted as versions other than than default version exist (name=\(name))")
        }
        guard policyTargets[name, default: []].isEmpty else {
            throw RegistryError(.deleteConflict, "The policy cannot be deleted as the policy is attached to one or more principals (name=\(name))")
        }
        guard !accessKeys.values.contains(where: { $0.policyNames.contains(name) }) else {
            throw RegistryError(.deleteConflict, "The policy cannot be deleted as the policy is attached to one or more access keys (name=\(name))")
        }
        policies[name] = nil
        policyTargets[name] = nil
        forgetTags(of: arns.policy(name))
    }

    public mutating func createPolicyVersion(name: String, document: String, setAsDefault: Bool, now: Double) throws(RegistryError) -> (Policy, PolicyVersion) {
        var policy = try policy(named: name)
        try PolicyRules.checkDocument(document)
        guard policy.versions.count < PolicyRules.maximumVersions else {
            throw RegistryError(.versionsLimitExceeded, "The policy \(name) already has the maximum number of versions (\(PolicyRules.maximumVersions))")
        }
        policy.lastVersionNumber += 1
        let version = PolicyVersion(versionID: String(policy.lastVersionNumber), document: document, createdAt: now)
        policy.versions.append(version)
        policy.lastModifiedAt = now
        if setAsDefault {
            policy.defaultVersionID = version.versionID
            policy.generationID = Self.newGenerationID()
        }
        policies[name] = policy
        return (policy, version)
    }

    public func policyVersion(name: String, versionID: String) throws(RegistryError) -> (Policy, PolicyVersion) {
        let policy = try policy(named: name)
        guard let version = policy.versions.first(where: { $0.versionID == versionID }) else {
            throw RegistryError(.resourceNotFound, "Policy version not found (name=\(name), versionId=\(versionID.prefix(16)))")
        }
        return (policy, version)
    }

    public mutating func setDefaultPolicyVersion(name: String, versionID: String, now: Double) throws(RegistryError) {
        var (policy, version) = try policyVersion(name: name, versionID: versionID)
        guard policy.defaultVersionID != version.versionID else { return }
        policy.defaultVersionID = version.versionID
        policy.lastModifiedAt = now
        policy.generationID = Self.newGenerationID()
        policies[name] = policy
    }

    public mutating func deletePolicyVersion(name: String, versionID: String) throws(RegistryError) {
        var (policy, version) = try policyVersion(name: name, versionID: versionID)
        guard policy.defaultVersionID != version.versionID else {
            throw RegistryError(.deleteConflict, "Cannot delete the default version of a policy: make another version the default, or delete the policy (name=\(name))")
        }
        policy.versions.removeAll { $0.versionID == versionID }
        policies[name] = policy
    }

    // MARK: persistence

    /// The state a store loaded. A record that does not decode stops the start: better than silently
    /// dropping a device's registration.
    public init(arns: ARNs, localCA: Certificate? = nil, records: [RegistryRecordKey: Data]) throws {
        self.init(arns: arns, localCA: localCA)
        let decoder = JSONDecoder()
        for (key, data) in records {
            do {
                switch key.kind {
                case .policy: policies[key.key] = try decoder.decode(Policy.self, from: data)
                case .thing: things[key.key] = try decoder.decode(Thing.self, from: data)
                case .certificate: certificates[key.key] = try decoder.decode(DeviceCertificate.self, from: data)
                case .caCertificate: caCertificates[key.key] = try decoder.decode(CACertificateRecord.self, from: data)
                case .policyTargets: policyTargets[key.key] = try decoder.decode(Set<String>.self, from: data)
                case .thingPrincipals: thingPrincipals[key.key] = try decoder.decode([String: ThingPrincipalType].self, from: data)
                case .thingType: thingTypes[key.key] = try decoder.decode(ThingType.self, from: data)
                case .thingGroup: thingGroups[key.key] = try decoder.decode(ThingGroup.self, from: data)
                case .groupMemberships: groupMemberships[key.key] = try decoder.decode(Set<String>.self, from: data)
                case .tags: tags[key.key] = try decoder.decode([String: String].self, from: data)
                case .revocationList: revocationLists[key.key] = try decoder.decode(RevocationListRecord.self, from: data)
                case .serverCertificate: serverCertificates[key.key] = try decoder.decode(ServerCertificateRecord.self, from: data)
                case .domainConfiguration: domainConfigurations[key.key] = try decoder.decode(DomainConfigurationRecord.self, from: data)
                case .accessKey: accessKeys[key.key] = try decoder.decode(AccessKeyRecord.self, from: data)
                case .eventConfiguration: eventConfigurations[key.key] = try decoder.decode(EventConfigurationRecord.self, from: data)
                case .billingGroup: billingGroups[key.key] = try decoder.decode(BillingGroup.self, from: data)
                case .roleAlias: roleAliases[key.key] = try decoder.decode(RoleAliasRecord.self, from: data)
                case .topicRule: topicRules[key.key] = try decoder.decode(TopicRuleRecord.self, from: data)
                case .topicRuleDestination: topicRuleDestinations[key.key] = try decoder.decode(TopicRuleDestinationRecord.self, from: data)
                case .setting:
                    if key.key == "registrationCode" { registrationCode = try decoder.decode(String.self, from: data) }
                    if key.key == "credentialKey" { credentialKey = try decoder.decode(String.self, from: data) }
                case .indexingConfiguration: indexingConfiguration = try decoder.decode(IndexingConfigurationRecord.self, from: data)
                }
            } catch {
                throw RegistryError(.internalFailure, "The registry record \(key.kind.rawValue)/\(key.key) cannot be read: \(error)")
            }
        }
        loadDynamicQueries()
    }

    /// What changed from `old` to this state, as records for a store to write.
    public func changes(since old: RegistryState) -> RegistryChanges {
        var changes = RegistryChanges()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        func diff<T: Hashable & Encodable>(_ new: [String: T], _ old: [String: T], _ kind: RegistryRecordKind) {
            for (key, value) in new where old[key] != value {
                // Encoding our own Codable values cannot fail.
                changes.upserts[RegistryRecordKey(kind, key)] = try! encoder.encode(value)
            }
            for key in old.keys where new[key] == nil { changes.deletions.insert(RegistryRecordKey(kind, key)) }
        }
        diff(policies, old.policies, .policy)
        diff(things, old.things, .thing)
        diff(certificates, old.certificates, .certificate)
        diff(caCertificates, old.caCertificates, .caCertificate)
        diff(policyTargets.filter { !$0.value.isEmpty }, old.policyTargets.filter { !$0.value.isEmpty }, .policyTargets)
        diff(thingPrincipals.filter { !$0.value.isEmpty }, old.thingPrincipals.filter { !$0.value.isEmpty }, .thingPrincipals)
        diff(thingTypes, old.thingTypes, .thingType)
        diff(thingGroups, old.thingGroups, .thingGroup)
        diff(groupMemberships.filter { !$0.value.isEmpty }, old.groupMemberships.filter { !$0.value.isEmpty }, .groupMemberships)
        diff(tags.filter { !$0.value.isEmpty }, old.tags.filter { !$0.value.isEmpty }, .tags)
        diff(revocationLists, old.revocationLists, .revocationList)
        diff(serverCertificates, old.serverCertificates, .serverCertificate)
        diff(domainConfigurations, old.domainConfigurations, .domainConfiguration)
        diff(accessKeys, old.accessKeys, .accessKey)
        diff(eventConfigurations, old.eventConfigurations, .eventConfiguration)
        diff(billingGroups, old.billingGroups, .billingGroup)
        diff(roleAliases, old.roleAliases, .roleAlias)
        diff(topicRules, old.topicRules, .topicRule)
        diff(topicRuleDestinations, old.topicRuleDestinations, .topicRuleDestination)
        diff(indexingConfiguration.map { ["things": $0] } ?? [:], old.indexingConfiguration.map { ["things": $0] } ?? [:], .indexingConfiguration)
        func settings(_ state: RegistryState) -> [String: String] {
            var values: [String: String] = [:]
            values["registrationCode"] = state.registrationCode
            values["credentialKey"] = state.credentialKey
            return values
        }
        diff(settings(self), settings(old), .setting)
        return changes
    }

    // MARK: helpers

    static func newGenerationID() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<4).map { _ in String(generator.next() as UInt16, radix: 16) }.joined()
    }

    /// Markers are opaque to clients: the base64 of the last key returned.
    static func page<T>(_ items: [T], key: KeyPath<T, String>, marker: String?, pageSize: Int?, maximum: Int,
                        what: String = "pageSize", token: String = "marker") throws(RegistryError)
        -> (items: [T], nextMarker: String?)
    {
        let size = pageSize ?? maximum
        guard (1...maximum).contains(size) else {
            throw RegistryError(.invalidRequest, "\(what) must be between 1 and \(maximum).")
        }
        var start = items.startIndex
        if let marker {
            guard let data = Data(base64Encoded: marker), let last = String(data: data, encoding: .utf8),
                  let index = items.firstIndex(where: { $0[keyPath: key] == last }) else {
                throw RegistryError(.invalidRequest, "The \(token) is not valid for this list.")
            }
            start = items.index(after: index)
        }
        let end = min(items.endIndex, start + size)
        let slice = Array(items[start..<end])
        let next = end < items.endIndex ? slice.last.map { Data($0[keyPath: key].utf8).base64EncodedString() } : nil
        return (slice, next)
    }
}
