import NIOCore

/// Turns packets into bytes for a given protocol version.
///
/// PUBLISH is sized exactly up front so its payload is copied once (or not at all, with
/// `encodePublishHeader`, when the caller hands the payload to the channel as a second buffer). The
/// other packets are small and are built in a scratch buffer.
public enum MQTTPacketEncoder {
    public static func encode(
        _ packet: MQTTPacket, version: ProtocolVersion, into buffer: inout ByteBuffer
    ) throws(MQTTCodecError) {
        let v5 = version == .v5
        switch packet {
        case .publish(let publish):
            try encodePublishHeader(publish, version: version, into: &buffer)
            buffer.writeImmutableBuffer(publish.payload)
            return
        case .pingreq:
            buffer.writeBytes([0xC0, 0x00])
            return
        case .pingresp:
            buffer.writeBytes([0xD0, 0x00])
            return
        default:
            break
        }

        var body = ByteBuffer()
        let firstByte: UInt8
        switch packet {
        case .connect(let connect):
            firstByte = 0x10
            try writeConnect(connect, into: &body)
        case .connack(let connack):
            firstByte = 0x20
            body.writeInteger(UInt8(connack.sessionPresent ? 1 : 0))
            if v5 {
                body.writeInteger(connack.reasonCode.rawValue)
                try writeProperties(connack.properties, into: &body)
            } else {
                body.writeInteger(ConnectReturnCode(connack.reasonCode).rawValue)
            }
        case .puback(let ack): firstByte = 0x40; try writeAck(ack, v5: v5, into: &body)
        case .pubrec(let ack): firstByte = 0x50; try writeAck(ack, v5: v5, into: &body)
        case .pubrel(let ack): firstByte = 0x62; try writeAck(ack, v5: v5, into: &body)
        case .pubcomp(let ack): firstByte = 0x70; try writeAck(ack, v5: v5, into: &body)
        case .subscribe(let subscribe):
            firstByte = 0x82
            body.writeInteger(subscribe.packetID)
            if v5 { try writeProperties(subscribe.properties, into: &body) }
            for subscription in subscribe.subscriptions {
                try writeString(subscription.filter, into: &body)
                let o = subscription.options
                var byte = o.qos.rawValue
                if v5 {
                    if o.noLocal { byte |= 0x04 }
                    if o.retainAsPublished { byte |= 0x08 }
                    byte |= o.retainHandling.rawValue << 4
                }
                body.writeInteger(byte)
            }
        case .suback(let suback):
            firstByte = 0x90
            body.writeInteger(suback.packetID)
            if v5 {
                try writeProperties(suback.properties, into: &body)
                for code in suback.reasonCodes { body.writeInteger(code.rawValue) }
            } else {
                for code in suback.reasonCodes { body.writeInteger(code.isFailure ? 0x80 : code.rawValue) }
            }
        case .unsubscribe(let unsubscribe):
            firstByte = 0xA2
            body.writeInteger(unsubscribe.packetID)
            if v5 { try writeProperties(unsubscribe.properties, into: &body) }
            for filter in unsubscribe.filters { try writeString(filter, into: &body) }
        case .unsuback(let unsuback):
            firstByte = 0xB0
            body.writeInteger(unsuback.packetID)
            if v5 {
                try writeProperties(unsuback.properties, into: &body)
                for code in unsuback.reasonCodes { body.writeInteger(code.rawValue) }
            }
        case .disconnect(let disconnect):
            firstByte = 0xE0
            if v5 && (disconnect.reasonCode != .normalDisconnection || !disconnect.properties.isEmpty) {
                body.writeInteger(disconnect.reasonCode.rawValue)
                if !disconnect.properties.isEmpty { try writeProperties(disconnect.properties, into: &body) }
            }
        case .auth(let auth):
            guard v5 else { throw .protocolError("AUTH exists only in MQTT 5") }
            firstByte = 0xF0
            if auth.reasonCode != .success || !auth.properties.isEmpty {
                body.writeInteger(auth.reasonCode.rawValue)
                try writeProperties(auth.properties, into: &body)
            }
        case .publish, .pingreq, .pingresp:
            preconditionFailure("handled above")
        }
        guard body.readableBytes <= maximumVariableByteInteger else {
            throw .packetTooLarge("packet body of \(body.readableBytes) bytes")
        }
        buffer.writeInteger(firstByte)
        buffer.writeMQTTVariableByteInteger(body.readableBytes)
        buffer.writeBuffer(&body)
    }

    /// Encodes a packet for a peer that announced an MQTT 5 Maximum Packet Size. A packet that would be
    /// larger loses its Reason String and User Properties first, as the spec asks of every packet but
    /// PUBLISH ([MQTT-3.1.2-24], and e.g. [MQTT-3.2.2-19], [MQTT-3.2.2-20] for CONNACK); if it still does
    /// not fit, nothing is written and `packetTooLarge` is thrown: the caller discards a PUBLISH
    /// ([MQTT-3.1.2-25]) and closes the connection for anything else.
    public static func encode(
        _ packet: MQTTPacket, version: ProtocolVersion, maximumPacketSize: Int, into buffer: inout ByteBuffer
    ) throws(MQTTCodecError) {
        let start = buffer.writerIndex
        try encode(packet, version: version, into: &buffer)
        let size = buffer.writerIndex - start
        guard size > maximumPacketSize else { return }
        buffer.moveWriterIndex(to: start)
        if version == .v5, let trimmed = packet.withoutOptionalProperties {
            try encode(trimmed, version: version, into: &buffer)
            let trimmedSize = buffer.writerIndex - start
            guard trimmedSize > maximumPacketSize else { return }
            buffer.moveWriterIndex(to: start)
            throw .packetTooLarge("\(packet.type) of \(trimmedSize) bytes without Reason String and User Properties exceeds the peer's Maximum Packet Size of \(maximumPacketSize)")
        }
        throw .packetTooLarge("\(packet.type) of \(size) bytes exceeds the peer's Maximum Packet Size of \(maximumPacketSize)")
    }

    /// The whole size on the wire of a PUBLISH, for checking a peer's Maximum Packet Size before sending.
    public static func encodedSize(of publish: PublishPacket, version: ProtocolVersion) -> Int {
        let remaining = publishVariableHeaderSize(publish, version: version) + publish.payload.readableBytes
        return 1 + variableByteIntegerSize(remaining) + remaining
    }

    /// Writes a PUBLISH up to but not including the payload.
    /// Everything is checked before the first byte is written, so a refused packet leaves `buffer` as it was.
    public static func encodePublishHeader(
        _ publish: PublishPacket, version: ProtocolVersion, into buffer: inout ByteBuffer
    ) throws(MQTTCodecError) {
        guard publish.topic.fitsMQTTString else { throw .malformed("topic longer than 65,535 bytes") }
        if publish.qos != .atMostOnce {
            guard let id = publish.packetID, id != 0 else {
                throw .protocolError("QoS > 0 PUBLISH without a packet identifier")
            }
        }
        if version == .v5 { try publish.properties.validateForEncoding() }
        let remaining = publishVariableHeaderSize(publish, version: version) + publish.payload.readableBytes
        guard remaining <= maximumVariableByteInteger else {
            throw .packetTooLarge("PUBLISH of \(remaining) bytes")
        }
        var first: UInt8 = 0x30 | (publish.qos.rawValue << 1)
        if publish.dup { first |= 0x08 }
        if publish.retain { first |= 0x01 }
        buffer.reserveCapacity(minimumWritableBytes: 5 + remaining)
        buffer.writeInteger(first)
        buffer.writeMQTTVariableByteInteger(remaining)
        buffer.writeMQTTString(publish.topic)
        if publish.qos != .atMostOnce, let id = publish.packetID {
            buffer.writeInteger(id)
        }
        if version == .v5 {
            try publish.properties.write(into: &buffer)
        }
    }

    static func publishVariableHeaderSize(_ publish: PublishPacket, version: ProtocolVersion) -> Int {
        var size = stringSize(publish.topic)
        if publish.qos != .atMostOnce { size += 2 }
        if version == .v5 {
            let properties = publish.properties.encodedLength
            size += variableByteIntegerSize(properties) + properties
        }
        return size
    }

    static func writeString(_ string: String, into buffer: inout ByteBuffer) throws(MQTTCodecError) {
        guard string.fitsMQTTString else { throw .malformed("string longer than 65,535 bytes") }
        buffer.writeMQTTString(string)
    }

    static func writeBinary(_ bytes: ByteBuffer, into buffer: inout ByteBuffer) throws(MQTTCodecError) {
        guard bytes.readableBytes <= 65_535 else { throw .malformed("binary data longer than 65,535 bytes") }
        buffer.writeMQTTBinary(bytes)
    }

    static func writeAck(_ ack: AckPacket, v5: Bool, into body: inout ByteBuffer) throws(MQTTCodecError) {
        body.writeInteger(ack.packetID)
        guard v5 else { return }
        if ack.reasonCode == .success && ack.properties.isEmpty { return }
        body.writeInteger(ack.reasonCode.rawValue)
        if !ack.properties.isEmpty { try writeProperties(ack.properties, into: &body) }
    }

    static func writeConnect(_ connect: ConnectPacket, into body: inout ByteBuffer) throws(MQTTCodecError) {
        let v5 = connect.protocolVersion == .v5
        try writeString(connect.protocolVersion.protocolName, into: &body)
        body.writeInteger(connect.protocolVersion.rawValue)
        var flags: UInt8 = 0
        if connect.username != nil { flags |= 0x80 }
        if connect.password != nil { flags |= 0x40 }
        if let will = connect.will {
            flags |= 0x04 | (will.qos.rawValue << 3)
            if will.retain { flags |= 0x20 }
        }
        if connect.cleanStart { flags |= 0x02 }
        body.writeInteger(flags)
        body.writeInteger(connect.keepAlive)
        if v5 { try writeProperties(connect.properties, into: &body) }
        try writeString(connect.clientID, into: &body)
        if let will = connect.will {
            if v5 {
                var properties = ByteBuffer()
                if let delay = will.delayInterval {
                    properties.writeInteger(PropertyIdentifier.willDelayInterval.rawValue)
                    properties.writeInteger(delay)
                }
                guard will.properties.topicAlias == nil, will.properties.subscriptionIdentifiers.isEmpty else {
                    throw .protocolError("a Will may not carry a Topic Alias or Subscription Identifiers")
                }
                try will.properties.validateForEncoding()
                try will.properties.writeFields(into: &properties)
                body.writeMQTTVariableByteInteger(properties.readableBytes)
                body.writeBuffer(&properties)
            }
            try writeString(will.topic, into: &body)
            try writeBinary(will.payload, into: &body)
        }
        if let username = connect.username { try writeString(username, into: &body) }
        if let password = connect.password { try writeBinary(password, into: &body) }
    }

    static func writeProperties(_ properties: MQTTProperties, into body: inout ByteBuffer) throws(MQTTCodecError) {
        guard !properties.isEmpty else {
            body.writeInteger(UInt8(0))
            return
        }
        var fields = ByteBuffer()
        func id(_ id: PropertyIdentifier) { fields.writeInteger(id.rawValue) }
        func flag(_ value: Bool) { fields.writeInteger(UInt8(value ? 1 : 0)) }
        if let v = properties.sessionExpiryInterval { id(.sessionExpiryInterval); fields.writeInteger(v) }
        if let v = properties.assignedClientIdentifier { id(.assignedClientIdentifier); try writeString(v, into: &fields) }
        if let v = properties.serverKeepAlive { id(.serverKeepAlive); fields.writeInteger(v) }
        if let v = properties.authenticationMethod { id(.authenticationMethod); try writeString(v, into: &fields) }
        if let v = properties.authenticationData { id(.authenticationData); try writeBinary(v, into: &fields) }
        if let v = properties.requestProblemInformation { id(.requestProblemInformation); flag(v) }
        if let v = properties.requestResponseInformation { id(.requestResponseInformation); flag(v) }
        if let v = properties.responseInformation { id(.responseInformation); try writeString(v, into: &fields) }
        if let v = properties.serverReference { id(.serverReference); try writeString(v, into: &fields) }
        if let v = properties.reasonString { id(.reasonString); try writeString(v, into: &fields) }
        if let v = properties.receiveMaximum { id(.receiveMaximum); fields.writeInteger(v) }
        if let v = properties.topicAliasMaximum { id(.topicAliasMaximum); fields.writeInteger(v) }
        if let v = properties.maximumQoS { id(.maximumQoS); fields.writeInteger(v.rawValue) }
        if let v = properties.retainAvailable { id(.retainAvailable); flag(v) }
        if let v = properties.maximumPacketSize { id(.maximumPacketSize); fields.writeInteger(v) }
        if let v = properties.wildcardSubscriptionAvailable { id(.wildcardSubscriptionAvailable); flag(v) }
        if let v = properties.subscriptionIdentifierAvailable { id(.subscriptionIdentifierAvailable); flag(v) }
        if let v = properties.sharedSubscriptionAvailable { id(.sharedSubscriptionAvailable); flag(v) }
        if let v = properties.subscriptionIdentifier {
            guard v >= 1 && Int(v) <= maximumVariableByteInteger else {
                throw .protocolError("Subscription Identifier \(v) outside 1...268,435,455")
            }
            id(.subscriptionIdentifier)
            fields.writeMQTTVariableByteInteger(Int(v))
        }
        for property in properties.userProperties {
            id(.userProperty)
            try writeString(property.name, into: &fields)
            try writeString(property.value, into: &fields)
        }
        body.writeMQTTVariableByteInteger(fields.readableBytes)
        body.writeBuffer(&fields)
    }
}

extension PublishProperties {
    /// Checks what `writeFields` would otherwise discover halfway through writing.
    func validateForEncoding() throws(MQTTCodecError) {
        for id in subscriptionIdentifiers where id == 0 || Int(id) > maximumVariableByteInteger {
            throw .protocolError("Subscription Identifier \(id) outside 1...268,435,455")
        }
        if let responseTopic, !responseTopic.fitsMQTTString { throw .malformed("response topic longer than 65,535 bytes") }
        if let contentType, !contentType.fitsMQTTString { throw .malformed("content type longer than 65,535 bytes") }
        if let correlationData, correlationData.readableBytes > 65_535 {
            throw .malformed("correlation data longer than 65,535 bytes")
        }
        for property in userProperties where !property.name.fitsMQTTString || !property.value.fitsMQTTString {
            throw .malformed("user property longer than 65,535 bytes")
        }
        if encodedLength > maximumVariableByteInteger { throw .packetTooLarge("properties too long") }
    }

    /// Length of the property fields, without the length prefix.
    public var encodedLength: Int {
        var length = 0
        if payloadFormat != nil { length += 2 }
        if messageExpiryInterval != nil { length += 5 }
        if topicAlias != nil { length += 3 }
        if let responseTopic { length += 1 + stringSize(responseTopic) }
        if let correlationData { length += 3 + correlationData.readableBytes }
        for property in userProperties { length += 1 + stringSize(property.name) + stringSize(property.value) }
        for id in subscriptionIdentifiers { length += 1 + variableByteIntegerSize(Int(id)) }
        if let contentType { length += 1 + stringSize(contentType) }
        return length
    }

    /// Writes the length prefix and the fields.
    func write(into buffer: inout ByteBuffer) throws(MQTTCodecError) {
        buffer.writeMQTTVariableByteInteger(encodedLength)
        try writeFields(into: &buffer)
    }

    func writeFields(into buffer: inout ByteBuffer) throws(MQTTCodecError) {
        if let payloadFormat {
            buffer.writeInteger(PropertyIdentifier.payloadFormatIndicator.rawValue)
            buffer.writeInteger(payloadFormat.rawValue)
        }
        if let messageExpiryInterval {
            buffer.writeInteger(PropertyIdentifier.messageExpiryInterval.rawValue)
            buffer.writeInteger(messageExpiryInterval)
        }
        if let topicAlias {
            buffer.writeInteger(PropertyIdentifier.topicAlias.rawValue)
            buffer.writeInteger(topicAlias)
        }
        if let responseTopic {
            buffer.writeInteger(PropertyIdentifier.responseTopic.rawValue)
            try MQTTPacketEncoder.writeString(responseTopic, into: &buffer)
        }
        if let correlationData {
            buffer.writeInteger(PropertyIdentifier.correlationData.rawValue)
            try MQTTPacketEncoder.writeBinary(correlationData, into: &buffer)
        }
        for property in userProperties {
            buffer.writeInteger(PropertyIdentifier.userProperty.rawValue)
            try MQTTPacketEncoder.writeString(property.name, into: &buffer)
            try MQTTPacketEncoder.writeString(property.value, into: &buffer)
        }
        for id in subscriptionIdentifiers {
            buffer.writeInteger(PropertyIdentifier.subscriptionIdentifier.rawValue)
            buffer.writeMQTTVariableByteInteger(Int(id))
        }
        if let contentType {
            buffer.writeInteger(PropertyIdentifier.contentType.rawValue)
            try MQTTPacketEncoder.writeString(contentType, into: &buffer)
        }
    }
}
