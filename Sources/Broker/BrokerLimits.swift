/// The limits the broker enforces. Defaults are AWS IoT Core's quotas (reference section 4.10), so a
/// device that works against AWS works here and one that would be refused there is refused here too.
/// Every limit bounds memory: nothing a client sends can grow the broker's state past these.
public struct BrokerLimits: Sendable, Hashable {
    /// Largest PUBLISH payload (AWS: 128 KB, not adjustable).
    public var maximumPayloadSize: Int = 128 * 1024
    /// Largest whole packet accepted and announced in CONNACK. Room for a full payload plus topic and
    /// properties (AWS's quota "Maximum MQTT5 packet size" is 146 KB).
    public var maximumPacketSize: Int = 146 * 1024
    /// Topic name size in UTF-8 bytes (AWS: 256).
    public var maximumTopicLength: Int = 256
    /// Forward slashes in a topic or filter (AWS: 7, i.e. 8 levels).
    public var maximumTopicSlashes: Int = 7
    /// Client identifier size in UTF-8 bytes (AWS: 128).
    public var maximumClientIDLength: Int = 128
    /// Topic filters in one SUBSCRIBE (AWS: 8).
    public var maximumFiltersPerSubscribe: Int = 8
    /// Subscriptions a session may hold (AWS: 50 per connection).
    public var maximumSubscriptionsPerConnection: Int = 50
    /// Share name length of a shared subscription (AWS: 128).
    public var maximumShareNameLength: Int = 128
    /// Unacknowledged QoS 1 messages to one client (AWS: 100); the client's Receive Maximum may lower it.
    public var maximumInflightOutbound: Int = 100
    /// Receive Maximum announced to clients: unacknowledged QoS 1 messages from one client (AWS: 100).
    public var receiveMaximum: Int = 100
    /// Inbound PUBLISH packets per second per connection (AWS: 100). Excess is delayed by pausing reads.
    public var publishesPerSecond: Int = 100
    /// Inbound bytes per second per connection (AWS: 512 KiB/s). Excess is delayed by pausing reads.
    public var bytesPerSecond: Int = 512 * 1024
    /// Highest topic alias a client may use (AWS default: 8). 0 disables topic aliases.
    public var topicAliasMaximum: Int = 8
    /// Keep alive range in seconds (AWS: 30 to 1200; 0 or above the maximum becomes 1200).
    public var minimumKeepAlive: UInt16 = 30
    public var maximumKeepAlive: UInt16 = 1200
    /// Longest session expiry a client may ask for, in seconds (AWS default quota: 1 hour). Longer
    /// requests are clamped and the granted value returned in CONNACK.
    public var maximumSessionExpiry: UInt32 = 3600
    /// Expiry of an MQTT 3.1.1 persistent session (cleanSession=0), in seconds (AWS: 1 hour).
    public var persistentSessionExpiry: UInt32 = 3600
    /// Longest message expiry interval honoured, in seconds (AWS: 7 days).
    public var maximumMessageExpiry: UInt32 = 604_800
    /// QoS 1 messages held for one session while it is offline or its window is full. New messages are
    /// dropped (and logged) beyond it; old ones are kept, as AWS does. A connected subscriber may hold
    /// twice this while back pressure holds its publishers: each publisher still sends what it had in
    /// flight when it was paused, and that is kept rather than dropped.
    public var maximumQueuedMessages: Int = 1000
    /// How long a publisher is held back because a connected subscriber's QoS 1 queue is over half full.
    /// Back pressure keeps QoS 1 lossless while subscribers keep up eventually: the pause is extended
    /// while the subscriber drains (up to half the publisher's keep alive, so its PINGREQ is answered in
    /// time), and held publishers are let go oldest first as the queue empties. A subscriber that stops
    /// acknowledging holds nobody longer than this, and its queue limit applies. 0 disables it.
    public var backPressureTimeoutMilliseconds: Int = 1000
    /// How long an unacknowledged or queued QoS 1 message is kept for redelivery (AWS: 1 hour).
    public var qos1RetryWindow: UInt32 = 3600
    /// Retained messages held by the broker, and their total payload bytes.
    public var maximumRetainedMessages: Int = 50_000
    public var maximumRetainedBytes: Int = 256 * 1024 * 1024
    /// Seconds a new connection has to finish the TLS handshake, and then again to send CONNECT.
    public var connectTimeout: UInt32 = 10
    /// Seconds an MQTT-over-WebSocket connection signed with SigV4 may last (AWS: 24 hours).
    public var webSocketSigV4Lifetime: UInt32 = 86_400

    public init() {}

    /// Limits that never get in the way of a load test: no rate limits, large windows.
    public static var unthrottled: BrokerLimits {
        var limits = BrokerLimits()
        limits.publishesPerSecond = 0
        limits.bytesPerSecond = 0
        return limits
    }
}
