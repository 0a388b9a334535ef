import Foundation
import IoTPolicy

/// An access key pair for the HTTPS data plane (iot-data, SigV4) whose requests are authorized by the
/// IoT policies attached to it, as AWS authorizes IAM and Cognito principals by their policies. Not the
/// admin key: these keys can never call the control plane. The secret is kept (SigV4 needs it to check
/// a signature) and returned only by the call that creates the key.
public struct AccessKeyRecord: Sendable, Hashable, Codable {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var policyNames: [String]
    public var createdAt: Double
    public var description: String
}

public enum AccessKeyRules {
    public static let maximumKeys = 1000
    public static let maximumPolicies = 10

    static func makeID() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var generator = SystemRandomNumberGenerator()
        return "AKIP" + String((0..<16).map { _ in alphabet[Int(generator.next(upperBound: UInt32(alphabet.count)))] })
    }

    static func makeSecret() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        var generator = SystemRandomNumberGenerator()
        return String((0..<40).map { _ in alphabet[Int(generator.next(upperBound: UInt32(alphabet.count)))] })
    }
}

extension RegistryState {
    /// A new key with `policyNames` attached (1 to 10 existing policies).
    public mutating func createAccessKey(policyNames: [String], description: String, now: Double) throws(RegistryError) -> AccessKeyRecord {
        guard (1...AccessKeyRules.maximumPolicies).contains(policyNames.count), Set(policyNames).count == policyNames.count else {
            throw RegistryError(.invalidRequest, "An access key takes 1 to \(AccessKeyRules.maximumPolicies) distinct IoT policies.")
        }
        for name in policyNames { _ = try policy(named: name) }
        guard description.count <= 256 else { throw RegistryError(.invalidRequest, "description is longer than 256 characters.") }
        guard accessKeys.count < AccessKeyRules.maximumKeys else {
            throw RegistryError(.limitExceeded, "At most \(AccessKeyRules.maximumKeys) access keys.")
        }
        var id = AccessKeyRules.makeID()
        while accessKeys[id] != nil { id = AccessKeyRules.makeID() }
        let record = AccessKeyRecord(accessKeyID: id, secretAccessKey: AccessKeyRules.makeSecret(), policyNames: policyNames,
                                     createdAt: now, description: description)
        accessKeys[id] = record
        return record
    }

    public func accessKey(id: String) throws(RegistryError) -> AccessKeyRecord {
        guard let record = accessKeys[id] else { throw RegistryError(.resourceNotFound, "No access key \(id.prefix(128)).") }
        return record
    }

    public var allAccessKeys: [AccessKeyRecord] { accessKeys.values.sorted { ($0.createdAt, $0.accessKeyID) < ($1.createdAt, $1.accessKeyID) } }

    public mutating func deleteAccessKey(id: String) throws(RegistryError) {
        _ = try accessKey(id: id)
        accessKeys[id] = nil
    }

    /// The decision for a request signed with a (non-admin) access key: its policies' default versions,
    /// evaluated for `action` on `resource`, a bare topic or client id put under the action's resource
    /// type, or `*` for actions on no one resource (ListRetainedMessages). A key that no longer exists is
    /// denied.
    public func authorizeAccessKey(_ id: String, _ action: IoTAction, resource: String, now: Date) -> (allowed: Bool, explanation: String) {
        guard let policies = accessKeyPolicies(id) else { return (false, "the access key \(id.prefix(128)) no longer exists") }
        return AccessKeyRules.decide(policies, action, resource: resource, arns: arns, now: now)
    }

    /// A key's policies, parsed (default versions); nil if there is no such key. What the gateway keeps
    /// per key between registry changes, so a request evaluates and never parses.
    /// The policies attached to an access key, nil when there is no such key.
    public func accessKeyPolicyRecords(_ id: String) -> [Policy]? {
        accessKeys[id].map { key in key.policyNames.compactMap { self.policies[$0] } }
    }

    public func accessKeyPolicies(_ id: String) -> PolicyEvaluator? {
        guard let key = accessKeys[id] else { return nil }
        return PolicyEvaluator(policies: Self.namedPolicies(key.policyNames.compactMap { self.policies[$0] }))
    }
}

extension AccessKeyRules {
    /// `resource` is a bare topic or client id put under the action's resource type, or `*` for actions on
    /// no one resource (ListRetainedMessages).
    public static func decide(_ policies: PolicyEvaluator, _ action: IoTAction, resource: String, arns: ARNs,
                              context: AuthorizationContext = AuthorizationContext(), now: Date) -> (allowed: Bool, explanation: String)
    {
        let arn = resource == "*" ? "*" : arns.prefix + action.resourceType + resource
        let decision = policies.evaluate(action, resource: arn, context: context, now: now)
        return (decision.isAllowed, decision.explanation(action: action, resource: arn, policyCount: policies.policies.count))
    }
}
