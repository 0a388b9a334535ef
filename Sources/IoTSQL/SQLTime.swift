import Foundation

/// `parse_time` and `time_to_epoch`. AWS takes Joda-Time and java.time patterns; these use ICU's, which
/// agree on the common letters (`yyyy MM dd HH mm ss SSS a EEE MMMM z Z G` and quoted text).
enum SQLTime {
    static func formatter(_ pattern: String, zone: TimeZone) -> DateFormatter {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.calendar = Calendar(identifier: .gregorian)
        formatter.timeZone = zone
        formatter.dateFormat = pattern
        return formatter
    }

    static func format(pattern: String, milliseconds: Decimal, zone: String) -> String? {
        guard pattern.utf8.count <= 256, let timeZone = TimeZone(identifier: zone) else { return nil }
        let seconds = NSDecimalNumber(decimal: milliseconds).doubleValue / 1000
        guard seconds.isFinite else { return nil }
        return formatter(pattern, zone: timeZone).string(from: Date(timeIntervalSince1970: seconds))
    }

    /// Milliseconds since 1970; text without a zone is UTC.
    static func parse(_ text: String, pattern: String) -> Int64? {
        guard pattern.utf8.count <= 256, text.utf8.count <= 256 else { return nil }
        guard let date = formatter(pattern, zone: TimeZone(identifier: "UTC")!).date(from: text) else { return nil }
        return Int64((date.timeIntervalSince1970 * 1000).rounded())
    }
}
