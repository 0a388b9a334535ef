import DeviceIdentity
import Foundation
import HTTPTypes
import Testing

/// Certificates and attachments through the router: botocore's URIs (an ARN percent-encoded in the
/// path), shapes and AWS errors.
extension ControlPlaneRouterTests {
    @Test func createKeysAndCertificateHandsOutAnRSAKeyOnceAndRegistersTheCertificate() async throws {
        let (response, body) = try await send(.post, "/keys-and-certificate?setAsActive=true")
        #expect(response.status == .ok)
        let pem = try #require(body["certificatePem"] as? String)
        let id = try #require(body["certificateId"] as? String)
        let keys = try #require(body["keyPair"] as? [String: String])
        let credential = try IssuedCredential(certificatePEM: pem, privateKeyPEM: try #require(keys["PrivateKey"]))
        #expect(credential.certificateID == id, "the id is the SHA-256 of the DER")
        #expect(keys["PublicKey"]?.hasPrefix("-----BEGIN PUBLIC KEY-----") == true)
        #expect(body["certificateArn"] as? String == "arn:aws:iot:us-east-1:123456789012:cert/\(id)")
        let (_, described) = try await send(.get, "/certificates/\(id)")
        let description = try #require(described["certificateDescription"] as? [String: Any])
        #expect(description["status"] as? String == "ACTIVE" && description["certificateMode"] as? String == "DEFAULT")
        #expect(description["caCertificateId"] == nil && description["certificatePem"] as? String == pem)
    }

    @Test func registeringTwiceIsAConflictNamingTheCertificate() async throws {
        let credential = try issuer.issueClientCertificate(commonName: "twice", notBefore: Date().addingTimeInterval(-60), validity: 3600)
        let body = String(data: try JSONSerialization.data(withJSONObject: ["certificatePem": credential.certificatePEM, "status": "ACTIVE"]),
                          encoding: .utf8)!
        let (first, _) = try await send(.post, "/certificate/register", body: body)
        #expect(first.status == .ok)
        let (second, error) = try await send(.post, "/certificate/register", body: body)
        #expect(second.status.code == 409 && error["__type"] as? String == "ResourceAlreadyExistsException")
        #expect(error["resourceId"] as? String == credential.certificateID)
        let (active, state) = try await send(.delete, "/certificates/\(credential.certificateID)")
        #expect(active.status.code == 406 && state["__type"] as? String == "CertificateStateException")
    }

    @Test func anARNInThePathIsOnePercentEncodedLabel() async throws {
        let (_, created) = try await send(.post, "/keys-and-certificate")
        let arn = try #require(created["certificateArn"] as? String)
        _ = try await send(.post, "/policies/router-attach", body: #"{"policyDocument":"{\"Version\":\"2012-10-17\",\"Statement\":[]}"}"#)
        let (attached, _) = try await send(.put, "/target-policies/router-attach", body: "{\"target\":\"\(arn)\"}")
        #expect(attached.status == .ok)
        let encoded = arn.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let (listed, body) = try await send(.post, "/attached-policies/\(encoded)")
        #expect(listed.status == .ok)
        #expect((body["policies"] as? [[String: String]])?.map { $0["policyName"] } == ["router-attach"])
        let (missing, error) = try await send(.put, "/target-policies/router-attach", body: #"{"target":"not-an-arn"}"#)
        #expect(missing.status.code == 400 && error["__type"] as? String == "InvalidRequestException")
    }
}
