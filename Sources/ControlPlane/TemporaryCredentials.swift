import Crypto
import Foundation

/// Temporary credentials of the credentials provider, stateless as STS's: the session token carries
/// the key id, the expiry, the role alias and the thing, with an HMAC-SHA256 under the namespace's
/// signing key; the secret is derived from the token. A gateway that restarted, or another namespace,
/// needs nothing stored to check them: the key of another namespace does not verify the token.
public struct TemporaryCredential: Sendable, Hashable {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String
    /// Seconds since 1970.
    public var expiration: Int64
    public var roleAlias: String
    public var thingName: String?
    /// The certificate that asked for them (`credentials-iot:AwsCertificateId`).
    public var certificateID: String?
}

public enum TemporaryCredentials {
    static let tokenPrefix = "PCT1."

    /// Access key ids of temporary credentials start like AWS's (`ASIA`).
    public static func isTemporaryKey(_ id: String) -> Bool { id.hasPrefix("ASIA") }

    public static func issue(signingKeyHex: String, roleAlias: String, thingName: String?, certificateID: String? = nil, duration: Int,
                             now: Int64) -> TemporaryCredential {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var generator = SystemRandomNumberGenerator()
        let id = "ASIA" + String((0..<16).map { _ in alphabet[Int(generator.next(upperBound: UInt32(alphabet.count)))] })
        var payload: [String: Any] = ["k": id, "e": now + Int64(duration), "a": roleAlias]
        if let thingName { payload["t"] = thingName }
        if let certificateID { payload["c"] = certificateID }
        let json = (try? JSONSerialization.data(withJSONObject: payload, options: [.sortedKeys])) ?? Data()
        let body = tokenPrefix + base64URL(json)
        let token = body + "." + base64URL(Data(HMAC<SHA256>.authenticationCode(for: Data(body.utf8), using: key(signingKeyHex))))
        return TemporaryCredential(accessKeyID: id, secretAccessKey: secret(body: body, signingKeyHex: signingKeyHex), sessionToken: token,
                                   expiration: now + Int64(duration), roleAlias: roleAlias, thingName: thingName, certificateID: certificateID)
    }

    /// The credential a token stands for, if the signing key made it and it has not expired.
    public static func verify(sessionToken: String, signingKeyHex: String, now: Int64) -> TemporaryCredential? {
        guard sessionToken.utf8.count <= 2048, sessionToken.hasPrefix(tokenPrefix), let dot = sessionToken.lastIndex(of: "."),
              dot > sessionToken.index(sessionToken.startIndex, offsetBy: tokenPrefix.count) else { return nil }
        let body = String(sessionToken[..<dot])
        guard let mac = fromBase64URL(sessionToken[sessionToken.index(after: dot)...]),
              HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Data(body.utf8), using: key(signingKeyHex)),
              let json = fromBase64URL(body.dropFirst(tokenPrefix.count)),
              let payload = try? JSONSerialization.jsonObject(with: json) as? [String: Any],
              let id = payload["k"] as? String, let expiry = (payload["e"] as? NSNumber)?.int64Value, let alias = payload["a"] as? String,
              expiry > now else { return nil }
        return TemporaryCredential(accessKeyID: id, secretAccessKey: secret(body: body, signingKeyHex: signingKeyHex), sessionToken: sessionToken,
                                   expiration: expiry, roleAlias: alias, thingName: payload["t"] as? String, certificateID: payload["c"] as? String)
    }

    static func secret(body: String, signingKeyHex: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(("secret\n" + body).utf8), using: key(signingKeyHex))
        return String(Data(mac).base64EncodedString().prefix(40))
    }

    static func key(_ hex: String) -> SymmetricKey {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex, let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex), let byte = UInt8(hex[index..<next], radix: 16) {
            bytes.append(byte)
            index = next
        }
        return SymmetricKey(data: bytes)
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func fromBase64URL(_ text: Substring) -> Data? {
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while standard.count % 4 != 0 { standard += "=" }
        return Data(base64Encoded: standard)
    }
}
