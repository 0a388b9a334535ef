import Foundation

/// A thing: a named device record with attributes, counted by a version that every update raises.
public struct Thing: Sendable, Hashable, Codable {
    public var name: String
    public var thingID: String
    public var thingTypeName: String?
    public var attributes: [String: String]
    public var version: Int
    public var createdAt: Double
    /// The billing group it is in, if any (at most one).
    public var billingGroupName: String?
}

/// AWS's rules for thing names and attributes (reference 9.2).
public enum ThingRules {
    /// AWS's quota: three attributes without a thing type, fifty with one.
    public static let maximumAttributesWithoutType = 3
    public static let maximumAttributesWithType = 50

    public static func checkName(_ name: String, field: String = "thingName") throws(RegistryError) {
        guard (1...128).contains(name.utf8.count),
              name.utf8.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }) else {
            throw RegistryError(.invalidRequest, "\(field) must be 1 to 128 characters of letters, digits and :_-.")
        }
    }

    public static func checkAttributes(_ attributes: [String: String], hasType: Bool) throws(RegistryError) {
        let maximum = hasType ? maximumAttributesWithType : maximumAttributesWithoutType
        guard attributes.count <= maximum else {
            throw RegistryError(.invalidRequest, "A thing \(hasType ? "with" : "without") a thing type can have at most \(maximum) attributes.")
        }
        let nameExtras = Set("_.,@/:#-".utf8)
        let valueExtras = Set("_.,@/:#=[]-".utf8)
        for (name, value) in attributes.sorted(by: { $0.key < $1.key }) {
            guard (1...128).contains(name.utf8.count), name.utf8.allSatisfy({ isAlphanumeric($0) || nameExtras.contains($0) }) else {
                throw RegistryError(.invalidRequest, "Attribute name '\(name.prefix(128))' must be 1 to 128 characters of letters, digits and _.,@/:#-.")
            }
            guard value.utf8.count <= 800, value.utf8.allSatisfy({ isAlphanumeric($0) || valueExtras.contains($0) }) else {
                throw RegistryError(.invalidRequest, "The value of attribute '\(name)' must be at most 800 characters of letters, digits and _.,@/:#=[]-.")
            }
        }
    }

    static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}
