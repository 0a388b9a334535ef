import Histogram
import MQTTCore
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// Counters the progress line reads from any thread while the client's event loop updates them.
final class LiveCounters: Sendable {
    let sent = Atomic<Int>(0)
    let received = Atomic<Int>(0)
}

/// Messages delivered per publisher, across all subscribers of a run: lets a QoS 0 publisher running
/// "as fast as the broker accepts" keep a bounded number of its messages in transit. QoS 0 has no
/// acknowledgement, so without this the publishers would only measure how much the kernel's socket
/// buffers hold, and starve the subscribers of the same process of CPU.
final class DeliveryLedger: Sendable {
    final class Counter: Sendable {
        let delivered = Atomic<Int>(0)
    }

    let counters: [Counter]
    init(publishers: Int) { counters = (0..<publishers).map { _ in Counter() } }

    func delivered(from publisher: UInt32) {
        guard Int(publisher) < counters.count else { return }
        counters[Int(publisher)].delivered.add(1, ordering: .relaxed)
    }
}

/// What one client measured, collected from its event loop at the end of a run.
struct ClientSnapshot: Sendable {
    var sent = 0
    var acknowledged = 0
    var received = 0
    var unique = 0
    var duplicates = 0
    var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    var errors: [String] = []
    /// Unique messages received per publisher, for expected-versus-received accounting.
    var uniqueByPublisher: [UInt32: Int] = [:]
}

/// How a client publishes once started.
struct PublishPlan: Sendable {
    var topic: String
    var qos: QoS
    var payloadSize: Int
    /// Messages per second; nil for as fast as the broker accepts.
    var rate: Double?
    var publisherID: UInt32
    /// QoS 0 at maximum rate: copies of each message the subscribers receive in total, and how many
    /// deliveries of this publisher's messages may be outstanding at once.
    var deliveriesPerMessage: Int = 1
    var transitWindow: Int = 1000
}

/// One bench connection: the project's codec over NIO, counting what it receives, recording latency
/// from the stamp in each payload, acknowledging QoS 1, and publishing to a plan. All state lives on the
/// channel's event loop.
final class BenchClientHandler: ChannelInboundHandler {
    typealias InboundIn = MQTTPacket
    typealias OutboundOut = ByteBuffer

    let version: ProtocolVersion
    let counters: LiveCounters
    let ledger: DeliveryLedger?
    private var context: ChannelHandlerContext?
    var connack: EventLoopPromise<ConnAckPacket>?
    var suback: EventLoopPromise<SubAckPacket>?
    var closed: EventLoopPromise<Void>?
    private var snapshot = ClientSnapshot()
    private var trackers: [UInt32: SequenceTracker] = [:]

    // publishing
    private var plan: PublishPlan?
    private var running = false
    private var sequence: UInt64 = 0
    private var inflight = Set<UInt16>()
    private var nextPacketID: UInt16 = 1
    private var window = 100
    private var rateTask: Scheduled<Void>?
    private var rateCredit = 0.0
    private var pumpScheduled = false
    /// Precomputed part of each PUBLISH: everything but the stamp and packet id is identical.
    private var topicBytes = 0

    init(version: ProtocolVersion, counters: LiveCounters, ledger: DeliveryLedger?) {
        self.version = version
        self.counters = counters
        self.ledger = ledger
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .connack(let packet):
            if let maximum = packet.properties.receiveMaximum { window = min(window, Int(maximum)) }
            connack?.succeed(packet)
            connack = nil
        case .suback(let packet):
            suback?.succeed(packet)
            suback = nil
        case .publish(let publish):
            let now = NIODeadline.now().uptimeNanoseconds
            snapshot.received += 1
            counters.received.add(1, ordering: .relaxed)
            if let stamp = MessageStamp(publish.payload) {
                if now >= stamp.sentAt { _ = snapshot.latency.record((now - stamp.sentAt) / 1000) }
                trackers[stamp.publisher, default: SequenceTracker()].record(stamp.sequence)
                ledger?.delivered(from: stamp.publisher)
            }
            if let id = publish.packetID {
                var buffer = context.channel.allocator.buffer(capacity: 4)
                try? MQTTPacketEncoder.encode(.puback(AckPacket(packetID: id)), version: version, into: &buffer)
                context.write(wrapOutboundOut(buffer), promise: nil)
            }
        case .puback(let ack):
            if inflight.remove(ack.packetID) != nil {
                snapshot.acknowledged += 1
                if ack.reasonCode.isFailure { snapshot.errors.append("PUBACK \(ack.reasonCode)") }
                schedulePump()
            }
        case .disconnect(let disconnect):
            snapshot.errors.append("DISCONNECT \(disconnect.reasonCode)")
        default:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { schedulePump() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        running = false
        rateTask?.cancel()
        connack?.fail(ChannelError.ioOnClosedChannel)
        suback?.fail(ChannelError.ioOnClosedChannel)
        closed?.succeed()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        snapshot.errors.append("\(error)")
        connack?.fail(error)
        connack = nil
        context.close(promise: nil)
    }

    // MARK: control (called on the event loop)

    func send(_ packet: MQTTPacket) {
        guard let context else { return }
        var buffer = context.channel.allocator.buffer(capacity: 64)
        try? MQTTPacketEncoder.encode(packet, version: version, into: &buffer)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    func startPublishing(_ plan: PublishPlan) {
        self.plan = plan
        running = true
        if let rate = plan.rate {
            rateTick(perTick: rate / 100)
        } else {
            schedulePump()
        }
    }

    /// A hundred ticks a second; credit carries fractions over so low rates are exact on average.
    private func rateTick(perTick: Double) {
        guard running, let context else { return }
        rateCredit = min(rateCredit + perTick, max(perTick * 10, 1))
        while rateCredit >= 1, canSend {
            rateCredit -= 1
            publishOne()
        }
        context.flush()
        rateTask = context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(10)) { [weak self] in
            self?.rateTick(perTick: perTick)
        }
    }

    func stopPublishing() {
        running = false
        rateTask?.cancel()
        rateTask = nil
    }

    func takeSnapshot() -> ClientSnapshot {
        var result = snapshot
        for (publisher, tracker) in trackers {
            result.unique += tracker.unique
            result.duplicates += tracker.duplicates
            result.uniqueByPublisher[publisher] = tracker.unique
        }
        return result
    }

    private var canSend: Bool {
        guard let context, let plan, running, context.channel.isWritable else { return false }
        if plan.qos == .atLeastOnce { return inflight.count < window }
        guard plan.rate == nil, let ledger, Int(plan.publisherID) < ledger.counters.count else { return true }
        let delivered = ledger.counters[Int(plan.publisherID)].delivered.load(ordering: .relaxed)
        // Deliveries in transit, bounded; a wide fan-out keeps at least ten messages in the pipe.
        return Int(sequence) * plan.deliveriesPerMessage - delivered < max(plan.transitWindow, plan.deliveriesPerMessage * 10)
    }

    /// QoS 0 at maximum rate waits for deliveries, which no event on this channel announces: look again
    /// shortly.
    private func retryLater() {
        guard running, plan?.qos == .atMostOnce, plan?.rate == nil, let context else { return }
        context.eventLoop.assumeIsolated().scheduleTask(in: .microseconds(200)) { [weak self] in self?.schedulePump() }
    }

    private func schedulePump() {
        guard plan?.rate == nil, running, !pumpScheduled, let context else { return }
        pumpScheduled = true
        context.eventLoop.assumeIsolated().execute { [weak self] in
            guard let self else { return }
            self.pumpScheduled = false
            self.pump()
        }
    }

    /// As fast as the broker accepts: write while the socket takes more and the window has room, in
    /// batches, yielding to the event loop between batches so acknowledgements get read.
    private func pump() {
        var batch = 0
        while canSend && batch < 64 {
            publishOne()
            batch += 1
        }
        context?.flush()
        if canSend { schedulePump() } else if context?.channel.isWritable == true { retryLater() }
    }

    private func publishOne() {
        guard let context, let plan else { return }
        var packetID: UInt16?
        if plan.qos == .atLeastOnce {
            while inflight.contains(nextPacketID) { nextPacketID = nextPacketID == .max ? 1 : nextPacketID + 1 }
            packetID = nextPacketID
            inflight.insert(nextPacketID)
            nextPacketID = nextPacketID == .max ? 1 : nextPacketID + 1
        }
        var payload = context.channel.allocator.buffer(capacity: max(plan.payloadSize, MessageStamp.size))
        MessageStamp(sentAt: NIODeadline.now().uptimeNanoseconds, publisher: plan.publisherID, sequence: sequence)
            .write(into: &payload, payloadSize: plan.payloadSize)
        sequence += 1
        let publish = PublishPacket(topic: plan.topic, payload: payload, qos: plan.qos, packetID: packetID)
        var buffer = context.channel.allocator.buffer(capacity: 16 + plan.topic.utf8.count + payload.readableBytes)
        do {
            try MQTTPacketEncoder.encode(.publish(publish), version: version, into: &buffer)
        } catch {
            snapshot.errors.append("encode: \(error)")
            running = false
            return
        }
        context.write(wrapOutboundOut(buffer), promise: nil)
        snapshot.sent += 1
        counters.sent.add(1, ordering: .relaxed)
    }
}

/// A connected bench client.
final class BenchClient: Sendable {
    let channel: any Channel
    let handler: NIOLoopBound<BenchClientHandler>
    let counters: LiveCounters

    enum Failure: Error, CustomStringConvertible {
        case refused(ReasonCode)
        case timeout

        var description: String {
            switch self {
            case .refused(let code): "CONNACK \(code)"
            case .timeout: "timeout"
            }
        }
    }

    private init(channel: any Channel, handler: NIOLoopBound<BenchClientHandler>, counters: LiveCounters) {
        self.channel = channel
        self.handler = handler
        self.counters = counters
    }

    /// TCP (and TLS) connect, CONNECT, CONNACK.
    static func connect(
        target: BenchTarget, address: SocketAddress, tls: NIOSSLContext?, clientID: String, cleanStart: Bool = true,
        keepAlive: UInt16 = 300, sourceAddress: SocketAddress? = nil, ledger: DeliveryLedger? = nil, group: any EventLoopGroup,
        timeout: TimeAmount = .seconds(30)
    ) async throws -> BenchClient {
        let counters = LiveCounters()
        let version = target.version
        let serverName = target.tls?.serverName
        var bootstrap = ClientBootstrap(group: group)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.writeBufferWaterMark, value: .init(low: 32 * 1024, high: 256 * 1024))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let tls {
                        try sync.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName))
                    }
                    try sync.addHandler(ByteToMessageHandler(MQTTPacketDecoderAdapter(decoder: MQTTPacketDecoder(protocolVersion: version))))
                    try sync.addHandler(BenchClientHandler(version: version, counters: counters, ledger: ledger))
                }
            }
        if let sourceAddress { bootstrap = bootstrap.bind(to: sourceAddress) }
        let channel = try await bootstrap.connect(to: address).get()
        let loop = channel.eventLoop
        let connack: ConnAckPacket = try await loop.flatSubmit {
            let handler = try! channel.pipeline.syncOperations.handler(type: BenchClientHandler.self)
            let promise = loop.makePromise(of: ConnAckPacket.self)
            handler.connack = promise
            handler.send(.connect(ConnectPacket(protocolVersion: version, cleanStart: cleanStart, keepAlive: keepAlive, clientID: clientID)))
            let timer = loop.scheduleTask(in: timeout) { promise.fail(Failure.timeout) }
            promise.futureResult.whenComplete { _ in timer.cancel() }
            return promise.futureResult
        }.get()
        guard connack.reasonCode == .success else {
            try? await channel.close()
            throw Failure.refused(connack.reasonCode)
        }
        let handler = try await loop.submit {
            NIOLoopBound(try channel.pipeline.syncOperations.handler(type: BenchClientHandler.self), eventLoop: loop)
        }.get()
        return BenchClient(channel: channel, handler: handler, counters: counters)
    }

    func subscribe(_ filter: String, qos: QoS) async throws -> SubAckPacket {
        let loop = channel.eventLoop
        let handler = self.handler
        return try await loop.flatSubmit {
            let promise = loop.makePromise(of: SubAckPacket.self)
            handler.value.suback = promise
            handler.value.send(.subscribe(SubscribePacket(packetID: 1, subscriptions: [TopicSubscription(filter, qos: qos)])))
            return promise.futureResult
        }.get()
    }

    func startPublishing(_ plan: PublishPlan) async throws {
        let handler = self.handler
        try await channel.eventLoop.submit { handler.value.startPublishing(plan) }.get()
    }

    func stopPublishing() async throws {
        let handler = self.handler
        try await channel.eventLoop.submit { handler.value.stopPublishing() }.get()
    }

    func snapshot() async throws -> ClientSnapshot {
        let handler = self.handler
        return try await channel.eventLoop.submit { handler.value.takeSnapshot() }.get()
    }

    func disconnect() async {
        let handler = self.handler
        _ = try? await channel.eventLoop.submit { handler.value.send(.disconnect(DisconnectPacket())) }.get()
        try? await channel.close()
    }
}
