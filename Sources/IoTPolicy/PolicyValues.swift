import Foundation
import IPAddressText

/// An IPv4 or IPv6 address with a prefix length, for IpAddress / NotIpAddress (`203.0.113.0/24`,
/// `2001:db8::/32`; a bare address is a /32 or /128).
public struct CIDRBlock: Sendable, Hashable {
    public let network: [UInt8]
    public let prefixLength: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let bytes = IPAddressParser.parse(String(parts[0])) else { return nil }
        let maximum = bytes.count * 8
        var length = maximum
        if parts.count == 2 {
            guard let value = Int(parts[1]), (0...maximum).contains(value), parts[1].allSatisfy(\.isNumber) else { return nil }
            length = value
        }
        network = bytes
        prefixLength = length
    }

    /// Whether `address` (text) is inside the block; addresses of the other family never are.
    public func contains(_ address: String) -> Bool {
        guard let bytes = IPAddressParser.parse(address), bytes.count == network.count else { return false }
        var remaining = prefixLength
        for (index, byte) in bytes.enumerated() where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if byte & mask != network[index] & mask { return false }
            remaining -= bits
        }
        return true
    }
}

/// Dates in conditions: ISO 8601 (`2026-12-01`, `2026-12-01T10:00:00Z`, with fractions or an offset) or
/// epoch seconds, as IAM accepts them.
public enum PolicyDate {
    public static func parse(_ text: String) -> Date? {
        if let seconds = Double(text), text.allSatisfy({ $0.isNumber || $0 == "." || $0 == "-" }) {
            return Date(timeIntervalSince1970: seconds)
        }
        let withFractions = ISO8601DateFormatter()
        withFractions.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = withFractions.date(from: text) { return date }
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        if let date = plain.date(from: text) { return date }
        let day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        return day.date(from: text)
    }
}
