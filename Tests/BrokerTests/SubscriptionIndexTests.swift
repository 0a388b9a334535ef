@testable import Broker
import MQTTCore
import Testing

@Suite("Subscription index")
struct SubscriptionIndexTests {
    func matches(_ index: SubscriptionIndex, _ topic: String) -> Set<SessionKey> {
        var found = Set<SessionKey>()
        index.forEachMatch(topic: topic) { node in found.formUnion(node.subscribers.keys) }
        return found
    }

    @Test func matchesLikeTheSpecificationAndLikeTheReferenceMatcher() {
        let filters = ["sport/tennis/player1/#", "sport/#", "#", "+", "+/+", "/+", "sport/+", "sport/+/player1",
                       "$SYS/#", "$SYS/+", "+/monitor/Clients", "a/b/c", "a//c", "", "a/+/+/d"]
        let topics = ["sport/tennis/player1", "sport/tennis/player1/ranking", "sport", "sport/", "/finance", "finance",
                      "$SYS/monitor/Clients", "$SYS", "a/b/c", "a//c", "a/x/y/d", "a/b", "/", ""]
        let index = SubscriptionIndex()
        for (i, filter) in filters.enumerated() where !filter.isEmpty {
            index.insert(filter: filter, shareName: nil, session: SessionKey(i), entry: SubscriptionEntry(options: .init(), identifier: nil))
        }
        for topic in topics where !topic.isEmpty {
            let expected = Set(filters.enumerated().filter { !$0.element.isEmpty && Topic.matches(filter: $0.element, topic: topic) }.map { SessionKey($0.offset) })
            #expect(matches(index, topic) == expected, "topic \(topic)")
        }
    }

    @Test func removingPrunesEmptyBranches() {
        let index = SubscriptionIndex()
        let entry = SubscriptionEntry(options: .init(), identifier: nil)
        index.insert(filter: "a/b/c", shareName: nil, session: 1, entry: entry)
        index.insert(filter: "a/+/c", shareName: nil, session: 2, entry: entry)
        index.insert(filter: "a/#", shareName: "g", session: 3, entry: entry)
        #expect(index.count == 3)
        #expect(index.remove(filter: "a/b/c", shareName: nil, session: 1))
        #expect(!index.remove(filter: "a/b/c", shareName: nil, session: 1))
        #expect(index.remove(filter: "a/+/c", shareName: nil, session: 2))
        #expect(index.remove(filter: "a/#", shareName: "g", session: 3))
        #expect(index.count == 0)
        #expect(matches(index, "a/b/c").isEmpty)
    }

    @Test func levelsCompareByBytesNotCanonicalEquivalence() {
        let index = SubscriptionIndex()
        let precomposed = "caf\u{E9}"
        let decomposed = "cafe\u{301}"
        #expect(precomposed == decomposed, "Swift considers them equal")
        index.insert(filter: precomposed, shareName: nil, session: 1, entry: SubscriptionEntry(options: .init(), identifier: nil))
        #expect(matches(index, precomposed) == [1])
        #expect(matches(index, decomposed).isEmpty, "MQTT topics are equal only byte for byte")
    }
}
