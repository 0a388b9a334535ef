import Broker
import DeviceIdentity
import Foundation
import MQTTCore
import NIOCore
import PortcullisServer
import PortcullisTesting
import Registry
import Testing

/// IoT policies enforced by the real server: documents from the registry, compiled per connection,
/// re-evaluated on live connections when the registry changes.
@Suite("Live IoT policy enforcement", .serialized)
struct LivePolicyTests {
    static let arn = "arn:aws:iot:us-east-1:123456789012"

    /// Connect as the thing name; publish, subscribe and receive under `<thing>/` only.
    static let thingScoped = #"""
        {"Version":"2012-10-17","Statement":[
         {"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}"},
         {"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":"arn:aws:iot:us-east-1:123456789012:topic/${iot:Connection.Thing.ThingName}/*"},
         {"Effect":"Allow","Action":"iot:Subscribe","Resource":"arn:aws:iot:us-east-1:123456789012:topicfilter/${iot:Connection.Thing.ThingName}/*"}]}
        """#

    func makeThing(_ live: LiveServer, _ name: String, credential: IssuedCredential, attributes: [String: String] = [:]) async throws {
        let id = credential.certificateID
        let now = Date().timeIntervalSince1970
        try await live.server.registry.perform { state throws(RegistryError) in
            _ = try state.createThing(name: name, thingTypeName: nil, attributes: attributes, now: now)
            try state.attachThingPrincipal(thingName: name, principal: state.arns.certificate(id), type: .nonExclusive)
        }
    }

    @Test(arguments: [ProtocolVersion.v5, .v3_1_1])
    func aThingScopedPolicyAllowsOnlyItsOwnClientIDAndTopics(version: ProtocolVersion) async throws {
        try await LiveServer.with { live in
            try await live.setPolicy("scoped", document: Self.thingScoped)
            let credential = try live.pki.device("lamp")
            try await live.register(credential, policy: "scoped")
            try await makeThing(live, "lamp", credential: credential)

            // Another client id with the same certificate: Connect is denied, and the log says why.
            let wrong = try await live.client("lamp", version: version, credential: credential, register: false)
            #expect(try await wrong.connect(clientID: "not-lamp").reasonCode == .notAuthorized)
            let refusal = await live.events.waitFor { $0.eventType == .connect && $0.reason == "AUTHORIZATION_FAILURE" }
            #expect(refusal?.details?.contains("client/not-lamp") == true)
            #expect(refusal?.details?.contains("(no value for ${iot:Connection.Thing.ThingName})") == true)

            let lamp = try await live.client("lamp", version: version, credential: credential, register: false)
            #expect(try await lamp.connect(clientID: "lamp").reasonCode == .success)
            let granted = try await lamp.subscribe([TopicSubscription("lamp/#", qos: .atLeastOnce), TopicSubscription("other/#", qos: .atLeastOnce)])
            // MQTT 5 hears 0x87 for the denied filter, 3.1.1 its only failure code 0x80.
            #expect(granted.reasonCodes == [.grantedQoS1, version == .v5 ? .notAuthorized : .unspecifiedError])
            #expect(try await lamp.publish("lamp/state", "on", qos: .atLeastOnce)?.reasonCode == .success)
            #expect(try await lamp.nextPublish().topic == "lamp/state")
            if version == .v5 {
                let denied = try await lamp.publish("other/state", "on", qos: .atLeastOnce)
                #expect(denied?.reasonCode == .notAuthorized)
                #expect(denied?.properties.reasonString?.contains("policy") == true || denied?.properties.reasonString?.contains("statement") == true)
                let log = await live.events.waitFor { $0.eventType == .publishIn && $0.reason == "AUTHORIZATION_FAILURE" }
                #expect(log?.details?.contains("\(Self.arn):topic/other/state") == true)
            } else {
                try await lamp.publish("other/state", "on")
                #expect(try await lamp.waitForClose().isEmpty)
            }
        }
    }

    @Test func aNewDefaultVersionAppliesToLiveConnectionsAtOnce() async throws {
        try await LiveServer.with { live in
            let allowAll = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#
            try await live.setPolicy("changing", document: allowAll)
            let subscriber = try live.pki.device("watcher")
            try await live.register(subscriber, policy: "changing")
            let watcher = try await live.client("watcher", credential: subscriber, register: false)
            #expect(try await watcher.connect(clientID: "watcher").reasonCode == .success)
            try await watcher.subscribe("news/#")
            try await watcher.subscribe("alerts/#", packetID: 2)
            let (publisher, _) = try await live.connectedClient("publisher")
            try await publisher.publish("news/1", "one", qos: .atLeastOnce)
            #expect(try await watcher.nextPublish().text == "one")

            // Receive denied on news/*, Subscribe allowed only on alerts/#: news stops at once, the
            // news subscription is removed, alerts keep flowing.
            try await live.setPolicy("changing", document: #"""
                {"Version":"2012-10-17","Statement":[
                 {"Effect":"Allow","Action":["iot:Connect","iot:Publish","iot:Receive"],"Resource":"*"},
                 {"Effect":"Allow","Action":"iot:Subscribe","Resource":"\#(Self.arn):topicfilter/alerts/*"},
                 {"Effect":"Deny","Action":"iot:Receive","Resource":"\#(Self.arn):topic/news/*"}]}
                """#)
            let removed = await live.events.waitFor { $0.eventType == .subscribe && $0.reason == "AUTHORIZATION_FAILURE" && $0.clientID == "watcher" }
            #expect(removed?.topicName == "news/#")
            try await publisher.publish("news/2", "two", qos: .atLeastOnce)
            try await publisher.publish("alerts/1", "fire", qos: .atLeastOnce)
            #expect(try await watcher.nextPublish().text == "fire")

            // Connect no longer allowed: disconnected with 0x87 within a second.
            try await live.setPolicy("changing", document: #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Receive","Resource":"*"}]}"#)
            let packets = try await watcher.waitForClose()
            guard case .disconnect(let disconnect) = packets.last else {
                Issue.record("expected DISCONNECT, got \(packets)")
                return
            }
            #expect(disconnect.reasonCode == .notAuthorized)
            let log = await live.events.waitFor { $0.eventType == .disconnect && $0.clientID == "watcher" }
            #expect(log?.reason == "AUTHORIZATION_FAILURE")
            #expect(log?.disconnectReason == "AUTH_ERROR")
            // The publisher, with another policy, is untouched.
            #expect(try await publisher.publish("news/3", "three", qos: .atLeastOnce)?.reasonCode == .success)
        }
    }

    @Test func detachingThePolicyDisconnectsAndAThingAttributeChangeIsSeen() async throws {
        try await LiveServer.with { live in
            try await live.setPolicy("by-floor", document: #"""
                {"Version":"2012-10-17","Statement":[
                 {"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"StringEquals":{"iot:Connection.Thing.Attributes[floor]":"3"}}},
                 {"Effect":"Allow","Action":"iot:Publish","Resource":"\#(Self.arn):topic/floor/${iot:Connection.Thing.Attributes[floor]}/*"}]}
                """#)
            let credential = try live.pki.device("sensor")
            try await live.register(credential, policy: "by-floor")
            try await makeThing(live, "sensor", credential: credential, attributes: ["floor": "3"])
            let sensor = try await live.client("sensor", credential: credential, register: false)
            #expect(try await sensor.connect(clientID: "sensor").reasonCode == .success)
            #expect(try await sensor.publish("floor/3/temp", "21", qos: .atLeastOnce)?.reasonCode == .success)
            #expect(try await sensor.publish("floor/4/temp", "21", qos: .atLeastOnce, packetID: 2)?.reasonCode == .notAuthorized)

            // Moved to floor 4: the condition no longer holds, so the client is disconnected.
            try await live.server.registry.perform { state throws(RegistryError) in
                try state.updateThing(name: "sensor", thingTypeName: nil, removeThingType: false, attributes: ["floor": "4"], merge: true, expectedVersion: nil)
            }
            let packets = try await sensor.waitForClose()
            #expect(packets.last.map { if case .disconnect(let d) = $0 { d.reasonCode == .notAuthorized } else { false } } == true)

            // Back on floor 3 it connects again; detaching the policy disconnects it.
            try await live.server.registry.perform { state throws(RegistryError) in
                try state.updateThing(name: "sensor", thingTypeName: nil, removeThingType: false, attributes: ["floor": "3"], merge: true, expectedVersion: nil)
            }
            let again = try await live.client("sensor", credential: credential, register: false)
            #expect(try await again.connect(clientID: "sensor").reasonCode == .success)
            try await live.attach("by-floor", to: credential, detach: true)
            #expect(try await again.waitForClose().last.map { if case .disconnect = $0 { true } else { false } } == true)
        }
    }

    @Test func thingGroupPoliciesApplyWhenTheClientIDIsTheThingName() async throws {
        try await LiveServer.with { live in
            try await live.setPolicy("group-policy", document: #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iot:Connect","iot:Publish"],"Resource":"*"}]}"#)
            let credential = try live.pki.device("member")
            try await live.register(credential, policy: nil)
            try await makeThing(live, "member", credential: credential)
            let now = Date().timeIntervalSince1970
            try await live.server.registry.perform { state throws(RegistryError) in
                _ = try state.createThingGroup(name: "parent", parentName: nil, description: nil, attributes: [:], now: now)
                _ = try state.createThingGroup(name: "child", parentName: "parent", description: nil, attributes: [:], now: now)
                try state.attachPolicy(name: "group-policy", target: state.arns.thingGroup("parent"))
            }
            let before = try await live.client("member", credential: credential, register: false)
            #expect(try await before.connect(clientID: "member").reasonCode == .notAuthorized)
            try await live.server.registry.perform { state throws(RegistryError) in
                try state.addThingToThingGroup(thingName: "member", groupName: "child")
            }
            // The ancestor's policy applies, but only with the thing name as client id.
            let other = try await live.client("member", credential: credential, register: false)
            #expect(try await other.connect(clientID: "someone-else").reasonCode == .notAuthorized)
            let member = try await live.client("member", credential: credential, register: false)
            #expect(try await member.connect(clientID: "member").reasonCode == .success)
            #expect(try await member.publish("any/topic", "x", qos: .atLeastOnce)?.reasonCode == .success)
        }
    }
}

extension PublishPacket {
    var text: String { String(buffer: payload) }
}

@Suite("Live IoT policy enforcement: iot:DomainName", .serialized)
struct LiveDomainNameTests {
    @Test func theSNIHostNameIsIotDomainName() async throws {
        try await LiveServer.with(configure: { $0.serverHostNames.append("gw.example") }) { live in
            try await live.setPolicy("by-domain", document: #"""
                {"Version":"2012-10-17","Statement":[
                 {"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"StringEquals":{"iot:DomainName":["gw.example","localhost"]}}},
                 {"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/${iot:DomainName}/*"}]}
                """#)
            let credential = try live.pki.device("sni")
            try await live.register(credential, policy: "by-domain")
            let viaExample = try await MQTTTestClient.open(port: live.port, caPEM: live.caPEM, credential: credential, serverHostname: "gw.example")
            #expect(try await viaExample.connect(clientID: "sni-1").reasonCode == .success)
            #expect(try await viaExample.publish("gw.example/t", "x", qos: .atLeastOnce)?.reasonCode == .success)
            #expect(try await viaExample.publish("localhost/t", "x", qos: .atLeastOnce, packetID: 2)?.reasonCode == .notAuthorized)
            let viaLocalhost = try await MQTTTestClient.open(port: live.port, caPEM: live.caPEM, credential: credential, serverHostname: "localhost")
            #expect(try await viaLocalhost.connect(clientID: "sni-2").reasonCode == .success)
            #expect(try await viaLocalhost.publish("localhost/t", "x", qos: .atLeastOnce)?.reasonCode == .success)
            // Without the domain the policy names, Connect is denied.
            try await live.setPolicy("by-domain", document: #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"StringEquals":{"iot:DomainName":"gw.example"}}}]}"#)
            let refused = try await MQTTTestClient.open(port: live.port, caPEM: live.caPEM, credential: credential, serverHostname: "localhost")
            #expect(try await refused.connect(clientID: "sni-3").reasonCode == .notAuthorized)
            // The change also applied to the live localhost connection.
            #expect(try await viaLocalhost.waitForClose().last.map { if case .disconnect = $0 { true } else { false } } == true)
        }
    }
}
