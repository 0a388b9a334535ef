@testable import AWSSigV4
import Crypto
import Foundation
import Testing

/// Requests signed by botocore at a frozen clock (Fixtures/generate.py): the SigV4 test suite's shapes
/// and what the real `iot` and `iot-data` clients send.
struct Fixture: Decodable {
    struct Group: Decodable {
        var accessKeyID: String
        var secretAccessKey: String
        var region: String
        var cases: [Case]
    }

    struct Case: Decodable, CustomTestStringConvertible {
        var name: String
        var method: String
        var path: String
        var query: String
        var headers: [[String]]
        var bodySHA256: String
        var testDescription: String { name }

        var request: SigV4Request {
            SigV4Request(method: method, rawPath: path, rawQuery: query, headers: headers.map { (name: $0[0], value: $0[1]) },
                         payloadSHA256: bodySHA256)
        }
    }

    var generator: String
    var suite: Group
    var clients: Group

    static let loaded: Fixture = {
        let url = Bundle.module.url(forResource: "sigv4-botocore", withExtension: "json")!
        return try! JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }()
}

/// 2015-08-30T12:36:00Z, the clock the fixtures were signed at.
let frozen: Int64 = 1_440_938_160

func verifier(for group: Fixture.Group, services: Set<String>) -> SigV4Verifier {
    SigV4Verifier(credentials: [SigV4Credential(accessKeyID: group.accessKeyID, secretAccessKey: group.secretAccessKey)],
                  region: group.region, services: services)
}

let suiteVerifier = verifier(for: Fixture.loaded.suite, services: ["service"])
let clientVerifier = verifier(for: Fixture.loaded.clients, services: ["iot", "iotdata"])

func rejection(_ result: SigV4Result) -> SigV4Rejection.Code? {
    if case .rejected(let rejection) = result { return rejection.code }
    return nil
}

extension SigV4Request {
    func replacingHeader(_ name: String, with value: String?) -> SigV4Request {
        var copy = self
        copy.headers.removeAll { $0.name.lowercased() == name.lowercased() }
        if let value { copy.headers.append((name: name, value: value)) }
        return copy
    }
}

@Suite("SigV4: botocore's signatures verify")
struct SigV4AcceptanceTests {
    @Test(arguments: Fixture.loaded.suite.cases)
    func testSuiteRequestsVerify(_ fixture: Fixture.Case) {
        let result = suiteVerifier.verify(fixture.request, now: frozen)
        #expect(result == .verified(SigV4Identity(accessKeyID: "AKIDEXAMPLE", service: "service", region: "us-east-1",
                                                  signedAt: frozen, presigned: false)), "\(result)")
    }

    @Test(arguments: Fixture.loaded.clients.cases)
    func iotAndIotDataClientRequestsVerify(_ fixture: Fixture.Case) throws {
        let result = clientVerifier.verify(fixture.request, now: frozen + 60)
        guard case .verified(let identity) = result else {
            Issue.record("\(result)")
            return
        }
        // The credential scope tells the two APIs apart on one port.
        #expect(identity.service == (fixture.name.hasPrefix("iot-data:") ? "iotdata" : "iot"))
        #expect(identity.presigned == fixture.name.hasSuffix(":presigned"))
        #expect(identity.accessKeyID == Fixture.loaded.clients.accessKeyID)
    }

    @Test func theCanonicalURIIsBuiltFromTheRawPathEncodedAgain() {
        #expect(SigV4Canonical.uri(rawPath: "/topics/%24aws%2Fthings%2Ft1%2Fshadow%2Fupdate") == "/topics/%2524aws%252Fthings%252Ft1%252Fshadow%252Fupdate")
        #expect(SigV4Canonical.uri(rawPath: "/example1/example2/../..") == "/")
        #expect(SigV4Canonical.uri(rawPath: "//example//") == "/example/")
        #expect(SigV4Canonical.uri(rawPath: "") == "/")
    }

    @Test func theSignerProducesBotocoresAuthorizationHeader() throws {
        let group = Fixture.loaded.suite
        let fixture = try #require(group.cases.first { $0.name == "get-vanilla" })
        let unsigned = fixture.request.replacingHeader("Authorization", with: nil).replacingHeader("X-Amz-Date", with: nil)
        let signer = SigV4Signer(credential: SigV4Credential(accessKeyID: group.accessKeyID, secretAccessKey: group.secretAccessKey),
                                 region: group.region, service: "service")
        let signed = signer.sign(unsigned, at: frozen)
        #expect(signed.value(of: "authorization") == fixture.request.value(of: "authorization"))
        #expect(signed.value(of: "authorization")?.hasSuffix("Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31") == true,
                "the AWS SigV4 test suite's published signature for get-vanilla")
    }

    @Test func signedAndPresignedByTheProjectsSignerVerify() {
        let group = Fixture.loaded.clients
        let signer = SigV4Signer(credential: SigV4Credential(accessKeyID: group.accessKeyID, secretAccessKey: group.secretAccessKey),
                                 region: group.region, service: "iotdata")
        let request = SigV4Request(method: "POST", target: "/topics/a%2Fb?qos=1", headers: [(name: "Host", value: "localhost:8443")],
                                   payloadSHA256: SigV4Verifier.hex(Array("hi".utf8).sha256))
        #expect(rejection(clientVerifier.verify(signer.sign(request, at: frozen), now: frozen)) == nil)
        #expect(rejection(clientVerifier.verify(signer.presign(request, at: frozen, expires: 60), now: frozen)) == nil)
    }

    @Test func timestampsRoundTrip() {
        #expect(SigV4Time.parse("20150830T123600Z") == frozen)
        #expect(SigV4Time.format(frozen) == "20150830T123600Z")
        #expect(SigV4Time.format(SigV4Time.parse("20240229T235959Z")!) == "20240229T235959Z")
        #expect(SigV4Time.format(SigV4Time.parse("19691231T235959Z")!) == "19691231T235959Z")
        #expect(SigV4Time.parse("19691231T235959Z") == -1)
        #expect(SigV4Time.parse("20000229T000000Z") != nil && SigV4Time.parse("21000229T000000Z") == nil, "400-year leap rule")
        for bad in ["20150230T123600Z", "20150830T243600Z", "20150830 123600Z", "2015083T123600Z", "20150830T123600", ""] {
            #expect(SigV4Time.parse(bad) == nil, "\(bad)")
        }
    }
}

extension Array where Element == UInt8 {
    var sha256: [UInt8] {
        Array(SHA256.hash(data: self))
    }
}
