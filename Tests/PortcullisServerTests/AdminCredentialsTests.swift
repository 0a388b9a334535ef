import Foundation
@testable import PortcullisServer
import Testing

@Suite("Admin credentials and the API's configuration")
struct AdminCredentialsTests {
    func temporaryDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("portcullis-admin-\(UUID().uuidString)").path
    }

    @Test func aKeyPairIsGeneratedOnceAndReusedAfter() throws {
        let path = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let data = DataDirectory(path: path)
        let first = try data.prepareAdminCredentials(configuredAccessKeyID: nil, configuredSecret: nil)
        #expect(first.generated && !first.configured)
        #expect(first.accessKeyID.hasPrefix("AKIA") && first.accessKeyID.count == 20)
        #expect(first.secretAccessKey.count == 40)
        let mode = (try FileManager.default.attributesOfItem(atPath: data.adminCredentialsPath)[.posixPermissions] as? NSNumber)?.intValue
        #expect(mode == 0o600)
        let second = try data.prepareAdminCredentials(configuredAccessKeyID: nil, configuredSecret: nil)
        #expect(second.accessKeyID == first.accessKeyID && second.secretAccessKey == first.secretAccessKey && !second.generated)
        let other = try DataDirectory(path: temporaryDirectory()).prepareAdminCredentials(configuredAccessKeyID: nil, configuredSecret: nil)
        #expect(other.accessKeyID != first.accessKeyID && other.secretAccessKey != first.secretAccessKey)
    }

    @Test func aConfiguredPairWinsAndNothingIsWritten() throws {
        let path = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let data = DataDirectory(path: path)
        let configured = try data.prepareAdminCredentials(configuredAccessKeyID: "AKIAPORTCULLISTEST01", configuredSecret: "secret-secret-secret")
        #expect(configured.configured && configured.accessKeyID == "AKIAPORTCULLISTEST01")
        #expect(!FileManager.default.fileExists(atPath: data.adminCredentialsPath))
    }

    @Test func aCredentialsFileOthersCanReadIsRefused() throws {
        let path = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let data = DataDirectory(path: path)
        _ = try data.prepareAdminCredentials(configuredAccessKeyID: nil, configuredSecret: nil)
        chmod(data.adminCredentialsPath, 0o644)
        #expect(throws: ConfigurationError.self) { try data.prepareAdminCredentials(configuredAccessKeyID: nil, configuredSecret: nil) }
    }

    @Test func aCredentialsFileWithoutTheProfileIsRefused() throws {
        let path = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let data = DataDirectory(path: path)
        try FileManager.default.createDirectory(atPath: path + "/admin", withIntermediateDirectories: true)
        try DataDirectory.write("[default]\naws_access_key_id = A\n", to: data.adminCredentialsPath, secret: true)
        #expect(throws: ConfigurationError.self) { try data.prepareAdminCredentials(configuredAccessKeyID: nil, configuredSecret: nil) }
    }

    @Test func theProfileFileNamesEndpointRegionAndCA() throws {
        let path = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let data = DataDirectory(path: path)
        try data.writeAdminProfile(region: "eu-west-1", endpointURL: "https://localhost:9443")
        let values = DataDirectory.profileValues(try DataDirectory.read(data.adminConfigPath), section: "profile portcullis")
        #expect(values == ["region": "eu-west-1", "endpoint_url": "https://localhost:9443", "ca_bundle": data.caCertificatePath])
    }

    @Test func apiKeysAreReadFromTheFileAndTheEnvironmentAndChecked() throws {
        var c = PortcullisConfiguration()
        #expect(c.apiListen == ["127.0.0.1:9443"], "loopback by default")
        try ConfigurationLoader.apply(json: Data(#"{"api": {"listen": [], "accessKeyID": "AKIAPORTCULLISTEST01", "secretAccessKey": "0123456789abcdef"}}"#.utf8), to: &c)
        #expect(c.apiListen.isEmpty && c.apiAccessKeyID == "AKIAPORTCULLISTEST01")
        try c.validate()

        let environment = ["PORTCULLIS_API_LISTEN": "127.0.0.1:0", "PORTCULLIS_API_ACCESS_KEY_ID": "AKIAFROMENVIRONMENT0",
                           "PORTCULLIS_API_SECRET_ACCESS_KEY": "from-the-environment"]
        let loaded = try ConfigurationLoader.load(file: nil, environment: environment)
        #expect(loaded.apiListen == ["127.0.0.1:0"] && loaded.apiAccessKeyID == "AKIAFROMENVIRONMENT0")

        var half = PortcullisConfiguration()
        half.apiAccessKeyID = "AKIAPORTCULLISTEST01"
        #expect(throws: ConfigurationError.self) { try half.validate() }
        var bad = PortcullisConfiguration()
        bad.apiListen = ["nowhere"]
        bad.region = "US East"
        do {
            try bad.validate()
            Issue.record("accepted")
        } catch let error as ConfigurationError {
            #expect(error.problems.contains { $0.hasPrefix("api.listen") })
            #expect(error.problems.contains { $0.hasPrefix("account.region") })
        }
    }
}
