import Foundation
import Hummingbird
import IoTPolicy
import NIOConcurrencyHelpers
import Registry

/// The registry's data-plane access keys as the SigV4 check and the iot-data authorization read them:
/// each key's secret and its policies parsed once, swapped in after every change of the keys or the
/// policies (inside the registry call that made it), read without waiting for the registry.
///
/// Also the temporary credentials of the credentials provider: a request's session token is checked
/// (`admit`) before its signature, and its key then verifies and is authorized like a data-plane key
/// with the policy of its role alias's role, until it expires.
public final class DataPlaneKeys: Sendable {
    private struct Temporary {
        var secret: String
        var roleAlias: String
        var expiration: Int64
        var thingName: String?
        var certificateID: String?
    }
    private struct State {
        var keys: [String: (secret: String, policies: PolicyEvaluator)] = [:]
        var arns: ARNs?
        /// Thing name -> its thing type, for `credentials-iot:ThingTypeName`.
        var thingTypes: [String: String] = [:]
        var signingKey: String?
        var roleAliases: [String: PolicyEvaluator] = [:]
        var temporary: [String: Temporary] = [:]
    }
    private let state = NIOLockedValueBox(State())
    /// Temporary keys remembered at once; beyond it the expired ones are forgotten first.
    static let maximumTemporaryKeys = 100_000

    public init() {}

    public func update(from registry: RegistryState) {
        var table: [String: (secret: String, policies: PolicyEvaluator)] = [:]
        for key in registry.allAccessKeys {
            if let policies = registry.accessKeyPolicies(key.accessKeyID) { table[key.accessKeyID] = (key.secretAccessKey, policies) }
        }
        var aliases: [String: PolicyEvaluator] = [:]
        for alias in registry.allRoleAliases { aliases[alias.name] = registry.roleAliasPolicies(alias.name) }
        var thingTypes: [String: String] = [:]
        for thing in registry.allThings { if let type = thing.thingTypeName { thingTypes[thing.name] = type } }
        state.withLockedValue { state in
            state.keys = table
            state.arns = registry.arns
            state.thingTypes = thingTypes
            state.signingKey = registry.currentCredentialSigningKey
            state.roleAliases = aliases
        }
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

    func secret(for accessKeyID: String) -> String? {
        let now = Self.now()
        return state.withLockedValue { state in
            if let key = state.keys[accessKeyID] { return key.secret }
            guard let temporary = state.temporary[accessKeyID], temporary.expiration > now else { return nil }
            return temporary.secret
        }
    }

    /// Checks a session token and, if this namespace's key made it and it has not expired, lets its
    /// access key verify; the key id it stands for, else nil.
    @discardableResult
    public func admit(sessionToken: String) -> String? {
        let now = Self.now()
        guard let key = state.withLockedValue({ $0.signingKey }),
              let credential = TemporaryCredentials.verify(sessionToken: sessionToken, signingKeyHex: key, now: now) else { return nil }
        state.withLockedValue { state in
            if state.temporary[credential.accessKeyID] == nil, state.temporary.count >= Self.maximumTemporaryKeys {
                // Full: the expired go first, then those expiring soonest. A key forgotten this way is
                // admitted again by its next request's token, so no valid credential is refused.
                state.temporary = state.temporary.filter { $0.value.expiration > now }
                if state.temporary.count >= Self.maximumTemporaryKeys {
                    let keep = state.temporary.sorted { $0.value.expiration > $1.value.expiration }.prefix(Self.maximumTemporaryKeys * 3 / 4)
                    state.temporary = Dictionary(uniqueKeysWithValues: keep.map { ($0.key, $0.value) })
                }
            }
            state.temporary[credential.accessKeyID] = Temporary(secret: credential.secretAccessKey, roleAlias: credential.roleAlias,
                                                                expiration: credential.expiration, thingName: credential.thingName,
                                                                certificateID: credential.certificateID)
        }
        return credential.accessKeyID
    }

    /// The role alias of a temporary key that has not expired.
    public func roleAlias(ofTemporaryKey accessKeyID: String) -> String? { temporaryRole(accessKeyID)?.alias }

    /// The role alias of a temporary key that has not expired, and the policy variables its role's policy
    /// sees: `credentials-iot:ThingName`, `credentials-iot:ThingTypeName` (the thing named by
    /// `x-amzn-iot-thingname` when the credentials were asked for) and `credentials-iot:AwsCertificateId`.
    public func temporaryRole(_ accessKeyID: String) -> (alias: String, variables: [String: String])? {
        let now = Self.now()
        return state.withLockedValue { state in
            guard let temporary = state.temporary[accessKeyID], temporary.expiration > now else { return nil }
            return (temporary.roleAlias, Self.variables(temporary, thingTypes: state.thingTypes))
        }
    }

    private static func variables(_ temporary: Temporary, thingTypes: [String: String]) -> [String: String] {
        var variables: [String: String] = [:]
        if let thing = temporary.thingName {
            variables["credentials-iot:ThingName"] = thing
            variables["credentials-iot:ThingTypeName"] = thingTypes[thing]
        }
        variables["credentials-iot:AwsCertificateId"] = temporary.certificateID
        return variables
    }

    /// Whether a data-plane key with this id exists, or a temporary one has not expired (a WebSocket
    /// connection it signed stays connected).
    public func contains(_ accessKeyID: String) -> Bool {
        let now = Self.now()
        return state.withLockedValue { state in
            state.keys[accessKeyID] != nil || (state.temporary[accessKeyID].map { $0.expiration > now } ?? false)
        }
    }

    /// The decision for one iot-data action of a key; a key that no longer exists is denied.
    func authorize(_ accessKeyID: String, _ action: IoTAction, resource: String, now: Date) -> (allowed: Bool, explanation: String) {
        let seconds = Int64(now.timeIntervalSince1970)
        let (policies, arns, variables, reason) = state.withLockedValue { state -> (PolicyEvaluator?, ARNs?, [String: String], String) in
            if let key = state.keys[accessKeyID] { return (key.policies, state.arns, [:], "") }
            guard let temporary = state.temporary[accessKeyID], temporary.expiration > seconds else {
                return (nil, nil, [:], "the access key \(accessKeyID.prefix(128)) no longer exists or has expired")
            }
            guard let policies = state.roleAliases[temporary.roleAlias] else {
                return (nil, nil, [:], "the role alias \(temporary.roleAlias) of access key \(accessKeyID) no longer exists")
            }
            return (policies, state.arns, Self.variables(temporary, thingTypes: state.thingTypes), "")
        }
        guard let policies, let arns else { return (false, reason) }
        var context = AuthorizationContext()
        for (name, value) in variables { context.set(name, value) }
        return AccessKeyRules.decide(policies, action, resource: resource, arns: arns, context: context, now: now)
    }
}

/// Data-plane access keys (a Portcullis extension, admin only): `POST /access-keys` with
/// `{"policyNames": [...], "description": "..."}` creates one and is the only answer that carries its
/// secret; `GET /access-keys` lists them without secrets; `DELETE /access-keys/{accessKeyId}` deletes one.
/// Requests signed with such a key may call iot-data operations only, each authorized by its policies.
extension ControlPlane {
    static func addAccessKeyRoutes(to router: Router<ControlPlaneContext>, registry: Registry) {
        router.post("/access-keys") { request, context in
            try requireControlPlane(context)
            let body = try await jsonBody(request, context)
            guard let names = body["policyNames"] as? [String] else {
                throw AWSErrorResponse.invalidRequest("policyNames must be a list of 1 to 10 policy names.")
            }
            let description = try optionalString(body, "description") ?? ""
            let now = Date().timeIntervalSince1970
            let key = try await registry.perform { state throws(RegistryError) in
                try state.createAccessKey(policyNames: names, description: description, now: now)
            }
            return try json(["accessKeyId": key.accessKeyID, "secretAccessKey": key.secretAccessKey, "policyNames": key.policyNames])
        }
        router.get("/access-keys") { _, context in
            try requireControlPlane(context)
            let keys = try await registry.read { state throws(RegistryError) in state.allAccessKeys }
            return try json(["accessKeys": keys.map { key -> [String: Any] in
                ["accessKeyId": key.accessKeyID, "policyNames": key.policyNames, "createdDate": key.createdAt, "description": key.description]
            }])
        }
        router.delete("/access-keys/:accessKeyId") { _, context in
            try requireControlPlane(context)
            let id = try pathParameter(context, "accessKeyId")
            try await registry.perform { state throws(RegistryError) in try state.deleteAccessKey(id: id) }
            return try json([:])
        }
    }
}
