import Foundation
import IoTPolicy

/// One version of a policy document. Version ids are numeric strings counting up from 1, never reused.
public struct PolicyVersion: Sendable, Hashable, Codable {
    public var versionID: String
    public var document: String
    public var createdAt: Double
}

/// An IoT policy: up to five versions, one of them the default (the one that is enforced).
public struct Policy: Sendable, Hashable, Codable {
    public var name: String
    public var versions: [PolicyVersion]
    public var defaultVersionID: String
    public var createdAt: Double
    public var lastModifiedAt: Double
    /// Changes whenever the default version does (AWS's `generationId`).
    public var generationID: String
    var lastVersionNumber: Int

    public var defaultVersion: PolicyVersion { versions.first { $0.versionID == defaultVersionID }! }
}

/// AWS's rules for policy names and documents (reference 3.1): the name here, the document's grammar and
/// size by IoTPolicy's parser.
public enum PolicyRules {
    public static let maximumVersions = 5
    /// AWS counts the document's characters without white space.
    public static let maximumDocumentCharacters = 2048

    public static func checkName(_ name: String) throws(RegistryError) {
        guard (1...128).contains(name.count),
              name.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) && $0.isASCII || "_+=,.@-".unicodeScalars.contains($0) }) else {
            throw RegistryError(.invalidRequest, "policyName must be 1 to 128 characters of letters, digits and _+=,.@-.")
        }
    }

    /// The whole grammar (IoTPolicy): a refusal names the JSON path and the problem.
    public static func checkDocument(_ document: String) throws(RegistryError) {
        do {
            _ = try PolicyDocument.parse(document)
        } catch {
            throw RegistryError(.malformedPolicy, "The policy document is malformed: \(error)")
        }
    }
}
