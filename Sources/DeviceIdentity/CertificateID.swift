import Crypto
import SwiftASN1
import X509

/// The AWS IoT certificate id: the lowercase hexadecimal SHA-256 digest of a certificate's DER encoding.
///
/// AWS derives the id from the bytes alone, so it is stable across PEM formatting differences and can be
/// computed both when a certificate is registered and when a device presents it in a TLS handshake.
/// It is the key the registry uses and the value of the `iot:Certificate.Id`-style policy variables.
public enum CertificateID {
    /// Computes the id of a DER-encoded certificate.
    ///
    /// Use this on the exact bytes a peer presented; re-encoding is not needed.
    public static func compute(derBytes: some Sequence<UInt8>) -> String {
        let digest = SHA256.hash(data: Array(derBytes))
        return hexEncoded(digest)
    }

    /// Computes the id of a certificate.
    ///
    /// A certificate parsed by swift-certificates keeps its original to-be-signed bytes, so this equals
    /// the id of the bytes it was parsed from.
    ///
    /// - Throws: ``DeviceIdentityError`` with code ``DeviceIdentityError/Code/encodingFailed`` if the
    ///   certificate cannot be DER-encoded.
    public static func compute(_ certificate: Certificate) throws -> String {
        compute(derBytes: try derBytes(of: certificate))
    }

    static func derBytes(of certificate: Certificate) throws -> [UInt8] {
        do {
            var serializer = DER.Serializer()
            try serializer.serialize(certificate)
            return serializer.serializedBytes
        } catch {
            throw DeviceIdentityError(code: .encodingFailed, reason: "cannot DER-encode certificate: \(error)")
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    static func hexEncoded(_ bytes: some Sequence<UInt8>) -> String {
        var utf8: [UInt8] = []
        utf8.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            utf8.append(hexDigits[Int(byte >> 4)])
            utf8.append(hexDigits[Int(byte & 0x0F)])
        }
        return String(decoding: utf8, as: UTF8.self)
    }
}
