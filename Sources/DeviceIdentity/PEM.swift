#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SwiftASN1
import X509
import _CryptoExtras

/// Reading and writing the PEM text that certificates, keys and CSRs travel in.
///
/// This module never touches files: callers read a file into a `String`, hand it here, and write the
/// strings we return. Every string we produce ends with a newline so that files can be concatenated
/// into bundles and read by OpenSSL without fuss.
public enum PEM {
    static let certificateDiscriminator = "CERTIFICATE"
    static let pkcs8Discriminator = "PRIVATE KEY"
    static let csrDiscriminator = "CERTIFICATE REQUEST"

    /// Parses every certificate in a PEM bundle, in the order they appear.
    ///
    /// Text outside the `BEGIN`/`END` markers (such as OpenSSL's "Bag Attributes" or a `-text` dump) is
    /// ignored. A block of any other type is an error rather than being skipped, because a key pasted
    /// into a certificate field is a mistake the operator should hear about.
    ///
    /// - Throws: ``DeviceIdentityError`` with code ``DeviceIdentityError/Code/invalidPEM`` when the text
    ///   holds no certificate or a non-certificate block, ``DeviceIdentityError/Code/invalidCertificate``
    ///   when a block does not decode as X.509.
    public static func parseCertificates(pem: String) throws -> [Certificate] {
        let documents = try parseDocuments(pem)
        guard !documents.isEmpty else {
            throw DeviceIdentityError(code: .invalidPEM, reason: "no PEM CERTIFICATE block found")
        }
        return try documents.enumerated().map { index, document in
            guard document.discriminator == certificateDiscriminator else {
                throw DeviceIdentityError(
                    code: .invalidPEM,
                    reason: "PEM block \(index + 1) is '\(document.discriminator)', "
                        + "expected '\(certificateDiscriminator)'"
                )
            }
            do {
                return try Certificate(derEncoded: document.derBytes)
            } catch {
                if let problem = KeyStrength.problem(certificateDER: document.derBytes) {
                    throw DeviceIdentityError(code: .weakKey, reason: problem)
                }
                throw DeviceIdentityError(
                    code: .invalidCertificate,
                    reason: "PEM block \(index + 1) is not a valid X.509 certificate: \(error)"
                )
            }
        }
    }

    /// Parses exactly one certificate.
    ///
    /// Use this where a bundle would be ambiguous, such as the certificate of a CA paired with its key.
    public static func parseCertificate(pem: String) throws -> Certificate {
        let certificates = try parseCertificates(pem: pem)
        guard certificates.count == 1 else {
            throw DeviceIdentityError(
                code: .invalidPEM,
                reason: "expected exactly one certificate, found \(certificates.count)"
            )
        }
        return certificates[0]
    }

    /// Parses a private key.
    ///
    /// Accepts the forms in common use: PKCS#8 `PRIVATE KEY` (P-256, P-384, P-521, RSA, Ed25519),
    /// SEC1 `EC PRIVATE KEY` and PKCS#1 `RSA PRIVATE KEY`. Encrypted keys are refused with a clear
    /// message, since this module holds no passphrases.
    public static func parsePrivateKey(pem: String) throws -> Certificate.PrivateKey {
        let documents = try parseDocuments(pem)
        guard documents.count == 1, let document = documents.first else {
            throw DeviceIdentityError(
                code: .invalidPEM,
                reason: "expected exactly one PEM private key block, found \(documents.count)"
            )
        }
        if document.discriminator == "ENCRYPTED PRIVATE KEY" {
            throw DeviceIdentityError(
                code: .unsupportedPrivateKey,
                reason: "the private key is encrypted; decrypt it first (openssl pkcs8 -in key.pem -out plain.pem)"
            )
        }
        do {
            return try Certificate.PrivateKey(pemDocument: document)
        } catch {
            throw DeviceIdentityError(
                code: .unsupportedPrivateKey,
                reason: "cannot read '\(document.discriminator)' block as a private key: \(error)"
            )
        }
    }

    /// Parses a PKCS#10 certificate signing request, as sent to `CreateCertificateFromCsr`.
    public static func parseCertificateSigningRequest(pem: String) throws -> CertificateSigningRequest {
        let documents = try parseDocuments(pem)
        guard documents.count == 1, let document = documents.first else {
            throw DeviceIdentityError(
                code: .invalidPEM,
                reason: "expected exactly one PEM certificate request block, found \(documents.count)"
            )
        }
        // OpenSSL writes "CERTIFICATE REQUEST"; some older tools write "NEW CERTIFICATE REQUEST".
        guard document.discriminator == csrDiscriminator || document.discriminator == "NEW " + csrDiscriminator else {
            throw DeviceIdentityError(
                code: .invalidPEM,
                reason: "PEM block is '\(document.discriminator)', expected '\(csrDiscriminator)'"
            )
        }
        do {
            return try CertificateSigningRequest(derEncoded: document.derBytes)
        } catch {
            if let problem = KeyStrength.problem(csrDER: document.derBytes) {
                throw DeviceIdentityError(code: .weakKey, reason: problem)
            }
            throw DeviceIdentityError(
                code: .invalidCertificate,
                reason: "PEM block is not a valid certificate signing request: \(error)"
            )
        }
    }

    /// Encodes a certificate as a PEM `CERTIFICATE` block, ending with a newline.
    public static func encode(_ certificate: Certificate) throws -> String {
        let der = try CertificateID.derBytes(of: certificate)
        return terminated(PEMDocument(type: certificateDiscriminator, derBytes: der).pemString)
    }

    /// Encodes certificates as a PEM bundle, in the given order.
    public static func encode(_ certificates: [Certificate]) throws -> String {
        try certificates.map(encode).joined()
    }

    /// Encodes a private key as an unencrypted PKCS#8 `PRIVATE KEY` block, ending with a newline.
    ///
    /// PKCS#8 is the one format that carries the key algorithm for every key type, so readers need no
    /// hint; it is also what AWS hands out for new keys and what OpenSSL 3 writes by default.
    public static func encodePrivateKey(_ key: Certificate.PrivateKey) throws -> String {
        let document: PEMDocument
        do {
            document = try key.serializeAsPEM()
        } catch {
            throw DeviceIdentityError(code: .unsupportedPrivateKey, reason: "cannot encode private key: \(error)")
        }
        switch document.discriminator {
        case pkcs8Discriminator:
            return terminated(document.pemString)
        case "RSA PRIVATE KEY":
            // swift-crypto writes RSA keys as PKCS#1; re-wrap them so every key we emit has one form.
            do {
                let rsa = try _RSA.Signing.PrivateKey(derRepresentation: document.derBytes)
                return terminated(rsa.pkcs8PEMRepresentation)
            } catch {
                throw DeviceIdentityError(code: .unsupportedPrivateKey, reason: "cannot re-encode RSA key: \(error)")
            }
        default:
            throw DeviceIdentityError(
                code: .unsupportedPrivateKey,
                reason: "cannot encode a '\(document.discriminator)' key as PKCS#8"
            )
        }
    }

    private static func terminated(_ pem: String) -> String {
        var pem = Substring(pem)
        while pem.last?.isNewline == true {
            pem = pem.dropLast()
        }
        return pem + "\n"
    }

    /// Splits text into PEM blocks, tolerating what real files contain.
    ///
    /// SwiftASN1's parser insists on exactly 64 characters a line; certificates exported by Java,
    /// Windows and some appliances use 76. We follow RFC 7468's lax reading instead: surrounding
    /// text is ignored, base64 may wrap at any width, and CRLF line endings are accepted.
    static func parseDocuments(_ pem: String) throws -> [PEMDocument] {
        var documents: [PEMDocument] = []
        var open: (label: Substring, body: String)?
        for rawLine in pem.split(omittingEmptySubsequences: true, whereSeparator: \.isNewline) {
            let line = rawLine.trimmingASCIIWhitespace()
            if let current = open {
                if let label = line.pemMarkerLabel(kind: "END") {
                    guard label == current.label else {
                        throw DeviceIdentityError(
                            code: .invalidPEM,
                            reason: "PEM block 'BEGIN \(current.label)' is closed by 'END \(label)'"
                        )
                    }
                    guard let der = Data(base64Encoded: current.body), !der.isEmpty else {
                        throw DeviceIdentityError(
                            code: .invalidPEM,
                            reason: "PEM block '\(current.label)' is not valid base64"
                        )
                    }
                    documents.append(PEMDocument(type: String(current.label), derBytes: Array(der)))
                    open = nil
                } else if line.contains(":") {
                    // RFC 1421 headers only appear on legacy encrypted keys, which we cannot read.
                    throw DeviceIdentityError(
                        code: .unsupportedPrivateKey,
                        reason: "PEM block '\(current.label)' has headers (\(line)); "
                            + "encrypted legacy keys are not supported"
                    )
                } else {
                    open = (current.label, current.body + line)
                }
            } else if let label = line.pemMarkerLabel(kind: "BEGIN") {
                open = (label, "")
            }
        }
        if let current = open {
            throw DeviceIdentityError(code: .invalidPEM, reason: "PEM block '\(current.label)' has no END line")
        }
        return documents
    }
}

extension Substring {
    fileprivate func trimmingASCIIWhitespace() -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        var trimmed = self
        while let first = trimmed.first, isSpace(first) { trimmed = trimmed.dropFirst() }
        while let last = trimmed.last, isSpace(last) { trimmed = trimmed.dropLast() }
        return trimmed
    }

    /// The label of a `-----BEGIN LABEL-----` or `-----END LABEL-----` line, if this is one.
    fileprivate func pemMarkerLabel(kind: String) -> Substring? {
        let prefix = "-----\(kind) "
        guard self.hasPrefix(prefix), self.hasSuffix("-----"), self.count > prefix.count + 5 else {
            return nil
        }
        return self.dropFirst(prefix.count).dropLast(5)
    }
}
