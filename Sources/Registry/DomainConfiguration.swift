import DeviceIdentity
import Foundation

/// A domain configuration (reference 1.5): the name a device puts in its TLS server name, and what it
/// gets for it: the server certificate, the TLS security policy, how it authenticates, and whether it is
/// served at all. `iot:Data-ATS` is the default domain, served for any other or no server name.
public struct DomainConfigurationRecord: Sendable, Hashable, Codable {
    public var name: String
    public var id: String
    /// Lower case, no trailing dot; empty for the default domain (its names are the gateway's own).
    public var domainName: String
    public var serverCertificateArns: [String]
    public var validationCertificateArn: String?
    public var defaultAuthorizerName: String?
    public var allowAuthorizerOverride: Bool?
    public var serviceType: String
    /// The canonical policy name (`TLSSecurityPolicy.rawValue`); nil: the gateway's configured default.
    public var securityPolicy: String?
    public var authenticationType: String
    public var applicationProtocol: String
    public var enabled: Bool
    public var createdAt: Double
    public var lastStatusChangeAt: Double

    public var tlsSecurityPolicy: TLSSecurityPolicy? { securityPolicy.flatMap(TLSSecurityPolicy.init(name:)) }
    public var isDefault: Bool { name == DomainConfigurationRules.defaultName }
}

public enum DomainConfigurationRules {
    /// The default domain's name, as AWS names the ATS endpoint's configuration.
    public static let defaultName = "iot:Data-ATS"
    public static let maximumConfigurations = 100
    public static let authenticationTypes: Set<String> = ["CUSTOM_AUTH_X509", "CUSTOM_AUTH", "AWS_X509", "AWS_SIGV4", "DEFAULT"]
    public static let applicationProtocols: Set<String> = ["SECURE_MQTT", "MQTT_WSS", "HTTPS", "DEFAULT"]

    static func invalid(_ message: String) -> RegistryError { RegistryError(.invalidRequest, message) }

    /// Create and Delete: `[\w.-]+`, 1-128, not starting with `IoT:` (reserved). Describe and Update also
    /// take `[\w.:-]+`, which admits `iot:Data-ATS`.
    static func checkName(_ name: String, reservedAllowed: Bool) throws(RegistryError) {
        let allowed: (Character) -> Bool = { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "." || $0 == "-" || (reservedAllowed && $0 == ":")) }
        guard (1...128).contains(name.count), name.allSatisfy(allowed) else {
            throw invalid("domainConfigurationName must match \(reservedAllowed ? "[\\w.:-]+" : "[\\w.-]+") and be 1 to 128 characters.")
        }
        if !reservedAllowed && name.lowercased().hasPrefix("iot:") {
            throw invalid("Names starting with IoT: are reserved.")
        }
    }

    /// A fully qualified domain name: 1-253 characters, labels of letters, digits and hyphens (1-63),
    /// at least two labels; a leading `*.` is not a domain a device can ask for.
    static func normalizedDomainName(_ text: String) throws(RegistryError) -> String {
        var name = text.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...253).contains(name.count), labels.count >= 2,
              labels.allSatisfy({ label in
                  (1...63).contains(label.count) && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
                      && label.first != "-" && label.last != "-"
              }) else {
            throw invalid("domainName must be a fully qualified domain name (1 to 253 characters), not '\(text.prefix(253))'.")
        }
        return name
    }

    static func securityPolicy(_ text: String) throws(RegistryError) -> String {
        guard text.count <= 128, let policy = TLSSecurityPolicy(name: text) else {
            throw invalid("tlsConfig.securityPolicy: \(TLSSecurityPolicy.unknownNameMessage(String(text.prefix(128))))")
        }
        return policy.rawValue
    }

    static func checkAuthentication(type: String, protocol applicationProtocol: String) throws(RegistryError) {
        guard authenticationTypes.contains(type) else {
            throw invalid("authenticationType must be one of \(authenticationTypes.sorted().joined(separator: ", ")).")
        }
        guard applicationProtocols.contains(applicationProtocol) else {
            throw invalid("applicationProtocol must be one of \(applicationProtocols.sorted().joined(separator: ", ")).")
        }
        guard !type.hasPrefix("CUSTOM_AUTH") else {
            throw invalid("authenticationType \(type) needs a custom authorizer, which this gateway does not support yet.")
        }
        if type == "AWS_SIGV4" && applicationProtocol == "SECURE_MQTT" {
            throw invalid("AWS_SIGV4 authentication works over MQTT_WSS or HTTPS, not SECURE_MQTT.")
        }
    }
}

/// What Create and Update may set, as parsed by the API.
public struct DomainConfigurationInput: Sendable {
    public var domainName: String?
    public var serverCertificateArns: [String]?
    public var validationCertificateArn: String?
    public var defaultAuthorizerName: String?
    public var allowAuthorizerOverride: Bool?
    public var removeAuthorizerConfig = false
    public var serviceType: String?
    public var securityPolicy: String?
    public var authenticationType: String?
    public var applicationProtocol: String?
    public var status: String?
    /// Set when the request asks for what is not supported (OCSP stapling, a certificate callback Lambda).
    public var unsupported: String?

    public init() {}
}

extension RegistryState {
    /// CreateDomainConfiguration. The server certificate (at most one) must be imported, carry EKU
    /// serverAuth, have an RSA-2048 or P-256 key, a chain of at most five certificates and 16 KB, and cover
    /// the domain name; one configuration per domain name.
    public mutating func createDomainConfiguration(name: String, _ input: DomainConfigurationInput, now: Double) throws(RegistryError)
        -> DomainConfigurationRecord
    {
        try DomainConfigurationRules.checkName(name, reservedAllowed: false)
        if let unsupported = input.unsupported { throw DomainConfigurationRules.invalid(unsupported) }
        guard domainConfigurations[name] == nil else {
            throw RegistryError(.resourceAlreadyExists, "A domain configuration named \(name) already exists.", resourceID: name,
                                resourceARN: domainConfigurations[name].map { arns.domainConfiguration($0.name, id: $0.id) })
        }
        guard domainConfigurations.count < DomainConfigurationRules.maximumConfigurations else {
            throw RegistryError(.limitExceeded, "At most \(DomainConfigurationRules.maximumConfigurations) domain configurations.")
        }
        guard let rawDomain = input.domainName else { throw DomainConfigurationRules.invalid("domainName is required.") }
        let domain = try DomainConfigurationRules.normalizedDomainName(rawDomain)
        if let other = domainConfigurations.values.first(where: { $0.domainName == domain }) {
            throw RegistryError(.resourceAlreadyExists, "The domain \(domain) is already configured by \(other.name).", resourceID: other.name)
        }
        let certificates = input.serverCertificateArns ?? []
        guard certificates.count <= 1 else { throw DomainConfigurationRules.invalid("serverCertificateArns takes at most 1 certificate.") }
        guard !certificates.isEmpty else {
            throw DomainConfigurationRules.invalid("serverCertificateArns: a custom domain needs its server certificate (import it with ACM ImportCertificate).")
        }
        for arn in certificates {
            let record = try serverCertificate(arn: arn)
            try Self.checkServable(record, domain: domain)
        }
        if let validation = input.validationCertificateArn { _ = try serverCertificate(arn: validation) }
        let serviceType = input.serviceType ?? "DATA"
        guard serviceType == "DATA" else {
            throw DomainConfigurationRules.invalid("serviceType \(serviceType) is not served here; only DATA is.")
        }
        let authentication = input.authenticationType ?? "DEFAULT", application = input.applicationProtocol ?? "DEFAULT"
        try DomainConfigurationRules.checkAuthentication(type: authentication, protocol: application)
        let record = DomainConfigurationRecord(
            name: name, id: String(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12)).lowercased(),
            domainName: domain, serverCertificateArns: certificates, validationCertificateArn: input.validationCertificateArn,
            defaultAuthorizerName: input.defaultAuthorizerName, allowAuthorizerOverride: input.allowAuthorizerOverride,
            serviceType: serviceType, securityPolicy: try input.securityPolicy.map(DomainConfigurationRules.securityPolicy) ?? TLSSecurityPolicy.default.rawValue,
            authenticationType: authentication, applicationProtocol: application, enabled: true, createdAt: now, lastStatusChangeAt: now)
        domainConfigurations[name] = record
        return record
    }

    /// Whether a certificate may be served for a custom domain (reference 1.5's requirements).
    public static func checkServable(_ record: ServerCertificateRecord, domain: String) throws(RegistryError) {
        func invalid(_ message: String) -> RegistryError { RegistryError(.certificateValidation, message) }
        guard record.serverAuth else { throw invalid("The server certificate must carry the extended key usage serverAuth.") }
        guard ["RSA_2048", "EC_prime256v1"].contains(record.keyAlgorithm) else {
            throw invalid("The server certificate's key must be RSA-2048 or EC prime256v1, not \(record.keyAlgorithm).")
        }
        let chainCount = record.chainPEM.components(separatedBy: "-----BEGIN CERTIFICATE-----").count - 1
        guard chainCount + 1 <= 5, record.servedChainPEM.utf8.count <= 16384 else {
            throw invalid("The server certificate chain may have at most 5 certificates and 16 KB.")
        }
        guard ServerCertificateRules.covers(record, domain: domain) else {
            throw invalid("The server certificate does not cover \(domain) (it is for \(record.subjectAlternativeNames.joined(separator: ", "))).")
        }
    }

    /// The stored configuration, or for `iot:Data-ATS` the default one (never created, only updated).
    public func domainConfiguration(name: String) throws(RegistryError) -> DomainConfigurationRecord {
        try DomainConfigurationRules.checkName(name, reservedAllowed: true)
        if let record = domainConfigurations[name] { return record }
        if name == DomainConfigurationRules.defaultName { return defaultDomainConfiguration }
        throw RegistryError(.resourceNotFound, "No domain configuration named \(name).")
    }

    /// The default domain as it stands: its security policy is nil until UpdateDomainConfiguration sets
    /// one (the gateway then uses its configured default).
    public var defaultDomainConfiguration: DomainConfigurationRecord {
        domainConfigurations[DomainConfigurationRules.defaultName] ?? DomainConfigurationRecord(
            name: DomainConfigurationRules.defaultName, id: "", domainName: "", serverCertificateArns: [], serviceType: "DATA",
            securityPolicy: nil, authenticationType: "DEFAULT", applicationProtocol: "DEFAULT", enabled: true, createdAt: 0,
            lastStatusChangeAt: 0)
    }

    /// UpdateDomainConfiguration: status, TLS policy, authentication; never the certificate (delete and
    /// recreate, or re-import the certificate under its ARN to rotate it). The default domain takes only
    /// a TLS policy: disabling it would lock every device out.
    public mutating func updateDomainConfiguration(name: String, _ input: DomainConfigurationInput, now: Double) throws(RegistryError)
        -> DomainConfigurationRecord
    {
        var record = try domainConfiguration(name: name)
        if let unsupported = input.unsupported { throw DomainConfigurationRules.invalid(unsupported) }
        if record.isDefault {
            guard input.status == nil || input.status == "ENABLED", input.authenticationType == nil || input.authenticationType == "DEFAULT",
                  input.applicationProtocol == nil || input.applicationProtocol == "DEFAULT" else {
                throw DomainConfigurationRules.invalid("The default domain iot:Data-ATS can only change its tlsConfig.")
            }
        }
        if let status = input.status {
            guard status == "ENABLED" || status == "DISABLED" else {
                throw DomainConfigurationRules.invalid("domainConfigurationStatus must be ENABLED or DISABLED.")
            }
            if record.enabled != (status == "ENABLED") {
                record.enabled = status == "ENABLED"
                record.lastStatusChangeAt = now
            }
        }
        if let policy = input.securityPolicy { record.securityPolicy = try DomainConfigurationRules.securityPolicy(policy) }
        let authentication = input.authenticationType ?? record.authenticationType
        let application = input.applicationProtocol ?? record.applicationProtocol
        try DomainConfigurationRules.checkAuthentication(type: authentication, protocol: application)
        record.authenticationType = authentication
        record.applicationProtocol = application
        if input.removeAuthorizerConfig {
            record.defaultAuthorizerName = nil
            record.allowAuthorizerOverride = nil
        } else if input.defaultAuthorizerName != nil || input.allowAuthorizerOverride != nil {
            record.defaultAuthorizerName = input.defaultAuthorizerName ?? record.defaultAuthorizerName
            record.allowAuthorizerOverride = input.allowAuthorizerOverride ?? record.allowAuthorizerOverride
        }
        if record.createdAt == 0 { record.createdAt = now }
        domainConfigurations[name] = record
        return record
    }

    /// DeleteDomainConfiguration: only a DISABLED one (disable it first, as AWS asks).
    public mutating func deleteDomainConfiguration(name: String) throws(RegistryError) {
        try DomainConfigurationRules.checkName(name, reservedAllowed: false)
        guard let record = domainConfigurations[name] else {
            throw RegistryError(.resourceNotFound, "No domain configuration named \(name).")
        }
        guard !record.enabled else {
            throw DomainConfigurationRules.invalid("The domain configuration \(name) is ENABLED: disable it (UpdateDomainConfiguration) before deleting it.")
        }
        domainConfigurations[name] = nil
        forgetTags(of: arns.domainConfiguration(name, id: record.id))
    }

    /// ListDomainConfigurations: the default domain first, then the others by name.
    /// - Parameter serviceType: only configurations of this service type (filtered before paging, so
    ///   every page but the last is full).
    public func listDomainConfigurations(marker: String?, pageSize: Int?, serviceType: String? = nil) throws(RegistryError)
        -> (configurations: [DomainConfigurationRecord], nextMarker: String?)
    {
        let custom = domainConfigurations.values.filter { !$0.isDefault }.sorted { $0.name < $1.name }
        let all = ([defaultDomainConfiguration] + custom).filter { serviceType == nil || $0.serviceType == serviceType }
        let page = try Self.page(all, key: \.name, marker: marker, pageSize: pageSize, maximum: 250)
        return (page.items, page.nextMarker)
    }

    /// Every stored configuration, the default included when it was updated.
    public var allDomainConfigurations: [String: DomainConfigurationRecord] { domainConfigurations }
    public var allServerCertificatesByID: [String: ServerCertificateRecord] { serverCertificates }
}
