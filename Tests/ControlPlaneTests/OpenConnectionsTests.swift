@testable import ControlPlane
import Synchronization
import Testing

@Suite("API listener: open connections")
struct OpenConnectionsTests {
    @Test func connectionsOverTheMaximumWaitInOrderForAFreedSlot() {
        let open = OpenConnections(maximum: 2)
        let granted = Mutex<[String]>([])
        let never: @Sendable (Bool) -> Void = { _ in granted.withLock { $0.append("a free slot waited") } }
        let first = open.admit(orWait: never), second = open.admit(orWait: never)
        let third = open.admit(orWait: { ok in granted.withLock { $0.append("third \(ok)") } })
        let fourth = open.admit(orWait: { ok in granted.withLock { $0.append("fourth \(ok)") } })
        #expect(first && second && !third && !fourth)
        #expect(open.waitingCount == 2)
        #expect(granted.withLock { $0 }.isEmpty, "nobody is admitted while the slots are taken")

        open.release()  // the slot passes to the third, so the count stays at the maximum
        #expect(granted.withLock { $0 } == ["third true"])
        open.release()
        #expect(granted.withLock { $0 } == ["third true", "fourth true"])
        #expect(open.waitingCount == 0)
        let fifth = open.admit(orWait: { ok in granted.withLock { $0.append("fifth \(ok)") } })
        #expect(!fifth, "both slots are still held by the two admitted waiters")

        open.release()  // hands the slot to the fifth
        #expect(granted.withLock { $0 }.last == "fifth true")
        open.release()
        open.release()
        let sixth = open.admit(orWait: never)
        #expect(sixth, "a slot was free")
        #expect(!granted.withLock { $0 }.contains("a free slot waited"))
    }

    @Test func waitersAreToldWhenTheListenerGoesAway() {
        let told = Mutex<[Bool]>([])
        do {
            let open = OpenConnections(maximum: 1)
            let first = open.admit(orWait: { _ in })
            let second = open.admit(orWait: { ok in told.withLock { $0.append(ok) } })
            #expect(first && !second)
        }
        #expect(told.withLock { $0 } == [false])
    }
}
