/// AWS IoT's predefined TLS security policies (reference 1.4.1): which protocol versions and cipher
/// suites a listener offers. There are no custom policies, as in AWS.
///
/// Names are accepted as AWS spells them in its docs and CLI examples: `IoTSecurityPolicy_TLS13_1_2_2022_10`,
/// `IotSecurityPolicy_...`, in any case. `rawValue` is the canonical `IoTSecurityPolicy_` spelling.
public enum TLSSecurityPolicy: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case tls13_1_3_2022_10 = "IoTSecurityPolicy_TLS13_1_3_2022_10"
    /// The default of AWS's commercial regions, and of Portcullis.
    case tls13_1_2_2022_10 = "IoTSecurityPolicy_TLS13_1_2_2022_10"
    case tls12_1_2_2022_10 = "IoTSecurityPolicy_TLS12_1_2_2022_10"
    case tls12_1_0_2016_01 = "IoTSecurityPolicy_TLS12_1_0_2016_01"
    case tls12_1_0_2015_01 = "IoTSecurityPolicy_TLS12_1_0_2015_01"
    /// AWS GovCloud's default: no ChaCha20 and no RSA-key-exchange GCM or SHA-256 suites.
    case tls13_1_2_2022_01 = "IoTSecurityPolicy_TLS13_1_2_2022_01"

    public static let `default` = TLSSecurityPolicy.tls13_1_2_2022_10

    /// Parses a policy name, with either prefix spelling, case-insensitively.
    public init?(name: String) {
        let lowered = name.lowercased()
        let prefix = "iotsecuritypolicy_"
        guard lowered.hasPrefix(prefix) else { return nil }
        let bare = lowered.dropFirst(prefix.count)
        guard let policy = Self.allCases.first(where: { $0.bareName.lowercased() == bare }) else { return nil }
        self = policy
    }

    /// The name without its prefix, as in AWS's table (`TLS13_1_2_2022_10`).
    public var bareName: String { String(rawValue.dropFirst("IoTSecurityPolicy_".count)) }
    public var description: String { rawValue }

    /// A clear message for a name that is not a policy, listing the ones there are.
    public static func unknownNameMessage(_ name: String) -> String {
        "'\(name)' is not a TLS security policy; expected one of \(allCases.map(\.rawValue).joined(separator: ", "))"
    }

    /// What kind of port the policy is applied on: AWS's table differs between 443 (the port shared by
    /// MQTT, HTTPS and WebSocket through ALPN) and the dedicated ports 8443 and 8883.
    public enum Port: Sendable, Hashable {
        case shared
        case dedicated
    }

    /// The TLS protocol versions offered.
    public var allowsTLS12: Bool { self != .tls13_1_3_2022_10 }
    public var allowsTLS13: Bool {
        switch self {
        case .tls13_1_3_2022_10, .tls13_1_2_2022_10, .tls13_1_2_2022_01: true
        case .tls12_1_2_2022_10, .tls12_1_0_2016_01, .tls12_1_0_2015_01: false
        }
    }

    /// The TLS 1.3 suites offered (empty when TLS 1.3 is not).
    public var tls13CipherSuites: [TLSCipherSuite] {
        switch self {
        case .tls13_1_3_2022_10, .tls13_1_2_2022_10: [.aes128GCMSHA256, .aes256GCMSHA384, .chacha20Poly1305SHA256]
        case .tls13_1_2_2022_01: [.aes128GCMSHA256, .aes256GCMSHA384]
        case .tls12_1_2_2022_10, .tls12_1_0_2016_01, .tls12_1_0_2015_01: []
        }
    }

    /// The TLS 1.2 suites of AWS's table for this policy on this kind of port, in preference order
    /// (forward-secret AEAD first). Some of them BoringSSL does not implement: see `tls12CipherSuitesServed`.
    public func tls12CipherSuites(on port: Port) -> [TLSCipherSuite] {
        let ecdhe: [TLSCipherSuite] = [
            .ecdheECDSAAES128GCMSHA256, .ecdheRSAAES128GCMSHA256, .ecdheECDSAAES256GCMSHA384, .ecdheRSAAES256GCMSHA384,
            .ecdheECDSAAES128SHA256, .ecdheRSAAES128SHA256, .ecdheECDSAAES256SHA384, .ecdheRSAAES256SHA384,
            .ecdheECDSAAES128SHA, .ecdheRSAAES128SHA, .ecdheECDSAAES256SHA, .ecdheRSAAES256SHA,
        ]
        let rsa: [TLSCipherSuite] = [
            .rsaAES128GCMSHA256, .rsaAES256GCMSHA384, .rsaAES128SHA256, .rsaAES256SHA256, .rsaAES128SHA, .rsaAES256SHA,
        ]
        switch self {
        case .tls13_1_3_2022_10:
            return []
        case .tls13_1_2_2022_10, .tls12_1_2_2022_10:
            return ecdhe + rsa
        case .tls12_1_0_2016_01:
            return ecdhe + (port == .shared ? rsa : rsa.filter { $0 != .rsaAES128SHA256 })
        case .tls12_1_0_2015_01:
            return ecdhe + rsa + [.dheRSAAES256SHA]
        case .tls13_1_2_2022_01:
            return ecdhe + [.rsaAES128SHA, .rsaAES256SHA]
        }
    }

    /// The TLS 1.2 suites actually served: the table's, less the ones BoringSSL (swift-nio-ssl's TLS
    /// library) no longer implements. Never a suite outside the table.
    public func tls12CipherSuitesServed(on port: Port) -> [TLSCipherSuite] {
        tls12CipherSuites(on: port).filter(\.isImplementedByBoringSSL)
    }
}

/// The cipher suites named in AWS's security-policy table, with their IANA code points.
public enum TLSCipherSuite: UInt16, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case aes128GCMSHA256 = 0x1301
    case aes256GCMSHA384 = 0x1302
    case chacha20Poly1305SHA256 = 0x1303
    case ecdheRSAAES128GCMSHA256 = 0xC02F
    case ecdheRSAAES128SHA256 = 0xC027
    case ecdheRSAAES128SHA = 0xC013
    case ecdheRSAAES256GCMSHA384 = 0xC030
    case ecdheRSAAES256SHA384 = 0xC028
    case ecdheRSAAES256SHA = 0xC014
    case rsaAES128GCMSHA256 = 0x009C
    case rsaAES128SHA256 = 0x003C
    case rsaAES128SHA = 0x002F
    case rsaAES256GCMSHA384 = 0x009D
    case rsaAES256SHA256 = 0x003D
    case rsaAES256SHA = 0x0035
    case dheRSAAES256SHA = 0x0039
    case ecdheECDSAAES128GCMSHA256 = 0xC02B
    case ecdheECDSAAES128SHA256 = 0xC023
    case ecdheECDSAAES128SHA = 0xC009
    case ecdheECDSAAES256GCMSHA384 = 0xC02C
    case ecdheECDSAAES256SHA384 = 0xC024
    case ecdheECDSAAES256SHA = 0xC00A

    /// The OpenSSL name, as AWS's table and `openssl ciphers` spell it.
    public var openSSLName: String {
        switch self {
        case .aes128GCMSHA256: "TLS_AES_128_GCM_SHA256"
        case .aes256GCMSHA384: "TLS_AES_256_GCM_SHA384"
        case .chacha20Poly1305SHA256: "TLS_CHACHA20_POLY1305_SHA256"
        case .ecdheRSAAES128GCMSHA256: "ECDHE-RSA-AES128-GCM-SHA256"
        case .ecdheRSAAES128SHA256: "ECDHE-RSA-AES128-SHA256"
        case .ecdheRSAAES128SHA: "ECDHE-RSA-AES128-SHA"
        case .ecdheRSAAES256GCMSHA384: "ECDHE-RSA-AES256-GCM-SHA384"
        case .ecdheRSAAES256SHA384: "ECDHE-RSA-AES256-SHA384"
        case .ecdheRSAAES256SHA: "ECDHE-RSA-AES256-SHA"
        case .rsaAES128GCMSHA256: "AES128-GCM-SHA256"
        case .rsaAES128SHA256: "AES128-SHA256"
        case .rsaAES128SHA: "AES128-SHA"
        case .rsaAES256GCMSHA384: "AES256-GCM-SHA384"
        case .rsaAES256SHA256: "AES256-SHA256"
        case .rsaAES256SHA: "AES256-SHA"
        case .dheRSAAES256SHA: "DHE-RSA-AES256-SHA"
        case .ecdheECDSAAES128GCMSHA256: "ECDHE-ECDSA-AES128-GCM-SHA256"
        case .ecdheECDSAAES128SHA256: "ECDHE-ECDSA-AES128-SHA256"
        case .ecdheECDSAAES128SHA: "ECDHE-ECDSA-AES128-SHA"
        case .ecdheECDSAAES256GCMSHA384: "ECDHE-ECDSA-AES256-GCM-SHA384"
        case .ecdheECDSAAES256SHA384: "ECDHE-ECDSA-AES256-SHA384"
        case .ecdheECDSAAES256SHA: "ECDHE-ECDSA-AES256-SHA"
        }
    }

    public var description: String { openSSLName }

    /// BoringSSL dropped finite-field Diffie-Hellman and the SHA-256/SHA-384 CBC suites other than
    /// ECDHE's AES128-SHA256; these five of AWS's table cannot be negotiated with it.
    public var isImplementedByBoringSSL: Bool {
        switch self {
        case .dheRSAAES256SHA, .rsaAES128SHA256, .rsaAES256SHA256, .ecdheRSAAES256SHA384, .ecdheECDSAAES256SHA384: false
        default: true
        }
    }
}
