import Broker
import DeviceShadow
import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// The device shadow on the broker (reference 5.1): requests published to
/// `$aws/things/<thing>/shadow[/name/<shadow>]/{get,update,delete}` are answered on `/accepted` or
/// `/rejected`, updates also on `/update/delta` and `/update/documents`, all through the broker, so
/// every subscriber allowed `iot:Receive` gets them. HTTPS requests (iot-data) go through the same
/// service and publish the same messages, except errors.
///
/// Requests, MQTT and HTTPS alike, are answered in the order they arrived: they wait in one queue,
/// which one task at a time drains in batches of up to `batchLimit` (the service writes a batch's
/// changes in one transaction). At most `maximumInFlightPerThing` requests per thing wait (429 beyond, as AWS), and
/// `maximumInFlight` in all, so a flood costs bounded memory.
public final class ShadowGateway: Sendable {
    public static let maximumInFlightPerThing = 10
    public static let maximumInFlight = 10_000
    public static let batchLimit = 64

    let service: ShadowService
    let host: BrokerHost
    private let inFlight = NIOLockedValueBox<(total: Int, perThing: [String: Int])>((0, [:]))
    /// A request waiting: from MQTT (answered by publishing) or HTTPS (answered to its caller too).
    private struct Waiting {
        var request: ShadowRequest
        var caller: CheckedContinuation<Result<ShadowOutcome, ShadowError>, Never>?
        /// The rule depth of the request (0: a client's), carried to the answers.
        var ruleDepth = 0
    }
    /// Requests waiting, and whether a task is draining them.
    private let queue = NIOLockedValueBox<(waiting: CircularBuffer<Waiting>, draining: Bool)>((CircularBuffer(), false))
    private struct ChangeListener: Sendable {
        let handle: @Sendable (String) -> Void
    }
    private let changeListener = NIOLockedValueBox<ChangeListener?>(nil)

    public init(service: ShadowService, host: BrokerHost) {
        self.service = service
        self.host = host
    }

    /// Hears, by thing name, of every shadow an update or delete changed (after it is written).
    public func onChange(_ listener: @escaping @Sendable (String) -> Void) {
        changeListener.withLockedValue { $0 = ChangeListener(handle: listener) }
    }

    /// Whether `topic` is a shadow request topic (for the broker's `isServiceRequest`).
    public static func isRequestTopic(_ topic: String) -> Bool { ShadowTopic(topic) != nil }

    /// A PUBLISH the broker accepted on a request topic.
    public func handle(_ request: ServiceRequest) {
        guard let topic = ShadowTopic(request.topic) else { return }
        let payload = Array(request.payload.readableBytesView)
        guard acquire(topic.id.thingName) else {
            let token = try? ShadowRules.clientToken(ofRequest: payload).get()
            Self.publish(.failure(ShadowError(429, ShadowError.tooManyRequests.message, clientToken: token ?? nil)), topic.operation, topic.id,
                         host: host, fromMQTT: true, ruleDepth: request.ruleDepth)
            return
        }
        enqueue(Waiting(request: ShadowRequest(topic.operation, on: topic.id, payload: payload), ruleDepth: request.ruleDepth))
    }

    private func enqueue(_ waiting: Waiting) {
        let start = queue.withLockedValue { queue in
            queue.waiting.append(waiting)
            defer { queue.draining = true }
            return !queue.draining
        }
        if start { Task { await self.drain() } }
    }

    /// Answers the waiting requests, a batch at a time, until none is left.
    private func drain() async {
        while true {
            let batch: [Waiting] = queue.withLockedValue { queue in
                guard !queue.waiting.isEmpty else {
                    queue.draining = false
                    return []
                }
                let count = min(queue.waiting.count, Self.batchLimit)
                defer { queue.waiting.removeFirst(count) }
                return Array(queue.waiting.prefix(count))
            }
            guard !batch.isEmpty else { return }
            let results = await service.perform(batch.map(\.request), now: Self.now())
            if let listener = changeListener.withLockedValue({ $0 }) {
                var changed = Set<String>()
                for (waiting, result) in zip(batch, results) where waiting.request.operation != .get {
                    if case .success = result { changed.insert(waiting.request.id.thingName) }
                }
                for thing in changed { listener.handle(thing) }
            }
            for (waiting, result) in zip(batch, results) {
                let request = waiting.request
                Self.release(request.id.thingName, inFlight)
                Self.publish(result, request.operation, request.id, host: host, fromMQTT: waiting.caller == nil, ruleDepth: waiting.ruleDepth)
                waiting.caller?.resume(returning: result)
            }
        }
    }

    /// An HTTPS request (GetThingShadow, UpdateThingShadow, DeleteThingShadow).
    public func perform(_ operation: ShadowOperation, on id: ShadowID, payload: [UInt8]) async -> Result<ShadowOutcome, ShadowError> {
        guard acquire(id.thingName) else { return .failure(.tooManyRequests) }
        return await withCheckedContinuation { caller in
            enqueue(Waiting(request: ShadowRequest(operation, on: id, payload: payload), caller: caller))
        }
    }

    public func namedShadows(thingName: String, after token: String?, pageSize: Int) async -> Result<(names: [String], next: String?), ShadowError> {
        await service.namedShadows(thingName: thingName, after: token, pageSize: pageSize)
    }

    /// The thing was deleted from the registry: its shadows go too, before any request that comes after
    /// this call is served (so a thing deleted and made again starts without the old shadows).
    public func thingDeleted(_ thingName: String) {
        service.thingDeleted(thingName)
        Task { [service] in await service.applyDeletions() }
    }

    /// Requests of a thing waiting or running.
    func inFlight(for thing: String) -> Int { inFlight.withLockedValue { $0.perThing[thing, default: 0] } }

    private func acquire(_ thing: String) -> Bool {
        inFlight.withLockedValue { state in
            let count = state.perThing[thing, default: 0]
            guard count < Self.maximumInFlightPerThing, state.total < Self.maximumInFlight else { return false }
            state.perThing[thing] = count + 1
            state.total += 1
            return true
        }
    }

    private static func release(_ thing: String, _ inFlight: NIOLockedValueBox<(total: Int, perThing: [String: Int])>) {
        inFlight.withLockedValue { state in
            state.total -= 1
            let count = state.perThing[thing, default: 1] - 1
            state.perThing[thing] = count > 0 ? count : nil
        }
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

    /// What a request's outcome publishes. Errors go to /rejected only for MQTT requests (HTTPS answers
    /// them itself), and a GET over HTTPS is answered only to its caller.
    private static func publish(_ result: Result<ShadowOutcome, ShadowError>, _ operation: ShadowOperation, _ id: ShadowID,
                                host: BrokerHost, fromMQTT: Bool, ruleDepth: Int = 0) {
        let base = "\(id.topicPrefix)/\(operation.rawValue)"
        switch result {
        case .success(let outcome):
            if operation == .get && !fromMQTT { return }
            host.publishServiceEvent(topic: "\(base)/accepted", payload: outcome.accepted, ruleDepth: ruleDepth)
            if let delta = outcome.delta { host.publishServiceEvent(topic: "\(base)/delta", payload: delta, ruleDepth: ruleDepth) }
            if let documents = outcome.documents { host.publishServiceEvent(topic: "\(base)/documents", payload: documents, ruleDepth: ruleDepth) }
        case .failure(let error):
            if fromMQTT { host.publishServiceEvent(topic: "\(base)/rejected", payload: error.document(timestamp: now()), ruleDepth: ruleDepth) }
        }
    }
}
