import Foundation
import Hummingbird
import Registry

/// Domain configurations (CreateDomainConfiguration, Update, Describe, List, Delete) with botocore's
/// URIs and shapes (reference 1.5, 9.3).
extension ControlPlane {
    static func addDomainConfigurationRoutes(to router: Router<ControlPlaneContext>, registry: Registry,
                                             configuration: Configuration) {
        router.post("/domainConfigurations/:domainConfigurationName") { request, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "domainConfigurationName")
            let body = try await jsonBody(request, context)
            var input = try domainInput(body)
            input.domainName = try optionalString(body, "domainName")
            if let list = body["serverCertificateArns"] {
                guard let arns = list as? [String] else { throw AWSErrorResponse.invalidRequest("serverCertificateArns must be a list of ARNs.") }
                input.serverCertificateArns = arns
            }
            input.validationCertificateArn = try optionalString(body, "validationCertificateArn")
            input.serviceType = try optionalString(body, "serviceType")
            let tags = try tagList(body)
            let now = Date().timeIntervalSince1970
            let request = input
            let record = try await registry.perform { state throws(RegistryError) in
                let record = try state.createDomainConfiguration(name: name, request, now: now)
                if let tags { try state.tagResource(arn: state.arns.domainConfiguration(record.name, id: record.id), tags: tags) }
                return record
            }
            let arns = await registry.arns
            return try json(["domainConfigurationName": record.name, "domainConfigurationArn": arns.domainConfiguration(record.name, id: record.id)])
        }
        router.put("/domainConfigurations/:domainConfigurationName") { request, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "domainConfigurationName")
            let body = try await jsonBody(request, context)
            var input = try domainInput(body)
            input.status = try optionalString(body, "domainConfigurationStatus")
            if let remove = body["removeAuthorizerConfig"] {
                guard let flag = remove as? Bool else { throw AWSErrorResponse.invalidRequest("removeAuthorizerConfig must be a boolean.") }
                input.removeAuthorizerConfig = flag
            }
            let now = Date().timeIntervalSince1970
            let update = input
            let record = try await registry.perform { state throws(RegistryError) in try state.updateDomainConfiguration(name: name, update, now: now) }
            let arns = await registry.arns
            return try json(["domainConfigurationName": record.name, "domainConfigurationArn": arns.domainConfiguration(record.name, id: record.id)])
        }
        router.get("/domainConfigurations/:domainConfigurationName") { _, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "domainConfigurationName")
            let (record, certificates) = try await registry.read { state throws(RegistryError) in
                let record = try state.domainConfiguration(name: name)
                return (record, record.serverCertificateArns.compactMap { try? state.serverCertificate(arn: $0) })
            }
            let arns = await registry.arns
            return try json(describe(record, certificates: certificates, arns: arns, configuration: configuration))
        }
        router.get("/domainConfigurations") { request, context in
            try requireControlPlane(context)
            if let type = request.uri.queryParameters["serviceType"], !["DATA", "CREDENTIAL_PROVIDER", "JOBS"].contains(String(type)) {
                throw AWSErrorResponse.invalidRequest("serviceType must be DATA, CREDENTIAL_PROVIDER or JOBS.")
            }
            let wanted = request.uri.queryParameters["serviceType"].map(String.init)
            let (marker, pageSize, _) = try markerPage(request)
            let (page, next) = try await registry.read { state throws(RegistryError) in
                try state.listDomainConfigurations(marker: marker, pageSize: pageSize, serviceType: wanted)
            }
            let arns = await registry.arns
            var out: [String: Any] = ["domainConfigurations": page.map {
                ["domainConfigurationName": $0.name, "domainConfigurationArn": arns.domainConfiguration($0.name, id: $0.id),
                 "serviceType": $0.serviceType]
            }]
            if let next { out["nextMarker"] = next }
            return try json(out)
        }
        router.delete("/domainConfigurations/:domainConfigurationName") { _, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "domainConfigurationName")
            try await registry.perform { state throws(RegistryError) in try state.deleteDomainConfiguration(name: name) }
            return try json([:])
        }
    }

    /// The members Create and Update share.
    static func domainInput(_ body: [String: Any]) throws -> DomainConfigurationInput {
        var input = DomainConfigurationInput()
        if let authorizer = body["authorizerConfig"] {
            guard let object = authorizer as? [String: Any] else { throw AWSErrorResponse.invalidRequest("authorizerConfig must be an object.") }
            input.defaultAuthorizerName = try optionalString(object, "defaultAuthorizerName")
            if let flag = object["allowAuthorizerOverride"] {
                guard let value = flag as? Bool else { throw AWSErrorResponse.invalidRequest("allowAuthorizerOverride must be a boolean.") }
                input.allowAuthorizerOverride = value
            }
            if input.defaultAuthorizerName != nil || input.allowAuthorizerOverride == true {
                input.unsupported = "authorizerConfig names a custom authorizer, which this gateway does not support yet."
            }
        }
        if let tls = body["tlsConfig"] {
            guard let object = tls as? [String: Any] else { throw AWSErrorResponse.invalidRequest("tlsConfig must be an object.") }
            input.securityPolicy = try optionalString(object, "securityPolicy")
        }
        if let server = body["serverCertificateConfig"] as? [String: Any], (server["enableOCSPCheck"] as? Bool) == true {
            input.unsupported = "serverCertificateConfig.enableOCSPCheck: OCSP stapling is not supported."
        }
        if let client = body["clientCertificateConfig"] as? [String: Any], client["clientCertificateCallbackArn"] != nil {
            input.unsupported = "clientCertificateConfig: certificate callback Lambdas are not supported."
        }
        input.authenticationType = try optionalString(body, "authenticationType")
        input.applicationProtocol = try optionalString(body, "applicationProtocol")
        return input
    }

    static func describe(_ record: DomainConfigurationRecord, certificates: [ServerCertificateRecord], arns: ARNs,
                         configuration: Configuration) -> [String: Any] {
        var out: [String: Any] = [
            "domainConfigurationName": record.name, "domainConfigurationArn": arns.domainConfiguration(record.name, id: record.id),
            "domainName": record.isDefault ? configuration.dataEndpointAddress : record.domainName,
            "domainConfigurationStatus": record.enabled ? "ENABLED" : "DISABLED", "serviceType": record.serviceType,
            "domainType": record.isDefault ? "ENDPOINT" : "CUSTOMER_MANAGED",
            "tlsConfig": ["securityPolicy": record.securityPolicy ?? configuration.defaultSecurityPolicy],
            "authenticationType": record.authenticationType, "applicationProtocol": record.applicationProtocol,
            "serverCertificates": certificates.map { certificate -> [String: Any] in
                let valid = (try? RegistryState.checkServable(certificate, domain: record.domainName)) != nil
                    && certificate.notAfter > Date().timeIntervalSince1970
                return ["serverCertificateArn": arns.acmCertificate(certificate.id), "serverCertificateStatus": valid ? "VALID" : "INVALID",
                        "serverCertificateStatusDetail": valid ? "" : "the certificate no longer meets the requirements or has expired"]
            },
            "serverCertificateConfig": ["enableOCSPCheck": false],
        ]
        if record.lastStatusChangeAt > 0 { out["lastStatusChangeDate"] = record.lastStatusChangeAt }
        if record.defaultAuthorizerName != nil || record.allowAuthorizerOverride != nil {
            var authorizer: [String: Any] = [:]
            if let name = record.defaultAuthorizerName { authorizer["defaultAuthorizerName"] = name }
            if let flag = record.allowAuthorizerOverride { authorizer["allowAuthorizerOverride"] = flag }
            out["authorizerConfig"] = authorizer
        }
        return out
    }
}
