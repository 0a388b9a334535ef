@testable import Broker
import MQTTCore
import NIOCore
import Testing

/// Drives a `Broker` with a manual clock: no sockets, no sleeps. Each connection is a fake client that
/// collects what the broker sends it.
final class BrokerHarness {
    let broker: Broker
    var now = BrokerInstant(uptimeNanoseconds: 1_000_000_000_000, epochMilliseconds: 1_790_000_000_000)
    private var nextID: UInt64 = 1
    /// Everything the broker did, in order.
    private(set) var allActions: [BrokerAction] = []
    private(set) var versions: [ConnectionID: ProtocolVersion] = [:]

    init(limits: BrokerLimits = BrokerLimits(), logLevel: IoTLogLevel = .debug, authorizer: (any BrokerAuthorizer)? = nil,
         isServiceRequest: @escaping @Sendable (String) -> Bool = { _ in false }) {
        broker = Broker(limits: limits, logLevel: logLevel, assignedClientIDPrefix: "auto-", authorizer: authorizer, isServiceRequest: isServiceRequest)
    }

    @discardableResult
    func reauthorize() -> [BrokerAction] { record(broker.reauthorize(at: now)) }

    func advance(seconds: Double) { now = now.adding(seconds: seconds) }

    /// Opens a transport connection (the TLS handshake succeeded) without sending CONNECT.
    func open(principal: String = "cert-\(UInt64.random(in: 0...UInt64.max))") -> ConnectionID {
        let id = ConnectionID(nextID)
        nextID += 1
        record(broker.accept(ConnectionInfo(id: id, principalID: principal, sourceIP: "127.0.0.1", sourcePort: 40000 + Int(id.rawValue), sessionIdentifier: "session-\(id.rawValue)"), at: now))
        return id
    }

    @discardableResult
    func send(_ id: ConnectionID, _ packet: MQTTPacket) -> [BrokerAction] {
        if case .connect(let connect) = packet { versions[id] = connect.protocolVersion }
        return record(broker.receive(packet, from: id, at: now))
    }

    @discardableResult
    func tick() -> [BrokerAction] { record(broker.tick(at: now)) }

    @discardableResult
    func dropConnection(_ id: ConnectionID) -> [BrokerAction] { record(broker.connectionClosed(id, at: now)) }

    @discardableResult
    func decodeFailed(_ id: ConnectionID, _ error: MQTTCodecError) -> [BrokerAction] {
        record(broker.decodeFailed(error, on: id, at: now))
    }

    @discardableResult
    func record(_ actions: [BrokerAction]) -> [BrokerAction] {
        allActions += actions
        return actions
    }

    /// Connects a client and checks the CONNACK succeeded.
    @discardableResult
    func connect(
        _ clientID: String, version: ProtocolVersion = .v5, cleanStart: Bool = true, sessionExpiry: UInt32? = nil,
        keepAlive: UInt16 = 60, will: Will? = nil, receiveMaximum: UInt16? = nil, maximumPacketSize: UInt32? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> ConnectionID {
        let id = open()
        var properties = MQTTProperties()
        properties.sessionExpiryInterval = sessionExpiry
        properties.receiveMaximum = receiveMaximum
        properties.maximumPacketSize = maximumPacketSize
        let actions = send(id, .connect(ConnectPacket(protocolVersion: version, cleanStart: cleanStart, keepAlive: keepAlive, clientID: clientID, will: will, properties: properties)))
        let connack = actions.packets(to: id).compactMap { if case .connack(let c) = $0 { c } else { nil } }.first
        #expect(connack?.reasonCode == .success, "CONNACK for \(clientID)", sourceLocation: sourceLocation)
        return id
    }

    @discardableResult
    func subscribe(_ id: ConnectionID, _ filter: String, qos: QoS = .atLeastOnce, options: SubscriptionOptions? = nil,
                   identifier: UInt32? = nil, packetID: UInt16 = 1) -> [BrokerAction] {
        let opts = options ?? SubscriptionOptions(qos: qos)
        return send(id, .subscribe(SubscribePacket(packetID: packetID, subscriptions: [TopicSubscription(filter: filter, options: opts)],
                                                   properties: MQTTProperties(subscriptionIdentifier: identifier))))
    }

    @discardableResult
    func publish(_ id: ConnectionID, _ topic: String, _ payload: String, qos: QoS = .atMostOnce, retain: Bool = false,
                 packetID: UInt16? = nil, properties: PublishProperties = .none) -> [BrokerAction] {
        send(id, .publish(PublishPacket(topic: topic, payload: ByteBuffer(string: payload), qos: qos, retain: retain,
                                        packetID: qos == .atMostOnce ? nil : (packetID ?? 1), properties: properties)))
    }
}

extension Array where Element == BrokerAction {
    func packets(to id: ConnectionID) -> [MQTTPacket] {
        compactMap { if case .send(let target, let packet) = $0, target == id { packet } else { nil } }
    }

    func publishes(to id: ConnectionID) -> [PublishPacket] {
        packets(to: id).compactMap { if case .publish(let p) = $0 { p } else { nil } }
    }

    func closes(_ id: ConnectionID) -> Bool {
        contains { if case .close(let target) = $0 { target == id } else { false } }
    }

    func disconnect(to id: ConnectionID) -> DisconnectPacket? {
        packets(to: id).compactMap { if case .disconnect(let d) = $0 { d } else { nil } }.first
    }

    func connack(to id: ConnectionID) -> ConnAckPacket? {
        packets(to: id).compactMap { if case .connack(let c) = $0 { c } else { nil } }.first
    }

    func suback(to id: ConnectionID) -> SubAckPacket? {
        packets(to: id).compactMap { if case .suback(let s) = $0 { s } else { nil } }.first
    }

    func puback(to id: ConnectionID) -> AckPacket? {
        packets(to: id).compactMap { if case .puback(let a) = $0 { a } else { nil } }.first
    }

    var logs: [IoTLogEvent] { compactMap { if case .log(let e) = $0 { e } else { nil } } }
}

extension PublishPacket {
    var payloadString: String { String(buffer: payload) }
}
