@testable import Gateway
import Testing

@Suite("Gateway: the shared port's domain rules (reference 1.2, 1.5)")
struct SharedPortRulesTests {
    /// A domain's application protocol and authentication type allow exactly their cells of the matrix;
    /// DEFAULT allows every cell.
    @Test func domainRulesAllowOnlyTheirProtocolAndAuthentication() {
        typealias Use = DomainRules.Use
        typealias Credential = DomainRules.Credential
        let all: [(Use, Credential)] = [(.mqtt, .certificate), (.https, .certificate), (.https, .sigV4),
                                        (.webSocket, .certificate), (.webSocket, .sigV4)]
        for (use, credential) in all { #expect(DomainRules.any.refusal(use, credential) == nil) }
        let mqttOnly = DomainRules(name: "devices", applicationProtocol: "SECURE_MQTT", authenticationType: "AWS_X509")
        #expect(mqttOnly.refusal(.mqtt, .certificate) == nil)
        #expect(mqttOnly.refusal(.https, .certificate)?.contains("serves SECURE_MQTT, not HTTPS") == true)
        #expect(mqttOnly.refusal(.webSocket, .certificate) != nil)
        let sigV4 = DomainRules(name: "apps", applicationProtocol: "DEFAULT", authenticationType: "AWS_SIGV4")
        #expect(sigV4.refusal(.https, .sigV4) == nil && sigV4.refusal(.webSocket, .sigV4) == nil)
        #expect(sigV4.refusal(.https, .certificate)?.contains("authenticates with AWS_SIGV4, not AWS_X509") == true)
        #expect(sigV4.refusal(.mqtt, .certificate) != nil)
        let webSocket = DomainRules(name: "browsers", applicationProtocol: "MQTT_WSS", authenticationType: "DEFAULT")
        #expect(webSocket.refusal(.webSocket, .sigV4) == nil && webSocket.refusal(.webSocket, .certificate) == nil)
        #expect(webSocket.refusal(.https, .sigV4) != nil && webSocket.refusal(.mqtt, .certificate) != nil)
    }

    @Test func theSharedPortOffersAWSsALPNNames() {
        #expect(SharedPortProtocol.offered == ["x-amzn-mqtt-ca", "x-amzn-http-ca", "mqtt", "http/1.1"])
    }
}
