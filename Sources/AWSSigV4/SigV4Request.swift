/// An HTTP request as the server received it, for signature verification. The path and query are the
/// raw, still percent-encoded text from the request line: the canonical request is built from them, not
/// from a decoded form (an iot-data topic like `%24aws%2Fthings%2Ft1` must stay as sent).
public struct SigV4Request: Sendable, Hashable {
    public var method: String
    /// The path part of the request target, without the query (`/topics/%24aws%2Fthings`).
    public var rawPath: String
    /// The query string without the leading `?`; empty when there is none.
    public var rawQuery: String
    /// Header fields in the order received; names are compared without regard to case.
    public var headers: [(name: String, value: String)]
    /// Lower-case hex SHA-256 of the body as received (the edge hashes it; the verifier never sees it).
    public var payloadSHA256: String

    public init(method: String, rawPath: String, rawQuery: String = "", headers: [(name: String, value: String)],
                payloadSHA256: String) {
        self.method = method
        self.rawPath = rawPath
        self.rawQuery = rawQuery
        self.headers = headers
        self.payloadSHA256 = payloadSHA256
    }

    /// Splits a request target (`/path?query`) into its raw parts.
    public init(method: String, target: String, headers: [(name: String, value: String)], payloadSHA256: String) {
        if let mark = target.firstIndex(of: "?") {
            self.init(method: method, rawPath: String(target[..<mark]), rawQuery: String(target[target.index(after: mark)...]),
                      headers: headers, payloadSHA256: payloadSHA256)
        } else {
            self.init(method: method, rawPath: target, headers: headers, payloadSHA256: payloadSHA256)
        }
    }

    /// Every value of a header, in order.
    public func values(of name: String) -> [String] {
        let lower = name.lowercased()
        return headers.filter { $0.name.lowercased() == lower }.map(\.value)
    }

    public func value(of name: String) -> String? { values(of: name).first }

    /// Query parameters as sent (still encoded), in order.
    var rawQueryPairs: [(key: String, value: String)] {
        guard !rawQuery.isEmpty else { return [] }
        return rawQuery.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            if let equals = pair.firstIndex(of: "=") {
                return (String(pair[..<equals]), String(pair[pair.index(after: equals)...]))
            }
            return (String(pair), "")
        }
    }

    public static func == (lhs: SigV4Request, rhs: SigV4Request) -> Bool {
        lhs.method == rhs.method && lhs.rawPath == rhs.rawPath && lhs.rawQuery == rhs.rawQuery
            && lhs.payloadSHA256 == rhs.payloadSHA256
            && lhs.headers.map(\.name) == rhs.headers.map(\.name) && lhs.headers.map(\.value) == rhs.headers.map(\.value)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(method)
        hasher.combine(rawPath)
        hasher.combine(rawQuery)
        hasher.combine(payloadSHA256)
        for header in headers {
            hasher.combine(header.name)
            hasher.combine(header.value)
        }
    }
}
