/// One level of a topic or filter, compared byte for byte. Swift's `String` equality uses Unicode
/// canonical equivalence, but MQTT topics are equal only when their UTF-8 bytes are, so routing must
/// not treat a decomposed "é" as the precomposed one.
struct TopicLevel: Hashable {
    let value: Substring

    init(_ value: Substring) { self.value = value }

    static func == (lhs: TopicLevel, rhs: TopicLevel) -> Bool {
        lhs.value.utf8.elementsEqual(rhs.value.utf8)
    }

    func hash(into hasher: inout Hasher) {
        let done: Void? = value.utf8.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        if done == nil {
            let bytes = Array(value.utf8)
            bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
        }
    }
}

extension String {
    /// The levels of a topic or filter, split on `/`, keeping empty levels.
    var topicLevels: [Substring] {
        var levels: [Substring] = []
        splitTopicLevels(into: &levels)
        return levels
    }

    /// Splits into `levels`, reusing its storage.
    func splitTopicLevels(into levels: inout [Substring]) {
        levels.removeAll(keepingCapacity: true)
        var start = utf8.startIndex
        var index = start
        while index != utf8.endIndex {
            if utf8[index] == UInt8(ascii: "/") {
                levels.append(self[start..<index])
                start = utf8.index(after: index)
            }
            index = utf8.index(after: index)
        }
        levels.append(self[start..<utf8.endIndex])
    }
}
