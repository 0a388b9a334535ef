/// An MQTT 5 user property: a UTF-8 name/value pair. Order is significant and duplicates are allowed.
public struct UserProperty: Sendable, Hashable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}
