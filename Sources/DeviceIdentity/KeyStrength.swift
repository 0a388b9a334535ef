import SwiftASN1

/// Explains why a certificate or CSR whose key swift-crypto refuses did not parse.
///
/// swift-certificates refuses an RSA key shorter than 2048 bits while it parses the whole structure, so
/// the caller only learns "incorrectParameterSize". AWS IoT's rule is RSA keys of at least 2048 bits or
/// ECDSA on P-256, P-384 or P-521 (reference 2.1); this walks the DER just far enough to find the
/// SubjectPublicKeyInfo and say which rule the key breaks. Only used on the failure path.
public enum KeyStrength {
    /// The smallest RSA modulus AWS IoT accepts, in bits.
    public static let minimumRSABits = 2048

    /// The rule AWS applies to every certificate and CSR key, as one sentence for error messages.
    public static let rule = "AWS IoT accepts RSA keys of at least 2048 bits or ECDSA keys on P-256, P-384 or P-521"

    /// Why the key of a DER certificate is refused, or nil if it is not a short RSA key (or the bytes do
    /// not reach the key at all).
    public static func problem(certificateDER der: [UInt8]) -> String? {
        // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber,
        //   signature, issuer, validity, subject, subjectPublicKeyInfo, ... }, ... }
        guard let tbs = children(of: try? DER.parse(der))?.first, var fields = children(of: tbs) else { return nil }
        if let first = fields.first, first.identifier.tagClass == .contextSpecific { fields.removeFirst() }
        guard fields.count > 5 else { return nil }
        return problem(subjectPublicKeyInfo: fields[5], what: "certificate")
    }

    /// Why the key of a DER certificate signing request is refused, or nil (as above).
    public static func problem(csrDER der: [UInt8]) -> String? {
        // CertificationRequest ::= SEQUENCE { certificationRequestInfo SEQUENCE { version, subject,
        //   subjectPKInfo, attributes [0] }, ... }
        guard let info = children(of: try? DER.parse(der))?.first, let fields = children(of: info), fields.count > 2 else {
            return nil
        }
        return problem(subjectPublicKeyInfo: fields[2], what: "certificate signing request")
    }

    /// rsaEncryption (PKCS #1).
    static let rsaEncryption: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 1, 1]

    static func problem(subjectPublicKeyInfo node: ASN1Node, what: String) -> String? {
        // SubjectPublicKeyInfo ::= SEQUENCE { algorithm SEQUENCE { OID, params }, subjectPublicKey BIT STRING }
        guard let parts = children(of: node), parts.count == 2, let algorithm = children(of: parts[0])?.first,
              let oid = try? ASN1ObjectIdentifier(derEncoded: algorithm), oid == rsaEncryption,
              let bits = try? ASN1BitString(derEncoded: parts[1]) else { return nil }
        // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
        guard let key = children(of: try? DER.parse(Array(bits.bytes))), let modulus = key.first,
              case .primitive(let bytes) = modulus.content else { return nil }
        let size = modulusBits(bytes)
        guard size < minimumRSABits else { return nil }
        return "the \(what)'s RSA key has \(size) bits; \(rule)"
    }

    /// The bit length of a DER INTEGER's magnitude (leading zero bytes do not count).
    static func modulusBits(_ bytes: ArraySlice<UInt8>) -> Int {
        guard let index = bytes.firstIndex(where: { $0 != 0 }) else { return 0 }
        let remaining = bytes.endIndex - index
        return (remaining - 1) * 8 + (8 - bytes[index].leadingZeroBitCount)
    }

    static func children(of node: ASN1Node?) -> [ASN1Node]? {
        guard let node, case .constructed(let collection) = node.content else { return nil }
        return Array(collection)
    }
}
