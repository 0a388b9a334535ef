import Benchmark
import MQTTCore
import NIOCore

/// The codec's PUBLISH path: decoding and encoding, with allocations counted. The target is no
/// allocation per message beyond the payload (a slice of the read buffer when decoding).
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .instructions],
        warmupIterations: 1000,
        scalingFactor: .kilo,
        maxDuration: .seconds(3)
    )

    for version in [ProtocolVersion.v3_1_1, .v5] {
        let publish = PublishPacket(topic: "bench/p2p/42", payload: ByteBuffer(repeating: 0x2E, count: 64),
                                    qos: .atLeastOnce, packetID: 7)
        var encoded = ByteBuffer()
        try! MQTTPacketEncoder.encode(.publish(publish), version: version, into: &encoded)

        Benchmark("decode PUBLISH QoS 1, 64 B, MQTT \(version)") { benchmark in
            for _ in benchmark.scaledIterations {
                var decoder = MQTTPacketDecoder(protocolVersion: version)
                var input = encoded
                blackHole(try decoder.decode(from: &input))
            }
        }

        Benchmark("encode PUBLISH QoS 1, 64 B, MQTT \(version)") { benchmark in
            var output = ByteBuffer()
            output.reserveCapacity(4096)
            for _ in benchmark.scaledIterations {
                output.clear()
                try MQTTPacketEncoder.encode(.publish(publish), version: version, into: &output)
                blackHole(output.readableBytes)
            }
        }
    }

    let withProperties = PublishPacket(
        topic: "bench/p2p/42", payload: ByteBuffer(repeating: 0x2E, count: 64), qos: .atLeastOnce, packetID: 7,
        properties: PublishProperties(payloadFormat: .utf8, messageExpiryInterval: 60, responseTopic: "reply/42",
                                      userProperties: [UserProperty("trace", "abc")]))
    var encodedWithProperties = ByteBuffer()
    try! MQTTPacketEncoder.encode(.publish(withProperties), version: .v5, into: &encodedWithProperties)
    Benchmark("decode PUBLISH with properties, MQTT 5") { benchmark in
        for _ in benchmark.scaledIterations {
            var decoder = MQTTPacketDecoder(protocolVersion: .v5)
            var input = encodedWithProperties
            blackHole(try decoder.decode(from: &input))
        }
    }
}
