import Broker
import DeviceShadow
import Foundation
@testable import Gateway
import MQTTCore
import NIOCore
import PortcullisTesting
import Synchronization
import Testing

@Suite("Gateway: the shadow service's bounds")
struct ShadowGatewayTests {
    /// A store whose saves wait until released, so requests pile up behind the first.
    final class HeldStore: ShadowStore {
        let released = Mutex(false)
        let saves = Mutex(0)
        func loadShadow(_ id: ShadowID) throws -> Shadow? { nil }
        func saveShadow(_ id: ShadowID, _ shadow: Shadow) throws {
            saves.withLock { $0 += 1 }
            while !released.withLock({ $0 }) { usleep(1000) }
        }
        func deleteShadows(thingName: String) throws {}
        func namedShadows(thingName: String) throws -> [String] { [] }
    }

    /// The handler is called through the same closure every time: a closure kept in a generic box can be
    /// re-wrapped in a reabstraction thunk on every read, so each request called through one more layer
    /// (the stack and the time per request grew with every request ever served, until the stack ran out).
    /// Foundation reports at most 128 frames; the handler starts far below that, so growth shows.
    @Test func theServiceRequestHandlerDoesNotDeepenWithEveryRequest() {
        let host = BrokerHost(broker: Broker(isServiceRequest: { $0.hasPrefix("$aws/things/") }), eventSink: CollectingEventSink())
        let depths = Mutex<[Int]>([])
        host.onServiceRequest { _ in
            let depth = Thread.callStackReturnAddresses.count
            depths.withLock { $0.append(depth) }
        }
        for index in 0..<300 {
            let publish = PublishPacket(topic: "$aws/things/lamp/shadow/update", payload: ByteBuffer(string: "{\"n\":\(index)}"))
            #expect(host.publishFromAPI(publish, principal: "app", sourceIP: nil) == nil)
        }
        let seen = depths.withLock { $0 }
        #expect((seen.first ?? 128) < 100, "the depth is measured below Foundation's 128-frame cap")
        #expect(seen.count == 300, "every request reaches the handler")
        #expect(Set(seen).count == 1, "the same call depth for the first and the 300th request: \(seen.first ?? 0) -> \(seen.last ?? 0)")
    }

    @Test func atMostTenRequestsPerThingWaitAndTheNextIs429() async throws {
        let store = HeldStore()
        let host = BrokerHost(broker: Broker(), eventSink: CollectingEventSink())
        let shadows = ShadowGateway(service: ShadowService(store: store), host: host)
        let lamp = ShadowID(thingName: "lamp")!
        let payload = Array(#"{"state":{"reported":{"a":1}}}"#.utf8)
        let waiting = Task {
            await withTaskGroup(of: Result<ShadowOutcome, ShadowError>.self) { group in
                for _ in 0..<ShadowGateway.maximumInFlightPerThing {
                    group.addTask { await shadows.perform(.update, on: lamp, payload: payload) }
                }
                var results: [Result<ShadowOutcome, ShadowError>] = []
                for await result in group { results.append(result) }
                return results
            }
        }
        // Wait until all ten hold a slot (the first is held in its save, the others queue behind it).
        while shadows.inFlight(for: "lamp") < ShadowGateway.maximumInFlightPerThing { try await Task.sleep(for: .milliseconds(5)) }
        let refused: Result<ShadowOutcome, ShadowError>? = await shadows.perform(.update, on: lamp, payload: payload)
        guard case .failure(let error)? = refused else {
            Issue.record("an eleventh request waited instead of being refused")
            store.released.withLock { $0 = true }
            return
        }
        #expect(error.code == 429)
        store.released.withLock { $0 = true }
        let results = await waiting.value
        #expect(results.count == 10 && results.allSatisfy { (try? $0.get()) != nil })
        let versions = results.compactMap { try? $0.get() }.compactMap { JSONValue.parse(Array($0.accepted.utf8))?.object?["version"] }
        #expect(Set(versions).count == 10, "ten distinct versions: none lost")
    }
}
