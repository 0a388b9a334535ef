import Foundation
import Histogram
import MQTTCore
import NIOCore
import NIOPosix
import NIOSSL

/// Device shadow updates over MQTT: one connection per thing, each keeping `window` updates in flight on
/// `$aws/things/<thing>/shadow/update` and sending the next when `/update/accepted` (or `/rejected`) comes
/// back. The clientToken carries the send time, so latency is request to answer. A closed loop: the
/// figure is how many durable updates per second the gateway answers.
public struct ShadowScenario: Sendable {
    public var target: BenchTarget
    public var things: Int
    public var window: Int
    public var duration: Double
    public var serverPID: Int32?

    public init(target: BenchTarget, things: Int, window: Int, duration: Double, serverPID: Int32? = nil) {
        self.target = target
        self.things = things
        self.window = window
        self.duration = duration
        self.serverPID = serverPID
    }

    public static let maximumThings = 10_000

    public func validate() throws {
        func fail(_ message: String) throws -> Never { throw BenchTarget.Refusal(description: message) }
        if things < 1 || things > Self.maximumThings { try fail("things must be 1 to \(Self.maximumThings)") }
        if window < 1 || window > 10 { try fail("window must be 1 to 10 (AWS allows 10 requests in flight per thing)") }
        if duration <= 0 || duration > PubSubScenario.maximumDuration { try fail("duration must be in (0, \(Int(PubSubScenario.maximumDuration))] seconds") }
    }

    public func run() async throws -> ShadowResult {
        try validate()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, System.coreCount))
        defer { group.shutdownGracefully { _ in } }
        let address = try target.resolve()
        let tls = try target.makeTLSContext()
        let runID = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        var clients: [(channel: any Channel, handler: NIOLoopBound<ShadowBenchHandler>)] = []
        for index in 0..<things {
            clients.append(try await connect(address: address, tls: tls, thing: "bench-\(runID)-\(index)", group: group))
        }
        let recorder = serverPID.map(UsageRecorder.init)
        recorder?.start()
        let started = ContinuousClock.now
        for client in clients {
            let handler = client.handler
            try await client.channel.eventLoop.submit { handler.value.start() }.get()
        }
        try await Task.sleep(for: .seconds(duration))
        for client in clients {
            let handler = client.handler
            try await client.channel.eventLoop.submit { handler.value.stop() }.get()
        }
        let elapsed = ContinuousClock.now - started
        // Answers to requests already sent still count as they arrive (bounded wait).
        try await Task.sleep(for: .milliseconds(500))
        let usage = recorder?.stop()
        var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        var accepted = 0, rejected = 0, sent = 0
        var errors: [String: Int] = [:]
        for client in clients {
            let handler = client.handler
            let snapshot = try await client.channel.eventLoop.submit { handler.value.snapshot }.get()
            latency.add(snapshot.latency)
            accepted += snapshot.accepted
            rejected += snapshot.rejected
            sent += snapshot.sent
            for (code, count) in snapshot.rejectedCodes { errors["rejected \(code)", default: 0] += count }
            try? await client.channel.close()
        }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return ShadowResult(transport: "MQTT \(target.version.description)", things: things, window: window, durationSeconds: seconds,
                            sent: sent, accepted: accepted, rejected: rejected, acceptedPerSecond: Double(accepted) / seconds,
                            latencyMicroseconds: LatencySummary(latency), errors: errors, server: usage)
    }

    private func connect(address: SocketAddress, tls: NIOSSLContext?, thing: String, group: any EventLoopGroup) async throws
        -> (channel: any Channel, handler: NIOLoopBound<ShadowBenchHandler>)
    {
        let version = target.version
        let serverName = target.tls?.serverName
        let window = self.window
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(.seconds(30))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let tls { try sync.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName)) }
                    try sync.addHandler(ByteToMessageHandler(MQTTPacketDecoderAdapter(decoder: MQTTPacketDecoder(protocolVersion: version))))
                    try sync.addHandler(ShadowBenchHandler(version: version, thing: thing, window: window))
                }
            }
            .connect(to: address).get()
        let loop = channel.eventLoop
        let ready = try await loop.flatSubmit {
            let handler = try! channel.pipeline.syncOperations.handler(type: ShadowBenchHandler.self)
            let promise = loop.makePromise(of: Void.self)
            handler.ready = promise
            handler.send(.connect(ConnectPacket(protocolVersion: version, cleanStart: true, keepAlive: 300, clientID: thing)))
            let timer = loop.scheduleTask(in: .seconds(30)) { promise.fail(BenchTarget.Refusal(description: "no CONNACK and SUBACK within 30 s")) }
            promise.futureResult.whenComplete { _ in timer.cancel() }
            return promise.futureResult.map { NIOLoopBound(handler, eventLoop: loop) }
        }.get()
        return (channel, ready)
    }
}

/// What a shadow run measured.
public struct ShadowResult: Sendable, Codable {
    public var transport: String
    public var things: Int
    public var window: Int
    public var durationSeconds: Double
    public var sent: Int
    public var accepted: Int
    public var rejected: Int
    public var acceptedPerSecond: Double
    public var latencyMicroseconds: LatencySummary
    public var errors: [String: Int]
    public var server: ServerUsage?

    public var summary: String {
        var lines = [
            "shadow updates over \(transport), \(things) things, \(window) in flight each, \(String(format: "%.1f", durationSeconds)) s",
            "  sent      \(sent)",
            "  accepted  \(accepted) (\(Int(acceptedPerSecond)) updates/s), rejected \(rejected)",
            "  latency   \(latencyMicroseconds.text)",
        ]
        if !errors.isEmpty { lines.append("  errors    " + errors.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")) }
        if let server { lines.append(server.line) }
        return lines.joined(separator: "\n")
    }

    public init(transport: String, things: Int, window: Int, durationSeconds: Double, sent: Int, accepted: Int, rejected: Int,
                acceptedPerSecond: Double, latencyMicroseconds: LatencySummary, errors: [String: Int], server: ServerUsage?) {
        self.transport = transport
        self.things = things
        self.window = window
        self.durationSeconds = durationSeconds
        self.sent = sent
        self.accepted = accepted
        self.rejected = rejected
        self.acceptedPerSecond = acceptedPerSecond
        self.latencyMicroseconds = latencyMicroseconds
        self.errors = errors
        self.server = server
    }
}

/// One thing's connection: subscribes to its update answers, then keeps `window` updates in flight.
final class ShadowBenchHandler: ChannelInboundHandler {
    typealias InboundIn = MQTTPacket
    typealias OutboundOut = ByteBuffer

    struct Snapshot: Sendable {
        var sent = 0
        var accepted = 0
        var rejected = 0
        var rejectedCodes: [Int: Int] = [:]
        var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    }

    let version: ProtocolVersion
    let thing: String
    let window: Int
    var ready: EventLoopPromise<Void>?
    private(set) var snapshot = Snapshot()
    private var context: ChannelHandlerContext?
    private var running = false
    private var sequence = 0
    private var nextPacketID: UInt16 = 1

    init(version: ProtocolVersion, thing: String, window: Int) {
        self.version = version
        self.thing = thing
        self.window = window
    }

    var prefix: String { "$aws/things/\(thing)/shadow/update" }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) {
        ready?.fail(ChannelError.ioOnClosedChannel)
        ready = nil
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .connack(let connack):
            guard connack.reasonCode == .success else {
                ready?.fail(BenchTarget.Refusal(description: "CONNACK \(connack.reasonCode)"))
                ready = nil
                return
            }
            send(.subscribe(SubscribePacket(packetID: packetID(), subscriptions: [
                TopicSubscription("\(prefix)/accepted", qos: .atLeastOnce), TopicSubscription("\(prefix)/rejected", qos: .atLeastOnce),
            ])))
        case .suback(let suback):
            if suback.reasonCodes.contains(where: \.isFailure) {
                ready?.fail(BenchTarget.Refusal(description: "SUBSCRIBE to \(prefix)/# refused: \(suback.reasonCodes)"))
            } else {
                ready?.succeed(())
            }
            ready = nil
        case .publish(let publish):
            if let id = publish.packetID { send(.puback(AckPacket(packetID: id))) }
            answered(publish)
        default:
            break
        }
    }

    private func answered(_ publish: PublishPacket) {
        let now = NIODeadline.now().uptimeNanoseconds
        let text = String(buffer: publish.payload)
        if publish.topic.hasSuffix("/accepted") {
            snapshot.accepted += 1
        } else {
            snapshot.rejected += 1
            if let range = text.range(of: "\"code\":") {
                let code = Int(text[range.upperBound...].prefix(while: \.isNumber)) ?? 0
                snapshot.rejectedCodes[code, default: 0] += 1
            }
        }
        if let range = text.range(of: "\"clientToken\":\""), let sentAt = UInt64(text[range.upperBound...].prefix(while: \.isNumber)),
           now >= sentAt {
            _ = snapshot.latency.record((now - sentAt) / 1000)
        }
        if running { sendUpdate() }
    }

    func start() {
        running = true
        for _ in 0..<window { sendUpdate() }
    }

    func stop() { running = false }

    private func sendUpdate() {
        sequence += 1
        let token = NIODeadline.now().uptimeNanoseconds
        let body = "{\"state\":{\"reported\":{\"n\":\(sequence),\"ok\":true}},\"clientToken\":\"\(token)\"}"
        send(.publish(PublishPacket(topic: prefix, payload: ByteBuffer(string: body), qos: .atLeastOnce, packetID: packetID())))
        snapshot.sent += 1
    }

    private func packetID() -> UInt16 {
        defer { nextPacketID = nextPacketID == UInt16.max ? 1 : nextPacketID + 1 }
        return nextPacketID
    }

    func send(_ packet: MQTTPacket) {
        guard let context else { return }
        var buffer = context.channel.allocator.buffer(capacity: 128)
        do {
            try MQTTPacketEncoder.encode(packet, version: version, into: &buffer)
        } catch {
            return
        }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }
}
