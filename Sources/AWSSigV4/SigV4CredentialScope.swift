/// Who a request claims to be signed by and for which region, read before it is verified: a gateway
/// that serves several (account, region) namespaces picks the namespace, whose verifier then checks
/// the signature. Nothing here is trusted until that check passes.
public struct SigV4CredentialScope: Sendable, Hashable {
    public var accessKeyID: String
    public var region: String
    public var service: String

    /// From an `Authorization: AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/<service>/aws4_request, ...`
    /// header, or the query's `X-Amz-Credential` (presigned URLs; percent-encoded); nil when neither has one.
    public static func parse(authorization: String?, query: Substring?) -> SigV4CredentialScope? {
        if let authorization {
            for field in authorization.split(whereSeparator: { $0 == "," || $0 == " " }) where field.hasPrefix("Credential=") {
                return scope(field.dropFirst("Credential=".count))
            }
            return nil
        }
        guard let query else { return nil }
        for pair in query.split(separator: "&") where pair.hasPrefix("X-Amz-Credential=") {
            let raw = pair.dropFirst("X-Amz-Credential=".count)
            return scope(Substring(decodingSlashes(raw)))
        }
        return nil
    }

    /// `%2F` (any case) as `/`; the rest of a credential is unreserved characters.
    private static func decodingSlashes(_ text: Substring) -> String {
        var out = ""
        var rest = text[...]
        while let percent = rest.firstIndex(of: "%") {
            out += rest[..<percent]
            let code = rest[percent...].dropFirst().prefix(2)
            if code.uppercased() == "2F" {
                out += "/"
                rest = rest[percent...].dropFirst(3)
            } else {
                out += "%"
                rest = rest[percent...].dropFirst()
            }
        }
        return out + rest
    }

    private static func scope(_ credential: Substring) -> SigV4CredentialScope? {
        let parts = credential.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 5, !parts[0].isEmpty, parts[0].utf8.count <= 128, parts[2].utf8.count <= 64 else { return nil }
        return SigV4CredentialScope(accessKeyID: String(parts[0]), region: String(parts[2]), service: String(parts[3]))
    }
}
