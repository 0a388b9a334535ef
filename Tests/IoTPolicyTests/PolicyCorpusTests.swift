import Foundation
import IoTPolicy
import Testing

/// A corpus of policy documents and requests with the decision and (part of) the explanation each must
/// get: AWS's documented examples (the IoT developer guide's example policies) and the rules of reference
/// 3.2 to 3.6, each with the request it must refuse.
@Suite("Policy corpus: documents x requests -> decisions")
struct PolicyCorpusTests {
    static let arn = "arn:aws:iot:us-east-1:123456789012"
    static let now = Date(timeIntervalSince1970: 1_790_000_000)  // 2026-09-21

    struct Request: Sendable, CustomStringConvertible {
        var action: IoTAction
        var resource: String
        var effect: AuthorizationDecision.Effect
        var explanation: String? = nil
        var description: String { "\(action.rawValue) \(resource) -> \(effect.rawValue)" }
    }

    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var statements: String
        var context: [String: [String]] = [:]
        var requests: [Request]
        var description: String { name }
    }

    static func r(_ action: IoTAction, _ resource: String, _ effect: AuthorizationDecision.Effect, _ explanation: String? = nil) -> Request {
        Request(action: action, resource: "\(arn):\(resource)", effect: effect, explanation: explanation)
    }

    static let thing: [String: [String]] = [
        "iot:ClientId": ["lamp"], "iot:Connection.Thing.ThingName": ["lamp"], "iot:Connection.Thing.IsAttached": ["true"],
        "iot:Connection.Thing.ThingTypeName": ["bulb"], "iot:Connection.Thing.Attributes[room]": ["kitchen"],
    ]

    static let cases: [Case] = [
        Case(name: "AWS: connect with the thing name as client id, only when attached",
             statements: #"{"Effect":"Allow","Action":"iot:Connect","Resource":"\#(arn):client/${iot:Connection.Thing.ThingName}","Condition":{"Bool":{"iot:Connection.Thing.IsAttached":"true"}}}"#,
             context: thing,
             requests: [r(.connect, "client/lamp", .allowed, "Statement[0] with iot:Connection.Thing.ThingName=lamp"),
                        r(.connect, "client/other", .implicitDeny, "resource or condition not matched")]),
        Case(name: "AWS: connect as the thing name fails without an attached thing",
             statements: #"{"Effect":"Allow","Action":"iot:Connect","Resource":"\#(arn):client/${iot:Connection.Thing.ThingName}"}"#,
             context: ["iot:ClientId": ["lamp"], "iot:Connection.Thing.IsAttached": ["false"]],
             requests: [r(.connect, "client/lamp", .implicitDeny, "no value for ${iot:Connection.Thing.ThingName}")]),
        Case(name: "AWS: publish, subscribe and receive under the thing's own prefix",
             statements: #"""
                {"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":"\#(arn):topic/${iot:Connection.Thing.ThingName}/*"},
                {"Effect":"Allow","Action":"iot:Subscribe","Resource":"\#(arn):topicfilter/${iot:Connection.Thing.ThingName}/*"}
                """#,
             context: thing,
             requests: [r(.publish, "topic/lamp/state", .allowed), r(.receive, "topic/lamp/a/b/c", .allowed),
                        r(.subscribe, "topicfilter/lamp/#", .allowed), r(.publish, "topic/lampx/state", .implicitDeny),
                        r(.subscribe, "topicfilter/#", .implicitDeny), r(.retainPublish, "topic/lamp/state", .implicitDeny)]),
        Case(name: "AWS: the shadow topics of the connected thing",
             statements: #"""
                {"Effect":"Allow","Action":"iot:Publish","Resource":"\#(arn):topic/$aws/things/${iot:Connection.Thing.ThingName}/shadow/update"},
                {"Effect":"Allow","Action":"iot:Subscribe","Resource":"\#(arn):topicfilter/$aws/things/${iot:Connection.Thing.ThingName}/shadow/update/*"}
                """#,
             context: thing,
             requests: [r(.publish, "topic/$aws/things/lamp/shadow/update", .allowed),
                        r(.subscribe, "topicfilter/$aws/things/lamp/shadow/update/accepted", .allowed),
                        r(.publish, "topic/$aws/things/other/shadow/update", .implicitDeny)]),
        Case(name: "AWS: a Deny on topicfilter/a/restricted/* does not stop a subscription to a/#",
             statements: #"""
                {"Effect":"Allow","Action":"iot:Subscribe","Resource":"\#(arn):topicfilter/a/*"},
                {"Effect":"Deny","Action":"iot:Subscribe","Resource":"\#(arn):topicfilter/a/restricted/*"},
                {"Effect":"Allow","Action":"iot:Receive","Resource":"\#(arn):topic/a/*"},
                {"Sid":"ProtectWithReceive","Effect":"Deny","Action":"iot:Receive","Resource":"\#(arn):topic/a/restricted/*"}
                """#,
             requests: [r(.subscribe, "topicfilter/a/#", .allowed), r(.subscribe, "topicfilter/a/restricted/x", .explicitDeny),
                        r(.receive, "topic/a/restricted/x", .explicitDeny, "(Sid ProtectWithReceive)"), r(.receive, "topic/a/open", .allowed)]),
        Case(name: "MQTT wildcards are literal in resources; ${*} ${?} ${$} are escapes",
             statements: #"""
                {"Effect":"Allow","Action":"iot:Subscribe","Resource":["\#(arn):topicfilter/sensors/+/data","\#(arn):topicfilter/literal/${*}","\#(arn):topicfilter/q${?}"]},
                {"Effect":"Allow","Action":"iot:Publish","Resource":"\#(arn):topic/${$}aws/x"}
                """#,
             requests: [r(.subscribe, "topicfilter/sensors/+/data", .allowed), r(.subscribe, "topicfilter/sensors/1/data", .implicitDeny),
                        r(.subscribe, "topicfilter/literal/*", .allowed), r(.subscribe, "topicfilter/literal/x", .implicitDeny),
                        r(.subscribe, "topicfilter/q?", .allowed), r(.subscribe, "topicfilter/qx", .implicitDeny),
                        r(.publish, "topic/$aws/x", .allowed)]),
        Case(name: "AWS: client id from the certificate's common name",
             statements: #"{"Effect":"Allow","Action":"iot:Connect","Resource":"\#(arn):client/${iot:Certificate.Subject.CommonName}"}"#,
             context: ["iot:Certificate.Subject.CommonName": ["device-7"]],
             requests: [r(.connect, "client/device-7", .allowed, "iot:Certificate.Subject.CommonName=device-7"), r(.connect, "client/device-8", .implicitDeny)]),
        Case(name: "AWS: clean and will-less connections only (iot:ConnectAttributes with an empty list)",
             statements: #"{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"ForAllValues:StringEquals":{"iot:ConnectAttributes":[]}}}"#,
             context: ["iot:ConnectAttributes": ["PersistentConnect"]],
             requests: [r(.connect, "client/a", .implicitDeny)]),
        Case(name: "iot:ConnectAttributes: persistent sessions allowed, wills not",
             statements: #"{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"ForAllValues:StringEquals":{"iot:ConnectAttributes":["PersistentConnect"]}}}"#,
             context: ["iot:ConnectAttributes": ["PersistentConnect", "LastWill"]],
             requests: [r(.connect, "client/a", .implicitDeny)]),
        Case(name: "client ids by prefix (StringLike on iot:ClientId), Deny for one",
             statements: #"""
                {"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"StringLike":{"iot:ClientId":["sensor-*","gateway-?"]}}},
                {"Effect":"Deny","Action":"iot:Connect","Resource":"\#(arn):client/sensor-13"}
                """#,
             context: ["iot:ClientId": ["sensor-42"]],
             requests: [r(.connect, "client/sensor-42", .allowed), r(.connect, "client/sensor-13", .explicitDeny, "Statement[1]")]),
        Case(name: "source address (IpAddress / NotIpAddress, IPv4 and IPv6)",
             statements: #"""
                {"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","2001:db8::/32"]}}},
                {"Effect":"Deny","Action":"iot:Connect","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.66.0.0/16"}}}
                """#,
             context: ["aws:SourceIp": ["10.1.2.3"]],
             requests: [r(.connect, "client/a", .allowed)]),
        Case(name: "a denied source network wins",
             statements: #"""
                {"Effect":"Allow","Action":"iot:Connect","Resource":"*"},
                {"Effect":"Deny","Action":"iot:Connect","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"2001:db8::/32"}}}
                """#,
             context: ["aws:SourceIp": ["2001:db9::1"]],
             requests: [r(.connect, "client/a", .explicitDeny)]),
        Case(name: "time windows (DateLessThan aws:CurrentTime, NumericGreaterThan aws:EpochTime)",
             statements: #"""
                {"Effect":"Allow","Action":"iot:Publish","Resource":"\#(arn):topic/until-2030","Condition":{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}},
                {"Effect":"Allow","Action":"iot:Publish","Resource":"\#(arn):topic/after-2027","Condition":{"NumericGreaterThan":{"aws:EpochTime":"1798761600"}}}
                """#,
             requests: [r(.publish, "topic/until-2030", .allowed), r(.publish, "topic/after-2027", .implicitDeny)]),
        Case(name: "thing type and attributes",
             statements: #"""
                {"Effect":"Allow","Action":"iot:Publish","Resource":"\#(arn):topic/rooms/${iot:Connection.Thing.Attributes[room]}/*",
                 "Condition":{"StringEquals":{"iot:Connection.Thing.ThingTypeName":"bulb"}}}
                """#,
             context: thing,
             requests: [r(.publish, "topic/rooms/kitchen/light", .allowed, "iot:Connection.Thing.Attributes[room]=kitchen"),
                        r(.publish, "topic/rooms/hall/light", .implicitDeny)]),
        Case(name: "NotAction and NotResource",
             statements: #"""
                {"Effect":"Allow","NotAction":["iot:Connect","iot:Subscribe"],"NotResource":"\#(arn):topic/private/*"},
                {"Effect":"Allow","Action":"iot:Connect","Resource":"*"}
                """#,
             requests: [r(.publish, "topic/public/x", .allowed), r(.publish, "topic/private/x", .implicitDeny),
                        r(.subscribe, "topicfilter/public/x", .implicitDeny), r(.connect, "client/a", .allowed)]),
        Case(name: "action wildcards (iot:*, iot:Re*) and RetainPublish",
             statements: #"""
                {"Effect":"Allow","Action":"iot:Re*","Resource":"\#(arn):topic/r/*"},
                {"Effect":"Allow","Action":"iot:*","Resource":"\#(arn):topic/all/*"}
                """#,
             requests: [r(.receive, "topic/r/1", .allowed), r(.retainPublish, "topic/r/1", .allowed), r(.publish, "topic/r/1", .implicitDeny),
                        r(.retainPublish, "topic/all/x", .allowed), r(.getRetainedMessage, "topic/all/x", .allowed)]),
        Case(name: "certificate fields by index and .List",
             statements: #"""
                {"Effect":"Allow","Action":"iot:Connect","Resource":"\#(arn):client/${iot:Certificate.Subject.Organization.1}-*"},
                {"Effect":"Allow","Action":"iot:Publish","Resource":"*","Condition":{"ForAnyValue:StringEquals":{"iot:Certificate.Subject.OrganizationalUnit.List":"ops"}}}
                """#,
             context: ["iot:Certificate.Subject.Organization": ["first"], "iot:Certificate.Subject.Organization.1": ["second"],
                       "iot:Certificate.Subject.OrganizationalUnit.List": ["dev", "ops"]],
             requests: [r(.connect, "client/second-1", .allowed), r(.connect, "client/first-1", .implicitDeny), r(.publish, "topic/x", .allowed)]),
        Case(name: "2008-10-17 documents do not substitute variables",
             statements: #"{"Effect":"Allow","Action":"iot:Publish","Resource":"\#(arn):topic/${iot:ClientId}"}"#,
             context: ["iot:ClientId": ["lamp"]],
             requests: [r(.publish, "topic/${iot:ClientId}", .allowed), r(.publish, "topic/lamp", .implicitDeny)]),
        Case(name: "shared subscriptions are authorized with their $share prefix",
             statements: #"{"Effect":"Allow","Action":"iot:Subscribe","Resource":"\#(arn):topicfilter/$share/workers/jobs/*"}"#,
             requests: [r(.subscribe, "topicfilter/$share/workers/jobs/#", .allowed), r(.subscribe, "topicfilter/jobs/#", .implicitDeny)]),
        Case(name: "non-ASCII topics match by character (? is one character)",
             statements: #"{"Effect":"Allow","Action":"iot:Publish","Resource":"\#(arn):topic/caf?/*"}"#,
             requests: [r(.publish, "topic/café/menu", .allowed), r(.publish, "topic/cafe/menu", .allowed), r(.publish, "topic/caféé/menu", .implicitDeny)]),
        Case(name: "ArnLike and ArnEquals compare the six ARN components, wildcards within one",
             statements: #"""
                {"Effect":"Allow","Action":"iot:Publish","Resource":"\#(arn):topic/like","Condition":{"ArnLike":{"iot:thingArn":"arn:aws:iot:*:123456789012:thing/*"}}},
                {"Effect":"Allow","Action":"iot:Publish","Resource":"\#(arn):topic/equals","Condition":{"ArnEquals":{"iot:thingArn":"arn:aws:iot:us-east-1:123456789012:thing/lamp"}}},
                {"Effect":"Allow","Action":"iot:Publish","Resource":"\#(arn):topic/short","Condition":{"ArnLike":{"iot:thingArn":"arn:aws:iot:*:thing/lamp"}}}
                """#,
             context: ["iot:thingArn": ["arn:aws:iot:us-east-1:123456789012:thing/lamp"]],
             requests: [r(.publish, "topic/like", .allowed), r(.publish, "topic/equals", .allowed),
                        r(.publish, "topic/short", .implicitDeny)]),
        Case(name: "ArnLike with a variable: the substituted value stays literal and its colons do not split",
             statements: #"""
                {"Effect":"Allow","Action":"iot:Publish","Resource":"\#(arn):topic/own","Condition":{"ArnLike":{"iot:thingArn":"arn:aws:iot:*:123456789012:thing/${iot:ClientId}"}}}
                """#,
             context: ["iot:thingArn": ["arn:aws:iot:us-east-1:123456789012:thing/lamp"], "iot:ClientId": ["l*"]],
             requests: [r(.publish, "topic/own", .implicitDeny)]),
        Case(name: "ArnLike with a variable that resolves to the thing",
             statements: #"""
                {"Effect":"Allow","Action":"iot:Publish","Resource":"\#(arn):topic/own","Condition":{"ArnLike":{"iot:thingArn":"arn:aws:iot:*:123456789012:thing/${iot:ClientId}"}}}
                """#,
             context: ["iot:thingArn": ["arn:aws:iot:us-east-1:123456789012:thing/lamp"], "iot:ClientId": ["lamp"]],
             requests: [r(.publish, "topic/own", .allowed)]),
        Case(name: "default deny with no statements for the action",
             statements: #"{"Effect":"Allow","Action":"iot:Publish","Resource":"*"}"#,
             requests: [r(.subscribe, "topicfilter/a", .implicitDeny, "no statement of the 1 attached policy allows iot:Subscribe")]),
    ]

    @Test(arguments: cases)
    func decision(_ testCase: Case) throws {
        let version = testCase.name.hasPrefix("2008") ? "2008-10-17" : "2012-10-17"
        let document = try PolicyDocument.parse(#"{"Version":"\#(version)","Statement":[\#(testCase.statements)]}"#)
        var context = AuthorizationContext()
        for (key, values) in testCase.context { context.set(key, values: values) }
        let compiled = CompiledPolicySet(policies: [NamedPolicy(name: "corpus", versionID: "1", document: document)], context: context)
        for request in testCase.requests {
            let decision = compiled.decide(request.action, resource: request.resource, now: Self.now)
            #expect(decision.effect == request.effect, "\(request)")
            let text = decision.explanation(action: request.action, resource: request.resource, policyCount: 1)
            #expect(text.contains(request.resource), "the explanation names the resource: \(text)")
            if let expected = request.explanation { #expect(text.contains(expected), "\(request): \(text)") }
        }
    }
}

/// Random and mutated documents never crash the parser, and whatever parses can be evaluated; random
/// patterns match exactly as a reference matcher says, on the byte path and the character path alike.
@Suite("Policy fuzzing")
struct PolicyFuzzTests {
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let seeds = #"""
        {"Version":"2012-10-17","Statement":[{"Sid":"a","Effect":"Allow","Action":["iot:Publish","iot:*"],"Resource":["arn:aws:iot:*:*:topic/${iot:ClientId}/*","*"],"Condition":{"ForAnyValue:StringLike":{"iot:ConnectAttributes":["Persist*"]},"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"},"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"},"Null":{"iot:Connection.Thing.ThingName":"false"}}}]}
        {"Version":"2008-10-17","Statement":{"Effect":"Deny","NotAction":"iot:Connect","NotResource":"arn:aws:iot:us-east-1:1:client/${*}x${?}","Condition":{"NumericLessThanEquals":{"aws:EpochTime":5},"Bool":{"iot:Connection.Thing.IsAttached":true},"ArnLike":{"x":"arn:*"}}}}
        """#.split(separator: "\n").map(String.init)

    @Test func mutatedDocumentsNeverCrashTheParserOrTheEngine() {
        var random = Generator(state: 20261201)
        let alphabet = Array(#"{}[]":,\ $*?#+/abcxyz019-_.${}Allow Deny Statement Version Condition Resource Action"#.utf8)
        var parsed = 0
        var context = AuthorizationContext()
        context.set("iot:ClientId", "c")
        context.set("aws:SourceIp", "10.0.0.1")
        for round in 0..<3000 {
            var bytes = Array(Self.seeds[round % Self.seeds.count].utf8)
            for _ in 0..<Int.random(in: 1...8, using: &random) {
                guard !bytes.isEmpty else { break }
                let at = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<4, using: &random) {
                case 0: bytes[at] = alphabet.randomElement(using: &random)!
                case 1: bytes.remove(at: at)
                case 2: bytes.insert(alphabet.randomElement(using: &random)!, at: at)
                default: bytes = Array(bytes[..<at])
                }
            }
            let text = String(decoding: bytes, as: UTF8.self)
            guard let document = try? PolicyDocument.parse(text) else { continue }
            parsed += 1
            let compiled = CompiledPolicySet(policies: [NamedPolicy(name: "f", document: document)], context: context)
            for action in IoTAction.allCases {
                _ = compiled.decide(action, resource: "arn:aws:iot:us-east-1:1:topic/c/x", now: Date(timeIntervalSince1970: 1_800_000_000))
            }
        }
        #expect(parsed > 0, "some mutations still parse, so the engine ran on them too")
    }

    @Test func deeplyNestedAndHugeInputsAreRefusedNotCrashed() {
        let nested = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: PolicyParseError.self) { try PolicyDocument.parse(nested) }
        let huge = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish","Resource":""# + String(repeating: "a", count: 5000) + #""}]}"#
        #expect(throws: PolicyParseError.self) { try PolicyDocument.parse(huge) }
    }

    /// Plain recursive glob over characters: the reference the matcher must agree with.
    static func reference(_ pattern: [Character], _ text: [Character]) -> Bool {
        guard let first = pattern.first else { return text.isEmpty }
        if first == "*" { return (0...text.count).contains { reference(Array(pattern.dropFirst()), Array(text.dropFirst($0))) } }
        guard let head = text.first else { return false }
        return (first == "?" || first == head) && reference(Array(pattern.dropFirst()), Array(text.dropFirst()))
    }

    @Test func patternsAgreeWithAReferenceMatcherOnASCIIAndOtherText() throws {
        var random = Generator(state: 7)
        let letters: [Character] = ["a", "b", "/", "+", "#", "é", "ü"]
        for _ in 0..<3000 {
            let pattern = (0..<Int.random(in: 0...6, using: &random)).map { _ in
                [Character("*"), "?", letters.randomElement(using: &random)!].randomElement(using: &random)!
            }
            let text = (0..<Int.random(in: 0...7, using: &random)).map { _ in letters.randomElement(using: &random)! }
            let compiled = try PolicyPattern(template: String(pattern), substitute: false, resolve: { _ in nil })
            #expect(compiled.matches(String(text)) == Self.reference(pattern, text), "\(String(pattern)) vs \(String(text))")
        }
    }
}
