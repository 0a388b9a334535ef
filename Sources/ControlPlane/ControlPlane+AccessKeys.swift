import Foundation
import Hummingbird
import IoTPolicy
import NIOConcurrencyHelpers
import Registry

/// The registry's data-plane access keys as the SigV4 check and the iot-data authorization read them:
/// each key's secret and its policies parsed once, swapped in after every change of the keys or the
/// policies (inside the registry call that made it), read without waiting for the registry.
public final class DataPlaneKeys: Sendable {
    private let keys = NIOLockedValueBox<[String: (secret: String, policies: PolicyEvaluator)]>([:])
    private let arns = NIOLockedValueBox<ARNs?>(nil)

    public init() {}

    public func update(from state: RegistryState) {
        var table: [String: (secret: String, policies: PolicyEvaluator)] = [:]
        for key in state.allAccessKeys {
            if let policies = state.accessKeyPolicies(key.accessKeyID) { table[key.accessKeyID] = (key.secretAccessKey, policies) }
        }
        keys.withLockedValue { $0 = table }
        arns.withLockedValue { $0 = state.arns }
    }

    func secret(for accessKeyID: String) -> String? { keys.withLockedValue { $0[accessKeyID]?.secret } }

    /// Whether a data-plane key with this id exists (a WebSocket connection it signed stays connected).
    public func contains(_ accessKeyID: String) -> Bool { keys.withLockedValue { $0[accessKeyID] != nil } }

    /// The decision for one iot-data action of a key; a key that no longer exists is denied.
    func authorize(_ accessKeyID: String, _ action: IoTAction, resource: String, now: Date) -> (allowed: Bool, explanation: String) {
        guard let policies = keys.withLockedValue({ $0[accessKeyID]?.policies }), let arns = arns.withLockedValue({ $0 }) else {
            return (false, "the access key \(accessKeyID.prefix(128)) no longer exists")
        }
        return AccessKeyRules.decide(policies, action, resource: resource, arns: arns, now: now)
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
