import Foundation
import Hummingbird
import NIOConcurrencyHelpers
import Registry

/// The registry's data-plane access keys as the SigV4 check reads them: a snapshot swapped in after
/// every change of them, read without waiting for the registry.
public final class DataPlaneKeys: Sendable {
    private let secrets = NIOLockedValueBox<[String: String]>([:])

    public init() {}

    public func update(from state: RegistryState) {
        let table = Dictionary(uniqueKeysWithValues: state.allAccessKeys.map { ($0.accessKeyID, $0.secretAccessKey) })
        secrets.withLockedValue { $0 = table }
    }

    func secret(for accessKeyID: String) -> String? { secrets.withLockedValue { $0[accessKeyID] } }
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
