import DeviceIdentity
import Foundation
import IoTPolicy
import X509

/// What the policy engine needs from the registry for a principal (reference 3.5, 3.6): which thing a
/// connection is, which policies apply, and the values of the policy variables.
extension RegistryState {
    /// The thing a connection with this certificate and client id is: the thing the certificate is
    /// attached to exclusively, else the attached thing whose name is the client id.
    /// - Parameter index: this state's index, for callers that ask for many connections (the gateway).
    public func connectedThing(certificateID: String, clientID: String?, index: AuthorizationIndex? = nil) -> Thing? {
        let attached = index?.things(ofCertificate: certificateID) ?? thingsAttached(toCertificate: certificateID)
        if let exclusive = attached.first(where: { $0.type == .exclusive }) { return things[exclusive.thingName] }
        guard let clientID, attached.contains(where: { $0.thingName == clientID }) else { return nil }
        return things[clientID]
    }

    /// The policies that apply: the certificate's, and, when the client id is the connected thing's name,
    /// those of the thing's groups and of their ancestors. Sorted by name, each once.
    public func effectivePolicies(certificateID: String, clientID: String?, index: AuthorizationIndex? = nil) -> [Policy] {
        var targets: Set<String> = [arns.certificate(certificateID)]
        if let thing = connectedThing(certificateID: certificateID, clientID: clientID, index: index), clientID == thing.name {
            for group in thingGroups(ofThing: thing.name) {
                targets.insert(arns.thingGroup(group))
                for ancestor in ancestors(of: group) { targets.insert(arns.thingGroup(ancestor.name)) }
            }
        }
        let names: [String]
        if let index {
            names = Set(targets.flatMap { index.policies(attachedTo: $0) }).sorted()
        } else {
            names = policyTargets.filter { !$0.value.isDisjoint(with: targets) }.keys.sorted()
        }
        return names.compactMap { policies[$0] }
    }

    /// The default versions of `policies`, parsed. A stored document the grammar refuses (written before
    /// the grammar was checked) grants nothing.
    public static func namedPolicies(_ policies: [Policy]) -> [NamedPolicy] {
        policies.compactMap { policy in
            (try? PolicyDocument.parse(policy.defaultVersion.document)).map {
                NamedPolicy(name: policy.name, versionID: policy.defaultVersionID, document: $0)
            }
        }
    }

    /// The policy variables of a connection: client id, source IP, the thing's variables when a thing is
    /// connected, and every certificate field.
    ///
    /// - Parameter certificateFields: the certificate's variables if the caller has them already
    ///   (`certificateContext`); parsed from the stored certificate otherwise.
    /// - Parameter thing: the connected thing if the caller found it already (`connectedThing`).
    public func authorizationContext(certificateID: String, clientID: String?, sourceIP: String?,
                                     certificateFields: AuthorizationContext? = nil, thing known: Thing?? = nil) -> AuthorizationContext {
        var context = certificateFields ?? certificateContext(certificateID: certificateID)
        context.set("iot:ClientId", clientID)
        context.set("aws:SourceIp", sourceIP)
        let thing = known ?? connectedThing(certificateID: certificateID, clientID: clientID)
        context.set("iot:Connection.Thing.IsAttached", thing == nil ? "false" : "true")
        if let thing {
            context.set("iot:Connection.Thing.ThingName", thing.name)
            context.set("iot:Connection.Thing.ThingTypeName", thing.thingTypeName)
            for (name, value) in thing.attributes { context.set("iot:Connection.Thing.Attributes[\(name)]", value) }
        }
        return context
    }

    /// The certificate's policy variables alone (they never change for a certificate id, so callers
    /// may keep them).
    public func certificateContext(certificateID: String) -> AuthorizationContext {
        var context = AuthorizationContext()
        if let record = certificates[certificateID], let certificate = try? PEM.parseCertificate(pem: record.certificatePEM) {
            CertificateFields.add(certificate, to: &context)
        }
        return context
    }
}

/// A state's attachments the other way round (certificate to things, target to policies), built once per
/// registry change so that authorizing every connection after a change costs lookups, not scans of
/// every attachment per connection.
public struct AuthorizationIndex: Sendable {
    private let thingsByCertificateARN: [String: [(thingName: String, type: ThingPrincipalType)]]
    private let policiesByTarget: [String: [String]]
    private let arns: ARNs

    public init(_ state: RegistryState) {
        var things: [String: [(thingName: String, type: ThingPrincipalType)]] = [:]
        for (thing, principals) in state.thingPrincipals {
            for (arn, type) in principals { things[arn, default: []].append((thing, type)) }
        }
        self.thingsByCertificateARN = things.mapValues { $0.sorted { $0.thingName < $1.thingName } }
        var policies: [String: [String]] = [:]
        for (policy, targets) in state.policyTargets {
            for target in targets { policies[target, default: []].append(policy) }
        }
        self.policiesByTarget = policies
        self.arns = state.arns
    }

    func things(ofCertificate certificateID: String) -> [(thingName: String, type: ThingPrincipalType)] {
        thingsByCertificateARN[arns.certificate(certificateID)] ?? []
    }

    func policies(attachedTo target: String) -> [String] { policiesByTarget[target] ?? [] }
}
