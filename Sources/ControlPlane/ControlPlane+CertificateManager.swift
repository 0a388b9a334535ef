import DeviceIdentity
import Foundation
import HTTPTypes
import Hummingbird
import Registry

/// The ACM operations domain configurations need, on the wire as ACM speaks them (JSON 1.1: `POST /`
/// with `X-Amz-Target: CertificateManager.<Operation>`, signed for `acm`), so
/// `aws acm import-certificate --endpoint-url ...` works: ImportCertificate (and re-import under an ARN,
/// which rotates the certificate of every domain serving it for new handshakes), DescribeCertificate,
/// ListCertificates, DeleteCertificate. Private keys are kept, never returned.
extension ControlPlane {
    static let targetHeader = HTTPField.Name("X-Amz-Target")!

    static func addCertificateManagerRoutes(to router: Router<ControlPlaneContext>, registry: Registry, configuration: Configuration) {
        router.post("/") { request, context in
            if context.identity?.service == "sts" {
                return try await securityTokenService(request, context, configuration: configuration)
            }
            if context.identity?.service == "dynamodb" {
                return try await dynamoDB(request, context, configuration: configuration)
            }
            guard context.identity?.service == "acm" else {
                throw AWSErrorResponse.unknownOperation(method: "POST", path: "/")
            }
            guard context.isAdmin else {
                throw AWSErrorResponse(status: 400, type: "AccessDeniedException", message: "Only the admin key may call ACM operations.")
            }
            guard let target = request.headers[targetHeader], target.hasPrefix("CertificateManager.") else {
                throw AWSErrorResponse(status: 400, type: "UnknownOperationException", message: "X-Amz-Target must name a CertificateManager operation.")
            }
            let body = try await jsonBody(request, context)
            var response: Response
            switch target.dropFirst("CertificateManager.".count) {
            case "ImportCertificate": response = try await importCertificate(body, registry: registry)
            case "DescribeCertificate":
                let arn = try requiredString(body, "CertificateArn")
                let (record, users) = try await registry.read { state throws(RegistryError) in
                    let record = try state.serverCertificate(arn: arn)
                    return (record, state.domainConfigurations(using: arn))
                }
                let arns = await registry.arns
                response = try json(["Certificate": certificateDetail(record, inUseBy: users.map { arns.domainConfiguration($0.name, id: $0.id) }, arns: arns)])
            case "ListCertificates":
                let maxItems = try optionalInt(body, "MaxItems") ?? 1000
                guard (1...1000).contains(maxItems) else {
                    throw AWSErrorResponse(status: 400, type: "ValidationException", message: "MaxItems must be between 1 and 1000.")
                }
                let token = try optionalString(body, "NextToken")
                let all = try await registry.read { state throws(RegistryError) in state.allServerCertificates }
                var start = 0
                if let token {
                    guard let index = all.firstIndex(where: { $0.id == token }) else {
                        throw AWSErrorResponse(status: 400, type: "InvalidArgsException", message: "The NextToken is not valid.")
                    }
                    start = index + 1
                }
                let page = Array(all[start..<min(all.count, start + maxItems)])
                let arns = await registry.arns
                var out: [String: Any] = ["CertificateSummaryList": page.map { record -> [String: Any] in
                    ["CertificateArn": arns.acmCertificate(record.id), "DomainName": record.domainName,
                     "SubjectAlternativeNameSummaries": record.subjectAlternativeNames, "Status": status(record), "Type": "IMPORTED",
                     "KeyAlgorithm": record.keyAlgorithm, "NotBefore": record.notBefore, "NotAfter": record.notAfter,
                     "CreatedAt": record.createdAt, "ImportedAt": record.importedAt]
                }]
                if start + maxItems < all.count, let last = page.last { out["NextToken"] = last.id }
                response = try json(out)
            case "DeleteCertificate":
                let arn = try requiredString(body, "CertificateArn")
                try await registry.perform { state throws(RegistryError) in try state.deleteServerCertificate(arn: arn) }
                response = try json([:])
            default:
                throw AWSErrorResponse(status: 400, type: "UnknownOperationException", message: "\(target.prefix(128)) is not supported here.")
            }
            response.headers[.contentType] = "application/x-amz-json-1.1"
            return response
        }
    }

    static func importCertificate(_ body: [String: Any], registry: Registry) async throws -> Response {
        func blob(_ key: String, required: Bool) throws -> [UInt8]? {
            guard let value = body[key], !(value is NSNull) else {
                if required { throw AWSErrorResponse(status: 400, type: "ValidationException", message: "\(key) is required.") }
                return nil
            }
            guard let text = value as? String, let data = Data(base64Encoded: text) else {
                throw AWSErrorResponse(status: 400, type: "ValidationException", message: "\(key) must be base64 (a blob).")
            }
            return Array(data)
        }
        let certificate = try blob("Certificate", required: true)!
        let key = try blob("PrivateKey", required: true)!
        let chain = try blob("CertificateChain", required: false)
        let arn = try optionalString(body, "CertificateArn")
        let now = Date().timeIntervalSince1970
        let record = try await registry.perform { state throws(RegistryError) in
            try state.importServerCertificate(certificate: certificate, privateKey: key, chain: chain, arn: arn, now: now)
        }
        let arns = await registry.arns
        return try json(["CertificateArn": arns.acmCertificate(record.id)])
    }

    static func status(_ record: ServerCertificateRecord) -> String {
        record.notAfter < Date().timeIntervalSince1970 ? "EXPIRED" : "ISSUED"
    }

    static func certificateDetail(_ record: ServerCertificateRecord, inUseBy: [String], arns: ARNs) -> [String: Any] {
        ["CertificateArn": arns.acmCertificate(record.id), "DomainName": record.domainName, "SubjectAlternativeNames": record.subjectAlternativeNames,
         "Serial": record.serial, "Subject": record.subject, "Issuer": record.issuer, "CreatedAt": record.createdAt,
         "ImportedAt": record.importedAt, "Status": status(record), "NotBefore": record.notBefore, "NotAfter": record.notAfter,
         "KeyAlgorithm": record.keyAlgorithm, "InUseBy": inUseBy, "Type": "IMPORTED", "RenewalEligibility": "INELIGIBLE",
         "ExtendedKeyUsages": record.serverAuth ? [["Name": "TLS_WEB_SERVER_AUTHENTICATION", "OID": "1.3.6.1.5.5.7.3.1"]] : []]
    }
}
