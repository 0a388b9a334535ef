import Foundation
import IoTPolicy
import Testing

/// AWS's evaluation (reference 3.4 to 3.6), one rule per test, each with the case that must be refused.
@Suite("Policy evaluation")
struct PolicyEvaluatorTests {
    static let arn = "arn:aws:iot:us-east-1:123456789012"
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    func evaluator(_ documents: String...) throws -> PolicyEvaluator {
        PolicyEvaluator(policies: try documents.enumerated().map { NamedPolicy(name: "p\($0.offset)", document: try PolicyDocument.parse($0.element)) })
    }

    func statement(_ action: String, _ resource: String, effect: String = "Allow", condition: String? = nil, version: String = "2012-10-17") -> String {
        #"{"Version":""# + version + #"","Statement":[{"Effect":""# + effect + #"","Action":""# + action + #"","Resource":""# + resource + "\""
            + (condition.map { #","Condition":"# + $0 } ?? "") + "}]}"
    }

    func decide(_ evaluator: PolicyEvaluator, _ action: IoTAction, _ resource: String, _ context: AuthorizationContext = AuthorizationContext()) -> AuthorizationDecision.Effect {
        evaluator.evaluate(action, resource: "\(Self.arn):\(resource)", context: context, now: now).effect
    }

    @Test func defaultDenyAndAStarThatCrossesLevels() throws {
        #expect(decide(PolicyEvaluator(policies: []), .connect, "client/a") == .implicitDeny)
        let e = try evaluator(statement("iot:Publish", "\(Self.arn):topic/a/*"))
        #expect(decide(e, .publish, "topic/a/b/c") == .allowed, "* matches across /")
        #expect(decide(e, .publish, "topic/b") == .implicitDeny)
        #expect(decide(e, .receive, "topic/a/b") == .implicitDeny, "another action")
    }

    @Test func plusAndHashAreLiteralAndQuestionMarkIsOneCharacter() throws {
        let e = try evaluator(statement("iot:Subscribe", "\(Self.arn):topicfilter/a/#"), statement("iot:Publish", "\(Self.arn):topic/x?"))
        #expect(decide(e, .subscribe, "topicfilter/a/#") == .allowed)
        #expect(decide(e, .subscribe, "topicfilter/a/b") == .implicitDeny, "# is not a wildcard in policies")
        #expect(decide(e, .publish, "topic/x1") == .allowed)
        #expect(decide(e, .publish, "topic/x12") == .implicitDeny)
        #expect(decide(e, .publish, "topic/x") == .implicitDeny)
    }

    @Test func anExplicitDenyWinsWhateverTheOrder() throws {
        let allow = statement("iot:*", "*")
        let deny = statement("iot:Publish", "\(Self.arn):topic/secret/*", effect: "Deny")
        for e in [try evaluator(allow, deny), try evaluator(deny, allow)] {
            #expect(decide(e, .publish, "topic/secret/x") == .explicitDeny)
            #expect(decide(e, .publish, "topic/public") == .allowed)
        }
        let decision = try evaluator(allow, deny).evaluate(.publish, resource: "\(Self.arn):topic/secret/x", context: AuthorizationContext(), now: now)
        #expect(decision.statements.map(\.policyName) == ["p1"])
        #expect(decision.explanation(action: .publish, resource: "topic/secret/x", policyCount: 2).contains("explicitly denied by policy p1 Statement[0]"))
    }

    @Test func actionPatternsAndNotActionNotResource() throws {
        let e = try evaluator(statement("iot:Pub*", "*"))
        #expect(decide(e, .publish, "topic/a") == .allowed && decide(e, .subscribe, "topicfilter/a") == .implicitDeny)
        let not = try evaluator(#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"iot:Publish","NotResource":"\#(Self.arn):topic/private/*"}]}"#)
        #expect(decide(not, .receive, "topic/public") == .allowed)
        #expect(decide(not, .receive, "topic/private/x") == .implicitDeny)
        #expect(decide(not, .publish, "topic/public") == .implicitDeny)
    }

    @Test func variablesResolveOnlyIn2012DocumentsAndUnresolvedOnesMatchNothing() throws {
        var context = AuthorizationContext()
        context.set("iot:ClientId", "dev-1")
        let modern = try evaluator(statement("iot:Connect", "\(Self.arn):client/${iot:ClientId}"))
        #expect(decide(modern, .connect, "client/dev-1", context) == .allowed)
        #expect(decide(modern, .connect, "client/dev-2", context) == .implicitDeny)
        let old = try evaluator(statement("iot:Connect", "\(Self.arn):client/${iot:ClientId}", version: "2008-10-17"))
        #expect(decide(old, .connect, "client/dev-1", context) == .implicitDeny, "2008-10-17 has no variables")
        let thing = try evaluator(statement("iot:Publish", "\(Self.arn):topic/${iot:Connection.Thing.ThingName}/*"))
        let decision = thing.evaluate(.publish, resource: "\(Self.arn):topic/x/y", context: context, now: now)
        #expect(decision.effect == .implicitDeny && decision.missingContextValues == ["iot:Connection.Thing.ThingName"])
    }

    @Test func escapesStandForLiteralCharacters() throws {
        let e = try evaluator(statement("iot:Publish", "\(Self.arn):topic/${*}/${?}/${$}"))
        #expect(decide(e, .publish, "topic/*/?/$") == .allowed)
        #expect(decide(e, .publish, "topic/a/b/$") == .implicitDeny)
    }

    @Test func certificateValuesWithWildcardsOrTooLongDoNotResolve() throws {
        let e = try evaluator(statement("iot:Publish", "\(Self.arn):topic/${iot:Certificate.Subject.CommonName}"))
        var context = AuthorizationContext()
        context.setCertificateField("iot:Certificate.Subject.CommonName", values: ["a+b"])
        #expect(decide(e, .publish, "topic/a+b", context) == .implicitDeny, "a + in a certificate value leaves the variable unresolved")
        context.setCertificateField("iot:Certificate.Subject.CommonName", values: [String(repeating: "x", count: 1025)])
        #expect(decide(e, .publish, "topic/" + String(repeating: "x", count: 1025), context) == .implicitDeny)
        context.setCertificateField("iot:Certificate.Subject.CommonName", values: ["lamp"])
        #expect(decide(e, .publish, "topic/lamp", context) == .allowed)
    }

    @Test func multiValuedCertificateFieldsByIndexAndList() throws {
        var context = AuthorizationContext()
        context.setCertificateField("iot:Certificate.Subject.OrganizationalUnit", values: ["a", "b", "c", "d", "e", "f"])
        let second = try evaluator(statement("iot:Publish", "\(Self.arn):topic/${iot:Certificate.Subject.OrganizationalUnit.1}"))
        #expect(decide(second, .publish, "topic/b", context) == .allowed, ".1 is the second value")
        let sixth = try evaluator(statement("iot:Publish", "\(Self.arn):topic/${iot:Certificate.Subject.OrganizationalUnit.5}"))
        #expect(decide(sixth, .publish, "topic/f", context) == .implicitDeny, "arrays are truncated to five")
        let any = try evaluator(statement("iot:Publish", "*", condition: #"{"ForAnyValue:StringEquals":{"iot:Certificate.Subject.OrganizationalUnit.List":["e"]}}"#))
        #expect(decide(any, .publish, "topic/x", context) == .allowed)
        #expect(context.values(of: "iot:Certificate.AvailableKeys") == ["iot:Certificate.Subject.OrganizationalUnit"])
    }

    @Test func connectAttributesWithForAllValues() throws {
        let e = try evaluator(statement("iot:Connect", "*", condition: #"{"ForAllValues:StringEquals":{"iot:ConnectAttributes":[]}}"#))
        var clean = AuthorizationContext()
        clean.set("iot:ConnectAttributes", values: [])
        #expect(decide(e, .connect, "client/c", clean) == .allowed, "a clean, will-less connect")
        var persistent = AuthorizationContext()
        persistent.set("iot:ConnectAttributes", values: ["PersistentConnect"])
        #expect(decide(e, .connect, "client/c", persistent) == .implicitDeny)
        let allowWill = try evaluator(statement("iot:Connect", "*", condition: #"{"ForAllValues:StringEquals":{"iot:ConnectAttributes":["LastWill","PersistentConnect"]}}"#))
        persistent.set("iot:ConnectAttributes", values: ["PersistentConnect", "LastWill"])
        #expect(decide(allowWill, .connect, "client/c", persistent) == .allowed)
    }

    @Test func operatorsAndMissingKeys() throws {
        var context = AuthorizationContext()
        context.set("aws:SourceIp", "10.1.2.3")
        context.set("iot:Connection.Thing.IsAttached", "true")
        context.set("n", "7")
        let cases: [(String, Bool)] = [
            (#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#, true),
            (#"{"NotIpAddress":{"aws:SourceIp":["10.0.0.0/8","192.168.0.0/16"]}}"#, false),
            (#"{"Bool":{"iot:Connection.Thing.IsAttached":"true"}}"#, true),
            (#"{"NumericLessThan":{"n":10},"NumericGreaterThanEquals":{"n":"7"}}"#, true),
            (#"{"NumericGreaterThan":{"n":7}}"#, false),
            (#"{"StringEquals":{"absent":"x"}}"#, false),
            (#"{"StringEqualsIfExists":{"absent":"x"}}"#, true),
            (#"{"StringNotEquals":{"absent":"x"}}"#, true),
            (#"{"Null":{"absent":"true"}}"#, true),
            (#"{"Null":{"n":"true"}}"#, false),
            (#"{"StringLike":{"aws:SourceIp":"10.*"}}"#, true),
            (#"{"StringNotLike":{"aws:SourceIp":"10.*"}}"#, false),
            (#"{"StringEqualsIgnoreCase":{"iot:Connection.Thing.IsAttached":"TRUE"}}"#, true),
            (#"{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}"#, true),
            (#"{"DateGreaterThan":{"aws:CurrentTime":"2030-01-01"}}"#, false),
            (#"{"StringEquals":{"n":"${aws:SourceIp}"}}"#, false),
            (#"{"StringEquals":{"aws:SourceIp":"${aws:SourceIp}"}}"#, true),
        ]
        for (condition, allowed) in cases {
            let e = try evaluator(statement("iot:Connect", "*", condition: condition))
            #expect(decide(e, .connect, "client/c", context) == (allowed ? .allowed : .implicitDeny), "\(condition)")
        }
    }

    @Test func aDenyWithAConditionAppliesOnlyWhenItHolds() throws {
        let e = try evaluator(statement("iot:*", "*"), statement("iot:Connect", "*", effect: "Deny", condition: #"{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#))
        var inside = AuthorizationContext()
        inside.set("aws:SourceIp", "10.0.0.5")
        var outside = AuthorizationContext()
        outside.set("aws:SourceIp", "203.0.113.9")
        #expect(decide(e, .connect, "client/c", inside) == .allowed)
        #expect(decide(e, .connect, "client/c", outside) == .explicitDeny)
    }
}

/// Unresolved variables, escapes in Like values, set qualifiers: the cases a reviewer found wrong.
@Suite("Policy evaluation: unresolved values and patterns")
struct PolicyEdgeCaseTests {
    static let arn = "arn:aws:iot:us-east-1:123456789012"
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    func decide(_ document: String, _ action: IoTAction, _ resource: String, _ context: AuthorizationContext = AuthorizationContext()) throws -> AuthorizationDecision.Effect {
        PolicyEvaluator(policies: [NamedPolicy(name: "p", document: try PolicyDocument.parse(document))])
            .evaluate(action, resource: "\(Self.arn):\(resource)", context: context, now: now).effect
    }

    @Test func aNotResourceWhoseVariableDoesNotResolveExcludesNothing() throws {
        let document = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish","Resource":"\#(Self.arn):topic/*"},{"Effect":"Deny","Action":"iot:Publish","NotResource":"\#(Self.arn):topic/${iot:Connection.Thing.ThingName}/*"}]}"#
        #expect(try decide(document, .publish, "topic/x") == .explicitDeny, "no thing: the deny covers every topic")
        var context = AuthorizationContext()
        context.set("iot:Connection.Thing.ThingName", "lamp")
        #expect(try decide(document, .publish, "topic/lamp/state", context) == .allowed)
    }

    @Test func anUnresolvedConditionValueIsNullSoNegatedOperatorsHold() throws {
        let document = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"},{"Effect":"Deny","Action":"iot:Connect","Resource":"*","Condition":{"StringNotEquals":{"iot:ClientId":"${iot:Connection.Thing.ThingName}"}}}]}"#
        var context = AuthorizationContext()
        context.set("iot:ClientId", "dev")
        #expect(try decide(document, .connect, "client/dev", context) == .explicitDeny)
        context.set("iot:Connection.Thing.ThingName", "dev")
        #expect(try decide(document, .connect, "client/dev", context) == .allowed)
    }

    @Test func likeValuesKeepEscapesAndSubstitutedTextLiteral() throws {
        var context = AuthorizationContext()
        context.set("iot:ClientId", "*")
        context.set("k", "axyz")
        let escaped = #"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"StringLike":{"k":"a${*}"}}}}"#
        #expect(try decide(escaped, .connect, "client/c", context) == .implicitDeny, "${*} is a literal star")
        let clientID = #"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"StringLike":{"k":"${iot:ClientId}"}}}}"#
        #expect(try decide(clientID, .connect, "client/c", context) == .implicitDeny, "a client id of * matches only *")
        let wildcard = #"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"StringLike":{"k":"a*"}}}}"#
        #expect(try decide(wildcard, .connect, "client/c", context) == .allowed)
    }

    @Test func setQualifiersOnMultiValuedKeys() throws {
        var context = AuthorizationContext()
        context.set("tags", values: ["a", "b"])
        func condition(_ text: String) -> String {
            #"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":"# + text + "}}"
        }
        #expect(try decide(condition(#"{"ForAnyValue:StringNotEquals":{"tags":"a"}}"#), .connect, "client/c", context) == .allowed)
        #expect(try decide(condition(#"{"ForAllValues:StringNotEquals":{"tags":"a"}}"#), .connect, "client/c", context) == .implicitDeny)
        #expect(try decide(condition(#"{"StringNotEquals":{"tags":"a"}}"#), .connect, "client/c", context) == .implicitDeny)
        #expect(try decide(condition(#"{"ForAnyValue:StringEqualsIfExists":{"absent":"a"}}"#), .connect, "client/c", context) == .allowed)
        #expect(try decide(condition(#"{"ForAnyValue:StringEquals":{"absent":"a"}}"#), .connect, "client/c", context) == .implicitDeny)
    }

    @Test func theRequestTimeResolvesInsideValues() throws {
        var context = AuthorizationContext()
        context.set("iot:Connection.Thing.Attributes[expiry]", "2040-01-01T00:00:00Z")
        let document = #"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"DateGreaterThan":{"iot:Connection.Thing.Attributes[expiry]":"${aws:CurrentTime}"}}}}"#
        #expect(try decide(document, .connect, "client/c", context) == .allowed)
        context.set("iot:Connection.Thing.Attributes[expiry]", "2020-01-01T00:00:00Z")
        #expect(try decide(document, .connect, "client/c", context) == .implicitDeny)
    }

    @Test(arguments: [("*?", "", false), ("*aab", "aaab", true), ("a*a", "a", false), ("**", "", true), ("a*b*c", "axxbyyc", true),
                      ("a*b*c", "axxbyy", false), ("é?", "éa", true), ("?", "", false), ("", "", true), ("x", "", false)])
    func wildcardMatching(pattern: String, text: String, matches: Bool) throws {
        #expect(try PolicyPattern(template: pattern, substitute: false, resolve: { _ in nil }).matches(text) == matches)
    }

    @Test func actionNamesIgnoreCaseAndResourcesDoNot() throws {
        let document = #"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"IOT:PUBLISH","Resource":"\#(Self.arn):topic/Lamp"}}"#
        #expect(try decide(document, .publish, "topic/Lamp") == .allowed)
        #expect(try decide(document, .publish, "topic/lamp") == .implicitDeny)
    }
}

/// The compiled form a connection keeps: the same decisions, cached per action and resource, bounded.
@Suite("Policy evaluation: compiled per connection")
struct CompiledPolicySetTests {
    static let arn = "arn:aws:iot:us-east-1:123456789012"

    @Test func decisionsAreCachedAndTheCacheIsBounded() throws {
        var context = AuthorizationContext()
        context.set("iot:ClientId", "dev")
        let document = try PolicyDocument.parse(#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish","Resource":"\#(Self.arn):topic/${iot:ClientId}/*"}]}"#)
        let authorizer = ConnectionAuthorizer(policies: CompiledPolicySet(policies: [NamedPolicy(name: "p", versionID: "3", document: document)], context: context),
                                              arnPrefix: Self.arn + ":")
        let now = Date()
        #expect(authorizer.resource(.publish, "dev/a") == "\(Self.arn):topic/dev/a")
        #expect(authorizer.resource(.subscribe, "dev/#") == "\(Self.arn):topicfilter/dev/#")
        #expect(authorizer.resource(.connect, "dev") == "\(Self.arn):client/dev")
        #expect(authorizer.decide(.publish, name: "dev/a", now: now).isAllowed)
        // A full ARN of this prefix shares the cache entry.
        let allowed = authorizer.decide(.publish, resource: "\(Self.arn):topic/dev/a", now: now)
        #expect(allowed.isAllowed)
        #expect(authorizer.cachedDecisions == 1)
        #expect(allowed.statements.first?.description == "policy p version 3 Statement[0] with iot:ClientId=dev")
        let denied = authorizer.decide(.publish, name: "other/a", now: now)
        #expect(!denied.isAllowed)
        #expect(denied.considered.map(\.policyName) == ["p"])
        // Receive is not in the statement's actions: nothing considered.
        #expect(authorizer.decide(.receive, name: "dev/a", now: now).considered.isEmpty)
        for index in 0..<(ConnectionAuthorizer.cacheCapacity * 2) {
            _ = authorizer.decide(.publish, name: "dev/\(index)", now: now)
        }
        #expect(authorizer.cachedDecisions <= ConnectionAuthorizer.cacheCapacity)
    }

    @Test func timeConditionsAreDecidedPerRequestAndNotCached() throws {
        let document = try PolicyDocument.parse(#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}}]}"#)
        let authorizer = ConnectionAuthorizer(policies: CompiledPolicySet(policies: [NamedPolicy(name: "p", document: document)], context: AuthorizationContext()))
        #expect(authorizer.decide(.connect, resource: "\(Self.arn):client/c", now: Date(timeIntervalSince1970: 1_800_000_000)).isAllowed)
        #expect(!authorizer.decide(.connect, resource: "\(Self.arn):client/c", now: Date(timeIntervalSince1970: 1_900_000_000)).isAllowed)
        #expect(authorizer.cachedDecisions == 0)
    }
}
