import Broker
import MQTTCore
import NIOConcurrencyHelpers
import NIOCore

/// Owns the one `Broker` behind one lock, and the table from connection ids to channel handlers.
/// Every event goes through `process`: the broker runs under the lock, and the actions it returns are
/// carried out after the lock is released: on the caller's event loop directly when the target lives
/// there, otherwise with one hop per target event loop.
public final class BrokerHost: @unchecked Sendable {
    /// How to reach a connection's handler from any thread.
    struct Handle: Sendable {
        let eventLoop: any EventLoop
        let handler: NIOLoopBound<MQTTConnectionHandler>
    }

    private let lock = NIOLock()
    private let broker: Broker
    private var handles: [ConnectionID: Handle] = [:]
    private var nextConnectionID: UInt64 = 1
    let eventSink: any IoTEventSink
    public let limits: BrokerLimits

    public init(broker: Broker, eventSink: any IoTEventSink) {
        self.broker = broker
        self.limits = broker.limits
        self.eventSink = eventSink
    }

    func makeConnectionID() -> ConnectionID {
        lock.withLock {
            defer { nextConnectionID += 1 }
            return ConnectionID(nextConnectionID)
        }
    }

    /// Reads broker state under the lock (tests, introspection).
    public func withBroker<T>(_ body: (Broker) throws -> T) rethrows -> T {
        try lock.withLock { try body(broker) }
    }

    func register(_ info: ConnectionInfo, handle: Handle, from current: MQTTConnectionHandler) {
        process(from: current) { broker in
            self.handles[info.id] = handle
            return broker.accept(info, at: SystemClock.now())
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
    }

    /// Sends DISCONNECT 0x8B to every client and closes them.
    public func shutdown() {
        process(from: nil) { $0.shutdown(at: SystemClock.now()) }
    }

    /// Runs `body` on the broker under the lock and carries out the actions it returns.
    func process(from current: MQTTConnectionHandler?, _ body: (Broker) -> [BrokerAction]) {
        var resolved: [(BrokerAction, Handle?)] = []
        lock.withLock {
            let actions = body(broker)
            resolved.reserveCapacity(actions.count)
            for action in actions {
                switch action {
                case .send(let id, _), .close(let id), .pauseReading(let id, _):
                    resolved.append((action, handles[id]))
                case .log:
                    resolved.append((action, nil))
                }
            }
        }
        perform(resolved, current: current)
    }

    private func perform(_ resolved: [(BrokerAction, Handle?)], current: MQTTConnectionHandler?) {
        var remote: [ObjectIdentifier: (any EventLoop, [(Handle, BrokerAction)])] = [:]
        var touched: [MQTTConnectionHandler] = []
        for (action, handle) in resolved {
            if case .log(let event) = action {
                eventSink.record(event)
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
