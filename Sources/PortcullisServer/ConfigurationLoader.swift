import Broker
import DeviceIdentity
import Foundation
import Registry

/// A configuration problem, naming the key.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var problems: [String]
    public init(_ problems: [String]) { self.problems = problems }
    public var description: String {
        "invalid configuration:\n" + problems.map { "  - \($0)" }.joined(separator: "\n")
    }
}

/// Reads the configuration: defaults, then a JSON file, then environment variables, then flags (the
/// caller applies flags last). Unknown keys and wrong types are errors that name the key, so a typo
/// never silently falls back to a default.
public enum ConfigurationLoader {
    /// Environment variables read, in addition to the file.
    public static let environmentKeys = [
        "PORTCULLIS_CONFIG": "path of the JSON configuration file",
        "PORTCULLIS_DATA_DIR": "dataDirectory",
        "PORTCULLIS_MQTT_LISTEN": "mqtt.listen (comma separated host:port list)",
        "PORTCULLIS_LOG_LEVEL": "logging.level",
        "PORTCULLIS_TLS_SECURITY_POLICY": "tls.securityPolicy",
        "PORTCULLIS_API_LISTEN": "api.listen (comma separated host:port list; empty for none)",
        "PORTCULLIS_API_ACCESS_KEY_ID": "api.accessKeyID",
        "PORTCULLIS_API_SECRET_ACCESS_KEY": "api.secretAccessKey (better here than in the file)",
    ]

    public static func load(file: String?, environment: [String: String] = ProcessInfo.processInfo.environment)
        throws -> PortcullisConfiguration
    {
        var configuration = PortcullisConfiguration()
        if let path = file ?? environment["PORTCULLIS_CONFIG"] {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ConfigurationError(["cannot read configuration file '\(path)'"])
            }
            try apply(json: data, to: &configuration)
        }
        var problems: [String] = []
        if let value = environment["PORTCULLIS_DATA_DIR"], !value.isEmpty { configuration.dataDirectory = value }
        if let value = environment["PORTCULLIS_MQTT_LISTEN"], !value.isEmpty {
            configuration.mqttListen = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        if let value = environment["PORTCULLIS_SHARED_LISTEN"] {
            configuration.sharedListen = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        if let value = environment["PORTCULLIS_API_LISTEN"] {
            configuration.apiListen = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        if let value = environment["PORTCULLIS_API_ACCESS_KEY_ID"], !value.isEmpty { configuration.apiAccessKeyID = value }
        if let value = environment["PORTCULLIS_API_SECRET_ACCESS_KEY"], !value.isEmpty { configuration.apiSecretAccessKey = value }
        if let value = environment["PORTCULLIS_TLS_SECURITY_POLICY"], !value.isEmpty {
            if let policy = TLSSecurityPolicy(name: value) { configuration.tlsSecurityPolicy = policy }
            else { problems.append("PORTCULLIS_TLS_SECURITY_POLICY: \(TLSSecurityPolicy.unknownNameMessage(value))") }
        }
        if let value = environment["PORTCULLIS_LOG_LEVEL"], !value.isEmpty {
            if let level = IoTLogLevel(awsName: value) { configuration.logLevel = level }
            else { problems.append("PORTCULLIS_LOG_LEVEL: expected one of debug, info, warn, error, disabled, got '\(value)'") }
        }
        guard problems.isEmpty else { throw ConfigurationError(problems) }
        return configuration
    }

    /// Applies a JSON document over `configuration`, reporting every problem at once.
    public static func apply(json data: Data, to configuration: inout PortcullisConfiguration) throws {
        let root: Any
        do {
            root = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw ConfigurationError(["the configuration file is not valid JSON: \(error.localizedDescription)"])
        }
        var reader = Reader()
        guard let object = root as? [String: Any] else {
            throw ConfigurationError(["the configuration file must be a JSON object"])
        }
        reader.read(object, into: &configuration)
        guard reader.problems.isEmpty else { throw ConfigurationError(reader.problems) }
    }

    struct Reader {
        var problems: [String] = []

        mutating func read(_ object: [String: Any], into c: inout PortcullisConfiguration) {
            checkKeys(object, path: "", allowed: ["dataDirectory", "mqtt", "shared", "api", "tls", "account", "namespaces", "logging", "limits", "rules"])
            if let v = string(object, "dataDirectory", path: "") { c.dataDirectory = v }
            if let mqtt = section(object, "mqtt", path: "") {
                checkKeys(mqtt, path: "mqtt", allowed: ["listen"])
                if let v = strings(mqtt, "listen", path: "mqtt") { c.mqttListen = v }
            }
            if let shared = section(object, "shared", path: "") {
                checkKeys(shared, path: "shared", allowed: ["listen"])
                if let v = strings(shared, "listen", path: "shared") { c.sharedListen = v }
            }
            if let api = section(object, "api", path: "") {
                checkKeys(api, path: "api", allowed: ["listen", "accessKeyID", "secretAccessKey", "maximumConnections", "idleTimeoutSeconds"])
                if let v = strings(api, "listen", path: "api") { c.apiListen = v }
                if let v = integer(api, "maximumConnections", path: "api", minimum: 1, maximum: 1_000_000) { c.apiMaximumConnections = v }
                if let v = integer(api, "idleTimeoutSeconds", path: "api", minimum: 1, maximum: 86_400) { c.apiIdleTimeoutSeconds = v }
                if let v = string(api, "accessKeyID", path: "api") { c.apiAccessKeyID = v }
                if let v = string(api, "secretAccessKey", path: "api") { c.apiSecretAccessKey = v }
            }
            if let tls = section(object, "tls", path: "") {
                checkKeys(tls, path: "tls", allowed: ["serverHostNames", "securityPolicy", "strictSNI"])
                if let v = bool(tls, "strictSNI", path: "tls") { c.strictSNI = v }
                if let v = strings(tls, "serverHostNames", path: "tls") { c.serverHostNames = v }
                if let v = string(tls, "securityPolicy", path: "tls") {
                    if let policy = TLSSecurityPolicy(name: v) { c.tlsSecurityPolicy = policy }
                    else { problems.append("tls.securityPolicy: \(TLSSecurityPolicy.unknownNameMessage(v))") }
                }
            }
            if let account = section(object, "account", path: "") {
                checkKeys(account, path: "account", allowed: ["id", "region"])
                if let v = string(account, "id", path: "account") { c.accountID = v }
                if let v = string(account, "region", path: "account") { c.region = v }
            }
            if let namespaces = section(object, "namespaces", path: "") {
                checkKeys(namespaces, path: "namespaces", allowed: ["allowedRegions", "accounts", "hostNames"])
                if let v = strings(namespaces, "allowedRegions", path: "namespaces") { c.namespaces.allowedRegions = v }
                if let value = namespaces["accounts"] {
                    if let list = value as? [[String: Any]] {
                        c.namespaces.accounts = []
                        for (index, account) in list.enumerated() {
                            let path = "namespaces.accounts[\(index)]"
                            checkKeys(account, path: path, allowed: ["id", "accessKeyID", "secretAccessKey"])
                            guard let id = string(account, "id", path: path), let key = string(account, "accessKeyID", path: path),
                                  let secret = string(account, "secretAccessKey", path: path) else {
                                problems.append("\(path): id, accessKeyID and secretAccessKey are required")
                                continue
                            }
                            c.namespaces.accounts.append(.init(id: id, accessKeyID: key, secretAccessKey: secret))
                        }
                    } else {
                        problems.append("namespaces.accounts: expected an array of objects")
                    }
                }
                if let value = namespaces["hostNames"] {
                    if let map = value as? [String: String] { c.namespaces.hostNames = map }
                    else { problems.append("namespaces.hostNames: expected an object of names to \"account/region\" strings") }
                }
            }
            if let logging = section(object, "logging", path: "") {
                checkKeys(logging, path: "logging", allowed: ["level"])
                if let v = string(logging, "level", path: "logging") {
                    if let level = IoTLogLevel(awsName: v) { c.logLevel = level }
                    else { problems.append("logging.level: expected one of debug, info, warn, error, disabled, got '\(v)'") }
                }
            }
            if let limits = section(object, "limits", path: "") {
                readLimits(limits, into: &c.limits)
            }
            if let rules = section(object, "rules", path: "") {
                checkKeys(rules, path: "rules", allowed: ["allowInsecureURLs", "caFile", "signingAccessKeyID", "signingSecretAccessKey",
                                                              "statisticsIntervalSeconds", "minimumFreeDiskMB"])
                if let v = bool(rules, "allowInsecureURLs", path: "rules") { c.rules.allowInsecureURLs = v }
                if let v = string(rules, "caFile", path: "rules") { c.rules.caFile = v }
                if let v = integer(rules, "statisticsIntervalSeconds", path: "rules", minimum: 1, maximum: 86_400) { c.rules.statisticsIntervalSeconds = v }
                if let v = integer(rules, "minimumFreeDiskMB", path: "rules", minimum: 0, maximum: 1 << 30) { c.rules.minimumFreeDiskMB = v }
                let key = string(rules, "signingAccessKeyID", path: "rules"), secret = string(rules, "signingSecretAccessKey", path: "rules")
                if (key == nil) != (secret == nil) { problems.append("rules: signingAccessKeyID and signingSecretAccessKey go together") }
                c.rules.signingAccessKeyID = key
                c.rules.signingSecretAccessKey = secret
            }
        }

        mutating func readLimits(_ object: [String: Any], into l: inout BrokerLimits) {
            let path = "limits"
            checkKeys(object, path: path, allowed: Set(LimitKey.allCases.map(\.rawValue)))
            for key in LimitKey.allCases {
                guard let value = integer(object, key.rawValue, path: path, minimum: key.minimum, maximum: key.maximum) else { continue }
                key.set(value, on: &l)
            }
        }

        mutating func checkKeys(_ object: [String: Any], path: String, allowed: Set<String>) {
            for key in object.keys.sorted() where !allowed.contains(key) {
                problems.append("\(join(path, key)): unknown key (allowed: \(allowed.sorted().joined(separator: ", ")))")
            }
        }

        mutating func section(_ object: [String: Any], _ key: String, path: String) -> [String: Any]? {
            guard let value = object[key] else { return nil }
            guard let section = value as? [String: Any] else {
                problems.append("\(join(path, key)): expected an object")
                return nil
            }
            return section
        }

        mutating func string(_ object: [String: Any], _ key: String, path: String) -> String? {
            guard let value = object[key] else { return nil }
            guard let string = value as? String, !string.isEmpty else {
                problems.append("\(join(path, key)): expected a non-empty string")
                return nil
            }
            return string
        }

        mutating func bool(_ object: [String: Any], _ key: String, path: String) -> Bool? {
            guard let value = object[key] else { return nil }
            guard let number = value as? NSNumber, String(cString: number.objCType) == "c" else {
                problems.append("\(join(path, key)): expected true or false")
                return nil
            }
            return number.boolValue
        }

        mutating func strings(_ object: [String: Any], _ key: String, path: String) -> [String]? {
            guard let value = object[key] else { return nil }
            guard let array = value as? [Any], let strings = array as? [String] else {
                problems.append("\(join(path, key)): expected an array of strings")
                return nil
            }
            return strings
        }

        mutating func integer(_ object: [String: Any], _ key: String, path: String, minimum: Int, maximum: Int = .max) -> Int? {
            guard let value = object[key] else { return nil }
            // JSON booleans arrive as NSNumber too; their type encoding is "c".
            guard let number = value as? NSNumber, String(cString: number.objCType) != "c",
                  let int = Int(exactly: number.doubleValue) else {
                problems.append("\(join(path, key)): expected an integer")
                return nil
            }
            guard int >= minimum else {
                problems.append("\(join(path, key)): must be at least \(minimum), got \(int)")
                return nil
            }
            guard int <= maximum else {
                problems.append("\(join(path, key)): must be at most \(maximum), got \(int)")
                return nil
            }
            return int
        }

        func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
    }
}

/// The `limits` keys of the configuration file, one per `BrokerLimits` field.
public enum LimitKey: String, CaseIterable, Sendable {
    case maximumPayloadSize, maximumPacketSize, maximumTopicLength, maximumTopicSlashes, maximumClientIDLength
    case maximumFiltersPerSubscribe, maximumSubscriptionsPerConnection, maximumShareNameLength
    case maximumInflightOutbound, receiveMaximum, publishesPerSecond, bytesPerSecond, topicAliasMaximum
    case minimumKeepAlive, maximumKeepAlive, maximumSessionExpiry, persistentSessionExpiry, maximumMessageExpiry
    case maximumQueuedMessages, backPressureTimeoutMilliseconds, qos1RetryWindow, maximumRetainedMessages, maximumRetainedBytes, connectTimeout
    case webSocketSigV4Lifetime

    /// Largest accepted value: what the field (or the MQTT field it feeds) can hold.
    var maximum: Int {
        switch self {
        case .minimumKeepAlive, .maximumKeepAlive, .maximumInflightOutbound, .receiveMaximum, .topicAliasMaximum:
            65_535
        case .maximumSessionExpiry, .persistentSessionExpiry, .maximumMessageExpiry, .qos1RetryWindow, .connectTimeout,
             .webSocketSigV4Lifetime:
            Int(UInt32.max)
        case .maximumClientIDLength, .maximumTopicLength, .maximumShareNameLength:
            65_535
        default:
            Int.max
        }
    }

    /// Smallest accepted value. Rates may be 0 (unlimited); sizes and counts must allow something.
    var minimum: Int {
        switch self {
        case .publishesPerSecond, .bytesPerSecond, .topicAliasMaximum, .maximumSessionExpiry,
             .persistentSessionExpiry, .maximumQueuedMessages, .maximumRetainedMessages, .maximumRetainedBytes,
             .backPressureTimeoutMilliseconds,
             .maximumTopicSlashes:
            0
        default:
            1
        }
    }

    func get(_ l: BrokerLimits) -> Int {
        switch self {
        case .maximumPayloadSize: l.maximumPayloadSize
        case .maximumPacketSize: l.maximumPacketSize
        case .maximumTopicLength: l.maximumTopicLength
        case .maximumTopicSlashes: l.maximumTopicSlashes
        case .maximumClientIDLength: l.maximumClientIDLength
        case .maximumFiltersPerSubscribe: l.maximumFiltersPerSubscribe
        case .maximumSubscriptionsPerConnection: l.maximumSubscriptionsPerConnection
        case .maximumShareNameLength: l.maximumShareNameLength
        case .maximumInflightOutbound: l.maximumInflightOutbound
        case .receiveMaximum: l.receiveMaximum
        case .publishesPerSecond: l.publishesPerSecond
        case .bytesPerSecond: l.bytesPerSecond
        case .topicAliasMaximum: l.topicAliasMaximum
        case .minimumKeepAlive: Int(l.minimumKeepAlive)
        case .maximumKeepAlive: Int(l.maximumKeepAlive)
        case .maximumSessionExpiry: Int(l.maximumSessionExpiry)
        case .persistentSessionExpiry: Int(l.persistentSessionExpiry)
        case .maximumMessageExpiry: Int(l.maximumMessageExpiry)
        case .maximumQueuedMessages: l.maximumQueuedMessages
        case .backPressureTimeoutMilliseconds: l.backPressureTimeoutMilliseconds
        case .qos1RetryWindow: Int(l.qos1RetryWindow)
        case .maximumRetainedMessages: l.maximumRetainedMessages
        case .maximumRetainedBytes: l.maximumRetainedBytes
        case .connectTimeout: Int(l.connectTimeout)
        case .webSocketSigV4Lifetime: Int(l.webSocketSigV4Lifetime)
        }
    }

    func set(_ v: Int, on l: inout BrokerLimits) {
        switch self {
        case .maximumPayloadSize: l.maximumPayloadSize = v
        case .maximumPacketSize: l.maximumPacketSize = v
        case .maximumTopicLength: l.maximumTopicLength = v
        case .maximumTopicSlashes: l.maximumTopicSlashes = v
        case .maximumClientIDLength: l.maximumClientIDLength = v
        case .maximumFiltersPerSubscribe: l.maximumFiltersPerSubscribe = v
        case .maximumSubscriptionsPerConnection: l.maximumSubscriptionsPerConnection = v
        case .maximumShareNameLength: l.maximumShareNameLength = v
        case .maximumInflightOutbound: l.maximumInflightOutbound = min(v, 65_535)
        case .receiveMaximum: l.receiveMaximum = min(v, 65_535)
        case .publishesPerSecond: l.publishesPerSecond = v
        case .bytesPerSecond: l.bytesPerSecond = v
        case .topicAliasMaximum: l.topicAliasMaximum = min(v, 65_535)
        case .minimumKeepAlive: l.minimumKeepAlive = UInt16(clamping: v)
        case .maximumKeepAlive: l.maximumKeepAlive = UInt16(clamping: v)
        case .maximumSessionExpiry: l.maximumSessionExpiry = UInt32(clamping: v)
        case .persistentSessionExpiry: l.persistentSessionExpiry = UInt32(clamping: v)
        case .maximumMessageExpiry: l.maximumMessageExpiry = UInt32(clamping: v)
        case .maximumQueuedMessages: l.maximumQueuedMessages = v
        case .backPressureTimeoutMilliseconds: l.backPressureTimeoutMilliseconds = min(v, 60_000)
        case .qos1RetryWindow: l.qos1RetryWindow = UInt32(clamping: v)
        case .maximumRetainedMessages: l.maximumRetainedMessages = v
        case .maximumRetainedBytes: l.maximumRetainedBytes = v
        case .connectTimeout: l.connectTimeout = UInt32(clamping: v)
        case .webSocketSigV4Lifetime: l.webSocketSigV4Lifetime = UInt32(clamping: v)
        }
    }
}

extension PortcullisConfiguration {
    /// Cross-field checks, after every source has been applied.
    public func validate() throws {
        var problems: [String] = []
        if mqttListen.isEmpty { problems.append("mqtt.listen: at least one address is required") }
        for address in mqttListen where ListenAddress(address) == nil {
            problems.append("mqtt.listen: '\(address)' is not host:port (IPv6 as [::1]:8883, port 0-65535)")
        }
        if limits.persistentSessionExpiry > limits.maximumSessionExpiry {
            problems.append("limits.persistentSessionExpiry: must not exceed limits.maximumSessionExpiry")
        }
        if limits.minimumKeepAlive > limits.maximumKeepAlive {
            problems.append("limits.minimumKeepAlive: must not exceed limits.maximumKeepAlive")
        }
        if limits.maximumPacketSize < limits.maximumPayloadSize {
            problems.append("limits.maximumPacketSize: must be at least limits.maximumPayloadSize")
        }
        if limits.maximumPacketSize > 268_435_460 {
            problems.append("limits.maximumPacketSize: MQTT packets cannot exceed 268,435,460 bytes")
        }
        for address in sharedListen where ListenAddress(address) == nil {
            problems.append("shared.listen: '\(address)' is not host:port (IPv6 as [::1]:8443, port 0-65535)")
        }
        for address in apiListen where ListenAddress(address) == nil {
            problems.append("api.listen: '\(address)' is not host:port (IPv6 as [::1]:9443, port 0-65535)")
        }
        if (apiAccessKeyID == nil) != (apiSecretAccessKey == nil) {
            problems.append("api.accessKeyID and api.secretAccessKey: set both or neither")
        }
        if let key = apiAccessKeyID, !(16...128).contains(key.count) || !key.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) {
            problems.append("api.accessKeyID: 16 to 128 letters and digits, like AKIAIOSFODNN7EXAMPLE")
        }
        if let secret = apiSecretAccessKey, secret.count < 16 || secret.contains(where: { $0.isWhitespace }) {
            problems.append("api.secretAccessKey: at least 16 characters, no spaces")
        }
        if region.isEmpty || !region.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }) {
            problems.append("account.region: lower-case letters, digits and '-', like us-east-1")
        }
        if accountID.count != 12 || !accountID.allSatisfy(\.isNumber) {
            problems.append("account.id: must be 12 digits, like an AWS account id")
        }
        for region in namespaces.allowedRegions where !AWSRegionName.isValid(region) {
            problems.append("namespaces.allowedRegions: '\(region.prefix(64))' is not an AWS region name like us-east-1")
        }
        if !namespaces.allowedRegions.isEmpty, !namespaces.allowedRegions.contains(region) {
            problems.append("namespaces.allowedRegions: must include the default region account.region (\(region))")
        }
        var keys: Set<String> = apiAccessKeyID.map { [$0] } ?? []
        // ASIA... is what temporary credentials look like: such a key would need a session token.
        for key in [apiAccessKeyID].compactMap({ $0 }) + namespaces.accounts.map(\.accessKeyID) where key.hasPrefix("ASIA") {
            problems.append("access key \(key.prefix(8))...: ids starting with ASIA are temporary credentials' (use AKIA...)")
        }
        for (index, account) in namespaces.accounts.enumerated() {
            let path = "namespaces.accounts[\(index)]"
            if !AWSAccountID.isValid(account.id) { problems.append("\(path).id: must be 12 digits, like an AWS account id") }
            if account.id == accountID { problems.append("\(path).id: the default account (account.id) takes its key from api") }
            if !(16...128).contains(account.accessKeyID.count) || !account.accessKeyID.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) {
                problems.append("\(path).accessKeyID: 16 to 128 letters and digits, like AKIAIOSFODNN7EXAMPLE")
            }
            if account.secretAccessKey.count < 16 || account.secretAccessKey.contains(where: { $0.isWhitespace }) {
                problems.append("\(path).secretAccessKey: at least 16 characters, no spaces")
            }
            if !keys.insert(account.accessKeyID).inserted { problems.append("\(path).accessKeyID: used by another account") }
        }
        let accounts = Set(namespaces.accounts.map(\.id) + [accountID])
        for (name, target) in namespaces.hostNames.sorted(by: { $0.key < $1.key }) {
            let parts = target.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            if parts.count != 2 || !accounts.contains(parts[0]) || !namespaceHostNames.allows(region: parts[1]) {
                problems.append("namespaces.hostNames.\(name.prefix(253)): '\(target.prefix(64))' is not account/region of a configured account and an allowed region")
            }
            if name.isEmpty || name.dropFirst(name.hasPrefix("*.") ? 2 : 0).contains("*") {
                problems.append("namespaces.hostNames.\(name.prefix(253)): a host name, or *. and a suffix")
            }
        }
        guard problems.isEmpty else { throw ConfigurationError(problems) }
    }

    /// The namespace rules these settings make.
    public var namespaceHostNames: NamespaceHostNames {
        let defaultNamespace = NamespaceID(accountID: accountID, region: region)
        var names: [String: NamespaceID] = [:]
        for (name, target) in namespaces.hostNames {
            let parts = target.split(separator: "/").map(String.init)
            if parts.count == 2 { names[name] = NamespaceID(accountID: parts[0], region: parts[1]) }
        }
        return NamespaceHostNames(defaultNamespace: defaultNamespace, names: names, accounts: Set(namespaces.accounts.map(\.id)),
                                  allowedRegions: namespaces.allowedRegions.isEmpty ? nil : Set(namespaces.allowedRegions))
    }

    /// The configuration as a JSON document with every key (`portcullis config print-default`).
    public func jsonDocument() -> String {
        func q(_ s: String) -> String {
            let data = try! JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes])
            return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
        }
        var lines: [String] = ["{"]
        lines.append("  \"dataDirectory\": \(q(dataDirectory)),")
        lines.append("  \"mqtt\": { \"listen\": [\(mqttListen.map(q).joined(separator: ", "))] },")
        lines.append("  \"shared\": { \"listen\": [\(sharedListen.map(q).joined(separator: ", "))] },")
        lines.append("  \"api\": { \"listen\": [\(apiListen.map(q).joined(separator: ", "))], \"maximumConnections\": \(apiMaximumConnections), \"idleTimeoutSeconds\": \(apiIdleTimeoutSeconds) },")
        lines.append("  \"tls\": { \"serverHostNames\": [\(serverHostNames.map(q).joined(separator: ", "))], \"securityPolicy\": \(q(tlsSecurityPolicy.rawValue)), \"strictSNI\": \(strictSNI) },")
        lines.append("  \"account\": { \"id\": \(q(accountID)), \"region\": \(q(region)) },")
        lines.append("  \"namespaces\": { \"allowedRegions\": [\(namespaces.allowedRegions.map(q).joined(separator: ", "))], \"accounts\": [], \"hostNames\": {} },")
        lines.append("  \"logging\": { \"level\": \(q(logLevel.awsName.lowercased())) },")
        lines.append("  \"rules\": { \"allowInsecureURLs\": \(rules.allowInsecureURLs), \"statisticsIntervalSeconds\": \(rules.statisticsIntervalSeconds), \"minimumFreeDiskMB\": \(rules.minimumFreeDiskMB) },")
        lines.append("  \"limits\": {")
        let entries = LimitKey.allCases.map { "    \"\($0.rawValue)\": \($0.get(limits))" }
        lines.append(entries.joined(separator: ",\n"))
        lines.append("  }")
        lines.append("}")
        return lines.joined(separator: "\n")
    }
}

/// A `host:port` listen address.
public struct ListenAddress: Sendable, Hashable {
    public var host: String
    public var port: Int

    public init?(_ text: String) {
        let host: Substring
        let port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            port = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
            if host.contains(":") { return nil }
        }
        guard !host.isEmpty, let number = Int(port), (0...65_535).contains(number) else { return nil }
        self.host = String(host)
        self.port = number
    }
}
