import NIOCore
import Testing

@testable import MQTTCore

/// Regression tests for codec bugs these suites found (each was fixed in the source).
@Suite("Codec regressions")
struct CodecRegressionTests {
    @Test("a server-side decoder rejects bytes after the end of the first CONNECT")
    func trailingBytesAfterFirstConnect() {
        // A valid 3.1.1 CONNECT (client id "a") with one extra byte inside its remaining length.
        let bytes = rawPacket(0x10, connectHeader(level: 4, flags: 0x02) + str("a") + [0x00])
        #expect(bytes == [0x10, 0x0E, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3C, 0x00, 0x01, 0x61, 0x00])
        // A decoder that already knows the version rejects it, as it does every other packet type...
        #expect(decodeError(bytes, version: .v3_1_1)?.kind == .malformedPacket)
        // ...and so does a fresh server-side decoder for the first CONNECT.
        #expect(decodeError(bytes, version: nil)?.kind == .malformedPacket)
        let v5 = rawPacket(0x10, connectHeader(level: 5, flags: 0x02) + [0x00] + str("a") + [0xFF, 0xFF])
        #expect(decodeError(v5, version: nil)?.kind == .malformedPacket)
    }

    @Test("a PUBLISH the encoder refuses leaves nothing in the output buffer")
    func publishEncodeErrorIsAtomic() {
        // Every other packet is built in a scratch buffer, so a refused packet writes nothing; PUBLISH writes
        // the fixed header and topic before checking the packet identifier.
        let ok = MQTTPacket.pingreq
        let bad = MQTTPacket.publish(PublishPacket(topic: "a/b", payload: buffer("p"), qos: .atLeastOnce, packetID: nil))
        var out = ByteBuffer()
        #expect(throws: MQTTCodecError.self) {
            try MQTTPacketEncoder.encode(ok, version: .v5, into: &out)
            try MQTTPacketEncoder.encode(bad, version: .v5, into: &out)
        }
        #expect(out.bytes == [0xC0, 0x00])

        // The same for an over-long user property, found only while writing the properties.
        var out2 = ByteBuffer()
        let longProperty = MQTTPacket.publish(PublishPacket(topic: "t", payload: ByteBuffer(), properties: PublishProperties(
            userProperties: [UserProperty(String(repeating: "k", count: 65_536), "v")])))
        #expect(throws: MQTTCodecError.self) { try MQTTPacketEncoder.encode(longProperty, version: .v5, into: &out2) }
        #expect(out2.readableBytes == 0)
    }

    @Test("the encoder throws, not traps, on a subscription identifier above 268,435,455")
    func oversizedSubscriptionIdentifier() async {
        // writeMQTTVariableByteInteger has a precondition; an out-of-range UInt32 from the broker kills the
        // process instead of failing one encode. Run in a child process so the trap cannot take the suite down.
        await #expect(processExitsWith: .success) {
            var out = ByteBuffer()
            let publish = PublishPacket(topic: "t", payload: ByteBuffer(), properties: PublishProperties(
                subscriptionIdentifiers: [268_435_456]))
            _ = try? MQTTPacketEncoder.encode(.publish(publish), version: .v5, into: &out)
            let subscribe = SubscribePacket(packetID: 1, subscriptions: [TopicSubscription("a", qos: .atMostOnce)],
                                            properties: MQTTProperties(subscriptionIdentifier: .max))
            _ = try? MQTTPacketEncoder.encode(.subscribe(subscribe), version: .v5, into: &out)
        }
    }

    @Test("a fresh server decoder rejects a non-CONNECT first packet from its first byte")
    func earlyRejectionBeforeConnect() {
        // decode(from:) documents "Throws as soon as the bytes seen so far cannot become a valid packet", but
        // the packet type and flags are only checked once the whole body has arrived. Before CONNECT, a peer
        // can announce a PUBLISH of up to maximumPacketSize (default 256 MiB) and the server waits for it.
        let header: [UInt8] = [0x30, 0xFF, 0xFF, 0x7F]  // a 2 MiB PUBLISH, header only
        #expect(decodeError(header, version: nil)?.kind == .protocolError)
        #expect(decodeError([0x00], version: .v5)?.kind == .malformedPacket)  // reserved type 0
        #expect(decodeError([0x80, 0x7F], version: .v5)?.kind == .malformedPacket)  // wrong SUBSCRIBE flags
    }

    @Test("non-minimal variable byte integers are malformed (spec 1.5.5)")
    func nonMinimalVariableByteIntegers() {
        // PINGREQ with remaining length 0 encoded in two bytes.
        #expect(decodeError([0xC0, 0x80, 0x00], version: .v5)?.kind == .malformedPacket)
        // A v5 PUBACK whose property length 0 is encoded as 80 00.
        #expect(decodeError([0x40, 0x05, 0x00, 0x01, 0x00, 0x80, 0x00], version: .v5)?.kind == .malformedPacket)
        // The minimal forms still decode.
        #expect(decodeError([0xC0, 0x00], version: .v5) == nil)
    }

    @Test("Authentication Data without an Authentication Method is a protocol error")
    func authenticationDataWithoutMethod() {
        let bytes = rawPacket(0x10, connectHeader(level: 5, flags: 0x02) + props([0x16] + str("xx")) + str("a"))
        #expect(decodeError(bytes, version: nil)?.kind == .protocolError)
    }
}
