import Foundation
import IoTPolicy

/// A role alias (botocore `iot`: CreateRoleAlias and friends): the name devices ask the credentials
/// provider for, standing for a role and how long its temporary credentials last. The role is local:
/// its permissions are the IoT policy named like the role (the last part of `roleArn`) in the same
/// namespace, enforced by Portcullis on iot-data and MQTT over WebSocket.
public struct RoleAliasRecord: Sendable, Hashable, Codable {
    public var name: String
    public var roleArn: String
    public var credentialDurationSeconds: Int
    public var createdAt: Double
    public var lastModifiedAt: Double

    /// The role's name: `arn:aws:iam::123456789012:role/Name` (or a path, `role/path/Name`) gives `Name`.
    public var roleName: String { String(roleArn.split(separator: "/").last ?? "") }
}

public enum RoleAliasRules {
    /// AWS's quota of role aliases per account and region.
    public static let maximumAliases = 100
    public static let defaultDuration = 3600
    public static let durations = 900...43_200

    public static func checkName(_ name: String) throws(RegistryError) {
        guard (1...128).contains(name.utf8.count), name.unicodeScalars.allSatisfy({
            ($0.properties.isAlphabetic || $0.properties.numericType != nil || "_=,@-".unicodeScalars.contains($0)) && $0.isASCII
        }) else {
            throw RegistryError(.invalidRequest, "roleAlias must be 1 to 128 characters of letters, digits and _=,@-.")
        }
    }

    /// An IAM role ARN of the namespace's account: `arn:aws:iam::<account>:role/<name>`.
    public static func checkRoleArn(_ arn: String, accountID: String) throws(RegistryError) {
        let prefix = "arn:aws:iam::\(accountID):role/"
        guard (20...2048).contains(arn.utf8.count), arn.hasPrefix(prefix), arn.count > prefix.count, !arn.hasSuffix("/") else {
            throw RegistryError(.invalidRequest, "roleArn must be an IAM role ARN of this account, like arn:aws:iam::\(accountID):role/MyRole.")
        }
    }

    public static func checkDuration(_ seconds: Int) throws(RegistryError) {
        guard durations.contains(seconds) else {
            throw RegistryError(.invalidRequest, "credentialDurationSeconds must be between 900 and 43200.")
        }
    }
}

extension RegistryState {
    public mutating func createRoleAlias(name: String, roleArn: String, credentialDurationSeconds: Int?, now: Double) throws(RegistryError) -> RoleAliasRecord {
        try RoleAliasRules.checkName(name)
        try RoleAliasRules.checkRoleArn(roleArn, accountID: arns.accountID)
        let duration = credentialDurationSeconds ?? RoleAliasRules.defaultDuration
        try RoleAliasRules.checkDuration(duration)
        guard roleAliases[name] == nil else {
            throw RegistryError(.resourceAlreadyExists, "Role alias \(name) already exists.", resourceID: name, resourceARN: arns.roleAlias(name))
        }
        guard roleAliases.count < RoleAliasRules.maximumAliases else {
            throw RegistryError(.limitExceeded, "At most \(RoleAliasRules.maximumAliases) role aliases per account and region.")
        }
        let record = RoleAliasRecord(name: name, roleArn: roleArn, credentialDurationSeconds: duration, createdAt: now, lastModifiedAt: now)
        roleAliases[name] = record
        return record
    }

    public func roleAlias(named name: String) throws(RegistryError) -> RoleAliasRecord {
        try RoleAliasRules.checkName(name)
        guard let record = roleAliases[name] else { throw RegistryError(.resourceNotFound, "Role alias \(name) does not exist.") }
        return record
    }

    public mutating func updateRoleAlias(name: String, roleArn: String?, credentialDurationSeconds: Int?, now: Double) throws(RegistryError) -> RoleAliasRecord {
        var record = try roleAlias(named: name)
        if let roleArn {
            try RoleAliasRules.checkRoleArn(roleArn, accountID: arns.accountID)
            record.roleArn = roleArn
        }
        if let credentialDurationSeconds {
            try RoleAliasRules.checkDuration(credentialDurationSeconds)
            record.credentialDurationSeconds = credentialDurationSeconds
        }
        record.lastModifiedAt = now
        roleAliases[name] = record
        return record
    }

    public mutating func deleteRoleAlias(name: String) throws(RegistryError) {
        _ = try roleAlias(named: name)
        roleAliases[name] = nil
        forgetTags(of: arns.roleAlias(name))
    }

    /// ListRoleAliases: names in creation order (or the reverse), in pages of at most 250.
    public func listRoleAliases(marker: String?, pageSize: Int?, ascending: Bool) throws(RegistryError) -> (names: [String], nextMarker: String?) {
        let sorted = roleAliases.values.sorted { ($0.createdAt, $0.name) < ($1.createdAt, $1.name) }
        let page = try Self.page(ascending ? sorted : sorted.reversed(), key: \.name, marker: marker, pageSize: pageSize, maximum: 250)
        return (page.items.map(\.name), page.nextMarker)
    }

    /// What credentials issued for the alias may do: the IoT policy named like its role; none allows nothing.
    public func roleAliasPolicies(_ name: String) -> PolicyEvaluator? {
        guard let alias = roleAliases[name] else { return nil }
        return PolicyEvaluator(policies: Self.namedPolicies([policies[alias.roleName]].compactMap { $0 }))
    }

    /// The same as policy records (the gateway compiles them for MQTT over WebSocket).
    public func roleAliasPolicyRecords(_ name: String) -> [Policy] {
        guard let alias = roleAliases[name] else { return [] }
        return [policies[alias.roleName]].compactMap { $0 }
    }

    public var allRoleAliases: [RoleAliasRecord] { Array(roleAliases.values) }

    /// The key that signs this namespace's temporary credentials, made on first use and kept.
    public mutating func credentialSigningKey() -> String {
        if let credentialKey { return credentialKey }
        var generator = SystemRandomNumberGenerator()
        let key = (0..<32).map { _ in String(format: "%02x", generator.next() as UInt8) }.joined()
        credentialKey = key
        return key
    }

    public var currentCredentialSigningKey: String? { credentialKey }
}
