import NIOCore

/// The largest value a variable byte integer can carry (spec 1.5.5).
public let maximumVariableByteInteger: Int = 268_435_455

extension ByteBuffer {
    /// Reads one variable byte integer, throwing Malformed on a fifth continuation byte or a short buffer.
    @inlinable
    mutating func readMQTTVariableByteInteger() throws(MQTTCodecError) -> Int {
        var value = 0
        var multiplier = 1
        for _ in 0..<4 {
            guard let byte = readInteger(as: UInt8.self) else {
                throw .malformed("truncated variable byte integer")
            }
            value += Int(byte & 0x7F) * multiplier
            if byte & 0x80 == 0 {
                guard byte != 0 || multiplier == 1 else { throw .malformed("non-minimal variable byte integer") }
                return value
            }
            multiplier *= 128
        }
        throw .malformed("variable byte integer longer than 4 bytes")
    }

    @inlinable
    mutating func readMQTTByte() throws(MQTTCodecError) -> UInt8 {
        guard let byte = readInteger(as: UInt8.self) else { throw .malformed("packet ends early") }
        return byte
    }

    @inlinable
    mutating func readMQTTUInt16() throws(MQTTCodecError) -> UInt16 {
        guard let value = readInteger(endianness: .big, as: UInt16.self) else {
            throw .malformed("packet ends early")
        }
        return value
    }

    @inlinable
    mutating func readMQTTUInt32() throws(MQTTCodecError) -> UInt32 {
        guard let value = readInteger(endianness: .big, as: UInt32.self) else {
            throw .malformed("packet ends early")
        }
        return value
    }

    /// Binary Data: a two-byte length and that many bytes, returned as a slice (no copy).
    @inlinable
    mutating func readMQTTBinary() throws(MQTTCodecError) -> ByteBuffer {
        let length = Int(try readMQTTUInt16())
        guard let slice = readSlice(length: length) else { throw .malformed("binary data longer than packet") }
        return slice
    }

    /// A UTF-8 Encoded String (spec 1.5.4): well-formed UTF-8, no U+0000, no surrogates.
    /// Any violation makes the packet Malformed.
    @inlinable
    mutating func readMQTTString() throws(MQTTCodecError) -> String {
        let length = Int(try readMQTTUInt16())
        guard length <= readableBytes else { throw .malformed("string longer than packet") }
        let string = try getMQTTString(at: readerIndex, length: length)
        moveReaderIndex(forwardBy: length)
        return string
    }

    @usableFromInline
    func getMQTTString(at index: Int, length: Int) throws(MQTTCodecError) -> String {
        let result: String? = withUnsafeReadableBytes { raw -> String? in
            let start = index - readerIndex
            let bytes = UnsafeRawBufferPointer(rebasing: raw[start..<(start + length)])
            var ascii = true
            for byte in bytes {
                if byte == 0 { return nil }
                if byte >= 0x80 { ascii = false }
            }
            if ascii { return String(decoding: bytes, as: UTF8.self) }
            // Swift's validating initializer rejects ill-formed UTF-8, overlong forms and encoded surrogates.
            return String(validating: bytes, as: UTF8.self)
        }
        guard let result else { throw .malformed("string is not valid MQTT UTF-8") }
        return result
    }

    // MARK: writing

    @discardableResult
    @inlinable
    mutating func writeMQTTVariableByteInteger(_ value: Int) -> Int {
        precondition(value >= 0 && value <= maximumVariableByteInteger, "variable byte integer out of range")
        var value = value
        var written = 0
        repeat {
            var byte = UInt8(value & 0x7F)
            value >>= 7
            if value > 0 { byte |= 0x80 }
            writeInteger(byte)
            written += 1
        } while value > 0
        return written
    }

    @inlinable
    mutating func writeMQTTString(_ string: String) {
        writeInteger(UInt16(string.utf8.count))
        writeString(string)
    }

    @inlinable
    mutating func writeMQTTBinary(_ bytes: ByteBuffer) {
        writeInteger(UInt16(bytes.readableBytes))
        writeImmutableBuffer(bytes)
    }
}

/// Number of bytes the variable byte integer encoding of `value` takes.
@inlinable
func variableByteIntegerSize(_ value: Int) -> Int {
    switch value {
    case ..<128: 1
    case ..<16_384: 2
    case ..<2_097_152: 3
    default: 4
    }
}

/// Size of a UTF-8 Encoded String on the wire.
@inlinable
func stringSize(_ string: String) -> Int { 2 + string.utf8.count }

extension String {
    /// Whether the string fits in an MQTT UTF-8 Encoded String (65,535 bytes).
    @inlinable
    public var fitsMQTTString: Bool { utf8.count <= 65_535 }
}
