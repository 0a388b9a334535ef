import Crypto
import DeviceIdentity
import Foundation
import SwiftASN1
import X509
import _CryptoExtras

/// A server certificate imported through ACM's ImportCertificate (`arn:aws:acm:...:certificate/<id>`),
/// for domain configurations to serve. The private key stays in the registry: it is never returned by
/// any call and never logged.
public struct ServerCertificateRecord: Sendable, Hashable, Codable {
    public var id: String
    public var certificatePEM: String
    /// The intermediates (and optionally the root), leaf excluded, as PEM; empty when none was given.
    public var chainPEM: String
    public var privateKeyPEM: String
    public var createdAt: Double
    public var importedAt: Double
    /// Counts the imports under this ARN: a re-import is a rotation, and new handshakes use it.
    public var generation: Int
    public var notBefore: Double
    public var notAfter: Double
    public var domainName: String
    public var subjectAlternativeNames: [String]
    /// ACM's names: `EC_prime256v1`, `EC_secp384r1`, `RSA_2048`, ...
    public var keyAlgorithm: String
    public var serial: String
    public var subject: String
    public var issuer: String
    public var serverAuth: Bool

    /// The chain served, leaf first.
    public var servedChainPEM: String { chainPEM.isEmpty ? certificatePEM : certificatePEM + chainPEM }
}

/// ACM's limits on ImportCertificate's blobs, and a check of what is imported.
public enum ServerCertificateRules {
    public static let maximumCertificateBytes = 32768
    public static let maximumPrivateKeyBytes = 5120
    public static let maximumChainBytes = 2_097_152

    /// What an import is made of once checked.
    struct Checked {
        var leaf: Certificate
        var chain: [Certificate]
        var record: ServerCertificateRecord
    }

    static func check(certificate: [UInt8], privateKey: [UInt8], chain: [UInt8]?, now: Double) throws(RegistryError) -> Checked {
        func invalid(_ message: String) -> RegistryError { RegistryError(.acmValidation, message) }
        guard certificate.count <= maximumCertificateBytes else { throw invalid("Certificate is longer than \(maximumCertificateBytes) bytes.") }
        guard privateKey.count <= maximumPrivateKeyBytes else { throw invalid("PrivateKey is longer than \(maximumPrivateKeyBytes) bytes.") }
        guard (chain?.count ?? 0) <= maximumChainBytes else { throw invalid("CertificateChain is longer than \(maximumChainBytes) bytes.") }
        guard let certificateText = String(validating: certificate, as: UTF8.self),
              let leaves = try? PEM.parseCertificates(pem: certificateText), leaves.count == 1, let leaf = leaves.first else {
            throw invalid("Certificate must be one PEM-encoded X.509 certificate.")
        }
        var intermediates: [Certificate] = []
        if let chain, !chain.isEmpty {
            guard let text = String(validating: chain, as: UTF8.self), let parsed = try? PEM.parseCertificates(pem: text), !parsed.isEmpty else {
                throw invalid("CertificateChain must be PEM-encoded X.509 certificates.")
            }
            intermediates = parsed
        }
        guard let keyText = String(validating: privateKey, as: UTF8.self), let key = try? Certificate.PrivateKey(pemEncoded: keyText) else {
            throw invalid("The private key is not supported: give an unencrypted PEM RSA or EC private key.")
        }
        guard key.publicKey == leaf.publicKey else {
            throw invalid("The private key does not match the public key in the certificate.")
        }
        // Each certificate of the chain must have signed the one before it.
        var child = leaf
        for parent in intermediates {
            guard child.issuer == parent.subject, parent.publicKey.isValidSignature(child.signature, for: child) else {
                throw invalid("Could not validate the certificate with the certificate chain.")
            }
            child = parent
        }
        let notAfter = leaf.notValidAfter.timeIntervalSince1970
        guard notAfter > now else { throw invalid("The certificate has expired (notAfter \(leaf.notValidAfter)).") }
        let names = dnsNames(leaf)
        let commonName = leaf.subject.flatMap { $0 }.first { $0.type == .RDNAttributeType.commonName }.map { "\($0.value)" }
        let record = ServerCertificateRecord(
            id: "", certificatePEM: (try? leaf.serializeAsPEM().pemString).map { $0 + "\n" } ?? certificateText,
            chainPEM: intermediates.compactMap { try? $0.serializeAsPEM().pemString + "\n" }.joined(),
            privateKeyPEM: keyText, createdAt: now, importedAt: now, generation: 1,
            notBefore: leaf.notValidBefore.timeIntervalSince1970, notAfter: notAfter,
            domainName: commonName ?? names.first ?? "", subjectAlternativeNames: names, keyAlgorithm: keyAlgorithm(leaf.publicKey),
            serial: leaf.serialNumber.bytes.map { String(format: "%02x", $0) }.joined(separator: ":"),
            subject: "\(leaf.subject)", issuer: "\(leaf.issuer)",
            serverAuth: (try? leaf.extensions.extendedKeyUsage)??.contains(.serverAuth) ?? false)
        return Checked(leaf: leaf, chain: intermediates, record: record)
    }

    static func dnsNames(_ certificate: Certificate) -> [String] {
        guard let names = try? certificate.extensions.subjectAlternativeNames else { return [] }
        return names.compactMap { if case .dnsName(let name) = $0 { name.lowercased() } else { nil } }
    }

    static func keyAlgorithm(_ key: Certificate.PublicKey) -> String {
        if P256.Signing.PublicKey(key) != nil { return "EC_prime256v1" }
        if P384.Signing.PublicKey(key) != nil { return "EC_secp384r1" }
        if P521.Signing.PublicKey(key) != nil { return "EC_secp521r1" }
        if let rsa = _RSA.Signing.PublicKey(key) { return "RSA_\(rsa.keySizeInBits)" }
        return "UNKNOWN"
    }

    /// Whether a certificate's names cover `domain` (a `*.` wildcard covers one label).
    public static func covers(_ record: ServerCertificateRecord, domain: String) -> Bool {
        let domain = domain.lowercased()
        let names = record.subjectAlternativeNames.isEmpty ? [record.domainName.lowercased()] : record.subjectAlternativeNames
        return names.contains { name in
            if name == domain { return true }
            guard name.hasPrefix("*."), let dot = domain.firstIndex(of: ".") else { return false }
            return domain[domain.index(after: dot)...] == name.dropFirst(2)
        }
    }
}

extension RegistryState {
    /// ACM ImportCertificate: a new certificate, or with `arn` a re-import (rotation) of an existing one.
    /// A certificate that a domain configuration serves may only be replaced by one with the same key
    /// algorithm and names, as AWS IoT requires; a refused import leaves the one in service.
    public mutating func importServerCertificate(certificate: [UInt8], privateKey: [UInt8], chain: [UInt8]?, arn: String?,
                                                 now: Double) throws(RegistryError) -> ServerCertificateRecord {
        var record = try ServerCertificateRules.check(certificate: certificate, privateKey: privateKey, chain: chain, now: now).record
        if let arn {
            guard let id = arns.acmCertificateID(inARN: arn), let existing = serverCertificates[id] else {
                throw RegistryError(.resourceNotFound, "Could not find certificate \(arn.prefix(2048)).")
            }
            if domainConfigurations.values.contains(where: { $0.serverCertificateArns.contains(arn) }) {
                guard existing.keyAlgorithm == record.keyAlgorithm, existing.domainName == record.domainName,
                      Set(existing.subjectAlternativeNames) == Set(record.subjectAlternativeNames) else {
                    throw RegistryError(.acmValidation, "The certificate is in use by a domain configuration: a re-import must keep the key algorithm (\(existing.keyAlgorithm)) and the domain names.")
                }
            }
            record.id = id
            record.createdAt = existing.createdAt
            record.generation = existing.generation + 1
        } else {
            guard serverCertificates.count < 1000 else { throw RegistryError(.acmLimitExceeded, "Too many certificates are imported (1000).") }
            record.id = UUID().uuidString.lowercased()
        }
        serverCertificates[record.id] = record
        return record
    }

    public func serverCertificate(arn: String) throws(RegistryError) -> ServerCertificateRecord {
        guard let id = arns.acmCertificateID(inARN: arn) else {
            throw RegistryError(.acmInvalidARN, "The ARN \(arn.prefix(2048)) is not a certificate ARN of this account and region.")
        }
        guard let record = serverCertificates[id] else {
            throw RegistryError(.resourceNotFound, "Could not find certificate \(arn.prefix(2048)).")
        }
        return record
    }

    /// Imported certificates, oldest first.
    public var allServerCertificates: [ServerCertificateRecord] {
        serverCertificates.values.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }

    /// The domain configurations that serve a certificate.
    public func domainConfigurations(using arn: String) -> [DomainConfigurationRecord] {
        domainConfigurations.values.filter { $0.serverCertificateArns.contains(arn) }.sorted { $0.name < $1.name }
    }

    public mutating func deleteServerCertificate(arn: String) throws(RegistryError) {
        let record = try serverCertificate(arn: arn)
        let users = domainConfigurations(using: arn)
        guard users.isEmpty else {
            throw RegistryError(.acmResourceInUse, "Certificate \(arn) is in use by the domain configuration \(users.map(\.name).joined(separator: ", ")).")
        }
        serverCertificates[record.id] = nil
    }
}
