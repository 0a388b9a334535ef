import Foundation
import HTTPTypes
import Hummingbird
import IoTPolicy
import Registry

/// Role aliases with botocore's URIs and shapes (Create/Describe/List/Update/DeleteRoleAlias), and the
/// credentials provider (reference 2.6 of AWS's guide: `GET /role-aliases/{alias}/credentials` over
/// mutual TLS with `x-amzn-iot-thingname`), which answers temporary credentials for a certificate its
/// policies allow `iot:AssumeRoleWithCertificate` on the alias.
extension ControlPlane {
    static let thingNameHeader = HTTPField.Name("x-amzn-iot-thingname")!

    static func addRoleAliasRoutes(to router: Router<ControlPlaneContext>, registry: Registry) {
        router.post("/role-aliases/:roleAlias") { request, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "roleAlias")
            let body = try await jsonBody(request, context)
            let roleArn = try requiredString(body, "roleArn")
            let duration = try optionalInt(body, "credentialDurationSeconds")
            let tags = try tagList(body)
            let now = Date().timeIntervalSince1970
            let alias = try await registry.perform { state throws(RegistryError) in
                let alias = try state.createRoleAlias(name: name, roleArn: roleArn, credentialDurationSeconds: duration, now: now)
                if let tags { try state.tagResource(arn: state.arns.roleAlias(alias.name), tags: tags) }
                return alias
            }
            let arns = await registry.arns
            return try json(["roleAlias": alias.name, "roleAliasArn": arns.roleAlias(alias.name)])
        }
        router.get("/role-aliases/:roleAlias") { _, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "roleAlias")
            let alias = try await registry.read { state throws(RegistryError) in try state.roleAlias(named: name) }
            let arns = await registry.arns
            return try json(["roleAliasDescription": [
                "roleAlias": alias.name, "roleAliasArn": arns.roleAlias(alias.name), "roleArn": alias.roleArn, "owner": arns.accountID,
                "credentialDurationSeconds": alias.credentialDurationSeconds, "creationDate": alias.createdAt, "lastModifiedDate": alias.lastModifiedAt,
            ] as [String: Any]])
        }
        router.get("/role-aliases") { request, context in
            try requireControlPlane(context)
            let marker = request.uri.queryParameters["marker"].map(String.init)
            let pageSize = try intParameter(request, "pageSize")
            // Newest name first unless asked otherwise, as the other marker-paged lists.
            let ascending = try boolParameter(request, "isAscendingOrder") ?? false
            let (names, next) = try await registry.read { state throws(RegistryError) in
                try state.listRoleAliases(marker: marker, pageSize: pageSize, ascending: ascending)
            }
            var out: [String: Any] = ["roleAliases": names]
            if let next { out["nextMarker"] = next }
            return try json(out)
        }
        router.put("/role-aliases/:roleAlias") { request, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "roleAlias")
            let body = try await jsonBody(request, context)
            let roleArn = try optionalString(body, "roleArn")
            let duration = try optionalInt(body, "credentialDurationSeconds")
            let now = Date().timeIntervalSince1970
            let alias = try await registry.perform { state throws(RegistryError) in
                try state.updateRoleAlias(name: name, roleArn: roleArn, credentialDurationSeconds: duration, now: now)
            }
            let arns = await registry.arns
            return try json(["roleAlias": alias.name, "roleAliasArn": arns.roleAlias(alias.name)])
        }
        router.delete("/role-aliases/:roleAlias") { _, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "roleAlias")
            try await registry.perform { state throws(RegistryError) in try state.deleteRoleAlias(name: name) }
            return try json([:])
        }
    }

    /// The credentials provider on the shared port: the connection's client certificate asks; its
    /// policies must allow `iot:AssumeRoleWithCertificate` on the alias. With `x-amzn-iot-thingname`, the
    /// thing must be attached to the certificate.
    static func addCredentialsProviderRoute(to router: Router<ControlPlaneContext>, registry: Registry) {
        router.get("/role-aliases/:roleAlias/credentials") { request, context in
            guard let certificateID = context.certificateID, let authorize = context.certificateAuthorization else {
                throw AWSErrorResponse(status: 403, type: "ForbiddenException",
                                       message: "The credentials provider needs a TLS client certificate (mutual TLS), not a signature.")
            }
            let name = try pathParameter(context, "roleAlias")
            let thingName = request.headers[thingNameHeader]
            let alias = try await registry.read { state throws(RegistryError) in try state.roleAlias(named: name) }
            if let denial = authorize([(action: .assumeRoleWithCertificate, resource: name)]) {
                throw AWSErrorResponse(status: 403, type: "ForbiddenException", message: "Access Denied: \(denial)")
            }
            if let thingName {
                let attached = try await registry.read { state throws(RegistryError) in
                    state.thingsAttached(toCertificate: certificateID).contains { $0.thingName == thingName }
                }
                guard attached else {
                    throw AWSErrorResponse(status: 403, type: "ForbiddenException",
                                           message: "Access Denied: the thing \(thingName.prefix(128)) is not attached to the certificate.")
                }
            }
            let key = try await registry.perform { state throws(RegistryError) in state.credentialSigningKey() }
            let credential = TemporaryCredentials.issue(signingKeyHex: key, roleAlias: alias.name, thingName: thingName,
                                                        certificateID: certificateID, duration: alias.credentialDurationSeconds, now: Int64(Date().timeIntervalSince1970))
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime]
            return try json(["credentials": [
                "accessKeyId": credential.accessKeyID, "secretAccessKey": credential.secretAccessKey, "sessionToken": credential.sessionToken,
                "expiration": formatter.string(from: Date(timeIntervalSince1970: TimeInterval(credential.expiration))),
            ]])
        }
    }
}
