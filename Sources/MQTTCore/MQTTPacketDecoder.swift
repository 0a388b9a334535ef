import NIOCore

/// Turns bytes into packets. A parser struct with explicit state (the protocol version once CONNECT is
/// seen); the NIO `ByteToMessageDecoder` adapter only loops it.
///
/// The fixed header is checked against `maximumPacketSize` before a single byte of the body is waited
/// for, so a peer can never make the receiver buffer more than that limit.
public struct MQTTPacketDecoder: Sendable {
    /// nil until a CONNECT has been decoded (server side); set at creation on the client side.
    public var protocolVersion: ProtocolVersion?
    /// The largest whole packet (fixed header included) accepted, in bytes.
    public var maximumPacketSize: Int

    public init(protocolVersion: ProtocolVersion? = nil, maximumPacketSize: Int = maximumVariableByteInteger + 5) {
        self.protocolVersion = protocolVersion
        self.maximumPacketSize = maximumPacketSize
    }

    /// Decodes one packet from the front of `buffer` if a whole one is there. Returns nil, consuming
    /// nothing, if more bytes are needed. Throws as soon as the bytes seen so far cannot become a valid
    /// packet; the buffer is then left as it was and the connection must be closed.
    public mutating func decode(from buffer: inout ByteBuffer) throws(MQTTCodecError) -> MQTTPacket? {
        // The first byte alone can condemn a packet: refuse it before waiting for (and buffering) a body.
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
        try checkFirstByte(first)
        guard let header = try Self.peekFixedHeader(buffer) else { return nil }
        let total = header.headerLength + header.remainingLength
        guard total <= maximumPacketSize else {
            throw .packetTooLarge("packet of \(total) bytes exceeds the maximum of \(maximumPacketSize)")
        }
        guard buffer.readableBytes >= total else { return nil }

        var body = buffer.getSlice(at: buffer.readerIndex + header.headerLength, length: header.remainingLength)!
        let packet = try decodeBody(firstByte: header.firstByte, body: &body)
        buffer.moveReaderIndex(forwardBy: total)
        return packet
    }

    /// Packet type and fixed-header flags, checked as soon as the first byte arrives.
    func checkFirstByte(_ byte: UInt8) throws(MQTTCodecError) {
        guard let type = PacketType(rawValue: byte >> 4) else { throw .malformed("reserved packet type 0") }
        guard let version = protocolVersion else {
            guard type == .connect else { throw .protocolError("the first packet must be CONNECT") }
            try requireFlags(byte & 0x0F, 0, type)
            return
        }
        let flags = byte & 0x0F
        switch type {
        case .publish:
            guard (flags >> 1) & 0x03 != 3 else { throw .malformed("PUBLISH with QoS 3") }
        case .pubrel, .subscribe, .unsubscribe:
            try requireFlags(flags, 2, type)
        case .auth:
            guard version == .v5 else { throw .malformed("packet type 15 is reserved in MQTT 3.1.1") }
            try requireFlags(flags, 0, type)
        default:
            try requireFlags(flags, 0, type)
        }
    }

    struct FixedHeader {
        var firstByte: UInt8
        var remainingLength: Int
        var headerLength: Int
    }

    /// Reads the fixed header without consuming it; nil if it is not complete yet.
    static func peekFixedHeader(_ buffer: ByteBuffer) throws(MQTTCodecError) -> FixedHeader? {
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
        var value = 0
        var multiplier = 1
        for i in 1...4 {
            guard let byte = buffer.getInteger(at: buffer.readerIndex + i, as: UInt8.self) else { return nil }
            value += Int(byte & 0x7F) * multiplier
            if byte & 0x80 == 0 {
                // Spec 1.5.5: the encoding must use the fewest bytes; a trailing 0x00 means it did not.
                guard byte != 0 || i == 1 else { throw .malformed("non-minimal remaining length encoding") }
                return FixedHeader(firstByte: first, remainingLength: value, headerLength: 1 + i)
            }
            multiplier *= 128
        }
        throw .malformed("remaining length longer than 4 bytes")
    }

    mutating func decodeBody(firstByte: UInt8, body: inout ByteBuffer) throws(MQTTCodecError) -> MQTTPacket {
        guard let type = PacketType(rawValue: firstByte >> 4) else {
            throw .malformed("reserved packet type 0")
        }
        let flags = firstByte & 0x0F

        guard let version = protocolVersion else {
            guard type == .connect else { throw .protocolError("the first packet must be CONNECT") }
            try requireFlags(flags, 0, type)
            let connect = try decodeConnect(&body)
            guard body.readableBytes == 0 else {
                throw .malformed("\(body.readableBytes) unexpected bytes at the end of CONNECT")
            }
            protocolVersion = connect.protocolVersion
            return .connect(connect)
        }
        let v5 = version == .v5

        let packet: MQTTPacket
        switch type {
        case .connect:
            try requireFlags(flags, 0, type)
            packet = .connect(try decodeConnect(&body))
        case .connack:
            try requireFlags(flags, 0, type)
            packet = .connack(try decodeConnAck(&body, v5: v5))
        case .publish:
            return .publish(try decodePublish(flags: flags, &body, v5: v5))
        case .puback:
            try requireFlags(flags, 0, type)
            packet = .puback(try decodeAck(&body, v5: v5))
        case .pubrec:
            try requireFlags(flags, 0, type)
            packet = .pubrec(try decodeAck(&body, v5: v5))
        case .pubrel:
            try requireFlags(flags, 2, type)
            packet = .pubrel(try decodeAck(&body, v5: v5))
        case .pubcomp:
            try requireFlags(flags, 0, type)
            packet = .pubcomp(try decodeAck(&body, v5: v5))
        case .subscribe:
            try requireFlags(flags, 2, type)
            packet = .subscribe(try decodeSubscribe(&body, v5: v5))
        case .suback:
            try requireFlags(flags, 0, type)
            packet = .suback(try decodeSubAck(&body, v5: v5))
        case .unsubscribe:
            try requireFlags(flags, 2, type)
            packet = .unsubscribe(try decodeUnsubscribe(&body, v5: v5))
        case .unsuback:
            try requireFlags(flags, 0, type)
            packet = .unsuback(try decodeUnsubAck(&body, v5: v5))
        case .pingreq:
            try requireFlags(flags, 0, type)
            packet = .pingreq
        case .pingresp:
            try requireFlags(flags, 0, type)
            packet = .pingresp
        case .disconnect:
            try requireFlags(flags, 0, type)
            packet = .disconnect(try decodeDisconnect(&body, v5: v5))
        case .auth:
            guard v5 else { throw .malformed("packet type 15 is reserved in MQTT 3.1.1") }
            try requireFlags(flags, 0, type)
            packet = .auth(try decodeAuth(&body))
        }
        guard body.readableBytes == 0 else {
            throw .malformed("\(body.readableBytes) unexpected bytes at the end of \(type)")
        }
        return packet
    }

    private func requireFlags(_ flags: UInt8, _ expected: UInt8, _ type: PacketType) throws(MQTTCodecError) {
        guard flags == expected else { throw .malformed("invalid fixed header flags for \(type)") }
    }

    // MARK: properties

    static func decodeProperties<Sink: PropertySink>(
        _ body: inout ByteBuffer, context: PropertyContext, into sink: inout Sink
    ) throws(MQTTCodecError) {
        let length = try body.readMQTTVariableByteInteger()
        guard var properties = body.readSlice(length: length) else {
            throw .malformed("property length exceeds the packet")
        }
        var seen: UInt64 = 0
        while properties.readableBytes > 0 {
            let rawID = try properties.readMQTTVariableByteInteger()
            guard rawID < 64, let id = PropertyIdentifier(rawValue: UInt8(rawID)) else {
                throw .malformed("unknown property identifier 0x\(String(rawID, radix: 16))")
            }
            guard id.isAllowed(in: context) else {
                throw .malformed("property \(id) is not allowed in \(context)")
            }
            let repeatable = id == .userProperty || (id == .subscriptionIdentifier && context == .publish)
            if !repeatable {
                guard seen & (1 << rawID) == 0 else { throw .protocolError("property \(id) appears twice") }
                seen |= 1 << rawID
            }
            let value: PropertyValue
            switch id.dataType {
            case .byte: value = .byte(try properties.readMQTTByte())
            case .twoByteInteger: value = .twoByte(try properties.readMQTTUInt16())
            case .fourByteInteger: value = .fourByte(try properties.readMQTTUInt32())
            case .variableByteInteger: value = .variableByte(UInt32(try properties.readMQTTVariableByteInteger()))
            case .utf8String: value = .string(try properties.readMQTTString())
            case .binaryData: value = .binary(try properties.readMQTTBinary())
            case .utf8StringPair:
                let name = try properties.readMQTTString()
                value = .stringPair(name, try properties.readMQTTString())
            }
            try sink.set(id, value)
        }
    }

    static func decodeProperties(_ body: inout ByteBuffer, context: PropertyContext) throws(MQTTCodecError)
        -> MQTTProperties
    {
        var properties = MQTTProperties()
        try decodeProperties(&body, context: context, into: &properties)
        return properties
    }

    // MARK: packets

    func decodeConnect(_ body: inout ByteBuffer) throws(MQTTCodecError) -> ConnectPacket {
        let name = try body.readMQTTString()
        let level = try body.readMQTTByte()
        let version: ProtocolVersion
        switch (name, level) {
        case ("MQTT", 4): version = .v3_1_1
        case ("MQTT", 5): version = .v5
        case ("MQIsdp", 3): version = .v3_1
        case ("MQTT", _), ("MQIsdp", _):
            throw .init(.unsupportedProtocolVersion, "protocol level \(level) is not supported")
        default:
            throw .malformed("unknown protocol name")
        }
        let v5 = version == .v5
        let flags = try body.readMQTTByte()
        guard flags & 0x01 == 0 else { throw .malformed("CONNECT reserved flag is set") }
        let hasUsername = flags & 0x80 != 0
        let hasPassword = flags & 0x40 != 0
        let willRetain = flags & 0x20 != 0
        let willQoSBits = (flags >> 3) & 0x03
        let hasWill = flags & 0x04 != 0
        let cleanStart = flags & 0x02 != 0
        guard willQoSBits != 3 else { throw .malformed("Will QoS 3") }
        if !hasWill && (willQoSBits != 0 || willRetain) {
            throw .malformed("Will QoS or Will Retain set without a Will")
        }
        if !v5 && hasPassword && !hasUsername {
            throw .malformed("password without user name")
        }
        let keepAlive = try body.readMQTTUInt16()
        let properties = v5 ? try Self.decodeProperties(&body, context: .connect) : .none
        if properties.authenticationData != nil && properties.authenticationMethod == nil {
            throw .protocolError("Authentication Data without an Authentication Method")
        }
        let clientID = try body.readMQTTString()

        var will: Will?
        if hasWill {
            var willProperties = WillPropertySink()
            if v5 { try Self.decodeProperties(&body, context: .will, into: &willProperties) }
            let topic = try body.readMQTTString()
            let payload = try body.readMQTTBinary()
            will = Will(
                topic: topic, payload: payload, qos: QoS(rawValue: willQoSBits)!, retain: willRetain,
                properties: willProperties.properties, delayInterval: willProperties.willDelayInterval
            )
        }
        let username = hasUsername ? try body.readMQTTString() : nil
        let password = hasPassword ? try body.readMQTTBinary() : nil
        return ConnectPacket(
            protocolVersion: version, cleanStart: cleanStart, keepAlive: keepAlive, clientID: clientID,
            will: will, username: username, password: password, properties: properties
        )
    }

    func decodeConnAck(_ body: inout ByteBuffer, v5: Bool) throws(MQTTCodecError) -> ConnAckPacket {
        let flags = try body.readMQTTByte()
        guard flags & 0xFE == 0 else { throw .malformed("CONNACK reserved flags set") }
        let code = try body.readMQTTByte()
        if v5 {
            let properties = body.readableBytes > 0 ? try Self.decodeProperties(&body, context: .connack) : .none
            return ConnAckPacket(sessionPresent: flags == 1, reasonCode: ReasonCode(code), properties: properties)
        }
        let reason: ReasonCode
        switch ConnectReturnCode(rawValue: code) {
        case .accepted: reason = .success
        case .unacceptableProtocolVersion: reason = .unsupportedProtocolVersion
        case .identifierRejected: reason = .clientIdentifierNotValid
        case .serverUnavailable: reason = .serverUnavailable
        case .badUserNameOrPassword: reason = .badUserNameOrPassword
        case .notAuthorized: reason = .notAuthorized
        case nil: throw .malformed("unknown CONNACK return code \(code)")
        }
        return ConnAckPacket(sessionPresent: flags == 1, reasonCode: reason)
    }

    func decodePublish(flags: UInt8, _ body: inout ByteBuffer, v5: Bool) throws(MQTTCodecError) -> PublishPacket {
        guard let qos = QoS(rawValue: (flags >> 1) & 0x03) else { throw .malformed("PUBLISH with QoS 3") }
        let dup = flags & 0x08 != 0
        guard !(dup && qos == .atMostOnce) else { throw .malformed("DUP set on a QoS 0 PUBLISH") }
        let topic = try body.readMQTTString()
        var packetID: UInt16?
        if qos != .atMostOnce {
            let id = try body.readMQTTUInt16()
            guard id != 0 else { throw .protocolError("packet identifier 0") }
            packetID = id
        }
        var properties = PublishProperties()
        if v5 { try Self.decodeProperties(&body, context: .publish, into: &properties) }
        return PublishPacket(
            topic: topic, payload: body, qos: qos, retain: flags & 0x01 != 0, dup: dup, packetID: packetID,
            properties: properties
        )
    }

    func decodeAck(_ body: inout ByteBuffer, v5: Bool) throws(MQTTCodecError) -> AckPacket {
        let packetID = try body.readMQTTUInt16()
        guard packetID != 0 else { throw .protocolError("packet identifier 0") }
        guard v5, body.readableBytes > 0 else { return AckPacket(packetID: packetID) }
        let reason = ReasonCode(try body.readMQTTByte())
        let properties = body.readableBytes > 0 ? try Self.decodeProperties(&body, context: .puback) : .none
        return AckPacket(packetID: packetID, reasonCode: reason, properties: properties)
    }

    func decodeSubscribe(_ body: inout ByteBuffer, v5: Bool) throws(MQTTCodecError) -> SubscribePacket {
        let packetID = try body.readMQTTUInt16()
        guard packetID != 0 else { throw .protocolError("packet identifier 0") }
        let properties = v5 ? try Self.decodeProperties(&body, context: .subscribe) : .none
        var subscriptions: [TopicSubscription] = []
        while body.readableBytes > 0 {
            let filter = try body.readMQTTString()
            // [MQTT-4.7.3-1]: topic filters are at least one character long. MQTT 5 can refuse one filter
            // (SUBACK 0x8F, the broker's business); 3.1.1 has no code for it, so the packet is Malformed.
            guard v5 || !filter.isEmpty else { throw .malformed("zero-length topic filter in SUBSCRIBE") }
            let options = try body.readMQTTByte()
            guard let qos = QoS(rawValue: options & 0x03) else { throw .malformed("subscription QoS 3") }
            if v5 {
                guard options & 0xC0 == 0 else { throw .malformed("reserved subscription option bits set") }
                guard let handling = RetainHandling(rawValue: (options >> 4) & 0x03) else {
                    throw .protocolError("Retain Handling 3")
                }
                subscriptions.append(TopicSubscription(filter: filter, options: SubscriptionOptions(
                    qos: qos, noLocal: options & 0x04 != 0, retainAsPublished: options & 0x08 != 0,
                    retainHandling: handling)))
            } else {
                guard options & 0xFC == 0 else { throw .malformed("reserved subscription option bits set") }
                subscriptions.append(TopicSubscription(filter, qos: qos))
            }
        }
        guard !subscriptions.isEmpty else { throw .protocolError("SUBSCRIBE without topic filters") }
        return SubscribePacket(packetID: packetID, subscriptions: subscriptions, properties: properties)
    }

    func decodeSubAck(_ body: inout ByteBuffer, v5: Bool) throws(MQTTCodecError) -> SubAckPacket {
        let packetID = try body.readMQTTUInt16()
        let properties = v5 ? try Self.decodeProperties(&body, context: .subscribeAck) : .none
        var codes: [ReasonCode] = []
        codes.reserveCapacity(body.readableBytes)
        while body.readableBytes > 0 {
            let code = try body.readMQTTByte()
            if !v5 && !(code <= 2 || code == 0x80) { throw .malformed("invalid SUBACK return code \(code)") }
            codes.append(ReasonCode(code))
        }
        return SubAckPacket(packetID: packetID, reasonCodes: codes, properties: properties)
    }

    func decodeUnsubscribe(_ body: inout ByteBuffer, v5: Bool) throws(MQTTCodecError) -> UnsubscribePacket {
        let packetID = try body.readMQTTUInt16()
        guard packetID != 0 else { throw .protocolError("packet identifier 0") }
        let properties = v5 ? try Self.decodeProperties(&body, context: .unsubscribe) : .none
        var filters: [String] = []
        while body.readableBytes > 0 {
            let filter = try body.readMQTTString()
            guard v5 || !filter.isEmpty else { throw .malformed("zero-length topic filter in UNSUBSCRIBE") }
            filters.append(filter)
        }
        guard !filters.isEmpty else { throw .protocolError("UNSUBSCRIBE without topic filters") }
        return UnsubscribePacket(packetID: packetID, filters: filters, properties: properties)
    }

    func decodeUnsubAck(_ body: inout ByteBuffer, v5: Bool) throws(MQTTCodecError) -> UnsubAckPacket {
        let packetID = try body.readMQTTUInt16()
        guard v5 else { return UnsubAckPacket(packetID: packetID) }
        let properties = try Self.decodeProperties(&body, context: .unsubscribeAck)
        var codes: [ReasonCode] = []
        while body.readableBytes > 0 { codes.append(ReasonCode(try body.readMQTTByte())) }
        return UnsubAckPacket(packetID: packetID, reasonCodes: codes, properties: properties)
    }

    func decodeDisconnect(_ body: inout ByteBuffer, v5: Bool) throws(MQTTCodecError) -> DisconnectPacket {
        guard v5, body.readableBytes > 0 else { return DisconnectPacket() }
        let reason = ReasonCode(try body.readMQTTByte())
        let properties = body.readableBytes > 0 ? try Self.decodeProperties(&body, context: .disconnect) : .none
        return DisconnectPacket(reasonCode: reason, properties: properties)
    }

    func decodeAuth(_ body: inout ByteBuffer) throws(MQTTCodecError) -> AuthPacket {
        guard body.readableBytes > 0 else { return AuthPacket() }
        let reason = ReasonCode(try body.readMQTTByte())
        let properties = body.readableBytes > 0 ? try Self.decodeProperties(&body, context: .auth) : .none
        return AuthPacket(reasonCode: reason, properties: properties)
    }
}
