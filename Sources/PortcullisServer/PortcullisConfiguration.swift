import Broker

/// The whole configuration of a Portcullis server: a typed tree with documented defaults, read in one
/// place (`ConfigurationLoader`: file, then environment, then flags) and validated at startup.
public struct PortcullisConfiguration: Sendable, Hashable {
    /// Where the gateway keeps its state: the local CA, the server certificate, minted devices.
    public var dataDirectory: String = "portcullis-data"

    /// MQTT over mutual TLS listeners, as `host:port` (IPv6 as `[::1]:8883`). AWS uses port 8883.
    public var mqttListen: [String] = ["0.0.0.0:8883"]

    /// Extra names for the generated server certificate, besides localhost, 127.0.0.1 and ::1.
    public var serverHostNames: [String] = []

    /// The account id written in log entries (and, with the registry, in ARNs).
    public var accountID: String = "123456789012"
    /// The region name used in ARNs and endpoints.
    public var region: String = "us-east-1"

    /// IoT log (AWS format) and operational log level: debug, info, warn, error, disabled.
    public var logLevel: IoTLogLevel = .info

    /// Broker limits, AWS IoT Core's quotas by default.
    public var limits: BrokerLimits = BrokerLimits()

    public init() {}
}
