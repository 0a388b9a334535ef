#if canImport(FoundationEssentials)
import IPAddressText
import FoundationEssentials
#else
import Foundation
#endif
import SwiftASN1
import X509

extension CertificateAuthority {
    /// Where the key pair of a newly issued certificate comes from.
    public enum SubjectKey: Sendable, Hashable {
        /// Generate a fresh key of the given kind.
        case generate(KeyAlgorithm)
        /// Use a key the caller already has (for example to reissue a certificate for the same key).
        case existing(Certificate.PrivateKey)

        func resolve() throws -> Certificate.PrivateKey {
            switch self {
            case .generate(let algorithm):
                return try algorithm.makePrivateKey()
            case .existing(let key):
                return key
            }
        }
    }

    /// A random, positive, exactly 20-byte serial number.
    ///
    /// RFC 5280 caps serials at 20 octets and CA/Browser Forum rules want at least 64 random bits;
    /// clearing the top bit keeps the DER INTEGER positive without a 21st padding byte, and setting the
    /// next bit keeps the length fixed so every serial looks alike.
    static func makeSerialNumber() -> Certificate.SerialNumber {
        var generator = SystemRandomNumberGenerator()
        var bytes = (0..<20).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        bytes[0] = (bytes[0] & 0x7F) | 0x40
        return Certificate.SerialNumber(bytes: bytes)
    }

    static func notAfter(_ notBefore: Date, _ validity: TimeInterval) throws -> Date {
        guard validity.isFinite, validity > 0 else {
            throw DeviceIdentityError(
                code: .invalidValidity,
                reason: "validity must be a positive number of seconds, got \(validity)"
            )
        }
        return notBefore.addingTimeInterval(validity)
    }

    static func distinguishedName(commonName: String, organization: String?) throws -> DistinguishedName {
        do {
            return try DistinguishedName {
                if let organization {
                    OrganizationName(organization)
                }
                CommonName(commonName)
            }
        } catch {
            throw DeviceIdentityError(code: .encodingFailed, reason: "cannot build subject name: \(error)")
        }
    }

    static func subjectAlternativeNames(dnsNames: [String], ipAddresses: [String]) throws -> SubjectAlternativeNames {
        guard !dnsNames.isEmpty || !ipAddresses.isEmpty else {
            throw DeviceIdentityError(
                code: .invalidSubjectAlternativeName,
                reason: "a server certificate needs at least one DNS name or IP address"
            )
        }
        var names: [GeneralName] = []
        for dnsName in dnsNames {
            // dNSName is an IA5String: printable ASCII, no spaces. Catch typos here rather than at a
            // client's hostname check.
            guard !dnsName.isEmpty, dnsName.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw DeviceIdentityError(
                    code: .invalidSubjectAlternativeName,
                    reason: "'\(dnsName)' is not a valid DNS name (use ASCII or punycode, no spaces)"
                )
            }
            names.append(.dnsName(dnsName))
        }
        for ipAddress in ipAddresses {
            guard let bytes = IPAddressParser.parse(ipAddress) else {
                throw DeviceIdentityError(
                    code: .invalidIPAddress,
                    reason: "'\(ipAddress)' is not an IPv4 or IPv6 address"
                )
            }
            names.append(.ipAddress(ASN1OctetString(contentBytes: bytes[...])))
        }
        return SubjectAlternativeNames(names)
    }

    /// Runs a certificate construction, turning library errors into ``DeviceIdentityError``.
    static func buildCertificate(_ build: () throws -> Certificate) throws -> Certificate {
        do {
            return try build()
        } catch let error as DeviceIdentityError {
            throw error
        } catch {
            throw DeviceIdentityError(code: .encodingFailed, reason: "cannot build certificate: \(error)")
        }
    }

    /// Refuses certificates that a verifier would not accept as an issuer.
    static func checkIsCertificateAuthority(_ certificate: Certificate) throws {
        let basicConstraints: BasicConstraints?
        let keyUsage: KeyUsage?
        do {
            basicConstraints = try certificate.extensions.basicConstraints
            keyUsage = try certificate.extensions.keyUsage
        } catch {
            throw DeviceIdentityError(
                code: .invalidCertificate,
                reason: "CA certificate '\(certificate.subject)' has malformed extensions: \(error)"
            )
        }
        guard case .isCertificateAuthority = basicConstraints else {
            throw DeviceIdentityError(
                code: .notACertificateAuthority,
                reason: "certificate '\(certificate.subject)' is not a CA (basic constraints do not set cA)"
            )
        }
        if let keyUsage, !keyUsage.keyCertSign {
            throw DeviceIdentityError(
                code: .notACertificateAuthority,
                reason: "certificate '\(certificate.subject)' may not sign certificates (key usage lacks keyCertSign)"
            )
        }
    }
}
