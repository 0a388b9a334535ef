import NIOCore

/// What the bench writes at the front of every payload: when it was sent (monotonic nanoseconds, the
/// same clock on both sides since publisher and subscriber live in one process), which publisher sent
/// it and its sequence number. The rest of the payload is filler up to the requested size.
struct MessageStamp: Equatable {
    static let size = 20

    var sentAt: UInt64
    var publisher: UInt32
    var sequence: UInt64

    func write(into buffer: inout ByteBuffer, payloadSize: Int) {
        buffer.writeInteger(sentAt)
        buffer.writeInteger(publisher)
        buffer.writeInteger(sequence)
        let filler = payloadSize - Self.size
        if filler > 0 { buffer.writeRepeatingByte(0x2E, count: filler) }
    }

    init(sentAt: UInt64, publisher: UInt32, sequence: UInt64) {
        self.sentAt = sentAt
        self.publisher = publisher
        self.sequence = sequence
    }

    init?(_ payload: ByteBuffer) {
        guard let sentAt = payload.getInteger(at: payload.readerIndex, as: UInt64.self),
              let publisher = payload.getInteger(at: payload.readerIndex + 8, as: UInt32.self),
              let sequence = payload.getInteger(at: payload.readerIndex + 12, as: UInt64.self) else { return nil }
        self.init(sentAt: sentAt, publisher: publisher, sequence: sequence)
    }
}

/// Which sequence numbers of one publisher a subscriber has seen, to count losses and duplicates.
struct SequenceTracker {
    private var bits: [UInt64] = []
    private(set) var unique = 0
    private(set) var duplicates = 0

    mutating func record(_ sequence: UInt64) {
        let word = Int(sequence / 64)
        let bit = UInt64(1) << (sequence % 64)
        if word >= bits.count { bits.append(contentsOf: repeatElement(0, count: word - bits.count + 1)) }
        if bits[word] & bit != 0 {
            duplicates += 1
        } else {
            bits[word] |= bit
            unique += 1
        }
    }
}
