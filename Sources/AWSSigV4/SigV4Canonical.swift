/// The pieces of the SigV4 canonical request, as AWS and botocore build them for every service but S3.
enum SigV4Canonical {
    /// Percent-encodes every byte but the unreserved ones (`A-Z a-z 0-9 - _ . ~`) and, for paths, `/`.
    static func encode(_ text: String, keepSlash: Bool) -> String {
        var out = [UInt8]()
        out.reserveCapacity(text.utf8.count)
        let hex = Array("0123456789ABCDEF".utf8)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.append(byte)
            case UInt8(ascii: "/") where keepSlash:
                out.append(byte)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes `%XX` escapes; nil for a malformed escape or bytes that are not UTF-8. `+` stays `+`:
    /// SigV4 query strings are not form encoded.
    static func decode(_ text: String) -> String? {
        guard text.utf8.contains(UInt8(ascii: "%")) else { return text }
        var out = [UInt8]()
        var bytes = Array(text.utf8)[...]
        while let byte = bytes.popFirst() {
            guard byte == UInt8(ascii: "%") else { out.append(byte); continue }
            guard let high = bytes.popFirst().flatMap(hexValue), let low = bytes.popFirst().flatMap(hexValue) else { return nil }
            out.append(high << 4 | low)
        }
        return String(validating: out, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// The canonical URI: the raw path with dot segments and empty segments removed (RFC 3986 5.2.4, as
    /// AWS requires), then encoded once more. The raw path is already encoded, so `%24` becomes `%2524`:
    /// services other than S3 sign the path encoded twice.
    static func uri(rawPath: String) -> String {
        guard !rawPath.isEmpty else { return "/" }
        var segments: [Substring] = []
        for segment in rawPath.split(separator: "/", omittingEmptySubsequences: true) {
            if segment == "." { continue }
            if segment == ".." {
                _ = segments.popLast()
                continue
            }
            segments.append(segment)
        }
        var normalized = rawPath.hasPrefix("/") ? "/" : ""
        normalized += segments.joined(separator: "/")
        if rawPath.hasSuffix("/") && !segments.isEmpty { normalized += "/" }
        return encode(normalized, keepSlash: true)
    }

    /// The canonical query string: each name and value decoded and encoded the canonical way, sorted by
    /// name, then value. `excluding` drops a parameter (`X-Amz-Signature` in the presigned form).
    /// Nil when an escape is malformed.
    static func query(_ pairs: [(key: String, value: String)], excluding: String? = nil) -> String? {
        var encoded: [(String, String)] = []
        encoded.reserveCapacity(pairs.count)
        for (key, value) in pairs where key != excluding {
            guard let name = decode(key), let text = decode(value) else { return nil }
            encoded.append((encode(name, keepSlash: false), encode(text, keepSlash: false)))
        }
        encoded.sort { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }
        return encoded.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    /// botocore signs a query string that is already in the URL as it stands, only sorted. For a query a
    /// client encoded the canonical way this is the same string as `query`; it differs only for sloppy
    /// encodings (a literal `+`, lower-case escapes), which botocore and AWS then also accept.
    static func literalQuery(_ pairs: [(key: String, value: String)], excluding: String? = nil) -> String {
        pairs.filter { $0.key != excluding }
            .sorted { $0.key == $1.key ? $0.value < $1.value : $0.key < $1.key }
            .map { "\($0.key)=\($0.value)" }.joined(separator: "&")
    }

    /// Header values trimmed, with inner runs of spaces collapsed; repeated headers joined with commas.
    static func headerValue(_ values: [String]) -> String {
        values.map { $0.split(whereSeparator: \.isWhitespace).joined(separator: " ") }.joined(separator: ",")
    }
}
