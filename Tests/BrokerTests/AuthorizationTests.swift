@testable import Broker
import MQTTCore
import NIOCore
import Testing

/// A rule table standing in for the policy engine: what each client id may do, changeable between
/// steps; `generation` tells `refreshed` whether anything changed.
final class RuleAuthorizer: BrokerAuthorizer {
    /// Allowed (client id, action, resource); "*" as resource allows every resource of that action.
    var allowed: Set<String> = []
    var generation = 0
    private(set) var requests: [ConnectAuthorizationRequest] = []

    func allow(_ clientID: String, _ action: DeviceAction, _ resource: String = "*") {
        allowed.insert("\(clientID) \(action.rawValue) \(resource)")
        generation += 1
    }

    func revoke(_ clientID: String, _ action: DeviceAction, _ resource: String = "*") {
        allowed.remove("\(clientID) \(action.rawValue) \(resource)")
        generation += 1
    }

    /// Everything a plain client needs.
    func allowAll(_ clientID: String) {
        for action in DeviceAction.allCases { allow(clientID, action) }
    }

    /// The rules as they were when it was made: a test sees a change only if the broker asked for a new one.
    final class Authorization: ConnectionAuthorization {
        let table: Set<String>
        let clientID: String
        let generation: Int
        init(owner: RuleAuthorizer, clientID: String) {
            self.table = owner.allowed
            self.clientID = clientID
            self.generation = owner.generation
        }
        func decide(_ action: DeviceAction, _ resource: String, at now: BrokerInstant) -> AuthorizationVerdict {
            if table.contains("\(clientID) \(action.rawValue) \(resource)") || table.contains("\(clientID) \(action.rawValue) *") {
                return .allowed
            }
            return .denied("no rule allows \(action.rawValue) on \(resource)")
        }
    }

    func authorization(for request: ConnectAuthorizationRequest) -> any ConnectionAuthorization {
        requests.append(request)
        return Authorization(owner: self, clientID: request.clientID)
    }

    func refreshed(_ current: any ConnectionAuthorization, for request: ConnectAuthorizationRequest) -> (any ConnectionAuthorization)? {
        guard let current = current as? Authorization, current.generation != generation else { return nil }
        return Authorization(owner: self, clientID: request.clientID)
    }

    func isCurrent(_ authorization: any ConnectionAuthorization) -> Bool {
        (authorization as? Authorization)?.generation == generation
    }
}

@Suite("Broker: authorization on every action")
struct AuthorizationTests {
    func connectPacket(_ clientID: String, _ version: ProtocolVersion, cleanStart: Bool = true, will: Will? = nil,
                       sessionExpiry: UInt32? = nil) -> MQTTPacket {
        .connect(ConnectPacket(protocolVersion: version, cleanStart: cleanStart, keepAlive: 60, clientID: clientID, will: will,
                               properties: MQTTProperties(sessionExpiryInterval: sessionExpiry)))
    }

    @Test(arguments: [ProtocolVersion.v5, .v3_1_1])
    func aDeniedConnectIsRefusedWithNotAuthorizedAndExplained(version: ProtocolVersion) {
        let rules = RuleAuthorizer()
        let h = BrokerHarness(authorizer: rules)
        let id = h.open()
        let actions = h.send(id, connectPacket("intruder", version))
        let connack = actions.connack(to: id)
        #expect(connack?.reasonCode == .notAuthorized)
        if version == .v5 { #expect(connack?.properties.reasonString == "no rule allows iot:Connect on intruder") }
        #expect(actions.closes(id))
        let entry = actions.logs.first { $0.eventType == .connect && $0.status == .failure }
        #expect(entry?.reason == "AUTHORIZATION_FAILURE")
        #expect(entry?.details == "no rule allows iot:Connect on intruder")
        #expect(h.broker.connectionCount == 0)
    }

    @Test func basicIngestNeedsPublishOnItsOwnTopic() {
        func ruleMessages(_ actions: [BrokerAction]) -> [RuleMessage] {
            actions.compactMap { if case .ruleMessage(let message) = $0 { message } else { nil } }
        }
        let rules = RuleAuthorizer()
        rules.allow("dev", .connect)
        rules.allow("dev", .publish, "sensors/a")
        let h = BrokerHarness(authorizer: rules)
        h.broker.rulesWant = { _ in true }
        let dev = h.connect("dev")
        // Allowed to publish on sensors/a is not allowed to send it to a rule by Basic Ingest.
        let denied = h.publish(dev, "$aws/rules/r/sensors/a", "{}", qos: .atLeastOnce)
        #expect(denied.puback(to: dev)?.reasonCode == .notAuthorized)
        #expect(ruleMessages(denied).isEmpty)
        #expect(denied.logs.contains { $0.status == .failure && $0.reason == "AUTHORIZATION_FAILURE" })
        // A denied ordinary publish does not reach rules either.
        #expect(ruleMessages(h.publish(dev, "sensors/b", "{}", qos: .atLeastOnce)).isEmpty)
        rules.allow("dev", .publish, "$aws/rules/r/sensors/a")
        h.reauthorize()
        #expect(ruleMessages(h.publish(dev, "$aws/rules/r/sensors/a", "{}", qos: .atLeastOnce)).count == 1)
        // Other reserved topics stay closed to devices.
        rules.allow("dev", .publish, "$aws/rulesx/r")
        h.reauthorize()
        #expect(h.publish(dev, "$aws/rulesx/r", "{}", qos: .atLeastOnce).puback(to: dev)?.reasonCode == .notAuthorized)
    }

    @Test func aDeniedConnectDoesNotTakeOverTheSessionOfTheSameClientID() {
        let rules = RuleAuthorizer()
        rules.allowAll("dev")
        let h = BrokerHarness(authorizer: rules)
        let first = h.connect("dev")
        rules.revoke("dev", .connect)
        let second = h.open()
        let actions = h.send(second, connectPacket("dev", .v5))
        #expect(actions.connack(to: second)?.reasonCode == .notAuthorized)
        #expect(!actions.closes(first))
        #expect(h.broker.session(clientID: "dev")?.connected == true)
    }

    @Test func connectAttributesAreReportedToTheAuthorizer() {
        let rules = RuleAuthorizer()
        rules.allowAll("a"); rules.allowAll("b"); rules.allowAll("c")
        let h = BrokerHarness(authorizer: rules)
        h.connect("a", version: .v3_1_1, cleanStart: false)
        h.connect("b", version: .v5, sessionExpiry: 60, will: Will(topic: "will/b", payload: ByteBuffer(string: "x"), qos: .atMostOnce, retain: false))
        h.connect("c", version: .v5, cleanStart: false)
        let byClient = Dictionary(uniqueKeysWithValues: rules.requests.map { ($0.clientID, $0) })
        #expect(byClient["a"]?.persistentSession == true && byClient["a"]?.willTopic == nil)
        #expect(byClient["b"]?.persistentSession == true && byClient["b"]?.willTopic == "will/b")
        // MQTT 5 without a Session Expiry is not persistent, whatever Clean Start says.
        #expect(byClient["c"]?.persistentSession == false)
    }

    @Test(arguments: [false, true])
    func theWillTopicIsCheckedAtConnect(retain: Bool) {
        let rules = RuleAuthorizer()
        rules.allow("dev", .connect)
        rules.allow("dev", .publish, "will/dev")
        let h = BrokerHarness(authorizer: rules)
        let id = h.open()
        let will = Will(topic: "will/dev", payload: ByteBuffer(string: "gone"), qos: .atMostOnce, retain: retain)
        let actions = h.send(id, connectPacket("dev", .v5, will: will))
        // Publish is allowed; a retained will also needs RetainPublish.
        #expect(actions.connack(to: id)?.reasonCode == (retain ? .notAuthorized : .success))
        let other = h.open()
        let refused = h.send(other, connectPacket("dev", .v5, will: Will(topic: "will/other", payload: ByteBuffer(string: "x"), qos: .atMostOnce, retain: false)))
        #expect(refused.connack(to: other)?.reasonCode == .notAuthorized)
    }

    @Test func aDeniedPublishGetsPubAck0x87InMQTT5AndNothingIsRouted() {
        let rules = RuleAuthorizer()
        rules.allowAll("sub")
        rules.allow("pub", .connect)
        rules.allow("pub", .publish, "open")
        let h = BrokerHarness(authorizer: rules)
        let sub = h.connect("sub")
        h.subscribe(sub, "#")
        let pub = h.connect("pub")
        let denied = h.publish(pub, "secret", "x", qos: .atLeastOnce, packetID: 7)
        #expect(denied.puback(to: pub)?.reasonCode == .notAuthorized)
        #expect(denied.puback(to: pub)?.packetID == 7)
        #expect(denied.publishes(to: sub).isEmpty)
        #expect(!denied.closes(pub))
        #expect(denied.logs.contains { $0.eventType == .publishIn && $0.reason == "AUTHORIZATION_FAILURE" && $0.topicName == "secret" })
        // QoS 0: dropped, nothing sent back.
        let quiet = h.publish(pub, "secret", "x")
        #expect(quiet.packets(to: pub).isEmpty && quiet.publishes(to: sub).isEmpty)
        #expect(h.publish(pub, "open", "y").publishes(to: sub).map(\.payloadString) == ["y"])
    }

    @Test func aDeniedPublishClosesAnMQTT311Connection() {
        let rules = RuleAuthorizer()
        rules.allow("pub", .connect)
        let h = BrokerHarness(authorizer: rules)
        let pub = h.connect("pub", version: .v3_1_1)
        let actions = h.publish(pub, "secret", "x", qos: .atLeastOnce)
        #expect(actions.puback(to: pub) == nil)
        #expect(actions.closes(pub))
        #expect(actions.logs.contains { $0.eventType == .disconnect && $0.disconnectReason == "AUTH_ERROR" })
    }

    @Test func aRetainedPublishNeedsRetainPublishToo() {
        let rules = RuleAuthorizer()
        rules.allow("pub", .connect)
        rules.allow("pub", .publish)
        let h = BrokerHarness(authorizer: rules)
        let pub = h.connect("pub")
        #expect(h.publish(pub, "t", "x", qos: .atLeastOnce, retain: true).puback(to: pub)?.reasonCode == .notAuthorized)
        #expect(h.broker.retainedMessageCount == 0)
        rules.allow("pub", .retainPublish, "t")
        h.reauthorize()
        #expect(h.publish(pub, "t", "x", qos: .atLeastOnce, retain: true).puback(to: pub)?.reasonCode == .success)
        #expect(h.broker.retainedMessageCount == 1)
    }

    @Test(arguments: [ProtocolVersion.v5, .v3_1_1])
    func subscribeIsDecidedPerFilter(version: ProtocolVersion) {
        let rules = RuleAuthorizer()
        rules.allow("sub", .connect)
        rules.allow("sub", .subscribe, "ok/#")
        rules.allow("sub", .receive)
        let h = BrokerHarness(authorizer: rules)
        let sub = h.connect("sub", version: version)
        let actions = h.send(sub, .subscribe(SubscribePacket(packetID: 3, subscriptions: [
            TopicSubscription(filter: "ok/#", options: SubscriptionOptions(qos: .atLeastOnce)),
            TopicSubscription(filter: "no/#", options: SubscriptionOptions(qos: .atLeastOnce)),
        ])))
        #expect(actions.suback(to: sub)?.reasonCodes == [.grantedQoS1, .notAuthorized])
        #expect(h.broker.session(clientID: "sub")?.subscriptions.keys.sorted() == ["ok/#"])
        #expect(actions.logs.contains { $0.eventType == .subscribe && $0.reason == "AUTHORIZATION_FAILURE" && $0.topicName == "no/#" })
    }

    @Test func receiveIsCheckedOnEveryDeliveryForThatClientOnly() {
        let rules = RuleAuthorizer()
        rules.allowAll("pub")
        rules.allowAll("open")
        rules.allow("picky", .connect)
        rules.allow("picky", .subscribe)
        rules.allow("picky", .receive, "a/public")
        let h = BrokerHarness(authorizer: rules)
        let open = h.connect("open")
        let picky = h.connect("picky")
        h.subscribe(open, "a/#")
        h.subscribe(picky, "a/#")
        let pub = h.connect("pub")
        let secret = h.publish(pub, "a/secret", "s", qos: .atLeastOnce)
        #expect(secret.publishes(to: open).map(\.payloadString) == ["s"])
        #expect(secret.publishes(to: picky).isEmpty)
        #expect(secret.logs.contains { $0.eventType == .publishOut && $0.reason == "AUTHORIZATION_FAILURE" && $0.clientID == "picky" })
        #expect(h.publish(pub, "a/public", "p").publishes(to: picky).map(\.payloadString) == ["p"])
        #expect(h.broker.session(clientID: "picky")?.inflightCount == 0)
    }

    @Test func retainedAndQueuedMessagesAreCheckedForReceiveToo() {
        let rules = RuleAuthorizer()
        rules.allowAll("pub")
        rules.allow("sub", .connect)
        rules.allow("sub", .subscribe)
        let h = BrokerHarness(authorizer: rules)
        let pub = h.connect("pub")
        h.publish(pub, "r", "retained", qos: .atLeastOnce, retain: true)
        let sub = h.connect("sub", sessionExpiry: 600)
        #expect(h.subscribe(sub, "r").publishes(to: sub).isEmpty)
        // Offline: the message is queued, then checked when it would be delivered.
        h.subscribe(sub, "q")
        h.dropConnection(sub)
        h.publish(pub, "q", "queued", qos: .atLeastOnce)
        #expect(h.broker.session(clientID: "sub")?.queuedCount == 1)
        let back = h.open()
        let resumed = h.send(back, connectPacket("sub", .v5, cleanStart: false, sessionExpiry: 600))
        #expect(resumed.connack(to: back)?.sessionPresent == true)
        #expect(resumed.publishes(to: back).isEmpty)
        #expect(h.broker.session(clientID: "sub")?.queuedCount == 0)
    }

    @Test func reauthorizationDisconnectsClientsThatMayNoLongerConnect() {
        let rules = RuleAuthorizer()
        rules.allowAll("a")
        rules.allowAll("b")
        let h = BrokerHarness(authorizer: rules)
        let a = h.connect("a")
        let b = h.connect("b", version: .v3_1_1)
        #expect(h.reauthorize().isEmpty)  // nothing changed
        rules.revoke("a", .connect)
        rules.revoke("b", .connect)
        let actions = h.reauthorize()
        #expect(actions.disconnect(to: a)?.reasonCode == .notAuthorized)
        #expect(actions.closes(a) && actions.closes(b))
        #expect(actions.packets(to: b).isEmpty)
        #expect(actions.logs.filter { $0.eventType == .disconnect && $0.reason == "AUTHORIZATION_FAILURE" && $0.disconnectReason == "AUTH_ERROR" }.count == 2)
        #expect(h.broker.connectionCount == 0)
    }

    @Test func reauthorizationRemovesSubscriptionsAndStopsDeliveries() {
        let rules = RuleAuthorizer()
        rules.allowAll("pub")
        rules.allowAll("sub")
        let h = BrokerHarness(authorizer: rules)
        let sub = h.connect("sub")
        h.subscribe(sub, "x/#")
        h.subscribe(sub, "y", packetID: 2)
        let pub = h.connect("pub")
        #expect(h.publish(pub, "x/1", "before").publishes(to: sub).count == 1)
        rules.revoke("sub", .subscribe)
        rules.allow("sub", .subscribe, "y")
        let actions = h.reauthorize()
        #expect(!actions.closes(sub))
        #expect(h.broker.session(clientID: "sub")?.subscriptions.keys.sorted() == ["y"])
        #expect(actions.logs.contains { $0.eventType == .subscribe && $0.reason == "AUTHORIZATION_FAILURE" && $0.topicName == "x/#" })
        #expect(h.publish(pub, "x/1", "after").publishes(to: sub).isEmpty)
        // Receive revoked: the remaining subscription stops delivering at once.
        rules.revoke("sub", .receive)
        h.reauthorize()
        #expect(h.publish(pub, "y", "after").publishes(to: sub).isEmpty)
    }

    @Test func aResumedSessionLosesSubscriptionsItMayNoLongerHave() {
        let rules = RuleAuthorizer()
        rules.allowAll("sub")
        let h = BrokerHarness(authorizer: rules)
        let sub = h.connect("sub", sessionExpiry: 600)
        h.subscribe(sub, "a/#")
        h.subscribe(sub, "b/#", packetID: 2)
        h.dropConnection(sub)
        rules.revoke("sub", .subscribe)
        rules.allow("sub", .subscribe, "b/#")
        let back = h.open()
        let actions = h.send(back, connectPacket("sub", .v5, cleanStart: false, sessionExpiry: 600))
        #expect(actions.connack(to: back)?.sessionPresent == true)
        #expect(h.broker.session(clientID: "sub")?.subscriptions.keys.sorted() == ["b/#"])
        #expect(actions.logs.contains { $0.eventType == .subscribe && $0.reason == "AUTHORIZATION_FAILURE" && $0.topicName == "a/#" })
    }

    @Test func aCurrentPreauthorizationIsUsedAndAStaleOrForeignOneIsNot() {
        let rules = RuleAuthorizer()
        rules.allowAll("dev")
        let h = BrokerHarness(authorizer: rules)
        func connect(_ clientID: String, preauthorizedFor: String, change: Bool = false) -> (accepted: Bool, asked: Int) {
            let id = h.open()
            let packet = ConnectPacket(protocolVersion: .v5, keepAlive: 60, clientID: clientID)
            let info = h.broker.connections[id]!.info
            var forRequest = packet
            forRequest.clientID = preauthorizedFor
            let request = Broker.authorizationRequest(for: forRequest, on: info)!
            let pre = Preauthorization(request: request, authorization: rules.authorization(for: request))
            if change { rules.allow("dev", .subscribe, "extra") }  // a registry change after it was made
            let before = rules.requests.count
            let actions = h.record(h.broker.receive(.connect(packet), from: id, at: h.now, preauthorized: pre))
            return (actions.connack(to: id)?.reasonCode == .success, rules.requests.count - before)
        }
        #expect(connect("dev", preauthorizedFor: "dev") == (true, 0), "used: not asked again under the lock")
        #expect(connect("dev", preauthorizedFor: "dev", change: true) == (true, 1), "stale: asked again")
        #expect(connect("dev", preauthorizedFor: "other") == (true, 1), "made for another request: asked again")
        // An authorization made for another client id must not let a denied one in.
        rules.allowAll("other")
        #expect(connect("intruder", preauthorizedFor: "other").accepted == false)
        #expect(Broker.authorizationRequest(for: ConnectPacket(protocolVersion: .v5, clientID: ""), on: h.broker.connections.values.first!.info) == nil,
                "an assigned client id is only known under the lock")
    }

    @Test func aDelayedWillIsAuthorizedAgainWhenItGoesOut() {
        let rules = RuleAuthorizer()
        rules.allowAll("sub")
        rules.allowAll("dev")
        rules.allowAll("dev2")
        let h = BrokerHarness(authorizer: rules)
        let sub = h.connect("sub")
        h.subscribe(sub, "will/#")
        var will = Will(topic: "will/dev", payload: ByteBuffer(string: "gone"), qos: .atMostOnce, retain: false)
        will.delayInterval = 30
        let dev = h.connect("dev", sessionExpiry: 600, will: will)
        will.topic = "will/dev2"
        let dev2 = h.connect("dev2", sessionExpiry: 600, will: will)
        h.dropConnection(dev)
        h.dropConnection(dev2)
        // While they are away, dev loses Publish; dev2 keeps it.
        rules.revoke("dev", .publish)
        h.advance(seconds: 31)
        let actions = h.tick()
        #expect(actions.publishes(to: sub).map(\.topic) == ["will/dev2"])
        #expect(actions.logs.contains { $0.reason == "AUTHORIZATION_FAILURE" && $0.topicName == "will/dev" && $0.clientID == "dev" })
    }

    @Test func aSharedGroupMemberThatMayNotReceiveIsPassedOver() {
        let rules = RuleAuthorizer()
        rules.allowAll("pub")
        rules.allowAll("open")
        rules.allow("closed", .connect)
        rules.allow("closed", .subscribe)
        let h = BrokerHarness(authorizer: rules)
        let open = h.connect("open")
        let closed = h.connect("closed")
        h.subscribe(open, "$share/g/jobs")
        h.subscribe(closed, "$share/g/jobs")
        let pub = h.connect("pub")
        var toOpen = 0
        for n in 0..<4 {
            let actions = h.publish(pub, "jobs", "\(n)")
            #expect(actions.publishes(to: closed).isEmpty)
            toOpen += actions.publishes(to: open).count
        }
        #expect(toOpen == 4)
    }

    @Test func redeliveredMessagesAreCheckedAgainstTheNewAuthorization() {
        let rules = RuleAuthorizer()
        rules.allowAll("pub")
        rules.allowAll("sub")
        let h = BrokerHarness(authorizer: rules)
        let sub = h.connect("sub", sessionExpiry: 600)
        h.subscribe(sub, "t")
        let pub = h.connect("pub")
        #expect(h.publish(pub, "t", "unacked", qos: .atLeastOnce).publishes(to: sub).count == 1)
        h.dropConnection(sub)
        rules.revoke("sub", .receive)
        let back = h.open()
        let resumed = h.send(back, connectPacket("sub", .v5, cleanStart: false, sessionExpiry: 600))
        #expect(resumed.connack(to: back)?.sessionPresent == true)
        #expect(resumed.publishes(to: back).isEmpty)
        #expect(h.broker.session(clientID: "sub")?.inflightCount == 0)
    }

    @Test func aSubscribeFilterIsAuthorizedAsSentIncludingTheSharePrefix() {
        let rules = RuleAuthorizer()
        rules.allow("sub", .connect)
        rules.allow("sub", .subscribe, "$share/g/jobs")
        let h = BrokerHarness(authorizer: rules)
        let sub = h.connect("sub")
        let actions = h.send(sub, .subscribe(SubscribePacket(packetID: 1, subscriptions: [
            TopicSubscription("$share/g/jobs", qos: .atLeastOnce), TopicSubscription("jobs", qos: .atLeastOnce),
        ])))
        #expect(actions.suback(to: sub)?.reasonCodes == [.grantedQoS1, .notAuthorized])
    }

    @Test func aWillIsNotPublishedWhenItsTopicIsNoLongerAllowed() {
        let rules = RuleAuthorizer()
        rules.allowAll("sub")
        rules.allowAll("dev")
        let h = BrokerHarness(authorizer: rules)
        let sub = h.connect("sub")
        h.subscribe(sub, "will/#")
        let dev = h.connect("dev", will: Will(topic: "will/dev", payload: ByteBuffer(string: "gone"), qos: .atMostOnce, retain: false))
        rules.revoke("dev", .publish)
        h.reauthorize()
        let actions = h.dropConnection(dev)
        #expect(actions.publishes(to: sub).filter { $0.topic == "will/dev" }.isEmpty)
        #expect(actions.logs.contains { $0.reason == "AUTHORIZATION_FAILURE" && $0.topicName == "will/dev" })
    }
}
