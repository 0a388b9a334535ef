import Broker
import MQTTCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Owns the one `Broker` behind one lock, and the table from connection ids to channel handlers.
/// Every event goes through `process`: the broker runs under the lock, and the actions it returns are
/// carried out after the lock is released: on the caller's event loop directly when the target lives
/// there, otherwise with one hop per target event loop.
public final class BrokerHost: @unchecked Sendable {
    /// How to reach a connection's handler from any thread.
    struct Handle: Sendable {
        let eventLoop: any EventLoop
        let channel: any Channel
        let handler: NIOLoopBound<MQTTConnectionHandler>
    }

    private let lock = NIOLock()
    /// SendDirectMessage calls waiting for a PUBACK, by token.
    private let directWaiters = NIOLockedValueBox<[UInt64: EventLoopPromise<Bool>]>([:])
    private let directTokens = NIOLockedValueBox<UInt64>(1)
    /// Who answers PUBLISHes to service request topics (the device shadow). The closure sits in a struct:
    /// kept bare in the generic box, every read re-wrapped it in one more reabstraction thunk, so each
    /// request ran through as many layers as requests had been served before it.
    private struct ServiceRequestHandler: Sendable {
        let handle: @Sendable (ServiceRequest) -> Void
    }
    private let serviceRequests = NIOLockedValueBox<ServiceRequestHandler?>(nil)
    private struct PresenceListener: Sendable {
        let handle: @Sendable (String) -> Void
    }
    private let presenceListener = NIOLockedValueBox<PresenceListener?>(nil)
    private struct RuleListener: Sendable {
        let handle: @Sendable (RuleMessage) -> Void
    }
    private let ruleListener = NIOLockedValueBox<RuleListener?>(nil)
    private let broker: Broker
    private var handles: [ConnectionID: Handle] = [:]
    private var tickTask: RepeatedTask?
    private var tickUsers = 0
    private var ticksSinceSweep = 0
    let eventSink: any IoTEventSink
    public let limits: BrokerLimits
    /// Whether a principal may (still) be connected; asked under the lock when a connection registers,
    /// so a revocation that lands during a handshake cannot be missed.
    let admits: @Sendable (String) -> Bool

    /// The broker's authorizer, when it may also be asked from event loops (CONNECTs are authorized
    /// before the lock is taken, so compiling policies runs in parallel).
    let preauthorizer: (any BrokerAuthorizer & Sendable)?

    public init(broker: Broker, eventSink: any IoTEventSink, admits: @escaping @Sendable (String) -> Bool = { _ in true },
                preauthorizer: (any BrokerAuthorizer & Sendable)? = nil) {
        self.broker = broker
        self.limits = broker.limits
        self.eventSink = eventSink
        self.admits = admits
        self.preauthorizer = preauthorizer
    }

    /// Sets who answers service requests (called outside the broker's lock, in order of arrival).
    public func onServiceRequest(_ handler: @escaping @Sendable (ServiceRequest) -> Void) {
        serviceRequests.withLockedValue { $0 = ServiceRequestHandler(handle: handler) }
    }

    /// Hears every connect and disconnect, by client id (called outside the broker's lock).
    public func onPresenceChange(_ listener: @escaping @Sendable (String) -> Void) {
        presenceListener.withLockedValue { $0 = PresenceListener(handle: listener) }
        withBroker { $0.reportsPresence = true }
    }

    /// Hears the messages the rules engine takes (called outside the broker's lock, in order).
    public func onRuleMessage(_ listener: @escaping @Sendable (RuleMessage) -> Void) {
        ruleListener.withLockedValue { $0 = RuleListener(handle: listener) }
    }

    /// Which topics the rules take (nil: none; then no message costs anything for rules).
    public func setRulesWant(_ wants: (@Sendable (String) -> Bool)?) {
        withBroker { $0.rulesWant = wants }
    }

    /// A rule's republish, routed under the lock; why it was refused, if it was.
    public func publishFromRule(_ publish: PublishPacket, depth: Int) -> String? {
        var refusal: String?
        process(from: nil) { broker in
            let (refused, actions) = broker.publishFromRule(publish, depth: depth, at: SystemClock.now())
            refusal = refused
            return actions
        }
        return refusal
    }

    /// Publish from the HTTPS data plane: routed under the lock like any PUBLISH; the refusal, if any.
    public func publishFromAPI(_ publish: PublishPacket, principal: String, sourceIP: String?) -> Broker.APIRefusal? {
        var refusal: Broker.APIRefusal?
        process(from: nil) { broker in
            let (refused, actions) = broker.publishFromAPI(publish, principal: principal, sourceIP: sourceIP, at: SystemClock.now())
            refusal = refused
            return actions
        }
        return refusal
    }

    public func retainedMessage(topic: String) -> Broker.RetainedMessageInfo? {
        withBroker { $0.retainedMessageInfo(topic: topic, at: SystemClock.now()) }
    }

    public func retainedSummaries(after topic: String?, limit: Int) -> (page: [Broker.RetainedSummary], more: Bool) {
        withBroker { $0.retainedSummaries(after: topic, limit: limit, at: SystemClock.now()) }
    }

    /// Fleet indexing's connectivity of a client id.
    public func connectivity(clientID: String) -> (connected: Bool, epochMilliseconds: Int64?, disconnectReason: String?)? {
        withBroker { $0.connectivity(clientID: clientID) }
    }

    /// GetConnection.
    public func describeConnection(clientID: String) -> Broker.ConnectionDescription? {
        withBroker { $0.describeConnection(clientID: clientID, at: SystemClock.now()) }
    }

    /// ListSubscriptions.
    public func subscriptions(clientID: String, after filter: String?, limit: Int) -> (page: [(topicFilter: String, qos: Int)], more: Bool)? {
        withBroker { $0.subscriptions(clientID: clientID, after: filter, limit: limit) }
    }

    /// SendDirectMessage: sent at QoS 0, or with `confirmation` at QoS 1 and answered once the client's
    /// PUBACK arrives; 504 GatewayTimeoutException if it does not within `timeout`.
    public func sendDirectMessage(clientID: String, _ publish: PublishPacket, confirmation: Bool, timeout: TimeAmount) async -> Broker.APIRefusal? {
        let token = directTokens.withLockedValue { next -> UInt64 in defer { next += 1 }; return next }
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        // Made only when an acknowledgement is awaited, and always completed: by the PUBACK, the timer or
        // the refusal, whichever takes it out of the table first (NIO traps on a dropped promise).
        let acknowledged = confirmation ? loop.makePromise(of: Bool.self) : nil
        if let acknowledged { directWaiters.withLockedValue { $0[token] = acknowledged } }
        var outcome = Broker.DirectMessageOutcome.sent
        process(from: nil) { broker in
            let (result, actions) = broker.sendDirectMessage(clientID: clientID, publish, confirmation: confirmation, token: token, at: SystemClock.now())
            outcome = result
            return actions
        }
        switch outcome {
        case .refused(let refusal):
            directWaiters.withLockedValue { $0.removeValue(forKey: token) }?.succeed(false)
            return refusal
        case .sent:
            return nil
        case .awaitingAcknowledgement:
            guard let acknowledged else { return nil }
            let timer = loop.scheduleTask(in: timeout) { [directWaiters] in
                directWaiters.withLockedValue { $0.removeValue(forKey: token) }?.succeed(false)
            }
            let acked = (try? await acknowledged.futureResult.get()) ?? false
            timer.cancel()
            if acked { return nil }
            withBroker { $0.forgetDirectMessage(clientID: clientID, token: token) }
            return Broker.APIRefusal(awsErrorType: "GatewayTimeoutException", httpStatus: 504,
                                     message: "The client did not acknowledge the message within \(timeout.nanoseconds / 1_000_000_000) s.")
        }
    }

    /// DeleteConnection: whether the client was connected (and is now being disconnected).
    public func deleteConnection(clientID: String, cleanSession: Bool, preventWillMessage: Bool) -> Bool {
        var found = false
        process(from: nil) { broker in
            let (wasConnected, actions) = broker.deleteConnection(clientID: clientID, cleanSession: cleanSession,
                                                                  preventWillMessage: preventWillMessage, at: SystemClock.now())
            found = wasConnected
            return actions
        }
        return found
    }

    /// Publishes a service event (JSON) on a reserved topic, as the broker's lifecycle events are.
    /// `ruleDepth`: the rule depth of the request it answers (0: a client's).
    public func publishServiceEvent(topic: String, payload: String, ruleDepth: Int = 0) {
        process(from: nil) { broker in broker.publishServiceEvent(topic: topic, payload: payload, ruleDepth: ruleDepth, at: SystemClock.now()) }
    }

    /// Ends a connection whose permitted lifetime is over (see `Broker.expireConnection`).
    public func expireConnection(_ id: ConnectionID, reasonString: String) {
        process(from: nil) { broker in broker.expireConnection(id, reasonString: reasonString, at: SystemClock.now()) }
    }

    /// Closes every connection whose principal `admits` no longer accepts: call after the registry changed.
    public func closeConnectionsNoLongerAdmitted() {
        let admits = self.admits
        process(from: nil) { broker in
            broker.closeConnections(where: { !admits($0.principalID) }, reason: "the client certificate is no longer active or has expired",
                                    at: SystemClock.now())
        }
    }

    /// Asks every connection's authorization again: call after policies, attachments, things or groups changed.
    public func reauthorize() {
        process(from: nil) { broker in broker.reauthorize(at: SystemClock.now()) }
    }

    /// Connection ids are unique across every host in the process: a connection is made before its
    /// server name tells which namespace's host it joins.
    func makeConnectionID() -> ConnectionID {
        Self.connectionIDs.withLockedValue { next in
            defer { next += 1 }
            return ConnectionID(next)
        }
    }

    private static let connectionIDs = NIOLockedValueBox<UInt64>(1)

    /// Reads broker state under the lock (tests, introspection).
    public func withBroker<T>(_ body: (Broker) throws -> T) rethrows -> T {
        try lock.withLock { try body(broker) }
    }

    func register(_ info: ConnectionInfo, handle: Handle, from current: MQTTConnectionHandler) {
        process(from: current) { broker in
            self.handles[info.id] = handle
            let now = SystemClock.now()
            var actions = broker.accept(info, at: now)
            if !self.admits(info.principalID) {
                actions += broker.closeConnections(where: { $0.id == info.id }, reason: "the client certificate is no longer active or has expired", at: now)
            }
            return actions
        }
    }

    func unregister(_ id: ConnectionID, from current: MQTTConnectionHandler?) {
        process(from: current) { broker in
            self.handles[id] = nil
            return broker.connectionClosed(id, at: SystemClock.now())
        }
    }

    public func tick() {
        process(from: nil) { $0.tick(at: SystemClock.now()) }
        // Once a minute: certificates that expired while their connection was open.
        let sweep = lock.withLock { () -> Bool in
            ticksSinceSweep += 1
            guard ticksSinceSweep >= 60 else { return false }
            ticksSinceSweep = 0
            return true
        }
        if sweep { closeConnectionsNoLongerAdmitted() }
    }

    /// Starts the once-a-second broker timer (keep alive, will delays, expiry). Listeners share one
    /// timer: each start is matched by a `stopTicking`.
    func startTicking(on loop: any EventLoop) {
        lock.withLock {
            tickUsers += 1
            guard tickTask == nil else { return }
            tickTask = loop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [weak self] _ in
                self?.tick()
            }
        }
    }

    func stopTicking() {
        lock.withLock {
            tickUsers -= 1
            guard tickUsers <= 0 else { return }
            tickTask?.cancel()
            tickTask = nil
        }
    }

    /// Sends DISCONNECT 0x8B to every client and closes them, then waits (bounded) until their sockets
    /// are closed, so the DISCONNECTs are on the wire before the process exits.
    public func shutdown(timeout: TimeAmount = .seconds(3)) async {
        let channels = lock.withLock { handles.values.map(\.channel) }
        process(from: nil) { $0.shutdown(at: SystemClock.now()) }
        guard !channels.isEmpty else { return }
        let all = EventLoopFuture.andAllComplete(channels.map(\.closeFuture), on: channels[0].eventLoop)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await all.get() }
            group.addTask { try? await Task.sleep(nanoseconds: UInt64(timeout.nanoseconds)) }
            await group.next()
            group.cancelAll()
        }
        for channel in channels where channel.isActive { try? await channel.close() }
    }

    /// A subscriber's socket could not take more output and QoS 0 messages were dropped for it.
    func recordSlowConsumer(id: ConnectionID, dropped: Int, remote: SocketAddress?) {
        let now = SystemClock.now()
        eventSink.record(IoTLogEvent(
            epochMilliseconds: now.epochMilliseconds, level: .warn, eventType: .publishOut, status: .failure,
            sourceIP: remote?.ipAddress, sourcePort: remote?.port, reason: "SLOW_CONSUMER",
            details: "\(dropped) QoS 0 messages dropped for \(id): its socket could not take more output"))
    }

    /// A packet for a connection did not fit the client's Maximum Packet Size even without its optional
    /// properties, so the connection is closed instead ([MQTT-3.1.2-24]).
    func recordOversizedPacket(id: ConnectionID, packet: PacketType, details: String, clientID: String?, principalID: String?,
                               remote: SocketAddress?) {
        let now = SystemClock.now()
        eventSink.record(IoTLogEvent(
            epochMilliseconds: now.epochMilliseconds, level: .error, eventType: packet == .connack ? .connect : .disconnect,
            status: .failure, clientID: clientID, principalID: principalID, sourceIP: remote?.ipAddress, sourcePort: remote?.port, reason: "PACKET_TOO_LARGE",
            details: "\(details); connection \(id) closed"))
    }

    /// Runs `body` on the broker under the lock and carries out the actions it returns.
    func process(from current: MQTTConnectionHandler?, _ body: (Broker) -> [BrokerAction]) {
        var resolved: [(BrokerAction, Handle?)] = []
        lock.withLock {
            let actions = body(broker)
            resolved.reserveCapacity(actions.count)
            for action in actions {
                switch action {
                case .send(let id, _), .close(let id), .pauseReading(let id, _), .resumeReading(let id):
                    resolved.append((action, handles[id]))
                case .log, .directMessageAcknowledged, .serviceRequest, .presenceChanged, .ruleMessage:
                    resolved.append((action, nil))
                }
            }
        }
        perform(resolved, current: current)
    }

    /// Actions for connections on other event loops, grouped by loop.
    typealias RemoteBatches = [ObjectIdentifier: (any EventLoop, [(Handle, BrokerAction)])]

    private func perform(_ resolved: [(BrokerAction, Handle?)], current: MQTTConnectionHandler?) {
        var remote: RemoteBatches = [:]
        var touched: [MQTTConnectionHandler] = []
        for (action, handle) in resolved {
            if case .log(let event) = action {
                eventSink.record(event)
                continue
            }
            if case .directMessageAcknowledged(let token) = action {
                if let waiter = directWaiters.withLockedValue({ $0.removeValue(forKey: token) }) { waiter.succeed(true) }
                continue
            }
            if case .serviceRequest(let request) = action {
                serviceRequests.withLockedValue { $0 }?.handle(request)
                continue
            }
            if case .presenceChanged(let clientID) = action {
                presenceListener.withLockedValue { $0 }?.handle(clientID)
                continue
            }
            if case .ruleMessage(let message) = action {
                ruleListener.withLockedValue { $0 }?.handle(message)
                continue
            }
            guard let handle else { continue }
            if handle.eventLoop.inEventLoop {
                let handler = handle.handler.value
                if handler.apply(action) && handler !== current { touched.append(handler) }
            } else {
                let key = ObjectIdentifier(handle.eventLoop)
                remote[key, default: (handle.eventLoop, [])].1.append((handle, action))
            }
        }
        for handler in touched { handler.flushIfNeeded() }
        guard !remote.isEmpty else { return }
        if let current, current.isReading {
            // While a read burst is being processed, batches for other loops wait for its end: one hop
            // per loop per burst instead of one per message (ordering per target is kept).
            current.deferRemote(remote)
        } else {
            Self.dispatch(remote)
        }
    }

    /// Hands each loop its batch: the actions in order, then one flush per touched handler.
    static func dispatch(_ remote: RemoteBatches) {
        for (_, (loop, batch)) in remote {
            loop.execute {
                var flushed: [MQTTConnectionHandler] = []
                for (handle, action) in batch {
                    let handler = handle.handler.value
                    if handler.apply(action) { flushed.append(handler) }
                }
                for handler in flushed { handler.flushIfNeeded() }
            }
        }
    }
}
