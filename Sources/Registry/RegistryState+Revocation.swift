import DeviceIdentity
import Foundation
import X509

/// A CA's certificate revocation list as the registry keeps it: the list itself (PEM) and what the
/// handshake check needs of it, the revoked serials.
public struct RevocationListRecord: Sendable, Hashable, Codable {
    public var caCertificateID: String
    public var crlPEM: String
    public var thisUpdate: Double
    public var nextUpdate: Double?
    /// The CRL Number extension (hex), when the list has one.
    public var crlNumber: String?
    /// Lowercase hex of each revoked serial's DER content bytes (`CertificateRevocationList.serialKey`).
    public var revokedSerials: Set<String>
    public var uploadedAt: Double
}

extension RegistryState {
    /// The CA a revocation list may be uploaded for: a registered CA, or the gateway's own.
    func revocationListIssuer(_ caCertificateID: String) throws(RegistryError) -> Certificate {
        if let record = caCertificates[caCertificateID], let parsed = try? PEM.parseCertificate(pem: record.certificatePEM) {
            return parsed
        }
        if let localCA, (try? CertificateID.compute(localCA)) == caCertificateID { return localCA }
        throw RegistryError(.resourceNotFound, "No CA certificate with id \(caCertificateID) is registered (nor is it the gateway's CA).")
    }

    /// Puts (or replaces) a CA's revocation list. It must be signed by that CA, and not be older than
    /// the list in place (by thisUpdate and, when both have one, CRL Number): an old list cannot bring
    /// revoked certificates back.
    public mutating func putRevocationList(caCertificateID: String, crl: CertificateRevocationList, now: Double) throws(RegistryError) -> RevocationListRecord {
        let ca = try revocationListIssuer(caCertificateID)
        guard crl.isSigned(by: ca) else {
            throw RegistryError(.invalidRequest, "The CRL is not signed by the CA certificate \(caCertificateID) (issuer '\(crl.issuer)').")
        }
        if let existing = revocationLists[caCertificateID] {
            guard crl.thisUpdate.timeIntervalSince1970 >= existing.thisUpdate else {
                throw RegistryError(.invalidRequest, "The CRL is older than the one in place for \(caCertificateID) (thisUpdate before \(Self.isoDate(existing.thisUpdate))).")
            }
            if let old = existing.crlNumber, let new = crl.crlNumber, Self.compareHexIntegers(new, old) < 0 {
                throw RegistryError(.invalidRequest, "The CRL's number \(new) is below the number \(old) of the one in place for \(caCertificateID).")
            }
        }
        let record = RevocationListRecord(caCertificateID: caCertificateID, crlPEM: crl.pem, thisUpdate: crl.thisUpdate.timeIntervalSince1970,
                                          nextUpdate: crl.nextUpdate?.timeIntervalSince1970, crlNumber: crl.crlNumber,
                                          revokedSerials: crl.revokedSerials, uploadedAt: now)
        revocationLists[caCertificateID] = record
        return record
    }

    public func revocationList(caCertificateID: String) throws(RegistryError) -> RevocationListRecord {
        guard let record = revocationLists[caCertificateID] else {
            throw RegistryError(.resourceNotFound, "No revocation list is in place for the CA certificate \(caCertificateID).")
        }
        return record
    }

    public mutating func deleteRevocationList(caCertificateID: String) throws(RegistryError) {
        _ = try revocationList(caCertificateID: caCertificateID)
        revocationLists[caCertificateID] = nil
    }

    /// Every revocation list, by CA certificate id.
    public var allRevocationLists: [String: RevocationListRecord] { revocationLists }

    /// Compares two non-negative integers written in hex (as CRL numbers are kept).
    static func compareHexIntegers(_ a: String, _ b: String) -> Int {
        let x = a.drop { $0 == "0" }, y = b.drop { $0 == "0" }
        if x.count != y.count { return x.count < y.count ? -1 : 1 }
        return x == y ? 0 : (x < y ? -1 : 1)
    }

    static func isoDate(_ seconds: Double) -> String {
        ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: seconds))
    }
}
