import Broker
import Foundation
@testable import PortcullisServer
import Testing

@Suite("Configuration")
struct ConfigurationTests {
    func apply(_ json: String) throws -> PortcullisConfiguration {
        var configuration = PortcullisConfiguration()
        try ConfigurationLoader.apply(json: Data(json.utf8), to: &configuration)
        return configuration
    }

    func problems(_ json: String) -> [String] {
        do {
            _ = try apply(json)
            return []
        } catch let error as ConfigurationError {
            return error.problems
        } catch {
            return ["\(error)"]
        }
    }

    @Test func defaultsAreAWSQuotas() {
        let c = PortcullisConfiguration()
        #expect(c.mqttListen == ["0.0.0.0:8883"])
        #expect(c.limits.maximumPayloadSize == 131_072)
        #expect(c.limits.maximumTopicLength == 256)
        #expect(c.limits.maximumTopicSlashes == 7)
        #expect(c.limits.maximumClientIDLength == 128)
        #expect(c.limits.maximumFiltersPerSubscribe == 8)
        #expect(c.limits.maximumSubscriptionsPerConnection == 50)
        #expect(c.limits.maximumInflightOutbound == 100)
        #expect(c.limits.publishesPerSecond == 100)
        #expect(c.limits.bytesPerSecond == 524_288)
        #expect(throws: Never.self) { try c.validate() }
    }

    @Test func fileValuesApply() throws {
        let c = try apply(#"{"dataDirectory":"/tmp/x","mqtt":{"listen":["127.0.0.1:0","[::1]:1883"]},"logging":{"level":"WARN"},"account":{"id":"000000000001"},"limits":{"publishesPerSecond":0,"maximumSubscriptionsPerConnection":3}}"#)
        #expect(c.dataDirectory == "/tmp/x")
        #expect(c.mqttListen == ["127.0.0.1:0", "[::1]:1883"])
        #expect(c.logLevel == .warn)
        #expect(c.accountID == "000000000001")
        #expect(c.limits.publishesPerSecond == 0)
        #expect(c.limits.maximumSubscriptionsPerConnection == 3)
        #expect(throws: Never.self) { try c.validate() }
    }

    @Test func unknownKeysAndWrongTypesNameTheKey() {
        let found = problems(#"{"mqtt":{"port":8883},"limits":{"maximumPayloadSize":"big","publishesPerSecond":true,"maximumTopicLength":-1,"nope":1},"logging":{"level":"loud"},"extra":{}}"#)
        #expect(found.contains { $0.hasPrefix("mqtt.port: unknown key") })
        #expect(found.contains { $0.hasPrefix("limits.maximumPayloadSize: expected an integer") })
        #expect(found.contains { $0.hasPrefix("limits.publishesPerSecond: expected an integer") })
        #expect(found.contains { $0.hasPrefix("limits.maximumTopicLength: must be at least 1") })
        #expect(found.contains { $0.hasPrefix("limits.nope: unknown key") })
        #expect(found.contains { $0.hasPrefix("logging.level:") })
        #expect(found.contains { $0.hasPrefix("extra: unknown key") })
    }

    @Test func invalidJSONIsReported() {
        #expect(problems("{not json").first?.contains("not valid JSON") == true)
        #expect(problems("[1,2]").first?.contains("must be a JSON object") == true)
    }

    @Test func crossFieldValidation() {
        var c = PortcullisConfiguration()
        c.mqttListen = ["nonsense", "127.0.0.1:70000", "::1:80"]
        c.limits.minimumKeepAlive = 100
        c.limits.maximumKeepAlive = 50
        c.limits.maximumPacketSize = 10
        c.accountID = "abc"
        #expect {
            try c.validate()
        } throws: { error in
            let problems = (error as? ConfigurationError)?.problems ?? []
            return problems.count == 6 && problems.allSatisfy { $0.contains("mqtt.listen") || $0.contains("limits.") || $0.contains("account.id") }
        }
    }

    @Test func environmentOverridesTheFile() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("cfg-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        _ = FileManager.default.createFile(atPath: file, contents: Data(#"{"dataDirectory":"from-file","logging":{"level":"error"}}"#.utf8))
        let c = try ConfigurationLoader.load(file: file, environment: ["PORTCULLIS_DATA_DIR": "from-env", "PORTCULLIS_MQTT_LISTEN": "127.0.0.1:1, 127.0.0.1:2"])
        #expect(c.dataDirectory == "from-env")
        #expect(c.logLevel == .error)
        #expect(c.mqttListen == ["127.0.0.1:1", "127.0.0.1:2"])
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.load(file: nil, environment: ["PORTCULLIS_LOG_LEVEL": "shout"]) }
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.load(file: "/nonexistent/portcullis.json", environment: [:]) }
    }

    @Test func printedDefaultsReadBackUnchanged() throws {
        let printed = PortcullisConfiguration().jsonDocument()
        let c = try apply(printed)
        #expect(c == PortcullisConfiguration())
        var changed = PortcullisConfiguration()
        changed.limits.maximumQueuedMessages = 7
        changed.serverHostNames = ["gw.example.com"]
        changed.tlsSecurityPolicy = .tls12_1_0_2015_01
        #expect(try apply(changed.jsonDocument()) == changed)
    }

    @Test func theTLSSecurityPolicyComesFromTheFileOrTheEnvironmentInEitherSpelling() throws {
        #expect(try apply(#"{"tls":{"securityPolicy":"IotSecurityPolicy_TLS13_1_3_2022_10"}}"#).tlsSecurityPolicy == .tls13_1_3_2022_10)
        #expect(PortcullisConfiguration().tlsSecurityPolicy == .tls13_1_2_2022_10, "AWS's commercial default")
        let c = try ConfigurationLoader.load(file: nil, environment: ["PORTCULLIS_TLS_SECURITY_POLICY": "iotsecuritypolicy_tls12_1_2_2022_10"])
        #expect(c.tlsSecurityPolicy == .tls12_1_2_2022_10)
        #expect {
            try apply(#"{"tls":{"securityPolicy":"TLS10"}}"#)
        } throws: { error in
            (error as? ConfigurationError)?.problems.first?.contains("tls.securityPolicy: 'TLS10' is not a TLS security policy") == true
        }
        #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader.load(file: nil, environment: ["PORTCULLIS_TLS_SECURITY_POLICY": "IoTSecurityPolicy_TLS11"])
        }
    }

    @Test(arguments: [("0.0.0.0:8883", "0.0.0.0", 8883), ("[::1]:0", "::1", 0), ("localhost:1883", "localhost", 1883)])
    func listenAddressesParse(text: String, host: String, port: Int) throws {
        let address = try #require(ListenAddress(text))
        #expect(address.host == host && address.port == port)
    }

    @Test(arguments: ["8883", ":8883", "host:", "host:-1", "host:65536", "::1:8883", "[::1]8883", "[::1"])
    func invalidListenAddresses(text: String) {
        #expect(ListenAddress(text) == nil)
    }
}
