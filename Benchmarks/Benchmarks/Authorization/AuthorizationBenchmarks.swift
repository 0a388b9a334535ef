import Benchmark
import Foundation
import IoTPolicy

/// One authorization decision, the way the gateway makes it: policies compiled once per connection,
/// then matched per request. Eclipse Amlen's methodology: N attached policies of which only the last
/// one matches, so every statement is looked at.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .instructions],
        warmupIterations: 100,
        // Per decision, not per sample: the harness's own allocations are spread over a thousand.
        scalingFactor: .kilo,
        maxDuration: .seconds(3)
    )

    let arn = "arn:aws:iot:us-east-1:123456789012"
    let now = Date(timeIntervalSince1970: 1_790_000_000)
    var context = AuthorizationContext()
    context.set("iot:ClientId", "sensor-42")
    context.set("iot:Connection.Thing.ThingName", "sensor-42")
    context.set("iot:Connection.Thing.Attributes[floor]", "3")
    context.set("aws:SourceIp", "10.1.2.3")

    func policy(_ name: String, _ statements: String) -> NamedPolicy {
        NamedPolicy(name: name, versionID: "1", document: try! PolicyDocument.parse(#"{"Version":"2012-10-17","Statement":[\#(statements)]}"#))
    }
    /// Three statements with variables for another fleet: never matches the request.
    func other(_ n: Int) -> NamedPolicy {
        policy("other-\(n)", #"""
            {"Effect":"Allow","Action":"iot:Connect","Resource":"\#(arn):client/fleet\#(n)-${iot:ClientId}"},
            {"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":"\#(arn):topic/fleet\#(n)/${iot:ClientId}/*"},
            {"Effect":"Allow","Action":"iot:Subscribe","Resource":"\#(arn):topicfilter/fleet\#(n)/${iot:ClientId}/*"}
            """#)
    }
    let matching = policy("site", #"""
        {"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":"\#(arn):topic/site/*/telemetry"},
        {"Effect":"Deny","Action":"iot:Publish","Resource":"\#(arn):topic/site/*/forbidden"}
        """#)
    let topic = "\(arn):topic/site/sensor-42/telemetry"

    for count in [1, 5, 10, 40] {
        let set = CompiledPolicySet(policies: (0..<(count - 1)).map(other) + [matching], context: context)
        precondition(set.decide(.publish, resource: topic, now: now).isAllowed)
        Benchmark("authorize PUBLISH, \(count) policies, last matches (no cache)") { benchmark in
            for _ in benchmark.scaledIterations { blackHole(set.decide(.publish, resource: topic, now: now)) }
        }
    }

    let withVariables = CompiledPolicySet(policies: (0..<9).map(other) + [policy("own", #"""
        {"Effect":"Allow","Action":"iot:Publish","Resource":"\#(arn):topic/site/${iot:Connection.Thing.ThingName}/*",
         "Condition":{"StringEquals":{"iot:Connection.Thing.Attributes[floor]":"3"},"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}
        """#)], context: context)
    precondition(withVariables.decide(.publish, resource: topic, now: now).isAllowed)
    Benchmark("authorize PUBLISH, 10 policies, variables and conditions (no cache)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(withVariables.decide(.publish, resource: topic, now: now)) }
    }

    let ten = (0..<9).map(other) + [matching]
    let authorizer = ConnectionAuthorizer(policies: CompiledPolicySet(policies: ten, context: context), arnPrefix: arn + ":")
    Benchmark("authorize PUBLISH, 10 policies, per-connection cache hit") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(authorizer.decide(.publish, name: "site/sensor-42/telemetry", now: now)) }
    }

    Benchmark("compile 10 policies for one connection (at CONNECT)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(CompiledPolicySet(policies: ten, context: context)) }
    }

    let text = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":"\#(arn):topic/site/${iot:Connection.Thing.ThingName}/*","Condition":{"StringEquals":{"iot:Connection.Thing.Attributes[floor]":"3"}}}]}"#
    Benchmark("parse one policy document (CreatePolicy, once per document)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try? PolicyDocument.parse(text)) }
    }
}
