/// How a principal is attached to a thing (AWS's `ThingPrincipalType`). An exclusive principal belongs
/// to that one thing only.
public enum ThingPrincipalType: String, Sendable, Hashable, Codable {
    case exclusive = "EXCLUSIVE_THING"
    case nonExclusive = "NON_EXCLUSIVE_THING"
}

/// AttachPolicy and friends, AttachThingPrincipal and friends (reference 9.3).
extension RegistryState {
    // MARK: policies on targets

    /// The certificate a target or principal ARN names; thing groups and Cognito identities are not
    /// registry objects here (yet), so they are refused by name.
    func certificateForPrincipal(_ arn: String, field: String) throws(RegistryError) -> DeviceCertificate {
        guard let id = arns.certificateID(inARN: arn) else {
            throw RegistryError(.invalidRequest, "\(field) must be a certificate or thing group ARN of this account and region (\(arns.certificate("<certificateId>"))).")
        }
        return try certificate(id: id)
    }

    /// A policy target: a certificate or a thing group that exists, as its canonical ARN.
    func policyTarget(_ text: String) throws(RegistryError) -> String {
        if let group = arns.thingGroupName(inARN: text) {
            return arns.thingGroup(try thingGroup(named: group).name)
        }
        return arns.certificate(try certificateForPrincipal(text, field: "target").certificateID)
    }

    /// The certificate a principal ARN names (TestAuthorization, GetEffectivePolicies).
    public func certificateForPrincipalARN(_ arn: String) throws(RegistryError) -> DeviceCertificate {
        try certificateForPrincipal(arn, field: "principal")
    }

    /// AttachPolicy: attaching twice is not an error.
    public mutating func attachPolicy(name: String, target: String) throws(RegistryError) {
        _ = try policy(named: name)
        let arn = try policyTarget(target)
        guard !policyTargets[name, default: []].contains(arn) else { return }
        let attached = policyTargets.values.filter { $0.contains(arn) }.count
        guard attached < CertificateRules.maximumPoliciesPerTarget else {
            throw RegistryError(.limitExceeded, "The target already has \(CertificateRules.maximumPoliciesPerTarget) policies attached, the maximum.")
        }
        policyTargets[name, default: []].insert(arn)
    }

    /// DetachPolicy: detaching what is not attached is not an error.
    public mutating func detachPolicy(name: String, target: String) throws(RegistryError) {
        _ = try policy(named: name)
        let arn = try policyTarget(target)
        policyTargets[name]?.remove(arn)
    }

    /// ListAttachedPolicies: the policies attached to a target, by name; for a thing group with
    /// `recursive`, those of its ancestors too.
    public func listAttachedPolicies(target: String, recursive: Bool = false, marker: String?, pageSize: Int?, ascending: Bool = true) throws(RegistryError)
        -> (policies: [Policy], nextMarker: String?)
    {
        var targets: Set<String> = [try policyTarget(target)]
        if recursive, let group = arns.thingGroupName(inARN: target) {
            targets.formUnion(ancestors(of: group).map { arns.thingGroup($0.name) })
        }
        let attached = policyTargets.filter { !$0.value.isDisjoint(with: targets) }.keys.sorted().compactMap { policies[$0] }
        let page = try Self.page(ascending ? attached : attached.reversed(), key: \.name, marker: marker, pageSize: pageSize, maximum: 250)
        return (page.items, page.nextMarker)
    }

    /// The default-version documents of the policies attached to a certificate, for the policy engine.
    public func attachedPolicies(certificateID: String) -> [Policy] {
        let arn = arns.certificate(certificateID)
        return policyTargets.filter { $0.value.contains(arn) }.keys.sorted().compactMap { policies[$0] }
    }

    /// ListTargetsForPolicy.
    public func listTargetsForPolicy(name: String, marker: String?, pageSize: Int?, ascending: Bool = true) throws(RegistryError)
        -> (targets: [String], nextMarker: String?)
    {
        _ = try policy(named: name)
        let sorted = policyTargets[name, default: []].sorted()
        let targets = ascending ? sorted : sorted.reversed()
        let page = try Self.page(targets, key: \.self, marker: marker, pageSize: pageSize, maximum: 250)
        return (page.items, page.nextMarker)
    }

    // MARK: principals on things

    /// AttachThingPrincipal. An exclusive attachment needs the principal to be attached to no other
    /// thing, and no later attachment may join it.
    public mutating func attachThingPrincipal(thingName: String, principal: String, type: ThingPrincipalType) throws(RegistryError) {
        _ = try thing(named: thingName)
        let certificate = try certificateForPrincipal(principal, field: "principal")
        let arn = arns.certificate(certificate.certificateID)
        let others = thingPrincipals.filter { $0.key != thingName && $0.value[arn] != nil }
        if let (other, attachments) = others.first(where: { $0.value[arn] == .exclusive }) {
            _ = attachments
            throw RegistryError(.invalidRequest, "The principal is attached exclusively to thing \(other).")
        }
        if type == .exclusive, let other = others.keys.sorted().first {
            throw RegistryError(.invalidRequest, "The principal is already attached to thing \(other); it cannot be attached exclusively.")
        }
        thingPrincipals[thingName, default: [:]][arn] = type
    }

    /// DetachThingPrincipal: detaching what is not attached is not an error.
    public mutating func detachThingPrincipal(thingName: String, principal: String) throws(RegistryError) {
        _ = try thing(named: thingName)
        let certificate = try certificateForPrincipal(principal, field: "principal")
        thingPrincipals[thingName]?[arns.certificate(certificate.certificateID)] = nil
        if thingPrincipals[thingName]?.isEmpty == true { thingPrincipals[thingName] = nil }
    }

    /// ListThingPrincipals (with each principal's attachment type, for ListThingPrincipalsV2).
    public func listThingPrincipals(thingName: String, nextToken: String?, maxResults: Int?, type: ThingPrincipalType? = nil)
        throws(RegistryError) -> (principals: [(principal: String, type: ThingPrincipalType)], nextToken: String?)
    {
        guard things[thingName] != nil else {
            throw RegistryError(.resourceNotFound,
                                "Failed to list principals for thing \(thingName.prefix(128)) because the thing does not exist in your account")
        }
        let principals = thingPrincipals[thingName, default: [:]].filter { type == nil || $0.value == type }.keys.sorted()
        let page = try Self.page(principals, key: \.self, marker: nextToken, pageSize: maxResults, maximum: 250, what: "maxResults", token: "nextToken")
        return (page.items.map { ($0, thingPrincipals[thingName]![$0]!) }, page.nextMarker)
    }

    /// ListPrincipalThings (with the attachment type, for ListPrincipalThingsV2).
    public func listPrincipalThings(principal: String, nextToken: String?, maxResults: Int?, type: ThingPrincipalType? = nil)
        throws(RegistryError) -> (things: [(thingName: String, type: ThingPrincipalType)], nextToken: String?)
    {
        let certificate = try certificateForPrincipal(principal, field: "principal")
        let things = thingsAttached(toCertificate: certificate.certificateID).filter { type == nil || $0.type == type }
        let page = try Self.page(things.map(\.thingName), key: \.self, marker: nextToken, pageSize: maxResults, maximum: 250,
                                 what: "maxResults", token: "nextToken")
        return (page.items.map { name in (name, things.first { $0.thingName == name }!.type) }, page.nextMarker)
    }

    /// The things a certificate is attached to, by name.
    public func thingsAttached(toCertificate certificateID: String) -> [(thingName: String, type: ThingPrincipalType)] {
        let arn = arns.certificate(certificateID)
        return thingPrincipals.compactMap { thing, principals in principals[arn].map { (thing, $0) } }.sorted { $0.thingName < $1.thingName }
    }
}
