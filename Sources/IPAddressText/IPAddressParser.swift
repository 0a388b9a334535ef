/// Parses textual IP addresses into the network-order bytes an X.509 `iPAddress` name holds.
///
/// Written in Swift rather than calling `inet_pton` so that this module stays free of the C socket
/// headers and behaves identically on every platform. Zone identifiers (`fe80::1%eth0`) are refused:
/// they have no meaning in a certificate.
public enum IPAddressParser {
    /// Returns 4 bytes for IPv4, 16 for IPv6, or `nil` if the text is neither.
    public static func parse(_ text: String) -> [UInt8]? {
        if text.contains(":") {
            return parseIPv6(Substring(text))
        }
        return parseIPv4(Substring(text))
    }

    /// Strict dotted-quad: four decimal parts, 0...255, no leading zeros (which some parsers read as octal).
    static func parseIPv4(_ text: Substring) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(4)
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy({ $0.isASCII && $0.isNumber }),
                part.count == 1 || part.first != "0",
                let value = UInt8(part)
            else { return nil }
            bytes.append(value)
        }
        return bytes
    }

    /// RFC 4291 text forms: eight groups, one `::` run of zeros, and an optional trailing dotted quad.
    static func parseIPv6(_ text: Substring) -> [UInt8]? {
        let halves = text.split(separator: "::", maxSplits: 1, omittingEmptySubsequences: false)
        guard halves.count <= 2 else { return nil }
        guard let head = parseGroups(halves[0], allowIPv4Tail: halves.count == 1) else { return nil }
        if halves.count == 1 {
            return head.count == 16 ? head : nil
        }
        guard !halves[1].contains("::"), let tail = parseGroups(halves[1], allowIPv4Tail: true) else { return nil }
        // "::" stands for at least one group of zeros.
        let missing = 16 - head.count - tail.count
        guard missing >= 2 else { return nil }
        return head + [UInt8](repeating: 0, count: missing) + tail
    }

    private static func parseGroups(_ text: Substring, allowIPv4Tail: Bool) -> [UInt8]? {
        if text.isEmpty { return [] }
        let groups = text.split(separator: ":", omittingEmptySubsequences: false)
        var bytes: [UInt8] = []
        for (index, group) in groups.enumerated() {
            if allowIPv4Tail, index == groups.count - 1, group.contains(".") {
                guard let ipv4 = parseIPv4(group) else { return nil }
                bytes += ipv4
                continue
            }
            guard (1...4).contains(group.count), group.allSatisfy(\.isHexDigit), let value = UInt16(group, radix: 16)
            else { return nil }
            bytes.append(UInt8(value >> 8))
            bytes.append(UInt8(value & 0xFF))
        }
        return bytes.count <= 16 ? bytes : nil
    }
}
