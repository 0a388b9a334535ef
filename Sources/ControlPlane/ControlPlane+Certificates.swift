import DeviceIdentity
import Foundation
import Hummingbird
import Registry
import X509

/// Device certificates (CreateKeysAndCertificate, CreateCertificateFromCsr, RegisterCertificate,
/// RegisterCertificateWithoutCA, Describe, List, ListByCA, Update, Delete) and CA certificates
/// (registration code, Register, Describe, List, Update, Delete), with botocore's URIs and shapes.
extension ControlPlane {
    static func addCertificateRoutes(to router: Router<ControlPlaneContext>, registry: Registry, issuer: CertificateAuthority?) {
        router.post("/keys-and-certificate") { request, context in
            try requireControlPlane(context)
            let active = try boolParameter(request, "setAsActive") ?? false
            let issuer = try requireIssuer(issuer)
            let credential: IssuedCredential
            let publicKey: String
            do {
                credential = try issuer.issueKeysAndCertificate(now: Date())
                publicKey = try credential.privateKey.publicKey.pemString
            } catch {
                throw AWSErrorResponse.internalFailure()
            }
            let parsed = try ParsedCertificate(certificate: credential.certificate)
            let now = Date().timeIntervalSince1970
            let certificate = try await registry.perform { state throws(RegistryError) in
                try state.addIssuedCertificate(parsed, setAsActive: active, now: now)
            }
            let arns = await registry.arns
            return try json(["certificateArn": arns.certificate(certificate.certificateID), "certificateId": certificate.certificateID,
                             "certificatePem": certificate.certificatePEM,
                             "keyPair": ["PublicKey": publicKey, "PrivateKey": credential.privateKeyPEM]])
        }
        router.post("/certificates") { request, context in
            try requireControlPlane(context)
            let active = try boolParameter(request, "setAsActive") ?? false
            let body = try await jsonBody(request, context)
            let csr = try requiredString(body, "certificateSigningRequest")
            guard csr.utf8.count <= CertificateRules.maximumCSRBytes else {
                throw AWSErrorResponse.invalidRequest("certificateSigningRequest is longer than \(CertificateRules.maximumCSRBytes) bytes.")
            }
            let issuer = try requireIssuer(issuer)
            let issued: Certificate
            do {
                issued = try issuer.issueCertificate(forCSR: csr, now: Date())
            } catch let error as DeviceIdentityError {
                throw AWSErrorResponse.invalidRequest("The certificate signing request is not valid: \(error.reason)")
            }
            let parsed = try ParsedCertificate(certificate: issued)
            let now = Date().timeIntervalSince1970
            let certificate = try await registry.perform { state throws(RegistryError) in
                try state.addIssuedCertificate(parsed, setAsActive: active, now: now)
            }
            let arns = await registry.arns
            return try json(["certificateArn": arns.certificate(certificate.certificateID), "certificateId": certificate.certificateID,
                             "certificatePem": certificate.certificatePEM])
        }
        router.post("/certificate/register") { request, context in
            try requireControlPlane(context)
            let setAsActive = try boolParameter(request, "setAsActive")
            let body = try await jsonBody(request, context)
            let pem = try requiredString(body, "certificatePem")
            let caPEM = try optionalString(body, "caCertificatePem")
            let status = try optionalString(body, "status")
            let now = Date().timeIntervalSince1970
            let certificate = try await registry.perform { state throws(RegistryError) in
                try state.registerCertificate(pem: pem, caPEM: caPEM, status: status, setAsActive: setAsActive, now: now)
            }
            let arns = await registry.arns
            return try json(["certificateArn": arns.certificate(certificate.certificateID), "certificateId": certificate.certificateID])
        }
        router.post("/certificate/register-no-ca") { request, context in
            try requireControlPlane(context)
            let body = try await jsonBody(request, context)
            let pem = try requiredString(body, "certificatePem")
            let status = try optionalString(body, "status")
            let now = Date().timeIntervalSince1970
            let certificate = try await registry.perform { state throws(RegistryError) in
                try state.registerCertificateWithoutCA(pem: pem, status: status, now: now)
            }
            let arns = await registry.arns
            return try json(["certificateArn": arns.certificate(certificate.certificateID), "certificateId": certificate.certificateID])
        }
        router.get("/certificates/:certificateId") { _, context in
            try requireControlPlane(context)
            let id = try pathParameter(context, "certificateId")
            let certificate = try await registry.read { state throws(RegistryError) in try state.certificate(id: id) }
            let arns = await registry.arns
            var description: [String: Any] = [
                "certificateArn": arns.certificate(certificate.certificateID), "certificateId": certificate.certificateID,
                "status": certificate.status.rawValue, "certificatePem": certificate.certificatePEM, "ownedBy": arns.accountID,
                "creationDate": certificate.createdAt, "lastModifiedDate": certificate.lastModifiedAt,
                "customerVersion": certificate.customerVersion, "generationId": certificate.generationID, "transferData": [String: Any](),
                "validity": ["notBefore": certificate.notBefore, "notAfter": certificate.notAfter],
                "certificateMode": certificate.mode.rawValue,
            ]
            if let ca = certificate.caCertificateID { description["caCertificateId"] = ca }
            return try json(["certificateDescription": description])
        }
        router.get("/certificates") { request, context in
            try requireControlPlane(context)
            return try await listCertificates(request, registry: registry, caCertificateID: nil)
        }
        router.get("/certificates-by-ca/:caCertificateId") { request, context in
            try requireControlPlane(context)
            let ca = try pathParameter(context, "caCertificateId")
            return try await listCertificates(request, registry: registry, caCertificateID: ca)
        }
        router.put("/certificates/:certificateId") { request, context in
            try requireControlPlane(context)
            let id = try pathParameter(context, "certificateId")
            guard let status = request.uri.queryParameters["newStatus"].map(String.init) else {
                throw AWSErrorResponse.invalidRequest("newStatus is required.")
            }
            let now = Date().timeIntervalSince1970
            try await registry.perform { state throws(RegistryError) in try state.updateCertificate(id: id, newStatus: status, now: now) }
            return try json([:])
        }
        router.delete("/certificates/:certificateId") { request, context in
            try requireControlPlane(context)
            let id = try pathParameter(context, "certificateId")
            let force = try boolParameter(request, "forceDelete") ?? false
            try await registry.perform { state throws(RegistryError) in try state.deleteCertificate(id: id, forceDelete: force) }
            return try json([:])
        }
        addCACertificateRoutes(to: router, registry: registry)
    }

    static func listCertificates(_ request: Request, registry: Registry, caCertificateID: String?) async throws -> Response {
        let (marker, pageSize, ascending) = try markerPage(request)
        let (certificates, next) = try await registry.read { state throws(RegistryError) in
            try state.listCertificates(caCertificateID: caCertificateID, marker: marker, pageSize: pageSize, ascending: ascending)
        }
        let arns = await registry.arns
        var out: [String: Any] = ["certificates": certificates.map { certificate -> [String: Any] in
            ["certificateArn": arns.certificate(certificate.certificateID), "certificateId": certificate.certificateID,
             "status": certificate.status.rawValue, "certificateMode": certificate.mode.rawValue, "creationDate": certificate.createdAt]
        }]
        if let next { out["nextMarker"] = next }
        return try json(out)
    }

    static func requireIssuer(_ issuer: CertificateAuthority?) throws -> CertificateAuthority {
        guard let issuer else {
            throw AWSErrorResponse(status: 400, type: "InvalidRequestException", message: "This gateway has no CA to issue certificates with.")
        }
        return issuer
    }

    static func addCACertificateRoutes(to router: Router<ControlPlaneContext>, registry: Registry) {
        router.get("/registrationcode") { _, context in
            try requireControlPlane(context)
            let code = try await registry.perform { state throws(RegistryError) in state.obtainRegistrationCode() }
            return try json(["registrationCode": code])
        }
        router.delete("/registrationcode") { _, context in
            try requireControlPlane(context)
            try await registry.perform { state throws(RegistryError) in state.deleteRegistrationCode() }
            return try json([:])
        }
        router.post("/cacertificate") { request, context in
            try requireControlPlane(context)
            let active = try boolParameter(request, "setAsActive") ?? false
            let auto = try boolParameter(request, "allowAutoRegistration") ?? false
            let body = try await jsonBody(request, context)
            let pem = try requiredString(body, "caCertificate")
            let verification = try optionalString(body, "verificationCertificate")
            let mode = try optionalString(body, "certificateMode")
            let tags = try tagList(body)
            let now = Date().timeIntervalSince1970
            let record = try await registry.perform { state throws(RegistryError) in
                let record = try state.registerCACertificate(pem: pem, verificationPEM: verification, setAsActive: active,
                                                             allowAutoRegistration: auto, mode: mode, now: now)
                if let tags { try state.tagResource(arn: state.arns.caCertificate(record.certificateID), tags: tags) }
                return record
            }
            let arns = await registry.arns
            return try json(["certificateArn": arns.caCertificate(record.certificateID), "certificateId": record.certificateID])
        }
        router.get("/cacertificate/:caCertificateId") { _, context in
            try requireControlPlane(context)
            let id = try pathParameter(context, "caCertificateId")
            let record = try await registry.read { state throws(RegistryError) in try state.caCertificate(id: id) }
            let arns = await registry.arns
            let description: [String: Any] = [
                "certificateArn": arns.caCertificate(record.certificateID), "certificateId": record.certificateID,
                "status": record.status.rawValue, "certificatePem": record.certificatePEM, "ownedBy": arns.accountID,
                "creationDate": record.createdAt, "lastModifiedDate": record.lastModifiedAt,
                "autoRegistrationStatus": record.autoRegistration ? "ENABLE" : "DISABLE",
                "customerVersion": record.customerVersion, "generationId": record.generationID,
                "validity": ["notBefore": record.notBefore, "notAfter": record.notAfter], "certificateMode": record.mode.rawValue,
            ]
            return try json(["certificateDescription": description, "registrationConfig": [String: Any]()])
        }
        router.get("/cacertificates") { request, context in
            try requireControlPlane(context)
            let (marker, pageSize, ascending) = try markerPage(request)
            let (records, next) = try await registry.read { state throws(RegistryError) in
                try state.listCACertificates(marker: marker, pageSize: pageSize, ascending: ascending)
            }
            let arns = await registry.arns
            var out: [String: Any] = ["certificates": records.map { record -> [String: Any] in
                ["certificateArn": arns.caCertificate(record.certificateID), "certificateId": record.certificateID,
                 "status": record.status.rawValue, "creationDate": record.createdAt]
            }]
            if let next { out["nextMarker"] = next }
            return try json(out)
        }
        router.put("/cacertificate/:caCertificateId") { request, context in
            try requireControlPlane(context)
            let id = try pathParameter(context, "caCertificateId")
            let status = request.uri.queryParameters["newStatus"].map(String.init)
            let auto = request.uri.queryParameters["newAutoRegistrationStatus"].map(String.init)
            let body = try await jsonBody(request, context)
            let remove = (body["removeAutoRegistration"] as? Bool) ?? false
            let now = Date().timeIntervalSince1970
            try await registry.perform { state throws(RegistryError) in
                try state.updateCACertificate(id: id, newStatus: status, newAutoRegistrationStatus: auto, removeAutoRegistration: remove, now: now)
            }
            return try json([:])
        }
        router.delete("/cacertificate/:caCertificateId") { _, context in
            try requireControlPlane(context)
            let id = try pathParameter(context, "caCertificateId")
            try await registry.perform { state throws(RegistryError) in try state.deleteCACertificate(id: id) }
            return try json([:])
        }
    }
}
