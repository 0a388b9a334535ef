import ArgumentParser
import Bench
import Foundation
import MQTTCore

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Load-test an MQTT broker (Portcullis or any other) over TCP or TLS.",
        discussion: """
            Scenarios: conn (open N connections at a rate, hold, close), p2p (N publishers, N subscribers,
            one topic per pair), fan-in (N publishers, one wildcard or shared subscription), fan-out (one
            publisher, N subscribers), shadow (device shadow updates per second, MQTT or --https). Each payload carries a timestamp; latency is publish to delivery.
            Runs are bounded in time and count and refuse non-loopback targets unless --allow-remote.

            Example, against a gateway started with `portcullis serve` and a minted device:
              portcullis bench p2p --port 8883 --ca D/root-ca.pem --cert D/dev.cert.pem --key D/dev.private.key \\
                --pairs 100 --qos 1 --payload 64 --duration 20
            """,
        subcommands: [Conn.self, P2P.self, FanIn.self, FanOut.self, Shadow.self]
    )

    struct TargetOptions: ParsableArguments {
        @Option(help: "Broker host.") var host = "127.0.0.1"
        @Option(help: "Broker port.") var port = 8883
        @Option(help: "MQTT version: 3.1.1 or 5.") var mqtt = "5"
        @Option(help: "CA bundle to trust; enables TLS.") var ca: String?
        @Option(help: "Client certificate (PEM) for mutual TLS.") var cert: String?
        @Option(help: "Client private key (PEM).") var key: String?
        @Option(help: "TLS server name to send and verify.") var serverName = "localhost"
        @Option(name: .customLong("source-address"), help: "Local address to connect from; repeat to spread connections (e.g. 127.0.0.1 ... 127.0.0.16) past the 64k port limit.")
        var sourceAddresses: [String] = []
        @Flag(help: "Allow a non-loopback target.") var allowRemote = false
        @Option(help: "Sample this process's CPU and memory from /proc during the run.") var serverPid: Int32?
        @Option(help: "Write the full result as JSON to this file.") var json: String?

        func target() throws -> BenchTarget {
            let version: ProtocolVersion
            switch mqtt {
            case "3.1.1", "311", "4": version = .v3_1_1
            case "5", "5.0": version = .v5
            default: throw ValidationError("--mqtt: 3.1.1 or 5")
            }
            if (cert == nil) != (key == nil) { throw ValidationError("--cert and --key go together") }
            if cert != nil && ca == nil { throw ValidationError("--cert needs --ca (TLS)") }
            let tls = ca.map { BenchTarget.TLS(caFile: $0, certificateFile: cert, keyFile: key, serverName: serverName) }
            return BenchTarget(host: host, port: port, version: version, tls: tls, sourceAddresses: sourceAddresses,
                               allowRemote: allowRemote)
        }
    }

    struct MessageOptions: ParsableArguments {
        @Option(help: "QoS 0 or 1.") var qos = 0
        @Option(help: "Payload size in bytes (suffix K or M allowed); at least 20 (the timestamp).") var payload = "64"
        @Option(help: "Messages per second per publisher, or 'max' for as fast as the broker accepts.") var rate = "max"
        @Option(help: "Seconds of publishing.") var duration = 10.0
        @Option(help: "Longest wait for in-flight messages after publishing stops, seconds.") var drain = 10.0

        func parsedQoS() throws -> QoS {
            guard let qos = QoS(rawValue: UInt8(clamping: qos)), qos != .exactlyOnce, self.qos >= 0 else {
                throw ValidationError("--qos: 0 or 1")
            }
            return qos
        }

        func payloadBytes() throws -> Int {
            let text = payload.uppercased()
            let multiplier = text.hasSuffix("K") ? 1024 : text.hasSuffix("M") ? 1024 * 1024 : 1
            guard let number = Int(text.trimmingCharacters(in: CharacterSet(charactersIn: "KM"))), number > 0 else {
                throw ValidationError("--payload: a size like 64, 16K or 1M")
            }
            return number * multiplier
        }

        func parsedRate() throws -> Double? {
            if rate == "max" { return nil }
            guard let value = Double(rate), value > 0 else { throw ValidationError("--rate: a positive number or 'max'") }
            return value
        }
    }

    static func run(_ scenario: PubSubScenario, json: String?) async throws {
        let result: PubSubResult
        do {
            result = try await scenario.run()
        } catch let refusal as BenchTarget.Refusal {
            throw ValidationError(refusal.description)
        }
        print(result.summary)
        if let json { try JSONEncoder.pretty.encode(result).write(to: URL(fileURLWithPath: json)) }
    }

    struct Conn: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Open N connections at a target rate, hold them, close them.")
        @OptionGroup var target: TargetOptions
        @Option(help: "Connections to open.") var count = 1000
        @Option(help: "Connections started per second, or 'max'.") var rate = "max"
        @Option(help: "Seconds to hold the connections open.") var hold = 5.0
        @Option(help: "Connections being set up at once.") var concurrency = 256

        func run() async throws {
            let rateValue: Double? = rate == "max" ? nil : Double(rate)
            if rate != "max" && (rateValue ?? 0) <= 0 { throw ValidationError("--rate: a positive number or 'max'") }
            let scenario = ConnScenario(target: try target.target(), count: count, rate: rateValue, hold: hold,
                                        concurrency: concurrency, serverPID: target.serverPid)
            let result: ConnResult
            do {
                result = try await scenario.run()
            } catch let refusal as BenchTarget.Refusal {
                throw ValidationError(refusal.description)
            }
            print(result.summary)
            if let json = target.json { try JSONEncoder.pretty.encode(result).write(to: URL(fileURLWithPath: json)) }
        }
    }

    struct P2P: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "p2p", abstract: "N publishers and N subscribers, one topic per pair.")
        @OptionGroup var target: TargetOptions
        @OptionGroup var message: MessageOptions
        @Option(help: "Publisher/subscriber pairs.") var pairs = 100

        func run() async throws {
            try await BenchCommand.run(PubSubScenario(
                kind: .p2p, target: try target.target(), publishers: pairs, subscribers: pairs, qos: try message.parsedQoS(),
                payloadSize: try message.payloadBytes(), rate: try message.parsedRate(), duration: message.duration,
                drainTimeout: message.drain, serverPID: target.serverPid), json: target.json)
        }
    }

    struct FanIn: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "fan-in", abstract: "N publishers to one wildcard subscription, or a shared subscription.")
        @OptionGroup var target: TargetOptions
        @OptionGroup var message: MessageOptions
        @Option(help: "Publishers.") var publishers = 1000
        @Option(help: "Subscribers (with --shared, members of the shared subscription; otherwise each gets every message).") var subscribers = 1
        @Flag(help: "Subscribe with $share/bench/... so the members split the messages.") var shared = false

        func run() async throws {
            try await BenchCommand.run(PubSubScenario(
                kind: .fanIn, target: try target.target(), publishers: publishers, subscribers: subscribers,
                qos: try message.parsedQoS(), payloadSize: try message.payloadBytes(), rate: try message.parsedRate(),
                duration: message.duration, sharedSubscription: shared, drainTimeout: message.drain,
                serverPID: target.serverPid), json: target.json)
        }
    }

    struct FanOut: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "fan-out", abstract: "One publisher, N subscribers of its topic.")
        @OptionGroup var target: TargetOptions
        @OptionGroup var message: MessageOptions
        @Option(help: "Subscribers.") var subscribers = 1000

        func run() async throws {
            try await BenchCommand.run(PubSubScenario(
                kind: .fanOut, target: try target.target(), publishers: 1, subscribers: subscribers,
                qos: try message.parsedQoS(), payloadSize: try message.payloadBytes(), rate: try message.parsedRate(),
                duration: message.duration, drainTimeout: message.drain, serverPID: target.serverPid), json: target.json)
        }
    }
}

extension JSONEncoder {
    static var pretty: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return encoder
    }
}
