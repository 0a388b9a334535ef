import Foundation
@testable import PortcullisServer
import Testing

@Suite("Rules: trace ids")
struct TraceIDTests {
    @Test func traceIDsAreDistinctVersion4UUIDs() {
        let ids = TraceIDs()
        let made = (0..<1000).map { _ in ids.next() }
        #expect(Set(made).count == made.count)
        for id in made.prefix(20) {
            let parsed = UUID(uuidString: id)
            #expect(parsed != nil && id == id.lowercased(), "\(id)")
            let parts = id.split(separator: "-")
            #expect(parts.map(\.count) == [8, 4, 4, 4, 12] && parts[2].first == "4" && "89ab".contains(parts[3].first!), "\(id)")
        }
        #expect(TraceIDs().next() != TraceIDs().next(), "another runtime draws another stem")
    }
}
