import Broker
import DeviceShadow
import Foundation
import Gateway
import IoTSQL
import Logging
import MQTTCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Registry
import RegistrySQLite
import Rules

/// One namespace's rules engine: its enabled rules (compiled once per change), and the messages the
/// broker hands it, evaluated and acted on by one task at a time, never on an event loop. The queue is
/// bounded: when it is full a message is dropped for the rules (not for subscribers) and the drop is
/// logged, never silently.
final class RulesRuntime: Sendable {
    private struct State {
        var rules = RuleSet([])
        var queue = CircularBuffer<RuleMessage>()
        var queuedBytes = 0
        var draining = false
        var dropped = 0
        var droppedLoggedAt: Double = 0
        /// Rule names Basic Ingest messages named that do not exist, warned about once (bounded).
        var warnedUnknown = Set<String>()
        /// The namespace's topic rule destinations: an http action posts only under an ENABLED one.
        var destinations: [TopicRuleDestinationRecord] = []
        /// Confirmation tokens already sent (or found at start), so each is sent once.
        var confirmationsSent = Set<String>()
    }

    static let maximumQueued = 10_000
    /// Payload bytes waiting at once (each message's payload is copied out of the network buffer).
    static let maximumQueuedBytes = 64 << 20
    private let state = NIOLockedValueBox(State())
    private let host: BrokerHost
    private let store: SQLiteRegistryStore
    private let accountID: String
    private let logger: Logger
    /// Where the s3 action writes objects: `<data>/rules/s3/<namespace>/<bucket>/<key>`.
    private let objectRoot: URL
    private let dataDirectory: String
    private let minimumFreeBytes: Int64
    /// The data folder's free space, read at most once a second (time, bytes).
    private let freeSpace = NIOLockedValueBox<(checked: Double, bytes: Int64)>((0, .max))
    private let http: RuleHTTP
    /// Trace ids for the messages rules take (`traceid()`, the error payload's `cloudwatchTraceId`).
    private let traceIDs = TraceIDs()
    /// Per rule: what it did since the last statistics line.
    private let statistics = NIOLockedValueBox<[String: RuleStatistics]>([:])
    /// The destinations, for the HTTP workers' check before each request.
    private let currentDestinations: NIOLockedValueBox<[TopicRuleDestinationRecord]>
    private let arns: ARNs
    /// Records that a destination's confirmation could not be delivered (the registry, once it exists).
    private let confirmationFailed = NIOLockedValueBox<(@Sendable (_ id: String, _ token: String, _ reason: String) -> Void)?>(nil)

    /// The registry as the gateway last saw it, for `get_registry_data`.
    private let registry: @Sendable () -> RegistryState?

    init(host: BrokerHost, store: SQLiteRegistryStore, arns: ARNs, namespace: String, dataDirectory: String, settings: RulesSettings,
         logger: Logger, registry: @escaping @Sendable () -> RegistryState? = { nil }) {
        self.host = host
        self.registry = registry
        self.store = store
        self.accountID = arns.accountID
        self.arns = arns
        self.logger = logger
        let current = NIOLockedValueBox<[TopicRuleDestinationRecord]>([])
        currentDestinations = current
        self.dataDirectory = dataDirectory
        minimumFreeBytes = Int64(settings.minimumFreeDiskMB) << 20
        http = RuleHTTP(settings: settings, logger: logger) { url in
            TopicRuleDestinationRecord.enabled(for: url, in: current.withLockedValue { $0 }) != nil
        }
        objectRoot = URL(fileURLWithPath: dataDirectory).appendingPathComponent("rules/s3")
            .appendingPathComponent(namespace.isEmpty ? "default" : namespace)
        // Every interval, one log line per rule that did anything (metrics come later, issue 20).
        let interval = settings.statisticsIntervalSeconds
        Task { [weak self] in
            while true {
                try? await Task.sleep(for: .seconds(interval))
                guard let self else { return }
                self.logStatistics()
            }
        }
    }

    /// The registry's rules changed: compile them again and tell the broker which topics to hand over.
    func update(_ records: [TopicRuleRecord]) {
        var compiled: [CompiledTopicRule] = []
        for record in records {
            let actions = try? JSONSerialization.jsonObject(with: Data(record.actions.utf8))
            let errorAction = record.errorAction.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) }
            do {
                compiled.append(try TopicRuleCompiler.compile(name: record.name, sql: record.sql, version: record.awsIotSqlVersion,
                                                              actions: actions ?? [], errorAction: errorAction, disabled: record.ruleDisabled))
            } catch {
                // Checked when it was made; a rule stored by an older version that no longer compiles runs nowhere.
                logger.error("topic rule \(record.name) does not compile and is not run: \(error.message)")
            }
        }
        let rules = RuleSet(compiled)
        state.withLockedValue { $0.rules = rules }
        let names = Set(records.map(\.name))
        // "" counts the messages the full queue dropped: kept whatever the rules.
        statistics.withLockedValue { $0 = $0.filter { $0.key.isEmpty || names.contains($0.key) } }
        if rules.isEmpty {
            host.setRulesWant(nil)
        } else {
            let wants: @Sendable (String) -> Bool = { topic in rules.wants(topic: topic) }
            host.setRulesWant(wants)
        }
    }

    /// Where a failed confirmation is recorded (the registry is made after the runtime).
    func onConfirmationFailed(_ record: @escaping @Sendable (_ id: String, _ token: String, _ reason: String) -> Void) {
        confirmationFailed.withLockedValue { $0 = record }
    }

    /// The registry's destinations changed: keep them for the http actions, and send each new
    /// confirmation token to its URL (those found at start were sent by an earlier run).
    func updateDestinations(_ records: [TopicRuleDestinationRecord], initial: Bool) {
        currentDestinations.withLockedValue { $0 = records }
        let toSend = state.withLockedValue { state -> [TopicRuleDestinationRecord] in
            state.destinations = records
            let pending = records.filter { $0.status == "IN_PROGRESS" && $0.confirmationToken != nil }
            state.confirmationsSent.formIntersection(pending.compactMap(\.confirmationToken))
            let new = pending.filter { !state.confirmationsSent.contains($0.confirmationToken!) }
            state.confirmationsSent.formUnion(new.compactMap(\.confirmationToken))
            return initial ? [] : new
        }
        for record in toSend {
            guard let url = record.confirmationUrl, let token = record.confirmationToken else { continue }
            let arn = arns.topicRuleDestination(record)
            let http = self.http, logger = self.logger, failed = confirmationFailed
            Task {
                if let failure = await http.confirm(confirmationUrl: url, arn: arn, token: token, enableUrl: record.enableUrl ?? "") {
                    logger.warning("topic rule destination confirmation not delivered", metadata: ["arn": "\(arn)", "error": "\(failure)"])
                    failed.withLockedValue { $0 }?(record.id, token, "The confirmation message could not be delivered: \(failure)")
                } else {
                    logger.info("topic rule destination confirmation sent", metadata: ["arn": "\(arn)"])
                }
            }
        }
    }

    /// A message the broker handed over (outside its lock).
    func handle(_ message: RuleMessage) {
        // A copy: the original is a slice of the connection's read buffer, which it would keep alive.
        var message = message
        message.publish.payload = ByteBuffer(bytes: message.publish.payload.readableBytesView)
        let size = message.publish.payload.readableBytes + 256
        let start = state.withLockedValue { state -> Bool in
            guard state.queue.count < Self.maximumQueued, state.queuedBytes + size <= Self.maximumQueuedBytes else {
                state.dropped += 1
                return false
            }
            state.queue.append(message)
            state.queuedBytes += size
            defer { state.draining = true }
            return !state.draining
        }
        if start { submitDrain() }
    }

    /// The rules run on threads of their own, shared by every namespace: never on an event loop, and
    /// not on Swift's cooperative pool either, since actions block (SQLite writes, files).
    static let threads: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        return pool
    }()

    /// Messages run before the drain hands the thread to another namespace's queue.
    static let drainBatch = 256

    /// How long a drain that emptied its queue waits for more before it lets its thread sleep: messages
    /// that arrive one at a time are then taken a few at a time, not with a thread wake-up each (which
    /// cost more than ten non-matching rules), for at most this much latency.
    static let linger: UInt32 = 1000  // µs

    /// Drains submitted and not yet started: a drain lingers only while no other namespace's waits for
    /// the thread (one tenant's trickle must not hold the shared thread asleep).
    static let waitingDrains = NIOLockedValueBox(0)

    private func submitDrain() {
        Self.waitingDrains.withLockedValue { $0 += 1 }
        Self.threads.submit { _ in
            Self.waitingDrains.withLockedValue { $0 -= 1 }
            self.drain()
        }
    }

    private func drain() {
        var lingered = false
        for _ in 0..<Self.drainBatch {
            if !lingered, state.withLockedValue({ $0.queue.isEmpty }), Self.waitingDrains.withLockedValue({ $0 == 0 }) {
                // Producers only append while `draining` is set: nothing is lost while this thread waits;
                // still empty afterwards, the drain ends below. Once per turn.
                lingered = true
                usleep(Self.linger)
            }
            let now = Date().timeIntervalSince1970
            let (next, rules, dropped): (RuleMessage?, RuleSet, Int) = state.withLockedValue { state in
                // Drops are logged at most once a second, with their count: a full queue under load must not
                // also flood the log.
                var dropped = 0
                if state.dropped > 0, now - state.droppedLoggedAt >= 1 || state.queue.isEmpty {
                    dropped = state.dropped
                    state.dropped = 0
                    state.droppedLoggedAt = now
                }
                guard let next = state.queue.popFirst() else {
                    state.draining = false
                    return (nil, state.rules, dropped)
                }
                state.queuedBytes -= next.publish.payload.readableBytes + 256
                return (next, state.rules, dropped)
            }
            if dropped > 0 {
                statistics.withLockedValue { $0["", default: RuleStatistics()].matched += dropped }
                logger.error("rules engine queue full: \(dropped) messages were not evaluated by rules", metadata: ["dropped": "\(dropped)"])
            }
            guard let next else { return }
            run(next, rules: rules)
        }
        // More waits: queued again behind the other namespaces' work.
        submitDrain()
    }

    /// Every rule the message triggers: the SQL, then each action; failures go to the rule's error action.
    func run(_ message: RuleMessage, rules: RuleSet) {
        let matched = rules.matching(topic: message.publish.topic)
        if matched.isEmpty, let (name, _) = RuleSet.basicIngest(message.publish.topic) {
            // Once per name (a device could otherwise flood the log).
            let first = state.withLockedValue { state in
                if state.warnedUnknown.count >= 1000 { state.warnedUnknown.removeAll() }
                return state.warnedUnknown.insert(String(name.prefix(128))).inserted
            }
            if first {
                logger.warning("Basic Ingest messages for a rule that does not exist or is disabled are dropped", metadata: ["ruleName": "\(name.prefix(128))"])
            }
        }
        // The payload is parsed once per SQL version, however many rules take the message.
        var parsed: [SQLVersion: SQLValue] = [:]
        let bytes = Array(message.publish.payload.readableBytesView)
        var taken: [(name: String, evaluated: Bool)] = []
        defer {
            if !taken.isEmpty {
                statistics.withLockedValue { all in
                    for (name, evaluated) in taken {
                        all[name, default: RuleStatistics()].matched += 1
                        if evaluated { all[name, default: RuleStatistics()].evaluated += 1 }
                    }
                }
            }
        }
        // One view of the message for every rule (a Basic Ingest rule sees the topic without its prefix),
        // with one trace id.
        guard let first = matched.first else { return }
        let properties = message.publish.properties
        let shared = SQLMessage(
            topic: first.topic, payload: bytes, clientID: message.clientID.isEmpty ? nil : message.clientID,
            principal: message.principalID, sourceIP: message.sourceIP, timestamp: message.epochMilliseconds,
            traceID: traceIDs.next(), accountID: accountID, contentType: properties.contentType,
            payloadFormatUTF8: properties.payloadFormat.map { $0 == .utf8 }, responseTopic: properties.responseTopic,
            correlationData: properties.correlationData.map { Array($0.readableBytesView) },
            userProperties: properties.userProperties.map { ($0.name, $0.value) })
        for (rule, topic) in matched {
            let sqlMessage = topic == shared.topic ? shared : shared.on(topic: topic)
            let version = rule.statement.version
            let payload = parsed[version] ?? SQLJSON.payload(bytes, version: version)
            parsed[version] = payload
            guard let outcome = rule.statement.evaluate(sqlMessage, services: RuleServices(store: store, registry: registry), payload: payload) else {
                taken.append((rule.name, false))
                continue
            }
            taken.append((rule.name, true))
            // Every action runs; the error action hears of all that failed, once the last one is done
            // (an http action finishes later, on the HTTP workers).
            let actions = rule.actions
            let statistics = self.statistics
            let failures = PendingFailures(count: actions.count) { [self] failures in
                statistics.withLockedValue { all in
                    all[rule.name, default: RuleStatistics()].actionsSucceeded += actions.count - failures.count
                    all[rule.name, default: RuleStatistics()].actionsFailed += failures.count
                }
                finish(rule: rule, outcome: outcome, message: sqlMessage, topic: message.publish.topic, depth: message.depth, failures: failures)
            }
            for (index, action) in actions.enumerated() {
                switch action.request(outcome, message: sqlMessage) {
                case .success(let request):
                    dispatch(request, type: action.type, rule: rule.name, depth: message.depth) { failures.complete($0, at: index) }
                case .failure(let failure):
                    failures.complete(failure, at: index)
                }
            }
        }
    }

    /// After a rule's actions: the failures logged, and sent to the rule's error action.
    private func finish(rule: CompiledTopicRule, outcome: SQLOutcome, message: SQLMessage, topic: String, depth: Int, failures: [ActionFailure]) {
        guard !failures.isEmpty else { return }
        for failure in failures {
            logger.warning("rule action failed", metadata: ["ruleName": "\(rule.name)", "failedAction": "\(failure.failedAction)",
                                                            "failedResource": "\(failure.failedResource.prefix(256))", "errorMessage": "\(failure.errorMessage)"])
        }
        guard let errorAction = rule.errorAction else { return }
        statistics.withLockedValue { $0[rule.name, default: RuleStatistics()].errorActions += 1 }
        let errorPayload = CompiledTopicRule.errorPayload(ruleName: rule.name, topic: topic, clientID: message.clientID,
                                                          traceID: message.traceID ?? "", originalPayload: message.payload, failures: failures)
        let logger = self.logger
        switch errorAction.request(outcome, message: message, payload: errorPayload) {
        case .success(let request):
            dispatch(request, type: errorAction.type, rule: rule.name, depth: depth) { failure in
                if let failure { logger.error("the error action of rule \(rule.name) failed too: \(failure.errorMessage)") }
            }
        case .failure(let failure):
            logger.error("the error action of rule \(rule.name) failed too: \(failure.errorMessage)")
        }
    }

    /// Carries out one request: at once, or (http) on the HTTP workers; `completion` gets the failure, if any.
    func dispatch(_ request: ActionRequest, type: String, rule: String, depth: Int, completion: @escaping @Sendable (ActionFailure?) -> Void) {
        guard case .http(let post) = request else {
            completion(perform(request, type: type, depth: depth))
            return
        }
        let destinations = state.withLockedValue { $0.destinations }
        guard TopicRuleDestinationRecord.enabled(for: post.url, in: destinations) != nil else {
            completion(ActionFailure(action: type, resource: post.url,
                                     message: "\(RuleHTTP.failurePrefix) No ENABLED topic rule destination has a confirmationUrl that \(post.url.prefix(256)) begins with."))
            return
        }
        http.submit(post, rule: rule) { failure in
            // Back on the rules thread: what follows (the error action) may write files and tables.
            Self.threads.submit { _ in completion(failure.map { ActionFailure(action: type, resource: post.url, message: $0) }) }
        }
    }

    /// Carries out one request that is not an http POST; the failure, if any.
    func perform(_ request: ActionRequest, type: String, depth: Int) -> ActionFailure? {
        switch request {
        case .republish(let republish):
            var properties = PublishProperties()
            properties.contentType = republish.contentType
            properties.payloadFormat = republish.payloadFormatUTF8.map { $0 ? .utf8 : .unspecifiedBytes }
            properties.responseTopic = republish.responseTopic
            properties.correlationData = republish.correlationData.map { ByteBuffer(bytes: $0) }
            properties.messageExpiryInterval = republish.messageExpiry
            properties.userProperties = republish.userProperties.map { UserProperty($0.name, $0.value) }
            let publish = PublishPacket(topic: republish.topic, payload: ByteBuffer(bytes: republish.payload),
                                        qos: republish.qos == 1 ? .atLeastOnce : .atMostOnce, properties: properties)
            guard let refusal = host.publishFromRule(publish, depth: depth) else { return nil }
            return ActionFailure(action: type, resource: republish.topic, message: refusal)
        case .log(let group, let events):
            for event in events {
                logger.info("\(event.message)", metadata: ["logGroupName": "\(group)", "timestamp": "\(event.timestamp)", "source": "rules"])
            }
            return nil
        case .s3(let bucket, let key, let body):
            if let full = diskFull() { return ActionFailure(action: type, resource: bucket, message: full) }
            return writeObject(bucket: bucket, key: key, body: body)
        case .http(let post):
            return ActionFailure(action: type, resource: post.url, message: "\(RuleHTTP.failurePrefix) It was not dispatched.")
        case .dynamoDB(let table, _, _), .dynamoDBv2(let table, _):
            // The namespace's local tables, in the gateway's database.
            if let full = diskFull() { return ActionFailure(action: type, resource: table, message: full) }
            do {
                guard let refusal = try store.write(request, now: Date().timeIntervalSince1970) else { return nil }
                return ActionFailure(action: type, resource: table, message: "\(refusal.awsErrorType): \(refusal.message)")
            } catch {
                return ActionFailure(action: type, resource: table, message: "The table could not be written: \(error)")
            }
        }
    }

    /// Why nothing may be written now: the data folder's disk has less than `rules.minimumFreeDiskMB` free.
    func diskFull() -> String? {
        guard minimumFreeBytes > 0 else { return nil }
        let now = Date().timeIntervalSince1970
        let free = freeSpace.withLockedValue { cached -> Int64 in
            if now - cached.checked >= 1 {
                let attributes = try? FileManager.default.attributesOfFileSystem(forPath: dataDirectory)
                cached = (now, (attributes?[.systemFreeSize] as? NSNumber)?.int64Value ?? .max)
            }
            return cached.bytes
        }
        guard free < minimumFreeBytes else { return nil }
        return "The gateway's data disk has \(free >> 20) MB free, under rules.minimumFreeDiskMB (\(minimumFreeBytes >> 20)): nothing is written."
    }

    /// The s3 action: a file `<bucket>/<key>` under the namespace's object folder. Bucket names are AWS's
    /// (3-63 lower-case letters, digits, dots and hyphens); a key may not climb out of its bucket.
    func writeObject(bucket: String, key: String, body: [UInt8]) -> ActionFailure? {
        let lowerOrDigit: (UInt8) -> Bool = { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
        let name = Array(bucket.utf8)
        guard (3...63).contains(name.count), lowerOrDigit(name[0]), lowerOrDigit(name[name.count - 1]),
              name.allSatisfy({ lowerOrDigit($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }) else {
            return ActionFailure(action: "s3", resource: bucket, message: "The bucket name \(bucket.prefix(64)) is not valid.")
        }
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        guard !key.isEmpty, key.utf8.count <= 1024, !parts.contains(where: { $0 == ".." || $0 == "." || $0.isEmpty }),
              !key.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
            return ActionFailure(action: "s3", resource: bucket, message: "The key \(key.prefix(256)) is not a valid object key here.")
        }
        let file = parts.reduce(objectRoot.appendingPathComponent(bucket)) { $0.appendingPathComponent(String($1)) }
        do {
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(body).write(to: file, options: .atomic)
            return nil
        } catch {
            return ActionFailure(action: "s3", resource: bucket, message: "Failed to put object \(key.prefix(256)): \(error.localizedDescription)")
        }
    }
}

extension SQLMessage {
    /// The same message as seen on another topic (a Basic Ingest rule's, without the prefix).
    func on(topic: String) -> SQLMessage {
        var seen = self
        seen.topic = topic
        return seen
    }
}

/// Trace ids in UUID form without a system call per message: a random 64-bit stem drawn once (its text
/// made once), then a counter (unique per process run, unguessable across runs; a trace id is not a secret).
final class TraceIDs: Sendable {
    /// `xxxxxxxx-xxxx-4xxx-`: the stem, with a random UUID's version digit.
    private let prefix: String
    private let counter = NIOLockedValueBox<UInt64>(0)

    init() {
        let stem = UInt64.random(in: 0...UInt64.max)
        func hex(_ value: UInt64, _ digits: Int) -> String {
            let text = String(value, radix: 16)
            return String(repeating: "0", count: max(0, digits - text.count)) + text.suffix(digits)
        }
        prefix = "\(hex(stem >> 32, 8))-\(hex((stem >> 16) & 0xFFFF, 4))-4\(hex(stem & 0xFFF, 3))-"
    }

    func next() -> String {
        let count = counter.withLockedValue { value -> UInt64 in
            value &+= 1
            return value
        }
        // `yxxx-xxxxxxxxxxxx` from the counter, y carrying a random UUID's variant bits: 16 hex digits.
        let tail = (0x8000 | (count >> 48) & 0x3FFF) << 48 | count & 0xFFFF_FFFF_FFFF
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        return String(unsafeUninitializedCapacity: prefix.utf8.count + 17) { buffer in
            var index = 0
            for byte in prefix.utf8 {
                buffer[index] = byte
                index += 1
            }
            for nibble in 0..<16 {
                if nibble == 4 {
                    buffer[index] = UInt8(ascii: "-")
                    index += 1
                }
                buffer[index] = digits[Int((tail >> (60 - 4 * UInt64(nibble))) & 0xF)]
                index += 1
            }
            return index
        }
    }
}

/// What one rule did since the last statistics line.
struct RuleStatistics: Sendable {
    var matched = 0
    /// Messages whose WHERE held (the actions ran).
    var evaluated = 0
    var actionsSucceeded = 0
    var actionsFailed = 0
    var errorActions = 0
}

extension RulesRuntime {
    /// One info line per rule that did anything since the last one ("topic rule statistics"), and one for
    /// the messages the full queue kept from the rules.
    func logStatistics() {
        let taken = statistics.withLockedValue { all -> [String: RuleStatistics] in
            defer { all = [:] }
            return all
        }
        for (name, counts) in taken.sorted(by: { $0.key < $1.key }) {
            if name.isEmpty {
                logger.info("topic rule statistics", metadata: ["droppedQueueFull": "\(counts.matched)", "region": "\(arns.region)"])
                continue
            }
            logger.info("topic rule statistics", metadata: [
                "ruleName": "\(name)", "region": "\(arns.region)", "account": "\(arns.accountID)", "matched": "\(counts.matched)",
                "evaluated": "\(counts.evaluated)", "actionsSucceeded": "\(counts.actionsSucceeded)", "actionsFailed": "\(counts.actionsFailed)",
                "errorActions": "\(counts.errorActions)",
            ])
        }
    }
}

/// The failures of one rule's actions for one message, handed on (in the actions' order) once every
/// action is done.
final class PendingFailures: Sendable {
    private let state: NIOLockedValueBox<(remaining: Int, failures: [(index: Int, failure: ActionFailure)])>
    private let done: @Sendable ([ActionFailure]) -> Void

    init(count: Int, done: @escaping @Sendable ([ActionFailure]) -> Void) {
        state = NIOLockedValueBox((count, []))
        self.done = done
        if count == 0 { done([]) }
    }

    func complete(_ failure: ActionFailure?, at index: Int) {
        let finished = state.withLockedValue { state -> [ActionFailure]? in
            if let failure { state.failures.append((index, failure)) }
            state.remaining -= 1
            return state.remaining == 0 ? state.failures.sorted { $0.index < $1.index }.map(\.failure) : nil
        }
        if let finished { done(finished) }
    }
}

/// `get_thing_shadow` reads the namespace's shadows as GetThingShadow answers them; `get_registry_data`
/// its registry as DescribeThing and ListThingGroupsForThing answer.
struct RuleServices: SQLServices {
    let store: SQLiteRegistryStore
    let registry: @Sendable () -> RegistryState?

    func registryData(api: String, thingName: String) -> SQLValue {
        guard let state = registry(), let thing = try? state.thing(named: thingName) else { return .undefined }
        switch api {
        case "DescribeThing":
            var out = SQLObject([("defaultClientId", .string(thing.name)), ("thingName", .string(thing.name)), ("thingId", .string(thing.thingID)),
                                 ("thingArn", .string(state.arns.thing(thing.name)))])
            if let type = thing.thingTypeName { out["thingTypeName"] = .string(type) }
            out["attributes"] = .object(SQLObject(thing.attributes.sorted { $0.key < $1.key }.map { ($0.key, SQLValue.string($0.value)) }))
            out["version"] = .int(Int(thing.version))
            if let billing = thing.billingGroupName { out["billingGroupName"] = .string(billing) }
            return .object(out)
        case "ListThingGroupsForThing":
            guard let groups = try? state.listThingGroupsForThing(thingName: thingName, nextToken: nil, maxResults: 250).groups else { return .undefined }
            return .object(SQLObject([("thingGroups", .array(groups.map { name in
                .object(SQLObject([("groupName", .string(name)), ("groupArn", .string(state.arns.thingGroup(name)))]))
            }))]))
        default:
            return .undefined
        }
    }

    func thingShadow(thingName: String, shadowName: String?) -> SQLValue {
        guard let id = ShadowID(thingName: thingName, shadowName: shadowName), let shadow = try? store.loadShadow(id),
              case .success(let document) = ShadowRules.get(shadow, id: id, clientToken: nil, now: Int64(Date().timeIntervalSince1970)) else {
            return .undefined
        }
        return SQLJSON.parse(Array(document.utf8), version: .v2016) ?? .undefined
    }
}
