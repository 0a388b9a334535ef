import Broker
import DeviceIdentity

/// The whole configuration of a Portcullis server: a typed tree with documented defaults, read in one
/// place (`ConfigurationLoader`: file, then environment, then flags) and validated at startup.
public struct PortcullisConfiguration: Sendable, Hashable {
    /// Where the gateway keeps its state: the local CA, the server certificate, minted devices.
    public var dataDirectory: String = "portcullis-data"

    /// MQTT over mutual TLS listeners, as `host:port` (IPv6 as `[::1]:8883`). AWS uses port 8883.
    public var mqttListen: [String] = ["0.0.0.0:8883"]

    /// The shared port, like AWS's 443 (reference 1.2): MQTT (ALPN `x-amzn-mqtt-ca`), HTTPS iot-data
    /// (client certificate or SigV4) and MQTT over WebSocket (`GET /mqtt`, SigV4 presigned URL or client
    /// certificate) on one TLS port, told apart by ALPN and the request. 8443 by default, since 443 needs
    /// privileges; set `0.0.0.0:443` where the process may bind it. Empty: no shared port.
    public var sharedListen: [String] = ["0.0.0.0:8443"]

    /// HTTPS listeners of the AWS-compatible API (the `iot` control plane), as `host:port`. Loopback by
    /// default: set `0.0.0.0:9443` to administer from other machines. Empty: no API.
    public var apiListen: [String] = ["127.0.0.1:9443"]

    /// The admin access key pair for the API. Both or neither: when unset, a key pair is generated on
    /// first start and written to the data folder as an AWS shared credentials file.
    public var apiAccessKeyID: String?
    public var apiSecretAccessKey: String?

    /// Connections each API listener holds at once; further ones wait in the listen backlog until one
    /// closes. A connection must finish TLS within `limits.connectTimeout` and is closed after
    /// `apiIdleTimeoutSeconds` without a request.
    public var apiMaximumConnections: Int = 1024
    public var apiIdleTimeoutSeconds: Int = 60

    /// Extra names for the generated server certificate, besides localhost, 127.0.0.1 and ::1.
    public var serverHostNames: [String] = []

    /// The TLS security policy of the MQTT listeners (reference 1.4.1): its protocol versions and
    /// cipher suites, exactly, and no session tickets. AWS's commercial default.
    public var tlsSecurityPolicy: TLSSecurityPolicy = .default

    /// Refuse a handshake whose server name (SNI) is missing, an IP address, or names no domain
    /// configuration and none of the gateway's certificate names. Off by default: devices on a local
    /// network often connect by IP address or send no SNI.
    public var strictSNI: Bool = false

    /// The account id written in log entries (and, with the registry, in ARNs).
    public var accountID: String = "123456789012"
    /// The region name used in ARNs and endpoints.
    public var region: String = "us-east-1"

    /// Regions and accounts (namespaces): which regions may be used (empty: AWS's regions),
    /// further accounts with their admin keys, and server names that reach a namespace.
    public var namespaces = NamespaceSettings()

    /// IoT log (AWS format) and operational log level: debug, info, warn, error, disabled.
    public var logLevel: IoTLogLevel = .info

    /// Broker limits, AWS IoT Core's quotas by default.
    public var limits: BrokerLimits = BrokerLimits()
    /// The rules engine's http action and destination confirmations.
    public var rules = RulesSettings()

    public init() {}
}

/// How the rules engine reaches HTTP endpoints (`rules` in the configuration file).
public struct RulesSettings: Sendable, Hashable {
    /// Destinations and http actions may use plain `http://` URLs (a local network, tests). Off: only
    /// `https://`, as AWS requires.
    public var allowInsecureURLs = false
    /// PEM certificates trusted for https endpoints besides the system's roots (a private CA).
    public var caFile: String?
    /// The key http actions with `auth.sigv4` sign with (AWS assumes the action's role; this gateway has
    /// no roles, so it signs with a key you give it, never with an admin key). Without it such actions fail.
    public var signingAccessKeyID: String?
    public var signingSecretAccessKey: String?
    /// How often each rule's counts (matched, evaluated, actions succeeded and failed, error actions) are
    /// logged, for the rules that did anything.
    public var statisticsIntervalSeconds = 60
    /// The s3 and DynamoDB actions write nothing while the data folder's disk has less free space than
    /// this (MB; 0: no check), so devices cannot fill the disk the registry lives on.
    public var minimumFreeDiskMB = 64

    public init() {}
}

/// The (account, region) namespaces a gateway serves besides the default one (`account`), made on
/// first use: an API call signed for a region, or a device connecting to one of its names.
public struct NamespaceSettings: Sendable, Hashable {
    /// Regions the API and devices may use; empty allows AWS's regions (and `account.region`).
    public var allowedRegions: [String] = []
    /// Further accounts, each with its admin key pair (the default account's is `api`'s).
    public var accounts: [Account] = []
    /// Server names (or `*.suffix` wildcards) that reach a namespace, as `account/region`. Besides
    /// these, `iot.<region>.localhost` and `*.iot.<region>.localhost` reach the region.
    public var hostNames: [String: String] = [:]

    public struct Account: Sendable, Hashable {
        public var id: String
        public var accessKeyID: String
        public var secretAccessKey: String
        public init(id: String, accessKeyID: String, secretAccessKey: String) {
            self.id = id
            self.accessKeyID = accessKeyID
            self.secretAccessKey = secretAccessKey
        }
    }

    public init() {}
}
