@testable import AWSSigV4
import Foundation
import Testing

@Suite("SigV4: what is refused, and as which AWS error")
struct SigV4RejectionTests {
    let cases = Fixture.loaded.clients.cases
    func fixture(_ name: String) -> SigV4Request { cases.first { $0.name == name }!.request }

    @Test(arguments: Fixture.loaded.clients.cases)
    func anyChangeToASignedPartBreaksTheSignature(_ fixture: Fixture.Case) {
        let request = fixture.request
        var path = request
        path.rawPath += "x"
        var method = request
        method.method = request.method == "GET" ? "HEAD" : "GET"
        var body = request
        body.payloadSHA256 = String(repeating: "0", count: 64)
        var query = request
        query.rawQuery = request.rawQuery.isEmpty ? "extra=1" : request.rawQuery + "&extra=1"
        let host = request.replacingHeader("Host", with: "evil.example:8443")
        for tampered in [path, method, query, host, body] {
            #expect(rejection(clientVerifier.verify(tampered, now: frozen)) == .signatureMismatch, "\(tampered.method) \(tampered.rawPath)?\(tampered.rawQuery)")
        }
    }

    @Test func aWrongSecretIsASignatureMismatch() {
        let other = SigV4Verifier(credentials: [SigV4Credential(accessKeyID: Fixture.loaded.clients.accessKeyID, secretAccessKey: "not-the-secret")],
                                  region: "eu-west-1", services: ["iot", "iotdata"])
        let result = other.verify(fixture("iot:CreateThing"), now: frozen)
        #expect(rejection(result) == .signatureMismatch)
        guard case .rejected(let why) = result else { return }
        #expect(why.code.awsErrorType == "InvalidSignatureException" && why.code.httpStatus == 403)
        #expect(!why.message.contains("not-the-secret"), "no secret in the message")
    }

    @Test func unsignedRequestsAreMissingAuthentication() {
        let unsigned = fixture("iot:CreateThing").replacingHeader("Authorization", with: nil)
        let result = clientVerifier.verify(unsigned, now: frozen)
        #expect(rejection(result) == .missingAuthentication)
        if case .rejected(let why) = result {
            #expect(why.code.awsErrorType == "MissingAuthenticationTokenException" && why.code.httpStatus == 403)
        }
    }

    @Test func anUnknownAccessKeyOrASessionTokenIsUnrecognized() {
        let other = SigV4Verifier(credentials: [SigV4Credential(accessKeyID: "AKIASOMEONEELSE00000", secretAccessKey: "x")],
                                  region: "eu-west-1", services: ["iot"])
        #expect(rejection(other.verify(fixture("iot:CreateThing"), now: frozen)) == .unknownAccessKey)
        let withToken = fixture("iot:CreateThing").replacingHeader("X-Amz-Security-Token", with: "FwoGZXIvYXdzE")
        #expect(rejection(clientVerifier.verify(withToken, now: frozen)) == .unknownAccessKey)
    }

    /// AWS IoT's MQTT-over-WebSocket URLs (reference 2.8): the SDKs append the session token after
    /// signing and may leave X-Amz-Expires out; only the WebSocket option takes such a URL.
    @Test func iotWebSocketURLsLeaveTheTokenOutsideTheSignature() {
        let group = Fixture.loaded.clients
        let credential = SigV4Credential(accessKeyID: group.accessKeyID, secretAccessKey: group.secretAccessKey)
        let verifier = SigV4Verifier(credentials: [credential], region: group.region, services: ["iotdevicegateway"])
        let signer = SigV4Signer(credential: credential, region: group.region, service: "iotdevicegateway")
        let upgrade = SigV4Request(method: "GET", target: "/mqtt", headers: [(name: "Host", value: "localhost:8443")],
                                   payloadSHA256: SigV4Verifier.emptyPayloadSHA256)
        let webSocket = SigV4Verifier.Options(iotWebSocket: true)
        var sdk = signer.presign(upgrade, at: frozen, expires: nil)
        #expect(rejection(verifier.verify(sdk, now: frozen)) == .incompleteSignature, "elsewhere X-Amz-Expires is required")
        #expect(rejection(verifier.verify(sdk, now: frozen + 14 * 60, options: webSocket)) == nil)
        #expect(rejection(verifier.verify(sdk, now: frozen + 16 * 60, options: webSocket)) == .expired, "no expiry: the skew window")
        sdk.rawQuery += "&X-Amz-Security-Token=AQoDYXdzEXAMPLE%2B%2F"
        #expect(rejection(verifier.verify(sdk, now: frozen, options: webSocket)) == nil)
        #expect(rejection(verifier.verify(sdk, now: frozen)) == .unknownAccessKey, "a session token is refused elsewhere")

        // botocore's presigner signs the token with the rest: that verifies too.
        var withToken = upgrade
        withToken.rawQuery = "X-Amz-Security-Token=AQoDYXdzEXAMPLE"
        #expect(rejection(verifier.verify(signer.presign(withToken, at: frozen, expires: 60), now: frozen, options: webSocket)) == nil)

        var tampered = signer.presign(upgrade, at: frozen, expires: nil)
        tampered.rawQuery = tampered.rawQuery.replacingOccurrences(of: "X-Amz-SignedHeaders=host", with: "X-Amz-SignedHeaders=host&x=1")
        #expect(rejection(verifier.verify(tampered, now: frozen, options: webSocket)) == .signatureMismatch)
        var malformed = signer.presign(upgrade, at: frozen, expires: nil)
        malformed.rawQuery += "&X-Amz-Expires=soon"
        #expect(rejection(verifier.verify(malformed, now: frozen, options: webSocket)) == .incompleteSignature)
    }

    @Test func theClockSkewWindowIsFifteenMinutes() {
        let request = fixture("iot:CreateThing")
        #expect(rejection(clientVerifier.verify(request, now: frozen + 14 * 60)) == nil)
        #expect(rejection(clientVerifier.verify(request, now: frozen - 14 * 60)) == nil)
        #expect(rejection(clientVerifier.verify(request, now: frozen + 16 * 60)) == .expired)
        #expect(rejection(clientVerifier.verify(request, now: frozen - 16 * 60)) == .expired, "signed in the future")
    }

    @Test func aPresignedURLExpires() {
        let request = fixture("iot-data:GetThingShadow:presigned")
        #expect(rejection(clientVerifier.verify(request, now: frozen + 299)) == nil)
        #expect(rejection(clientVerifier.verify(request, now: frozen + 301)) == .expired)
        var longer = request
        longer.rawQuery = request.rawQuery.replacingOccurrences(of: "X-Amz-Expires=300", with: "X-Amz-Expires=3000")
        #expect(rejection(clientVerifier.verify(longer, now: frozen + 301)) == .signatureMismatch, "the expiry is signed")
        var tooLong = request
        tooLong.rawQuery = request.rawQuery.replacingOccurrences(of: "X-Amz-Expires=300", with: "X-Amz-Expires=604801")
        #expect(rejection(clientVerifier.verify(tooLong, now: frozen)) == .incompleteSignature)
    }

    @Test func theScopeMustNameThisRegionAndAServedService() {
        let elsewhere = SigV4Verifier(credentials: [SigV4Credential(accessKeyID: Fixture.loaded.clients.accessKeyID,
                                                                    secretAccessKey: Fixture.loaded.clients.secretAccessKey)],
                                      region: "us-east-1", services: ["iot", "iotdata"])
        #expect(rejection(elsewhere.verify(fixture("iot:CreateThing"), now: frozen)) == .wrongScope)
        let controlPlaneOnly = SigV4Verifier(credentials: [SigV4Credential(accessKeyID: Fixture.loaded.clients.accessKeyID,
                                                                           secretAccessKey: Fixture.loaded.clients.secretAccessKey)],
                                             region: "eu-west-1", services: ["iot"])
        #expect(rejection(controlPlaneOnly.verify(fixture("iot-data:Publish"), now: frozen)) == .wrongScope)
    }

    @Test func aDeclaredPayloadHashMustMatchTheBody() {
        let request = fixture("iot:CreateThing")
        let wrong = request.replacingHeader("x-amz-content-sha256", with: String(repeating: "a", count: 64))
        #expect(rejection(clientVerifier.verify(wrong, now: frozen)) == .payloadHashMismatch)
        let unsigned = request.replacingHeader("x-amz-content-sha256", with: "UNSIGNED-PAYLOAD")
        #expect(rejection(clientVerifier.verify(unsigned, now: frozen)) == .payloadHashMismatch, "only presigned URLs may leave the body unsigned")
        var presignedWithBody = fixture("iot-data:GetThingShadow:presigned").replacingHeader("x-amz-content-sha256", with: "UNSIGNED-PAYLOAD")
        presignedWithBody.payloadSHA256 = String(repeating: "b", count: 64)
        #expect(rejection(clientVerifier.verify(presignedWithBody, now: frozen)) == .payloadHashMismatch, "and only without a body")
    }

    @Test(arguments: [
        "AWS4-HMAC-SHA256",
        "AWS4-HMAC-SHA1 Credential=AKIAPORTCULLISTEST01/20150830/eu-west-1/iot/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + String(repeating: "a", count: 64),
        "AWS4-HMAC-SHA256 Credential=AKIAPORTCULLISTEST01/20150830/eu-west-1/iot, SignedHeaders=host;x-amz-date, Signature=" + String(repeating: "a", count: 64),
        "AWS4-HMAC-SHA256 Credential=AKIAPORTCULLISTEST01/20150830/eu-west-1/iot/aws4_request, Signature=" + String(repeating: "a", count: 64),
        "AWS4-HMAC-SHA256 Credential=AKIAPORTCULLISTEST01/20150830/eu-west-1/iot/aws4_request, SignedHeaders=x-amz-date;host, Signature=" + String(repeating: "a", count: 64),
        "AWS4-HMAC-SHA256 Credential=AKIAPORTCULLISTEST01/20150830/eu-west-1/iot/aws4_request, SignedHeaders=host;x-amz-date, Signature=xyz",
        "AWS4-HMAC-SHA256 Credential=AKIAPORTCULLISTEST01/20150830/eu-west-1/iot/aws4_request, SignedHeaders=x-amz-date, Signature=" + String(repeating: "a", count: 64),
        "AWS4-HMAC-SHA256 Credential=AKIAPORTCULLISTEST01/20150830/eu-west-1/iot/aws4_request, SignedHeaders=host;x-amz-date;x-missing, Signature=" + String(repeating: "a", count: 64),
    ])
    func malformedAuthorizationHeadersAreIncomplete(_ authorization: String) {
        let request = fixture("iot:CreateThing").replacingHeader("Authorization", with: authorization)
        #expect(rejection(clientVerifier.verify(request, now: frozen)) == .incompleteSignature)
    }

    @Test func aBadDateOrMismatchedScopeDateIsRefused() {
        let request = fixture("iot:CreateThing")
        #expect(rejection(clientVerifier.verify(request.replacingHeader("X-Amz-Date", with: "yesterday"), now: frozen)) == .incompleteSignature)
        #expect(rejection(clientVerifier.verify(request.replacingHeader("X-Amz-Date", with: nil), now: frozen)) == .incompleteSignature)
        #expect(rejection(clientVerifier.verify(request.replacingHeader("X-Amz-Date", with: "20150831T003600Z"), now: frozen)) == .wrongScope)
    }

    @Test func malformedEscapesInTheQueryAreRefused() {
        var request = fixture("iot:ListThings")
        request.rawQuery += "&x=%zz"
        #expect(rejection(clientVerifier.verify(request, now: frozen)) == .incompleteSignature)
    }
}

@Suite("SigV4: the credential scope read before verification")
struct SigV4CredentialScopeTests {
    @Test func fromTheAuthorizationHeader() {
        let header = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/eu-west-1/iot/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc"
        #expect(SigV4CredentialScope.parse(authorization: header, query: nil)
            == SigV4CredentialScope(accessKeyID: "AKIDEXAMPLE", region: "eu-west-1", service: "iot"))
    }

    @Test func fromAPresignedQuery() {
        let query: Substring = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fap-northeast-1%2Fiotdevicegateway%2Faws4_request&X-Amz-Signature=0"
        #expect(SigV4CredentialScope.parse(authorization: nil, query: query)
            == SigV4CredentialScope(accessKeyID: "AKIDEXAMPLE", region: "ap-northeast-1", service: "iotdevicegateway"))
    }

    @Test(arguments: ["AWS4-HMAC-SHA256 Credential=AKID/20150830/eu-west-1/iot", "AWS4-HMAC-SHA256 SignedHeaders=host", "Bearer x",
                      "AWS4-HMAC-SHA256 Credential=/20150830/eu-west-1/iot/aws4_request"])
    func malformedScopesAreNone(_ header: String) {
        #expect(SigV4CredentialScope.parse(authorization: header, query: "X-Amz-Credential=A%2Fb%2Fc%2Fd%2Faws4_request") == nil)
    }

    @Test func nothingSignedIsNone() {
        #expect(SigV4CredentialScope.parse(authorization: nil, query: "a=b") == nil)
        #expect(SigV4CredentialScope.parse(authorization: nil, query: nil) == nil)
    }
}
