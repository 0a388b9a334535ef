import NIOCore
import Testing

@testable import MQTTCore

/// Deterministic fuzzing: random bytes and mutations of valid packets, fed to decoders in every state. The
/// decoder must never crash; each call must throw, return nil having consumed nothing, or return a packet
/// having consumed exactly the bytes its fixed header announced; whatever it returns must survive a round
/// trip through the encoder.
@Suite("Fuzz")
struct FuzzTests {
    /// The decoder states a connection can be in: a fresh server, or a known version.
    static let decoderStates: [ProtocolVersion?] = [nil, .v3_1_1, .v5]

    /// How a run over one input ended.
    enum Outcome: Equatable, CustomStringConvertible {
        /// Every packet decoded; this many bytes wait for more input.
        case needMoreData(leftover: Int)
        case threw(MQTTCodecError.Kind)

        var description: String {
            switch self {
            case .needMoreData(let leftover): "needs more data (\(leftover) bytes left)"
            case .threw(let kind): "threw \(kind)"
            }
        }
    }

    /// Checks the invariants while decoding everything in `bytes`; appends a description of each violation.
    static func exercise(
        _ bytes: [UInt8], state: ProtocolVersion?, violations: inout [String]
    ) -> (packets: [MQTTPacket], outcome: Outcome) {
        var decoder = MQTTPacketDecoder(protocolVersion: state)
        var input = buffer(bytes)
        var packets: [MQTTPacket] = []
        func violation(_ what: String) {
            violations.append("\(state.map { "\($0)" } ?? "server") \(bytes): \(what)")
        }
        while true {
            let before = input.readerIndex
            let header = try? MQTTPacketDecoder.peekFixedHeader(input)
            do {
                guard let packet = try decoder.decode(from: &input) else {
                    if input.readerIndex != before { violation("consumed bytes but returned nil") }
                    if let header, header.headerLength + header.remainingLength <= input.readableBytes {
                        violation("returned nil although the whole packet was there")
                    }
                    return (packets, .needMoreData(leftover: input.readableBytes))
                }
                guard let header else {
                    violation("decoded a packet without a complete fixed header")
                    return (packets, .needMoreData(leftover: input.readableBytes))
                }
                if input.readerIndex - before != header.headerLength + header.remainingLength {
                    violation("consumed \(input.readerIndex - before) bytes, the header announced "
                        + "\(header.headerLength + header.remainingLength)")
                }
                checkRoundTrip(packet, version: decoder.protocolVersion ?? .v5, violation: violation)
                packets.append(packet)
            } catch {
                if input.readerIndex != before { violation("consumed bytes before throwing") }
                return (packets, .threw(error.kind))
            }
        }
    }

    /// Whatever the decoder accepts, the encoder can write, and decoding that gives the same packet.
    static func checkRoundTrip(_ packet: MQTTPacket, version: ProtocolVersion, violation: (String) -> Void) {
        do {
            var out = ByteBuffer()
            try MQTTPacketEncoder.encode(packet, version: version, into: &out)
            var decoder = MQTTPacketDecoder(protocolVersion: version)
            let again = try decoder.decode(from: &out)
            if again != packet { violation("re-decoded \(String(describing: again)) instead of \(packet)") }
            if out.readableBytes != 0 { violation("re-encoding left \(out.readableBytes) bytes undecoded") }
        } catch {
            violation("decoded \(packet) cannot be re-encoded: \(error)")
        }
    }

    /// Feeds `bytes` in random pieces; the packets and the final outcome must not depend on how the bytes
    /// were split.
    static func exerciseInPieces(
        _ bytes: [UInt8], state: ProtocolVersion?, using rng: inout SeededGenerator
    ) -> (packets: [MQTTPacket], outcome: Outcome) {
        var decoder = MQTTPacketDecoder(protocolVersion: state)
        var input = ByteBuffer()
        var packets: [MQTTPacket] = []
        var offset = 0
        while true {
            do {
                while let packet = try decoder.decode(from: &input) { packets.append(packet) }
            } catch {
                return (packets, .threw(error.kind))
            }
            guard offset < bytes.count else { return (packets, .needMoreData(leftover: input.readableBytes)) }
            let end = min(bytes.count, offset + Int.random(in: 1...16, using: &rng))
            input.writeBytes(bytes[offset..<end])
            offset = end
        }
    }

    /// A random input: half pure noise, half a plausible fixed header whose remaining length matches the
    /// random body, so the body parsers are reached.
    static func randomInput(using rng: inout SeededGenerator) -> [UInt8] {
        let length = Int.random(in: 0...300, using: &rng)
        var noise = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
        guard Bool.random(using: &rng), length > 0 else { return noise }
        let validFlags: [UInt8] = [0x10, 0x20, 0x30, 0x32, 0x3B, 0x40, 0x50, 0x62, 0x70, 0x82, 0x90, 0xA2, 0xB0,
                                   0xC0, 0xD0, 0xE0, 0xF0]
        let body = Array(noise.prefix(Int.random(in: 0...min(length, 200), using: &rng)))
        noise = [validFlags.randomElement(using: &rng)!] + variableByteInteger(body.count) + body
        return noise
    }

    /// One random mutation of a valid encoding.
    static func mutate(_ bytes: [UInt8], using rng: inout SeededGenerator) -> [UInt8] {
        var bytes = bytes
        switch Int.random(in: 0..<6, using: &rng) {
        case 0:  // flip one to three bits
            for _ in 0..<Int.random(in: 1...3, using: &rng) where !bytes.isEmpty {
                let i = Int.random(in: 0..<bytes.count, using: &rng)
                bytes[i] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
            }
        case 1:  // truncate
            bytes.removeLast(Int.random(in: 0...bytes.count, using: &rng))
        case 2:  // insert random bytes
            let at = Int.random(in: 0...bytes.count, using: &rng)
            bytes.insert(contentsOf: (0..<Int.random(in: 1...8, using: &rng)).map { _ in
                UInt8.random(in: 0...255, using: &rng)
            }, at: at)
        case 3:  // delete a range
            if !bytes.isEmpty {
                let at = Int.random(in: 0..<bytes.count, using: &rng)
                bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1...4, using: &rng)))
            }
        case 4:  // overwrite a byte with an interesting value
            if !bytes.isEmpty {
                let interesting: [UInt8] = [0x00, 0x01, 0x02, 0x03, 0x7F, 0x80, 0xFF, 0xC0, 0xED, 0x0B, 0x26]
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = interesting.randomElement(using: &rng)!
            }
        default:  // append a copy of the packet, or noise
            bytes += Bool.random(using: &rng) ? bytes : [UInt8.random(in: 0...255, using: &rng)]
        }
        return bytes
    }

    /// Rewrites the remaining length to fit the (mutated) body, so the mutation reaches the body parser
    /// instead of only making the packet look short or long.
    static func fixRemainingLength(_ bytes: [UInt8], originalHeaderLength: Int) -> [UInt8] {
        guard bytes.count >= originalHeaderLength, let first = bytes.first else { return bytes }
        let body = Array(bytes.dropFirst(originalHeaderLength))
        return rawPacket(first, body)
    }

    static func report(_ violations: [String]) {
        #expect(violations.isEmpty, "\(violations.count) violations, the first: \(violations.prefix(5))")
    }

    @Test("random bytes: never crashes, every call throws, waits or decodes consistently")
    func randomBytes() {
        var rng = SeededGenerator(seed: 0x5EED_0001)
        var violations: [String] = []
        var outcomes: [String: Int] = [:]
        for _ in 0..<20_000 {
            let input = Self.randomInput(using: &rng)
            for state in Self.decoderStates {
                let result = Self.exercise(input, state: state, violations: &violations)
                outcomes["\(result.outcome)".prefix(while: { $0 != "(" }).description, default: 0] += 1
            }
        }
        Self.report(violations)
        // The generator must actually reach the parsers, or this test proves little.
        #expect(outcomes["threw malformedPacket", default: 0] > 1_000)
        #expect(outcomes["threw protocolError", default: 0] > 100)
    }

    @Test("mutated valid packets of every type", arguments: [ProtocolVersion.v3_1_1, .v5])
    func mutations(_ version: ProtocolVersion) throws {
        var rng = SeededGenerator(seed: 0x5EED_0002 + UInt64(version.rawValue))
        var violations: [String] = []
        var decodedMutants = 0
        for sample in Samples.small where sample.version == version {
            let original = try encode(sample.packet, sample.version)
            let headerLength = try #require(try MQTTPacketDecoder.peekFixedHeader(buffer(original))).headerLength
            for i in 0..<150 {
                var mutant = Self.mutate(original, using: &rng)
                if i % 2 == 0 { mutant = Self.fixRemainingLength(mutant, originalHeaderLength: headerLength) }
                for state in [nil, version] {
                    let result = Self.exercise(mutant, state: state, violations: &violations)
                    decodedMutants += result.packets.count
                }
            }
        }
        Self.report(violations)
        #expect(decodedMutants > 500, "mutations should often stay valid")
    }

    @Test("how the input is split does not change what is decoded")
    func splitting() throws {
        var rng = SeededGenerator(seed: 0x5EED_0003)
        var mismatches: [String] = []
        var violations: [String] = []
        var inputs: [([UInt8], ProtocolVersion?)] = []
        for sample in Samples.small {
            let bytes = try encode(sample.packet, sample.version)
            let prefix = sample.packet.type == .connect ? [] : (sample.version == .v5 ? minimalConnectV5 : minimalConnectV3)
            for _ in 0..<10 { inputs.append((prefix + Self.mutate(bytes, using: &rng), nil)) }
            inputs.append((bytes + bytes, sample.version))
        }
        for _ in 0..<2_000 { inputs.append((Self.randomInput(using: &rng), .v5)) }

        for (bytes, state) in inputs {
            let whole = Self.exercise(bytes, state: state, violations: &violations)
            let pieces = Self.exerciseInPieces(bytes, state: state, using: &rng)
            if whole.packets != pieces.packets || whole.outcome != pieces.outcome {
                mismatches.append("\(bytes): whole \(whole.outcome), pieces \(pieces.outcome)")
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches, the first: \(mismatches.prefix(3))")
        Self.report(violations)
    }

    @Test("after nil, more bytes complete the packet and nothing beyond it is consumed")
    func nilThenMore() throws {
        var rng = SeededGenerator(seed: 0x5EED_0004)
        for sample in Samples.small {
            let bytes = try encode(sample.packet, sample.version)
            let cut = Int.random(in: 0..<bytes.count, using: &rng)
            let trailer = (0..<Int.random(in: 0...20, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            var decoder = MQTTPacketDecoder(protocolVersion: sample.version)
            var input = buffer(Array(bytes.prefix(cut)))
            #expect(try decoder.decode(from: &input) == nil)
            #expect(input.readerIndex == 0)
            input.writeBytes(bytes.dropFirst(cut))
            input.writeBytes(trailer)
            #expect(try decoder.decode(from: &input) == sample.packet, "\(sample.testDescription)")
            #expect(input.bytes == trailer, "\(sample.testDescription)")
        }
    }

    @Test("the decoder holds no buffers: its memory does not grow with the input")
    func decoderHoldsNoBuffers() throws {
        let decoder = MQTTPacketDecoder(protocolVersion: .v5, maximumPacketSize: 1 << 20)
        let fields = Mirror(reflecting: decoder).children.compactMap(\.label)
        #expect(fields.sorted() == ["maximumPacketSize", "protocolVersion"])
        #expect(MemoryLayout<MQTTPacketDecoder>.size <= 16)

        // A big packet that is not complete yet stays in the caller's buffer, not in the decoder.
        var waiting = decoder
        var input = buffer([0x30, 0x80, 0x80, 0x20] + [UInt8](repeating: 0, count: 100_000))
        #expect(try waiting.decode(from: &input) == nil)
        #expect(Mirror(reflecting: waiting).children.count == 2)
        #expect(waiting.protocolVersion == .v5 && waiting.maximumPacketSize == 1 << 20)
    }
}
