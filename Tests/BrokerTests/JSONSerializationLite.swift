import Foundation

/// Parses a JSON object for assertions (Foundation is fine in tests).
enum JSONSerializationLite {
    static func object(_ text: String) throws -> [String: Any]? {
        try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
    }
}
