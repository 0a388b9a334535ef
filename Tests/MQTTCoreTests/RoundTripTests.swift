import NIOCore
import Testing

@testable import MQTTCore

/// decode(encode(p)) == p for every packet type, in 3.1.1 and 5, with every property the codec knows.
@Suite("Round trips")
struct RoundTripTests {
    @Test("decode(encode(packet)) == packet", arguments: Samples.all)
    func roundTrip(_ sample: PacketCase) throws {
        let bytes = try encode(sample.packet, sample.version)
        #expect(bytes.first.map { $0 >> 4 } == sample.packet.type.rawValue)

        var decoder = MQTTPacketDecoder(protocolVersion: sample.version)
        var input = buffer(bytes)
        let decoded = try decoder.decode(from: &input)
        #expect(decoded == sample.packet)
        #expect(input.readableBytes == 0)

        // Encoding is deterministic, so the decoded packet must give back the very same bytes.
        let decodedPacket = try #require(decoded)
        #expect(try encode(decodedPacket, sample.version) == bytes)
    }

    @Test("a server-side decoder learns the protocol version from CONNECT",
          arguments: Samples.all.filter { $0.packet.type == .connect })
    func serverDecoderLearnsVersion(_ sample: PacketCase) throws {
        guard case .connect(let connect) = sample.packet else { return }
        var decoder = MQTTPacketDecoder()
        #expect(decoder.protocolVersion == nil)
        var input = buffer(try encode(sample.packet, sample.version))
        #expect(try decoder.decode(from: &input) == sample.packet)
        #expect(decoder.protocolVersion == connect.protocolVersion)
        #expect(input.readableBytes == 0)
    }

    @Test("after CONNECT a server-side decoder decodes by that version")
    func serverDecoderUsesLearnedVersion() throws {
        // The same bytes mean different things in 3.1.1 and 5: a v5 PUBLISH carries a property length.
        let publish = MQTTPacket.publish(PublishPacket(topic: "t", payload: buffer("p")))
        for (connect, version) in [(minimalConnectV3, ProtocolVersion.v3_1_1), (minimalConnectV5, .v5)] {
            let packets = try decodeAll(connect + encode(publish, version), version: nil)
            #expect(packets.count == 2)
            #expect(packets.last == publish)
        }
        // A 3.1.1 connection hands v5 bytes over with the property length in the payload.
        let misread = try decodeAll(minimalConnectV3 + encode(publish, .v5), version: nil)
        #expect(misread.last == .publish(PublishPacket(topic: "t", payload: buffer([0x00] + Array("p".utf8)))))
    }

    @Test("PUBLISH: encodedSize and encodePublishHeader agree with encode",
          arguments: Samples.all.filter { $0.packet.type == .publish })
    func publishSizeAndHeader(_ sample: PacketCase) throws {
        guard case .publish(let publish) = sample.packet else { return }
        let bytes = try encode(sample.packet, sample.version)
        #expect(MQTTPacketEncoder.encodedSize(of: publish, version: sample.version) == bytes.count)

        var header = ByteBuffer()
        try MQTTPacketEncoder.encodePublishHeader(publish, version: sample.version, into: &header)
        #expect(header.bytes + publish.payload.bytes == bytes)
    }

    @Test("a packet appended to a buffer that already holds bytes leaves them alone")
    func encodeAppends() throws {
        var out = ByteBuffer(bytes: [0xAA, 0xBB])
        try MQTTPacketEncoder.encode(.pingreq, version: .v5, into: &out)
        try MQTTPacketEncoder.encode(.puback(AckPacket(packetID: 1)), version: .v5, into: &out)
        #expect(out.bytes == [0xAA, 0xBB, 0xC0, 0x00, 0x40, 0x02, 0x00, 0x01])
    }

    @Test("user properties keep their order and duplicates, in every packet that carries them")
    func userPropertyOrder() throws {
        let users = [UserProperty("z", "1"), UserProperty("a", "2"), UserProperty("z", "1"), UserProperty("m", "")]
        let publish = MQTTPacket.publish(PublishPacket(
            topic: "t", payload: ByteBuffer(), properties: PublishProperties(userProperties: users)))
        let connack = MQTTPacket.connack(ConnAckPacket(properties: MQTTProperties(userProperties: users)))
        for packet in [publish, connack] {
            let decoded = try decodeOne(try encode(packet, .v5), version: .v5)
            switch decoded {
            case .publish(let p): #expect(p.properties.userProperties == users)
            case .connack(let c): #expect(c.properties.userProperties == users)
            default: Issue.record("unexpected \(decoded)")
            }
        }
    }

    // MARK: version differences

    @Test("3.1.1 CONNACK return codes map to and from reason codes", arguments: [
        (ReasonCode.success, UInt8(0)), (.unsupportedProtocolVersion, 1), (.clientIdentifierNotValid, 2),
        (.serverUnavailable, 3), (.badUserNameOrPassword, 4), (.notAuthorized, 5),
    ])
    func connackReturnCodes(reason: ReasonCode, returnCode: UInt8) throws {
        let packet = MQTTPacket.connack(ConnAckPacket(sessionPresent: false, reasonCode: reason))
        let bytes = try encode(packet, .v3_1_1)
        #expect(bytes == [0x20, 0x02, 0x00, returnCode])
        #expect(try decodeOne(bytes, version: .v3_1_1) == packet)
        #expect(ConnectReturnCode(reason).rawValue == returnCode)
    }

    @Test("MQTT 5 CONNACK reason codes a 3.1.1 client cannot see are mapped to the closest return code", arguments: [
        (ReasonCode.badAuthenticationMethod, ConnectReturnCode.badUserNameOrPassword),
        (.banned, .notAuthorized), (.serverBusy, .serverUnavailable), (.unspecifiedError, .serverUnavailable),
        (.quotaExceeded, .serverUnavailable), (.connectionRateExceeded, .serverUnavailable),
        (.malformedPacket, .serverUnavailable),
    ])
    func connackMappingForV3(reason: ReasonCode, expected: ConnectReturnCode) throws {
        #expect(ConnectReturnCode(reason) == expected)
        let bytes = try encode(.connack(ConnAckPacket(sessionPresent: false, reasonCode: reason)), .v3_1_1)
        #expect(bytes == [0x20, 0x02, 0x00, expected.rawValue])
    }

    @Test("3.1.1 SUBACK turns every failure reason into 0x80")
    func subackFailuresInV3() throws {
        let packet = MQTTPacket.suback(SubAckPacket(
            packetID: 3, reasonCodes: [.grantedQoS1, .notAuthorized, .topicFilterInvalid, .quotaExceeded]))
        let bytes = try encode(packet, .v3_1_1)
        #expect(bytes == [0x90, 0x06, 0x00, 0x03, 0x01, 0x80, 0x80, 0x80])
        #expect(try decodeOne(bytes, version: .v3_1_1)
            == .suback(SubAckPacket(packetID: 3, reasonCodes: [.grantedQoS1, .unspecifiedError, .unspecifiedError,
                                                               .unspecifiedError])))
    }

    @Test("3.1.1 drops what only MQTT 5 can carry")
    func v5OnlyFieldsAreDroppedInV3() throws {
        let publish = PublishPacket(topic: "t", payload: buffer("p"), qos: .atLeastOnce, packetID: 4,
                                    properties: Samples.everyPublishProperty)
        var plain = publish
        plain.properties = .none
        #expect(try decodeOne(try encode(.publish(publish), .v3_1_1), version: .v3_1_1) == .publish(plain))

        let subscribe = SubscribePacket(packetID: 1, subscriptions: [TopicSubscription(
            filter: "a", options: SubscriptionOptions(qos: .atLeastOnce, noLocal: true, retainAsPublished: true,
                                                      retainHandling: .doNotSend))],
                                        properties: MQTTProperties(subscriptionIdentifier: 4))
        #expect(try decodeOne(try encode(.subscribe(subscribe), .v3_1_1), version: .v3_1_1)
            == .subscribe(SubscribePacket(packetID: 1, subscriptions: [TopicSubscription("a", qos: .atLeastOnce)])))

        let ack = AckPacket(packetID: 5, reasonCode: .notAuthorized, properties: MQTTProperties(reasonString: "no"))
        #expect(try encode(.puback(ack), .v3_1_1) == [0x40, 0x02, 0x00, 0x05])

        let unsuback = UnsubAckPacket(packetID: 6, reasonCodes: [.success], properties: MQTTProperties(reasonString: "r"))
        #expect(try encode(.unsuback(unsuback), .v3_1_1) == [0xB0, 0x02, 0x00, 0x06])

        let disconnect = DisconnectPacket(reasonCode: .serverShuttingDown, properties: MQTTProperties(reasonString: "r"))
        #expect(try encode(.disconnect(disconnect), .v3_1_1) == [0xE0, 0x00])
    }

    @Test("a 3.1.1 CONNECT ignores the v5 properties and will properties it cannot carry")
    func v3ConnectDropsProperties() throws {
        let connect = ConnectPacket(
            protocolVersion: .v3_1_1, clientID: "c",
            will: Will(topic: "w", payload: buffer("x"), properties: PublishProperties(contentType: "t"), delayInterval: 5),
            properties: MQTTProperties(sessionExpiryInterval: 10))
        let decoded = try decodeOne(try encode(.connect(connect), .v3_1_1), version: nil)
        #expect(decoded == .connect(ConnectPacket(
            protocolVersion: .v3_1_1, clientID: "c", will: Will(topic: "w", payload: buffer("x")))))
    }

    // MARK: encoder errors

    @Test("AUTH cannot be encoded for 3.1.1")
    func authInV3() {
        let error = #expect(throws: MQTTCodecError.self) { try encode(.auth(AuthPacket()), .v3_1_1) }
        #expect(error?.kind == .protocolError)
    }

    @Test("strings and binary data longer than 65,535 bytes are refused, not truncated")
    func oversizedFields() {
        let long = String(repeating: "x", count: 65_536)
        let packets: [MQTTPacket] = [
            .publish(PublishPacket(topic: long, payload: ByteBuffer())),
            .connect(ConnectPacket(clientID: long)),
            .connect(ConnectPacket(clientID: "c", password: ByteBuffer(repeating: 1, count: 65_536))),
            .subscribe(SubscribePacket(packetID: 1, subscriptions: [TopicSubscription(long, qos: .atMostOnce)])),
            .unsubscribe(UnsubscribePacket(packetID: 1, filters: [long])),
            .disconnect(DisconnectPacket(properties: MQTTProperties(reasonString: long))),
            .connack(ConnAckPacket(properties: MQTTProperties(authenticationData: ByteBuffer(repeating: 0, count: 65_536)))),
        ]
        for packet in packets {
            #expect(throws: MQTTCodecError.self, "\(packet.type)") { try encode(packet, .v5) }
        }
        // 65,535 bytes is the largest that fits.
        let longest = String(repeating: "y", count: 65_535)
        #expect(throws: Never.self) {
            let bytes = try encode(.publish(PublishPacket(topic: longest, payload: ByteBuffer())), .v5)
            #expect(try decodeOne(bytes, version: .v5) == .publish(PublishPacket(topic: longest, payload: ByteBuffer())))
        }
    }

    @Test("a QoS > 0 PUBLISH needs a non-zero packet identifier")
    func publishWithoutPacketID() {
        for id in [nil, UInt16(0)] {
            let publish = PublishPacket(topic: "t", payload: ByteBuffer(), qos: .atLeastOnce, packetID: id)
            #expect(throws: MQTTCodecError.self) { try encode(.publish(publish), .v5) }
        }
    }
}
