import DeviceIdentity
import Foundation
import X509

/// AWS's `CertificateStatus`. Only ACTIVE certificates authenticate; PENDING_TRANSFER and
/// PENDING_ACTIVATION are set by the service, never by UpdateCertificate.
public enum CertificateStatus: String, Sendable, Hashable, Codable, CaseIterable {
    case active = "ACTIVE"
    case inactive = "INACTIVE"
    case revoked = "REVOKED"
    case pendingTransfer = "PENDING_TRANSFER"
    case registerInactive = "REGISTER_INACTIVE"
    case pendingActivation = "PENDING_ACTIVATION"
}

/// `DEFAULT`: issued here or registered under a CA in DEFAULT mode. `SNI_ONLY`: registered without a
/// CA, or under a CA registered without proof of possession.
public enum CertificateMode: String, Sendable, Hashable, Codable {
    case `default` = "DEFAULT"
    case sniOnly = "SNI_ONLY"
}

/// A device certificate in the registry, keyed by its id (the lowercase hex SHA-256 of its DER).
public struct DeviceCertificate: Sendable, Hashable, Codable {
    public var certificateID: String
    public var certificatePEM: String
    /// The registered CA that signed it; nil for certificates issued by the gateway's own CA or
    /// registered without a CA.
    public var caCertificateID: String?
    public var status: CertificateStatus
    public var mode: CertificateMode
    public var createdAt: Double
    public var lastModifiedAt: Double
    /// Counts the changes of status (AWS's `customerVersion`).
    public var customerVersion: Int
    public var generationID: String
    public var notBefore: Double
    public var notAfter: Double
}

/// AWS's `CACertificateStatus`.
public enum CACertificateStatus: String, Sendable, Hashable, Codable {
    case active = "ACTIVE"
    case inactive = "INACTIVE"
}

/// A CA certificate registered so that device certificates it signed can be registered (and, with
/// auto-registration, register themselves at their first connection).
public struct CACertificateRecord: Sendable, Hashable, Codable {
    public var certificateID: String
    public var certificatePEM: String
    public var status: CACertificateStatus
    public var autoRegistration: Bool
    public var mode: CertificateMode
    public var createdAt: Double
    public var lastModifiedAt: Double
    public var customerVersion: Int
    public var generationID: String
    public var notBefore: Double
    public var notAfter: Double
}

/// What the registry needs to know of one parsed certificate.
public struct ParsedCertificate: Sendable {
    public let certificate: Certificate
    public let certificateID: String
    /// The PEM as the registry keeps and returns it (one certificate, normalised).
    public let pem: String

    /// Parses exactly one certificate; anything else is AWS's CertificateValidationException.
    public init(pem text: String, field: String) throws(RegistryError) {
        guard text.utf8.count <= CertificateRules.maximumPEMBytes else {
            throw RegistryError(.invalidRequest, "\(field) is longer than \(CertificateRules.maximumPEMBytes) bytes.")
        }
        let certificates: [Certificate]
        do {
            certificates = try PEM.parseCertificates(pem: text)
        } catch let error as DeviceIdentityError where error.code == .weakKey {
            throw RegistryError(.certificateValidation, "\(field): \(error.reason).")
        } catch {
            throw RegistryError(.certificateValidation, "\(field) is not a valid PEM certificate.")
        }
        guard certificates.count == 1, let certificate = certificates.first else {
            throw RegistryError(.certificateValidation, "\(field) must contain exactly one certificate, not \(certificates.count).")
        }
        do {
            self.certificate = certificate
            self.certificateID = try CertificateID.compute(certificate)
            self.pem = try PEM.encode(certificate)
        } catch {
            throw RegistryError(.certificateValidation, "\(field) cannot be encoded again as DER.")
        }
    }

    public init(certificate: Certificate) throws(RegistryError) {
        do {
            self.certificate = certificate
            self.certificateID = try CertificateID.compute(certificate)
            self.pem = try PEM.encode(certificate)
        } catch {
            throw RegistryError(.internalFailure, "The certificate cannot be encoded.")
        }
    }

    public var notBefore: Double { certificate.notValidBefore.timeIntervalSince1970 }
    public var notAfter: Double { certificate.notValidAfter.timeIntervalSince1970 }

    /// Whether this certificate may sign others (basicConstraints CA:TRUE).
    public var isCertificateAuthority: Bool {
        guard let constraints = try? certificate.extensions.basicConstraints else { return false }
        if case .isCertificateAuthority = constraints { return true }
        return false
    }

    /// Whether `issuer` signed this certificate (names match and the signature verifies).
    public func isSigned(by issuer: Certificate) -> Bool {
        certificate.issuer == issuer.subject && issuer.publicKey.isValidSignature(certificate.signature, for: certificate)
    }

    /// The subject's common name, if it has one.
    public var commonName: String? {
        for relativeName in certificate.subject {
            for attribute in relativeName where attribute.type == .RDNAttributeType.commonName {
                return String(describing: attribute.value)
            }
        }
        return nil
    }
}

/// AWS's rules for certificates and CA certificates (reference 2.1, 2.2, 9.2).
public enum CertificateRules {
    /// ListCertificates, ListCertificatesByCA and ListCACertificates: "paginated with a default page size
    /// of 25" (AWS's API reference), at most 250.
    public static let defaultPageSize = 25
    public static let maximumPEMBytes = 65536
    public static let maximumCSRBytes = 4096
    /// AWS: at most 10 CA certificates with the same subject per account and region.
    public static let maximumCAsPerSubject = 10
    /// AWS's quota of policies attached to one target.
    public static let maximumPoliciesPerTarget = 10

    /// Certificate and CA ids: 64 hex digits (botocore's pattern allows a 0x prefix and either case;
    /// ids are stored lower case).
    public static func normalisedID(_ id: String, field: String = "certificateId") throws(RegistryError) -> String {
        var text = Substring(id)
        if text.hasPrefix("0x") { text = text.dropFirst(2) }
        guard text.utf8.count == 64, text.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) || ($0 >= 65 && $0 <= 70) }) else {
            throw RegistryError(.invalidRequest, "\(field) must be 64 hexadecimal characters.")
        }
        return text.lowercased()
    }
}
