import AWSSigV4
@testable import ControlPlane
import Crypto
import DeviceIdentity
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOEmbedded
import Registry
import Testing

/// The API in process: requests signed with the project's signer go through the real router and SigV4
/// middleware, with the clock injected. The wire tests with awscli and boto3 are in Tests/Interop.
@Suite("Control plane router")
struct ControlPlaneRouterTests {
    static let credential = SigV4Credential(accessKeyID: "AKIAPORTCULLISTEST01", secretAccessKey: "router-test-secret-0000")
    static let now: Int64 = 1_790_000_000

    let responder = ControlPlane.makeRouter(
        configuration: .init(host: "127.0.0.1", port: 0, region: "us-east-1", accountID: "123456789012",
                             dataEndpointAddress: "gw.example.com", credentials: [credential],
                             serverCertificateChainPEM: "", serverPrivateKeyPEM: ""),
        registry: try! Registry(arns: ARNs(region: "us-east-1", accountID: "123456789012"), localCA: issuer.certificate),
        issuer: issuer, clock: { ControlPlaneRouterTests.now }).buildResponder()
    static let issuer = try! CertificateAuthority.makeRoot(commonName: "Router Test CA", notBefore: Date().addingTimeInterval(-3600))
    var issuer: CertificateAuthority { Self.issuer }

    func send(_ method: HTTPRequest.Method, _ target: String, body: String = "", service: String? = "iot",
              secret: String = credential.secretAccessKey, signedAt: Int64 = now) async throws -> (Response, [String: Any]) {
        var headers: [(name: String, value: String)] = [(name: "host", value: "localhost:9443")]
        if !body.isEmpty { headers.append((name: "content-type", value: "application/json")) }
        let hash = SHA256.hash(data: Array(body.utf8)).map { String(format: "%02x", $0) }.joined()
        var request = SigV4Request(method: method.rawValue, target: target, headers: headers, payloadSHA256: hash)
        if let service {
            request = SigV4Signer(credential: SigV4Credential(accessKeyID: Self.credential.accessKeyID, secretAccessKey: secret),
                                  region: "us-east-1", service: service).sign(request, at: signedAt)
        }
        var fields = HTTPFields()
        for header in request.headers where header.name != "host" { fields[HTTPField.Name(header.name)!] = header.value }
        let head = HTTPRequest(method: method, scheme: "https", authority: "localhost:9443", path: target, headerFields: fields)
        let context = ControlPlaneContext(source: ApplicationRequestContextSource(channel: EmbeddedChannel(), logger: Logger(label: "test")))
        let response = try await responder.respond(to: Request(head: head, body: .init(buffer: ByteBuffer(string: body))), context: context)
        let collected = Collected()
        try await response.body.write(CollectingWriter(box: collected))
        let json = (try? JSONSerialization.jsonObject(with: Data(buffer: collected.buffer))) as? [String: Any] ?? [:]
        return (response, json)
    }

    @Test func describeEndpointAnswersTheDataHost() async throws {
        let (response, body) = try await send(.get, "/endpoint?endpointType=iot%3AData-ATS")
        #expect(response.status == .ok)
        #expect(body["endpointAddress"] as? String == "gw.example.com")
        #expect(response.headers[HTTPField.Name("x-amzn-RequestId")!] != nil)
    }

    @Test func aBadEndpointTypeIsAnInvalidRequest() async throws {
        let (response, body) = try await send(.get, "/endpoint?endpointType=iot%3ANope")
        #expect(response.status.code == 400)
        #expect(body["__type"] as? String == "InvalidRequestException")
        #expect(response.headers[HTTPField.Name("x-amzn-ErrorType")!] == "InvalidRequestException")
    }

    @Test(arguments: [
        (nil, "router-test-secret-0000", Int64(0), 403, "MissingAuthenticationTokenException"),
        ("iot", "another-secret-0000000", Int64(0), 403, "InvalidSignatureException"),
        ("iot", "router-test-secret-0000", Int64(-16 * 60), 403, "InvalidSignatureException"),
        ("iotdata", "router-test-secret-0000", Int64(0), 404, "UnknownOperationException"),
    ] as [(String?, String, Int64, Int, String)])
    func refusalsAreAWSShaped(service: String?, secret: String, age: Int64, status: Int, type: String) async throws {
        let (response, body) = try await send(.get, "/endpoint", service: service, secret: secret, signedAt: Self.now + age)
        #expect(response.status.code == status)
        #expect(body["__type"] as? String == type)
        #expect((body["message"] as? String)?.isEmpty == false)
        #expect(!((body["message"] as? String) ?? "").contains(Self.credential.secretAccessKey))
    }

    @Test func unknownRoutesAndMethodsAreUnknownOperations() async throws {
        let (missing, body) = try await send(.get, "/no-such-operation")
        #expect(missing.status.code == 404 && body["__type"] as? String == "UnknownOperationException")
        let (wrongMethod, _) = try await send(.delete, "/endpoint")
        #expect(wrongMethod.status.code == 404)
    }

    @Test func theBodyIsSignedToo() async throws {
        // Signed for one body, sent with another: the payload hash in the signature no longer matches.
        var headers: [(name: String, value: String)] = [(name: "host", value: "localhost:9443")]
        headers.append((name: "content-type", value: "application/json"))
        let signedFor = SHA256.hash(data: Array("{}".utf8)).map { String(format: "%02x", $0) }.joined()
        let request = SigV4Signer(credential: Self.credential, region: "us-east-1", service: "iot")
            .sign(SigV4Request(method: "POST", target: "/endpoint", headers: headers, payloadSHA256: signedFor), at: Self.now)
        var fields = HTTPFields()
        for header in request.headers where header.name != "host" { fields[HTTPField.Name(header.name)!] = header.value }
        let head = HTTPRequest(method: .post, scheme: "https", authority: "localhost:9443", path: "/endpoint", headerFields: fields)
        let context = ControlPlaneContext(source: ApplicationRequestContextSource(channel: EmbeddedChannel(), logger: Logger(label: "test")))
        let response = try await responder.respond(to: Request(head: head, body: .init(buffer: ByteBuffer(string: "{\"x\":1}"))), context: context)
        #expect(response.status.code == 403)
    }
}

/// Reads a response body back (a writer is consumed, so it fills a box).
final class Collected: @unchecked Sendable {
    var buffer = ByteBuffer()
}

struct CollectingWriter: ResponseBodyWriter {
    let box: Collected

    mutating func write(_ buffer: ByteBuffer) async throws {
        var copy = buffer
        box.buffer.writeBuffer(&copy)
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
}
