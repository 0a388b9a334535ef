import AWSSigV4
import ArgumentParser
import AsyncHTTPClient
import Bench
import Crypto
import Foundation
import Histogram
import NIOCore
import NIOSSL
import PortcullisServer
import Synchronization

extension BenchCommand {
    /// `portcullis bench shadow`: device shadow updates per second, over MQTT (closed loop per thing) or
    /// over HTTPS (UpdateThingShadow signed with the data folder's admin key).
    struct Shadow: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Device shadow updates per second over MQTT, or with --https over the iot-data API.",
            discussion: """
                MQTT: one connection per thing publishes to $aws/things/<thing>/shadow/update and sends the next
                update when /update/accepted or /rejected answers, keeping --window in flight. HTTPS: --things x
                --window concurrent UpdateThingShadow calls to --https (the API or the shared port), signed with
                the admin key of --data-dir. Every update is durable before it is answered.
                """)
        @OptionGroup var target: TargetOptions
        @Option(help: "Things (MQTT: one connection each).") var things = 10
        @Option(help: "Updates in flight per thing (1-10).") var window = 1
        @Option(help: "Seconds of updating.") var duration = 10.0
        @Option(help: "Measure HTTPS instead: the iot-data endpoint, like https://localhost:9443.") var https: String?
        @Option(help: "Data folder whose admin key signs the HTTPS requests.") var dataDir = "portcullis-data"

        func run() async throws {
            let result: ShadowResult
            do {
                if let https {
                    result = try await httpsRun(endpoint: https)
                } else {
                    result = try await ShadowScenario(target: try target.target(), things: things, window: window, duration: duration,
                                                      serverPID: target.serverPid).run()
                }
            } catch let refusal as BenchTarget.Refusal {
                throw ValidationError(refusal.description)
            }
            print(result.summary)
            if let json = target.json { try JSONEncoder.pretty.encode(result).write(to: URL(fileURLWithPath: json)) }
        }

        func httpsRun(endpoint: String) async throws -> ShadowResult {
            try ShadowScenario(target: try target.target(), things: things, window: window, duration: duration).validate()
            guard let url = URL(string: endpoint), url.scheme == "https", let host = url.host else {
                throw ValidationError("--https: a URL like https://localhost:9443")
            }
            if !target.allowRemote && !["localhost", "127.0.0.1", "::1", "[::1]"].contains(host) {
                throw ValidationError("--https: a loopback host, unless --allow-remote")
            }
            let admin = try AdminAPIClient(data: DataDirectory(path: dataDir))
            let signer = SigV4Signer(credential: admin.signer.credential, region: admin.signer.region, service: "iotdata")
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(admin.caPEM.utf8)))
            let client = HTTPClient(eventLoopGroupProvider: .singleton,
                                    configuration: .init(tlsConfiguration: tls, connectionPool: .init(idleTimeout: .seconds(30))))
            let authority = url.port.map { "\(host):\($0)" } ?? host
            let runID = String(UInt32.random(in: 0...UInt32.max), radix: 36)
            let deadline = ContinuousClock.now + .seconds(duration)
            let started = ContinuousClock.now
            let outcome = await withTaskGroup(of: (sent: Int, accepted: Int, errors: [String: Int], latency: Histogram<UInt64>).self) { group in
                for index in 0..<(things * window) {
                    let path = "/things/bench-\(runID)-\(index % things)/shadow"
                    group.addTask {
                        var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
                        var sent = 0, accepted = 0
                        var errors: [String: Int] = [:]
                        while ContinuousClock.now < deadline {
                            sent += 1
                            let body = Array("{\"state\":{\"reported\":{\"n\":\(sent),\"ok\":true}}}".utf8)
                            let hash = SHA256.hash(data: body).map { String(format: "%02x", $0) }.joined()
                            let signed = signer.sign(SigV4Request(method: "POST", rawPath: path, rawQuery: "", headers: [("Host", authority)],
                                                                  payloadSHA256: hash), at: Int64(Date().timeIntervalSince1970))
                            var request = HTTPClientRequest(url: endpoint + path)
                            request.method = .POST
                            for (name, value) in signed.headers where name.lowercased() != "host" { request.headers.add(name: name, value: value) }
                            request.body = .bytes(ByteBuffer(bytes: body))
                            let begin = ContinuousClock.now
                            do {
                                let response = try await client.execute(request, timeout: .seconds(30))
                                _ = try await response.body.collect(upTo: 1 << 20)
                                if response.status == .ok {
                                    accepted += 1
                                    let elapsed = ContinuousClock.now - begin
                                    _ = latency.record(UInt64(elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000))
                                } else {
                                    errors["HTTP \(response.status.code)", default: 0] += 1
                                }
                            } catch {
                                errors["\(type(of: error))", default: 0] += 1
                            }
                        }
                        return (sent, accepted, errors, latency)
                    }
                }
                var total = (sent: 0, accepted: 0, errors: [String: Int](),
                             latency: Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three))
                for await part in group {
                    total.sent += part.sent
                    total.accepted += part.accepted
                    total.errors.merge(part.errors, uniquingKeysWith: +)
                    total.latency.add(part.latency)
                }
                return total
            }
            try? await client.shutdown()
            let elapsed = ContinuousClock.now - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            return ShadowResult(transport: "HTTPS", things: things, window: window, durationSeconds: seconds, sent: outcome.sent,
                                accepted: outcome.accepted, rejected: outcome.sent - outcome.accepted,
                                acceptedPerSecond: Double(outcome.accepted) / seconds, latencyMicroseconds: LatencySummary(outcome.latency),
                                errors: outcome.errors, server: nil)
        }
    }
}
