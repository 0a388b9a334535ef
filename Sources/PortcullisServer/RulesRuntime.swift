import Broker
import DeviceShadow
import Foundation
import Gateway
import IoTSQL
import Logging
import MQTTCore
import NIOConcurrencyHelpers
import NIOCore
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
        /// Rule names Basic Ingest messages named that do not exist, warned about once (bounded).
        var warnedUnknown = Set<String>()
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

    init(host: BrokerHost, store: SQLiteRegistryStore, accountID: String, namespace: String, dataDirectory: String, logger: Logger) {
        self.host = host
        self.store = store
        self.accountID = accountID
        self.logger = logger
        objectRoot = URL(fileURLWithPath: dataDirectory).appendingPathComponent("rules/s3")
            .appendingPathComponent(namespace.isEmpty ? "default" : namespace)
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
        if rules.isEmpty {
            host.setRulesWant(nil)
        } else {
            let wants: @Sendable (String) -> Bool = { topic in rules.wants(topic: topic) }
            host.setRulesWant(wants)
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
        if start { Task { await self.drain() } }
    }

    private func drain() async {
        while true {
            let (next, rules, dropped): (RuleMessage?, RuleSet, Int) = state.withLockedValue { state in
                defer { state.dropped = 0 }
                guard let next = state.queue.popFirst() else {
                    state.draining = false
                    return (nil, state.rules, state.dropped)
                }
                state.queuedBytes -= next.publish.payload.readableBytes + 256
                return (next, state.rules, state.dropped)
            }
            if dropped > 0 {
                logger.error("rules engine queue full: \(dropped) messages were not evaluated by rules", metadata: ["dropped": "\(dropped)"])
            }
            guard let next else { return }
            run(next, rules: rules)
            // The work is synchronous: give the shared pool back between messages.
            await Task.yield()
        }
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
        for (rule, topic) in matched {
            let properties = message.publish.properties
            let sqlMessage = SQLMessage(
                topic: topic, payload: bytes, clientID: message.clientID.isEmpty ? nil : message.clientID,
                principal: message.principalID, sourceIP: message.sourceIP, timestamp: message.epochMilliseconds,
                traceID: UUID().uuidString.lowercased(), accountID: accountID, contentType: properties.contentType,
                payloadFormatUTF8: properties.payloadFormat.map { $0 == .utf8 }, responseTopic: properties.responseTopic,
                correlationData: properties.correlationData.map { Array($0.readableBytesView) },
                userProperties: properties.userProperties.map { ($0.name, $0.value) })
            let version = rule.statement.version
            let payload = parsed[version] ?? SQLJSON.payload(bytes, version: version)
            parsed[version] = payload
            guard let outcome = rule.statement.evaluate(sqlMessage, services: ShadowReader(store: store), payload: payload) else { continue }
            var failures: [ActionFailure] = []
            for action in rule.actions {
                switch action.request(outcome, message: sqlMessage) {
                case .success(let request):
                    if let failure = perform(request, type: action.type, depth: message.depth) { failures.append(failure) }
                case .failure(let failure):
                    failures.append(failure)
                }
            }
            guard !failures.isEmpty else { continue }
            for failure in failures {
                logger.warning("rule action failed", metadata: ["ruleName": "\(rule.name)", "failedAction": "\(failure.failedAction)",
                                                                "failedResource": "\(failure.failedResource.prefix(256))", "errorMessage": "\(failure.errorMessage)"])
            }
            guard let errorAction = rule.errorAction else { continue }
            let errorPayload = CompiledTopicRule.errorPayload(ruleName: rule.name, topic: message.publish.topic, clientID: sqlMessage.clientID,
                                                         traceID: sqlMessage.traceID ?? "", originalPayload: sqlMessage.payload, failures: failures)
            switch errorAction.request(outcome, message: sqlMessage, payload: errorPayload) {
            case .success(let request):
                if let failure = perform(request, type: errorAction.type, depth: message.depth) {
                    logger.error("the error action of rule \(rule.name) failed too: \(failure.errorMessage)")
                }
            case .failure(let failure):
                logger.error("the error action of rule \(rule.name) failed too: \(failure.errorMessage)")
            }
        }
    }

    /// Carries out one request; the failure, if any.
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
            return writeObject(bucket: bucket, key: key, body: body)
        case .http(let url, _, _, _):
            return ActionFailure(action: type, resource: url, message: "The http action is not run by this version yet.")
        case .dynamoDB(let table, _, _), .dynamoDBv2(let table, _):
            return ActionFailure(action: type, resource: table, message: "The \(type) action is not run by this version yet.")
        }
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

/// `get_thing_shadow` reads the namespace's shadows as GetThingShadow answers them.
struct ShadowReader: SQLServices {
    let store: SQLiteRegistryStore

    func thingShadow(thingName: String, shadowName: String?) -> SQLValue {
        guard let id = ShadowID(thingName: thingName, shadowName: shadowName), let shadow = try? store.loadShadow(id),
              case .success(let document) = ShadowRules.get(shadow, id: id, clientToken: nil, now: Int64(Date().timeIntervalSince1970)) else {
            return .undefined
        }
        return SQLJSON.parse(Array(document.utf8), version: .v2016) ?? .undefined
    }
}
