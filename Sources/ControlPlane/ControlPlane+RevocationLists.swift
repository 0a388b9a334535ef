import DeviceIdentity
import Foundation
import Hummingbird
import Registry

/// Certificate revocation lists per CA: a Portcullis extension (AWS IoT has no CRL API; it relies on
/// UpdateCertificate REVOKED). `PUT /cacertificate/{caCertificateId}/revocation-list` takes the CRL as the
/// body (PEM or DER, up to `CertificateRevocationList.maximumBytes`); GET describes it, DELETE removes it.
/// The id may be a registered CA's or the gateway's own CA's.
extension ControlPlane {
    static let revocationListPathSuffix = "/revocation-list"

    static func addRevocationListRoutes(to router: Router<ControlPlaneContext>, registry: Registry) {
        router.put("/cacertificate/:caCertificateId/revocation-list") { request, context in
            try requireControlPlane(context)
            let id = try pathParameter(context, "caCertificateId")
            var request = request
            let body = try await request.collectBody(upTo: CertificateRevocationList.maximumBytes)
            let crl: CertificateRevocationList
            do {
                crl = try CertificateRevocationList(bytes: Array(buffer: body))
            } catch let error as DeviceIdentityError {
                throw AWSErrorResponse.invalidRequest("The body is not a certificate revocation list (PEM or DER): \(error.reason)")
            }
            let now = Date().timeIntervalSince1970
            let record = try await registry.perform { state throws(RegistryError) in
                try state.putRevocationList(caCertificateID: id, crl: crl, now: now)
            }
            return try json(description(record))
        }
        router.get("/cacertificate/:caCertificateId/revocation-list") { _, context in
            try requireControlPlane(context)
            let id = try pathParameter(context, "caCertificateId")
            let record = try await registry.read { state throws(RegistryError) in try state.revocationList(caCertificateID: id) }
            var out = description(record)
            out["crlPem"] = record.crlPEM
            return try json(out)
        }
        router.delete("/cacertificate/:caCertificateId/revocation-list") { _, context in
            try requireControlPlane(context)
            let id = try pathParameter(context, "caCertificateId")
            try await registry.perform { state throws(RegistryError) in try state.deleteRevocationList(caCertificateID: id) }
            return Response(status: .ok)
        }
    }

    static func description(_ record: RevocationListRecord) -> [String: Any] {
        var out: [String: Any] = [
            "caCertificateId": record.caCertificateID, "thisUpdate": record.thisUpdate, "revokedCount": record.revokedSerials.count,
            "uploadedDate": record.uploadedAt,
        ]
        if let next = record.nextUpdate {
            out["nextUpdate"] = next
            out["stale"] = next < Date().timeIntervalSince1970
        }
        if let number = record.crlNumber { out["crlNumber"] = number }
        return out
    }
}
