import Foundation
@testable import DeviceShadow
import Synchronization
import Testing

/// The shadow semantics of reference 5.2 and 5.3 from a table of cases: each runs a sequence of
/// updates on a fresh shadow and checks the resulting document, delta and errors.
@Suite("Device shadow: merge, delta, versions, errors")
struct ShadowRulesTests {
    let id = ShadowID(thingName: "lamp")!
    let now: Int64 = 1_700_000_000

    func json(_ text: String) -> JSONValue { JSONValue.parse(Array(text.utf8))! }

    /// Applies updates in order; returns the shadow and the last outcome or error.
    func run(_ updates: [String], on start: Shadow = Shadow()) -> (Shadow, Result<ShadowOutcome, ShadowError>) {
        var shadow = start
        var last: Result<ShadowOutcome, ShadowError> = .failure(.internalFailure)
        for (index, update) in updates.enumerated() {
            last = ShadowRules.update(&shadow, id: id, payload: Array(update.utf8), now: now + Int64(index))
        }
        return (shadow, last)
    }

    struct MergeCase: Sendable, CustomStringConvertible {
        var name: String
        var updates: [String]
        var desired: String?
        var reported: String?
        var delta: String?
        var description: String { name }
    }

    static let mergeCases: [MergeCase] = [
        .init(name: "first update creates the sections", updates: [#"{"state":{"desired":{"on":true},"reported":{"on":false}}}"#],
              desired: #"{"on":true}"#, reported: #"{"on":false}"#, delta: #"{"on":true}"#),
        .init(name: "fields merge one by one", updates: [#"{"state":{"desired":{"a":1,"b":2}}}"#, #"{"state":{"desired":{"b":3,"c":4}}}"#],
              desired: #"{"a":1,"b":3,"c":4}"#, reported: nil, delta: #"{"a":1,"b":3,"c":4}"#),
        .init(name: "null deletes a field", updates: [#"{"state":{"desired":{"a":1,"b":2}}}"#, #"{"state":{"desired":{"a":null}}}"#],
              desired: #"{"b":2}"#, reported: nil, delta: #"{"b":2}"#),
        .init(name: "null deletes a whole section", updates: [#"{"state":{"desired":{"a":1},"reported":{"a":2}}}"#, #"{"state":{"desired":null}}"#],
              desired: nil, reported: #"{"a":2}"#, delta: nil),
        .init(name: "nested objects merge", updates: [#"{"state":{"desired":{"light":{"color":"red","level":5}}}}"#,
                                                       #"{"state":{"desired":{"light":{"level":7}}}}"#],
              desired: #"{"light":{"color":"red","level":7}}"#, reported: nil, delta: #"{"light":{"color":"red","level":7}}"#),
        .init(name: "arrays are replaced whole", updates: [#"{"state":{"desired":{"c":[1,2,3]}}}"#, #"{"state":{"desired":{"c":[4]}}}"#],
              desired: #"{"c":[4]}"#, reported: nil, delta: #"{"c":[4]}"#),
        .init(name: "matching reported leaves no delta", updates: [#"{"state":{"desired":{"on":true,"l":{"x":1}},"reported":{"on":true,"l":{"x":1}}}}"#],
              desired: #"{"l":{"x":1},"on":true}"#, reported: #"{"l":{"x":1},"on":true}"#, delta: nil),
        .init(name: "delta has only the differing nested leaves", updates: [#"{"state":{"desired":{"l":{"x":1,"y":2}},"reported":{"l":{"x":1,"y":3},"extra":1}}}"#],
              desired: #"{"l":{"x":1,"y":2}}"#, reported: #"{"extra":1,"l":{"x":1,"y":3}}"#, delta: #"{"l":{"y":2}}"#),
        .init(name: "arrays compare as whole values", updates: [#"{"state":{"desired":{"a":[1,2]},"reported":{"a":[2,1]}}}"#],
              desired: #"{"a":[1,2]}"#, reported: #"{"a":[2,1]}"#, delta: #"{"a":[1,2]}"#),
        .init(name: "a desired field missing from reported is in the delta",
              updates: [#"{"state":{"desired":{"a":1},"reported":{"a":1}}}"#, #"{"state":{"reported":{"a":null}}}"#],
              desired: #"{"a":1}"#, reported: nil, delta: #"{"a":1}"#),
        .init(name: "an empty section is left out", updates: [#"{"state":{"desired":{"a":1}}}"#, #"{"state":{"desired":{"a":null}}}"#],
              desired: nil, reported: nil, delta: nil),
    ]

    @Test(arguments: mergeCases)
    func merge(_ test: MergeCase) throws {
        let (shadow, outcome) = run(test.updates)
        _ = try outcome.get()
        #expect(shadow.desired.map { JSONValue.object($0).text } == test.desired.map { json($0).text })
        #expect(shadow.reported.map { JSONValue.object($0).text } == test.reported.map { json($0).text })
        #expect(shadow.delta.map { JSONValue.object($0.state).text } == test.delta.map { json($0).text })
        #expect(shadow.version == Int64(test.updates.count))
    }

    @Test func acceptedEchoesTheRequestWithMetadataVersionAndToken() throws {
        let (_, outcome) = run([#"{"state":{"reported":{"temp":21.5,"on":null}},"clientToken":"t-1"}"#])
        let accepted = json(try outcome.get().accepted).object!
        #expect(accepted["state"] == json(#"{"reported":{"temp":21.5,"on":null}}"#))
        #expect(accepted["metadata"] == json(#"{"reported":{"temp":{"timestamp":1700000000},"on":{"timestamp":1700000000}}}"#))
        #expect(accepted["version"] == .integer(1) && accepted["timestamp"] == .integer(now) && accepted["clientToken"] == .string("t-1"))
        #expect(try outcome.get().delta == nil, "no desired in the shadow: no delta message")
    }

    @Test func aReportThatMissesDesiredIsAnsweredWithTheDeltaAndOneThatMatchesIsNot() throws {
        let desired = #"{"state":{"desired":{"on":true,"level":3}}}"#
        let (_, missing) = run([desired, #"{"state":{"reported":{"on":true,"level":1}}}"#])
        let delta = json(try #require(try missing.get().delta)).object!
        #expect(delta["state"] == json(#"{"level":3}"#) && delta["version"] == .integer(2))
        let (_, matching) = run([desired, #"{"state":{"reported":{"on":true,"level":3}}}"#])
        #expect(try matching.get().delta == nil, "desired and reported agree: no delta message")
    }

    @Test func deltaAndDocumentsMessages() throws {
        let (_, first) = run([#"{"state":{"reported":{"on":false}}}"#])
        #expect(json(try first.get().documents!).object!["previous"] == nil, "nothing before the first update")
        let (shadow, outcome) = run([#"{"state":{"reported":{"on":false}}}"#, #"{"state":{"desired":{"on":true,"level":3}},"clientToken":"c"}"#])
        let result = try outcome.get()
        let delta = json(result.delta!).object!
        #expect(delta["state"] == json(#"{"level":3,"on":true}"#))
        #expect(delta["metadata"] == json(#"{"level":{"timestamp":1700000001},"on":{"timestamp":1700000001}}"#))
        #expect(delta["version"] == .integer(2) && delta["clientToken"] == .string("c"))
        let documents = json(result.documents!).object!
        #expect(documents["previous"] == json(#"{"state":{"reported":{"on":false}},"metadata":{"reported":{"on":{"timestamp":1700000000}}},"version":1}"#))
        #expect(documents["current"]?.object?["version"] == .integer(2))
        #expect(documents["current"]?.object?["state"] == json(#"{"desired":{"level":3,"on":true},"reported":{"on":false}}"#))
        #expect(shadow.metadataReported?["on"] == json(#"{"timestamp":1700000000}"#), "an untouched leaf keeps its time")
    }

    @Test func getShowsStateDeltaMetadataAndVersion() throws {
        let (shadow, _) = run([#"{"state":{"desired":{"on":true},"reported":{"on":false,"fw":"1.2"}}}"#])
        let document = json(try ShadowRules.get(shadow, id: id, clientToken: "g", now: now + 9).get()).object!
        #expect(document["state"] == json(#"{"desired":{"on":true},"reported":{"fw":"1.2","on":false},"delta":{"on":true}}"#))
        #expect(document["metadata"]?.object?.keys.sorted() == ["desired", "reported"])
        #expect(document["version"] == .integer(1) && document["timestamp"] == .integer(now + 9) && document["clientToken"] == .string("g"))
    }

    @Test func deleteKeepsTheVersionAndMissingShadowsAre404() throws {
        var (shadow, _) = run([#"{"state":{"reported":{"a":1}}}"#, #"{"state":{"reported":{"a":2}}}"#])
        let deleted = json(try ShadowRules.delete(&shadow, id: id, clientToken: nil, now: now).get()).object!
        #expect(deleted == ["version": .integer(2), "timestamp": .integer(now)])
        #expect(shadow.desired == nil && shadow.reported == nil && !shadow.exists)
        #expect(ShadowRules.get(shadow, id: id, clientToken: "x", now: now) == .failure(ShadowError(404, "No shadow exists with name: 'lamp'", clientToken: "x")))
        #expect(ShadowRules.delete(&shadow, id: id, clientToken: nil, now: now) == .failure(ShadowError(404, "No shadow exists with name: 'lamp'")))
        let named = ShadowID(thingName: "lamp", shadowName: "config")!
        #expect(ShadowRules.get(Shadow(), id: named, clientToken: nil, now: now) == .failure(ShadowError(404, "No shadow exists with name: 'config'")))
        let (again, _) = run([#"{"state":{"reported":{"b":1}}}"#], on: shadow)
        #expect(again.version == 3 && again.reported == ["b": .integer(1)], "the version continues after a delete")
    }

    /// `{"state": null}` as AWS answers it: both sections go, the version goes up by one each time, the
    /// answer is `"state": null` with the request's metadata mirror, and a later update continues.
    @Test func stateNullClearsEverythingAndCountsVersions() throws {
        var (shadow, _) = run([#"{"state":{"desired":{"a":1},"reported":{"b":2}}}"#])
        let first = try ShadowRules.update(&shadow, id: id, payload: Array(#"{"state":null,"clientToken":"n"}"#.utf8), now: now + 5).get()
        let accepted = json(first.accepted).object!
        #expect(accepted["state"] == .null && accepted["version"] == .integer(2) && accepted["clientToken"] == .string("n"))
        #expect(accepted["metadata"] == json(#"{"timestamp":1700000005}"#))
        #expect(first.delta == nil)
        let documents = json(try #require(first.documents)).object!
        #expect(documents["previous"]?.object?["version"] == .integer(1))
        #expect(documents["current"] == json(#"{"state":{},"metadata":{},"version":2}"#))
        #expect(shadow.exists && shadow.desired == nil && shadow.reported == nil && shadow.version == 2)
        let got = json(try ShadowRules.get(shadow, id: id, clientToken: nil, now: now).get()).object!
        #expect(got["state"] == json("{}") && got["metadata"] == json("{}") && got["version"] == .integer(2))

        _ = try ShadowRules.update(&shadow, id: id, payload: Array(#"{"state":null}"#.utf8), now: now).get()
        #expect(shadow.version == 3, "a null update of an empty shadow is still an update")
        _ = try ShadowRules.update(&shadow, id: id, payload: Array(#"{"state":null,"version":3}"#.utf8), now: now).get()
        #expect(shadow.version == 4)
        #expect(ShadowRules.update(&shadow, id: id, payload: Array(#"{"state":null,"version":3}"#.utf8), now: now)
            == .failure(ShadowError(409, "Version conflict")))
        let later = try ShadowRules.update(&shadow, id: id, payload: Array(#"{"state":{"reported":{"x":1}}}"#.utf8), now: now).get()
        #expect(json(later.accepted).object?["version"] == .integer(5))
        #expect(shadow.reported == ["x": .integer(1)] && shadow.desired == nil)

        // On a shadow that does not exist it creates an empty one, as any update does.
        var fresh = Shadow()
        _ = try ShadowRules.update(&fresh, id: id, payload: Array(#"{"state":null}"#.utf8), now: now).get()
        #expect(fresh.exists && fresh.version == 1)
    }

    @Test func optimisticLocking() {
        var (shadow, _) = run([#"{"state":{"reported":{"a":1}}}"#])
        #expect(ShadowRules.update(&shadow, id: id, payload: Array(#"{"state":{"reported":{"a":2}},"version":5,"clientToken":"v"}"#.utf8), now: now)
            == .failure(ShadowError(409, "Version conflict", clientToken: "v")))
        #expect(shadow.version == 1 && shadow.reported == ["a": .integer(1)], "a refused update changes nothing")
        #expect((try? ShadowRules.update(&shadow, id: id, payload: Array(#"{"state":{"reported":{"a":2}},"version":1}"#.utf8), now: now).get()) != nil)
        #expect(shadow.version == 2)
    }

    static let errorCases: [(String, ShadowError)] = [
        ("not json", .invalidJSON),
        ("[1,2]", .invalidJSON),
        (#"{"desired":{"a":1}}"#, .missingState),
        (#"{"state":[1]}"#, .stateNotObject),
        (#"{"state":5}"#, .stateNotObject),
        (#"{"state":"x"}"#, .stateNotObject),
        (#"{"state":{"desired":5}}"#, .desiredNotObject),
        (#"{"state":{"reported":"x"}}"#, .reportedNotObject),
        (#"{"state":{"delta":{"a":1}}}"#, .invalidNode),
        (#"{"state":{"reported":{"a":1}},"version":"3"}"#, .invalidVersion),
        (#"{"state":{"reported":{"a":1}},"version":1.5}"#, .invalidVersion),
        (#"{"state":{"reported":{"a":1}},"clientToken":7}"#, .invalidClientToken),
        (#"{"state":{"reported":{"a":1}},"clientToken":"\#(String(repeating: "t", count: 65))"}"#, .invalidClientToken),
        (#"{"state":{"desired":{"a":{"b":{"c":{"d":{"e":{"f":{"g":1}}}}}}}}}"#, .tooDeep),
        (#"{"state":{"reported":{"big":"\#(String(repeating: "x", count: 8200))"}}}"#, .tooLarge),
    ]

    @Test(arguments: errorCases)
    func refusals(_ payload: String, _ expected: ShadowError) {
        var shadow = Shadow()
        let result = ShadowRules.update(&shadow, id: id, payload: Array(payload.utf8), now: now)
        guard case .failure(let error) = result else {
            Issue.record("accepted: \(payload.prefix(60))")
            return
        }
        #expect(error.code == expected.code && error.message == expected.message)
        #expect(shadow == Shadow(), "nothing changed")
    }

    @Test func errorDocumentsHaveAWSsShape() {
        let text = ShadowError(409, "Version conflict", clientToken: "abc").document(timestamp: now)
        #expect(json(text) == json(#"{"code":409,"message":"Version conflict","timestamp":1700000000,"clientToken":"abc"}"#))
        var shadow = Shadow()
        #expect(ShadowRules.update(&shadow, id: id, payload: [0xFF, 0xFE], now: now) == .failure(.unsupportedEncoding))
        #expect(ShadowError.unsupportedEncoding.code == 415 && ShadowError.tooLarge.code == 413)
    }

    @Test func sixLevelsAreAllowedAndTheLimitCountsTheMergedState() throws {
        let (_, six) = run([#"{"state":{"desired":{"a":{"b":{"c":{"d":{"e":{"f":1}}}}}}}}"#])
        _ = try six.get()
        // Each update is small, the merged state is not.
        let half = String(repeating: "y", count: 4500)
        let (shadow, outcome) = run([#"{"state":{"reported":{"a":"\#(half)"}}}"#, #"{"state":{"desired":{"b":"\#(half)"}}}"#])
        #expect(outcome == .failure(.tooLarge))
        #expect(shadow.version == 1 && shadow.desired == nil)
    }

    @Test func namesAndTopics() {
        #expect(ShadowID(thingName: "a:b_c-1") != nil && ShadowID(thingName: "a/b") == nil && ShadowID(thingName: "") == nil)
        #expect(ShadowID(thingName: String(repeating: "t", count: 128)) != nil && ShadowID(thingName: String(repeating: "t", count: 129)) == nil)
        #expect(ShadowID(thingName: "t", shadowName: "$cfg") != nil && ShadowID(thingName: "t", shadowName: String(repeating: "s", count: 65)) == nil)
        #expect(ShadowID(thingName: "t", shadowName: "a b") == nil)
        let classic = ShadowTopic("$aws/things/lamp/shadow/update")
        #expect(classic?.id == ShadowID(thingName: "lamp") && classic?.operation == .update)
        let named = ShadowTopic("$aws/things/lamp/shadow/name/cfg/get")
        #expect(named?.id == ShadowID(thingName: "lamp", shadowName: "cfg") && named?.operation == .get)
        for other in ["$aws/things/lamp/shadow/update/accepted", "$aws/things/lamp/shadow/name/cfg", "$aws/things/lamp/shadow/list",
                      "$aws/things/lamp/jobs/get", "things/lamp/shadow/get", "$aws/things/la+mp/shadow/get"] {
            #expect(ShadowTopic(other) == nil, "\(other)")
        }
        #expect(ShadowID(thingName: "lamp", shadowName: "cfg")!.topicPrefix == "$aws/things/lamp/shadow/name/cfg")
    }

    @Test func clientTokenOfGetAndDeleteRequests() {
        #expect(ShadowRules.clientToken(ofRequest: []) == .success(nil))
        #expect(ShadowRules.clientToken(ofRequest: Array(#"{"clientToken":"abc"}"#.utf8)) == .success("abc"))
        #expect(ShadowRules.clientToken(ofRequest: Array("junk".utf8)) == .failure(.invalidJSON))
    }

    @Test func jsonTextIsCanonical() {
        #expect(json(#"{"b":[1,2.5,"x\n"],"a":{"z":null,"y":true}}"#).text == #"{"a":{"y":true,"z":null},"b":[1,2.5,"x\n"]}"#)
        #expect(json("1e2").text == "100" && json("-0.25").text == "-0.25")
        #expect(JSONValue.parse(Array("{".utf8)) == nil)
    }

    /// The direct writer writes what JSONEncoder (sorted keys, slashes unescaped) writes, and reads back.
    @Test(arguments: [
        #"{"a":1,"b":-2,"c":9223372036854775807,"d":-9223372036854775808}"#,
        #"[0.5,-0.25,1e300,1.5e-7,123456.789,3.0,-0.0,2.2250738585072014e-308]"#,
        #"["plain","q\"uote","back\\slash","/slash","tab\tnew\nline\r","\u0001\u001f\b\f","é ü ✓ 🙂","\u007f"]"#,
        #"{"desired":{"light":{"color":"red","levels":[1,2,{"x":null}]},"on":true},"reported":{}}"#,
        #"[[],{},"",null,false,true]"#,
        // Sorted by UTF-8 bytes as JSONEncoder sorts; String's `<` would put the Angstrom sign (U+212B,
        // normalized to U+00C5) before U+00D0.
        #"{"\u212B":1,"\u00D0":2,"Z":3,"a":4,"\u00e9":5}"#,
    ])
    func theWriterMatchesJSONEncoder(_ text: String) throws {
        let value = json(text)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        #expect(value.text == String(decoding: try encoder.encode(value), as: UTF8.self))
        #expect(JSONValue.parse(Array(value.text.utf8)) == value, "reads back as the same value")
    }

    /// The direct reader reads what JSONDecoder reads (or refuses what it refuses), case by case and
    /// over random mutations of valid documents; the one difference: trailing commas, which JSONDecoder
    /// lets through and RFC 8259 (and so the reader) does not.
    @Test func theReaderAgreesWithJSONDecoder() {
        func decoded(_ bytes: [UInt8]) -> JSONValue? {
            guard String(validating: bytes, as: UTF8.self) != nil else { return nil }
            return try? JSONDecoder().decode(JSONValue.self, from: Data(bytes))
        }
        func trailingComma(_ bytes: [UInt8]) -> Bool {
            let compact = bytes.filter { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
            return zip(compact, compact.dropFirst()).contains { $0 == UInt8(ascii: ",") && ($1 == UInt8(ascii: "]") || $1 == UInt8(ascii: "}")) }
        }
        for text in ["[1,]", #"{"a":1,}"#, "[1 , ]"] {
            #expect(JSONValue.parse(Array(text.utf8)) == nil && decoded(Array(text.utf8)) != nil, "\(text)")
        }
        let cases = [
            #"{"a":1}"#, " { \"a\" : [ 1 , 2 ] } ", #"[]"#, #"{}"#, #""x""#, "1", "-0", "-0.0", "3.0", "1e2", "1E+2", "2.5e-3",
            "12345678901234567890", "9223372036854775807", "-9223372036854775808", "9223372036854775808", "1e400", "-1e400",
            "0.1", "1.7976931348623157e308", #""\u00e9\ud83d\ude42\n\/""#, #"{"a":1,"a":2}"#, "true", "false", "null",
            "\u{FEFF}{}",
            // Refused by both:
            "", " ", "{", "}", "[,]", "{,}", "[1,,2]", "01", "1.", ".5", "-", "+1", "1e", "0x10", "tru", "nul", "NaN", "Infinity",
            #""\x""#, #""\u12""#, #""\ud800""#, #""\udc00""#, #""\ud800\u0041""#, "\"a\nb\"", #"{"a" 1}"#, #"{a:1}"#, "[1 2]",
            "1 2", "{\"a\":1}}", #"["\u0000"]"#,
        ]
        for text in cases {
            let bytes = Array(text.utf8)
            #expect(JSONValue.parse(bytes) == decoded(bytes), "\(text)")
        }
        #expect(JSONValue.parse([0x22, 0xFF, 0x22]) == nil, "not UTF-8")
        // Random one-byte mutations of a document with every kind of value (its keys far enough apart that
        // one edit cannot repeat a key: JSONDecoder skips a repeated key's value without checking it).
        let seed = Array(#"{"state":{"desired":{"on":true,"num":-12.5e1,"str":"a\"b\u00e9","list":[1,null,{"x":false}]}},"version":3}"#.utf8)
        let alphabet = Array(#"{}[]",:0123456789.eE+-\ntrufalse ""#.utf8)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<5000 {
            var bytes = seed
            do {
                let at = Int.random(in: 0..<bytes.count, using: &generator)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: bytes[at] = alphabet.randomElement(using: &generator)!
                case 1: bytes.remove(at: at)
                default: bytes.insert(alphabet.randomElement(using: &generator)!, at: at)
                }
            }
            let mine = JSONValue.parse(bytes), theirs = decoded(bytes)
            if mine == nil, theirs != nil, trailingComma(bytes) { continue }
            #expect(mine == theirs, "\(String(decoding: bytes, as: UTF8.self))")
            if mine != theirs { break }
        }
    }

    @Test func aShadowsStoredFormReadsBackWithCodable() throws {
        let (shadow, _) = run([#"{"state":{"desired":{"on":true,"l":[1,"a"]},"reported":{"on":false,"t":21.5}}}"#])
        let stored = Data(shadow.storedJSON.utf8)
        #expect(try JSONDecoder().decode(Shadow.self, from: stored) == shadow)
        #expect(try JSONDecoder().decode(Shadow.self, from: JSONEncoder().encode(shadow)) == shadow, "rows written before stay readable")
        let deleted = Shadow(version: 7, exists: false)
        #expect(try JSONDecoder().decode(Shadow.self, from: Data(deleted.storedJSON.utf8)) == deleted)
    }

    @Test func deepNestingIsRefusedWithoutCrashing() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(JSONValue.parse(Array(deep.utf8)) == nil)
        let (_, outcome) = run([#"{"state":{"reported":"# + deep + "}}"])
        #expect(throws: ShadowError.self) { try outcome.get() }
    }
}

@Suite("Device shadow: the service over a store")
struct ShadowServiceTests {
    let lamp = ShadowID(thingName: "lamp")!

    func update(_ service: ShadowService, _ id: ShadowID, _ text: String) async -> Result<ShadowOutcome, ShadowError> {
        await service.perform(.update, on: id, payload: Array(text.utf8), now: 1_700_000_000)
    }

    @Test func concurrentUpdatesAreSerializedAndNoneIsLost() async throws {
        let service = ShadowService(store: InMemoryShadowStore())
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<200 {
                group.addTask { _ = await update(service, lamp, #"{"state":{"reported":{"k\#(index)":\#(index)}}}"#) }
            }
        }
        let document = try await service.perform(.get, on: lamp, payload: [], now: 1).get().accepted
        let object = JSONValue.parse(Array(document.utf8))!.object!
        #expect(object["version"] == .integer(200))
        #expect(object["state"]?.object?["reported"]?.object?.count == 200)
    }

    @Test func shadowsOutliveTheServiceAndGoWithTheirThing() async throws {
        let store = InMemoryShadowStore()
        let first = ShadowService(store: store)
        _ = try await update(first, lamp, #"{"state":{"desired":{"on":true}}}"#).get()
        let config = ShadowID(thingName: "lamp", shadowName: "config")!
        _ = try await update(first, config, #"{"state":{"reported":{"fw":"1"}}}"#).get()
        _ = try await update(first, ShadowID(thingName: "lamp", shadowName: "alarm")!, #"{"state":{"reported":{"x":1}}}"#).get()

        let restarted = ShadowService(store: store)
        let document = try await restarted.perform(.get, on: lamp, payload: [], now: 2).get().accepted
        #expect(JSONValue.parse(Array(document.utf8))?.object?["version"] == .integer(1))
        let page = try await restarted.namedShadows(thingName: "lamp", after: nil, pageSize: 1).get()
        #expect(page.names == ["alarm"] && page.next == "alarm")
        let rest = try await restarted.namedShadows(thingName: "lamp", after: page.next, pageSize: 1).get()
        #expect(rest.names == ["config"] && rest.next == nil)

        await restarted.deleteShadows(thingName: "lamp")
        #expect(await restarted.perform(.get, on: lamp, payload: [], now: 3) == .failure(.notFound(lamp)))
        #expect(try await restarted.namedShadows(thingName: "lamp", after: nil, pageSize: 10).get().names.isEmpty)
    }

    @Test func aStoreThatFailsIsAnInternalFailureAndChangesNothing() async {
        final class Failing: ShadowStore {
            func loadShadow(_ id: ShadowID) throws -> Shadow? { nil }
            func saveShadow(_ id: ShadowID, _ shadow: Shadow) throws { throw CancellationError() }
            func deleteShadows(thingName: String) throws {}
            func namedShadows(thingName: String) throws -> [String] { [] }
        }
        let service = ShadowService(store: Failing())
        #expect(await update(service, lamp, #"{"state":{"reported":{"a":1}}}"#) == .failure(.internalFailure))
        #expect(await service.perform(.get, on: lamp, payload: [], now: 1) == .failure(.notFound(lamp)), "not kept in memory either")
    }

    @Test func aThingDeletedAndMadeAgainStartsWithoutTheOldShadows() async throws {
        let store = InMemoryShadowStore()
        let service = ShadowService(store: store)
        _ = try await update(service, lamp, #"{"state":{"reported":{"old":1}}}"#).get()
        service.thingDeleted("lamp")
        // The very next request, however soon, sees the deletion: it does not race a background task.
        let accepted = try await update(service, lamp, #"{"state":{"reported":{"new":1}}}"#).get().accepted
        #expect(JSONValue.parse(Array(accepted.utf8))?.object?["version"] == .integer(1))
        #expect(try store.loadShadow(lamp)?.reported == ["new": .integer(1)], "the old fields went with the thing")
        service.thingDeleted("lamp")
        #expect(try await service.namedShadows(thingName: "lamp", after: nil, pageSize: 10).get().names.isEmpty)
        #expect(try store.loadShadow(lamp) == nil)
    }

    @Test func aBatchSeesItsOwnChangesWhenTheCacheIsEmptiedMidway() async throws {
        let service = ShadowService(store: InMemoryShadowStore())
        // Fill the cache to one below its bound with shadows that do not exist.
        let filler = (0..<(ShadowService.cacheCapacity - 1)).map { request(.get, ShadowID(thingName: "filler-\($0)")!) }
        _ = await service.perform(filler, now: 1)
        let results = await service.perform([
            request(.update, lamp, #"{"state":{"reported":{"a":1}}}"#),   // fills the cache
            request(.get, ShadowID(thingName: "newcomer")!),              // one more: the cache is emptied
            request(.update, lamp, #"{"state":{"reported":{"b":2}},"version":1}"#),
        ], now: 2)
        let accepted = JSONValue.parse(Array(try results[2].get().accepted.utf8))!.object!
        #expect(accepted["version"] == .integer(2), "the third request saw the first one's unsaved change")
        let document = JSONValue.parse(Array(try await service.perform(.get, on: lamp, payload: [], now: 3).get().accepted.utf8))!.object!
        #expect(document["state"]?.object?["reported"] == .object(["a": .integer(1), "b": .integer(2)]))
    }

    @Test func aThingWhoseShadowsCannotBeDeletedYetIsNotServedUntilTheyAre() async throws {
        final class DeleteFails: ShadowStore {
            let inner = InMemoryShadowStore()
            let failing = Mutex(true)
            func loadShadow(_ id: ShadowID) throws -> Shadow? { try inner.loadShadow(id) }
            func saveShadow(_ id: ShadowID, _ shadow: Shadow) throws { try inner.saveShadow(id, shadow) }
            func deleteShadows(thingName: String) throws {
                if failing.withLock({ $0 }) { throw CancellationError() }
                try inner.deleteShadows(thingName: thingName)
            }
            func namedShadows(thingName: String) throws -> [String] { try inner.namedShadows(thingName: thingName) }
        }
        let store = DeleteFails()
        let service = ShadowService(store: store)
        _ = try await update(service, lamp, #"{"state":{"reported":{"old":1}}}"#).get()
        service.thingDeleted("lamp")
        #expect(await update(service, lamp, #"{"state":{"reported":{"new":1}}}"#) == .failure(.internalFailure))
        #expect(await service.perform(.get, on: lamp, payload: [], now: 2) == .failure(.internalFailure), "the old shadow is not shown")
        guard case .failure(let listing) = await service.namedShadows(thingName: "lamp", after: nil, pageSize: 10) else {
            Issue.record("the named shadows of a thing still being deleted were listed")
            return
        }
        #expect(listing == .internalFailure)
        let fan = ShadowID(thingName: "fan")!
        #expect((try? await update(service, fan, #"{"state":{"reported":{"x":1}}}"#).get()) != nil, "other things are served")
        store.failing.withLock { $0 = false }
        let accepted = try await update(service, lamp, #"{"state":{"reported":{"new":1}}}"#).get().accepted
        #expect(JSONValue.parse(Array(accepted.utf8))?.object?["version"] == .integer(1))
        #expect(try store.inner.loadShadow(lamp)?.reported == ["new": .integer(1)])
    }

    /// A store that counts its writes and can be told to fail them.
    final class CountingStore: ShadowStore {
        let inner = InMemoryShadowStore()
        let writes = Mutex(0)
        let failing = Mutex(false)
        func loadShadow(_ id: ShadowID) throws -> Shadow? { try inner.loadShadow(id) }
        func saveShadow(_ id: ShadowID, _ shadow: Shadow) throws { try saveShadows([(id, shadow)]) }
        func saveShadows(_ shadows: [(ShadowID, Shadow)]) throws {
            if failing.withLock({ $0 }) { throw CancellationError() }
            writes.withLock { $0 += 1 }
            for (id, shadow) in shadows { try inner.saveShadow(id, shadow) }
        }
        func deleteShadows(thingName: String) throws { try inner.deleteShadows(thingName: thingName) }
        func namedShadows(thingName: String) throws -> [String] { try inner.namedShadows(thingName: thingName) }
    }

    func request(_ operation: ShadowOperation, _ id: ShadowID, _ text: String = "") -> ShadowRequest {
        ShadowRequest(operation, on: id, payload: Array(text.utf8))
    }

    @Test func aBatchRunsInOrderAndIsWrittenOnce() async throws {
        let store = CountingStore()
        let service = ShadowService(store: store)
        let fan = ShadowID(thingName: "fan")!
        let results = await service.perform([
            request(.update, lamp, #"{"state":{"reported":{"a":1}}}"#),
            request(.get, lamp),
            request(.update, fan, #"{"state":{"desired":{"on":true}}}"#),
            request(.update, lamp, #"{"state":{"reported":{"a":2}},"version":1}"#),
            request(.update, lamp, #"{"state":{"reported":{"a":3}},"version":1}"#),
            request(.delete, fan),
        ], now: 5)
        let versions = results.map { result in (try? result.get()).flatMap { JSONValue.parse(Array($0.accepted.utf8))?.object?["version"] } }
        #expect(versions == [.integer(1), .integer(1), .integer(1), .integer(2), nil, .integer(1)], "each request sees the ones before it")
        #expect(results[4] == .failure(.versionConflict))
        #expect(store.writes.withLock { $0 } == 1, "one transaction for the batch")
        #expect(try store.inner.loadShadow(lamp)?.reported == ["a": .integer(2)])
        #expect(try store.inner.loadShadow(fan)?.exists == false)
    }

    @Test func aBatchWhoseWriteFailsAnswersEveryChangeWith500AndKeepsTheStoredShadows() async throws {
        let store = CountingStore()
        let service = ShadowService(store: store)
        _ = try await update(service, lamp, #"{"state":{"reported":{"a":1}}}"#).get()
        store.failing.withLock { $0 = true }
        let fan = ShadowID(thingName: "fan")!
        let results = await service.perform([
            request(.update, lamp, #"{"state":{"reported":{"a":2}},"clientToken":"t"}"#),
            request(.update, fan, #"{"state":{"reported":{"b":1}}}"#),
            request(.update, lamp, #"{"state":{"reported":{"a":2}},"version":9}"#),
        ], now: 6)
        #expect(results[0] == .failure(ShadowError.internalFailure.with(clientToken: "t")))
        #expect(results[1] == .failure(.internalFailure) && results[2] == .failure(.internalFailure))
        store.failing.withLock { $0 = false }
        let document = try await service.perform(.get, on: lamp, payload: [], now: 7).get().accepted
        let object = JSONValue.parse(Array(document.utf8))!.object!
        #expect(object["version"] == .integer(1) && object["state"]?.object?["reported"] == .object(["a": .integer(1)]),
                "what the store has, not what the failed batch computed")
        #expect(await service.perform(.get, on: fan, payload: [], now: 7) == .failure(.notFound(fan)))
    }
}
