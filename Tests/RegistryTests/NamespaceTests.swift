import Foundation
import DeviceShadow
@testable import Registry
@testable import RegistrySQLite
import Testing

@Suite("Namespaces: regions, accounts and the names devices reach them by")
struct NamespaceTests {
    let primary = NamespaceID(accountID: "123456789012", region: "us-east-1")

    @Test(arguments: ["us-east-1", "ap-northeast-1", "eu-central-2", "us-gov-west-1", "cn-north-1", "us-isob-east-1", "il-central-1"])
    func awsRegionNamesAreValid(_ name: String) {
        #expect(AWSRegionName.isValid(name))
    }

    @Test(arguments: ["", "mars", "us-east", "US-EAST-1", "us-east-1a", "us--1", "u-east-1", "us-east-123", "us-east-1/x", "us-e\u{1}st-1",
                      "a-very-long-partition-name-east-1"])
    func otherNamesAreNot(_ name: String) {
        #expect(!AWSRegionName.isValid(name))
    }

    @Test func regionalNamesReachTheirRegionAndKnownAccounts() {
        let names = NamespaceHostNames(defaultNamespace: primary, accounts: ["210987654321"])
        #expect(names.namespace(forServerName: "iot.eu-west-1.localhost") == NamespaceID(accountID: "123456789012", region: "eu-west-1"))
        #expect(names.namespace(forServerName: "anything-ats.iot.eu-west-1.localhost") == NamespaceID(accountID: "123456789012", region: "eu-west-1"))
        #expect(names.namespace(forServerName: "210987654321-ats.iot.ap-south-1.localhost") == NamespaceID(accountID: "210987654321", region: "ap-south-1"))
        #expect(names.namespace(forServerName: "210987654321.iot.ap-south-1.localhost") == NamespaceID(accountID: "210987654321", region: "ap-south-1"))
        // An account nobody configured is the default account: a name cannot invent one.
        #expect(names.namespace(forServerName: "999999999999-ats.iot.ap-south-1.localhost") == NamespaceID(accountID: "123456789012", region: "ap-south-1"))
        // Not regional names: the default namespace.
        for name in ["localhost", "iot.mars.localhost", "a.b.iot.eu-west-1.localhost", "iot.eu-west-1.example.com", "eu-west-1.localhost"] {
            #expect(names.namespace(forServerName: name) == nil, "\(name)")
        }
        #expect(names.endpoint(for: NamespaceID(accountID: "123456789012", region: "eu-west-1")) == "iot.eu-west-1.localhost")
        #expect(names.endpoint(for: NamespaceID(accountID: "210987654321", region: "eu-west-1")) == "210987654321-ats.iot.eu-west-1.localhost")
    }

    @Test func configuredNamesAndTheAllowListWin() {
        let ireland = NamespaceID(accountID: "123456789012", region: "eu-west-1")
        let names = NamespaceHostNames(defaultNamespace: primary, names: ["Devices.Example.com": ireland, "*.eu.example.com": ireland],
                                       allowedRegions: ["us-east-1", "eu-west-1"])
        #expect(names.namespace(forServerName: "devices.example.com") == ireland)
        #expect(names.namespace(forServerName: "gw.eu.example.com") == ireland)
        #expect(names.namespace(forServerName: "a.gw.eu.example.com") == nil, "a wildcard covers one label")
        #expect(names.namespace(forServerName: "iot.eu-west-1.localhost") == ireland)
        #expect(names.namespace(forServerName: "iot.ap-south-1.localhost") == nil, "a region outside the allow list")
        #expect(!names.allows(region: "ap-south-1") && names.allows(region: "eu-west-1"))
    }

    /// Without an allow list, only AWS's regions: a request can name a region before its signature is
    /// checked, so the namespaces it can make must be few.
    @Test func withoutAnAllowListOnlyAWSsRegionsMakeNamespaces() {
        let names = NamespaceHostNames(defaultNamespace: NamespaceID(accountID: "123456789012", region: "xx-test-9"))
        #expect(names.allows(region: "eu-west-1") && names.allows(region: "us-gov-west-1") && names.allows(region: "xx-test-9"))
        #expect(!names.allows(region: "zz-nowhere-1"), "a valid-looking name that is no region of AWS's")
        #expect(names.namespace(forServerName: "iot.zz-nowhere-1.localhost") == nil)
    }

    @Test func storeKeysRoundTrip() {
        let ireland = NamespaceID(accountID: "123456789012", region: "eu-west-1")
        #expect(primary.storeKey(defaultNamespace: primary) == "")
        #expect(ireland.storeKey(defaultNamespace: primary) == "123456789012/eu-west-1")
        #expect(NamespaceID.fromStoreKey("", defaultNamespace: primary) == primary)
        #expect(NamespaceID.fromStoreKey("123456789012/eu-west-1", defaultNamespace: primary) == ireland)
        #expect(NamespaceID.fromStoreKey("12/eu-west-1", defaultNamespace: primary) == nil)
        #expect(NamespaceID.fromStoreKey("123456789012/mars", defaultNamespace: primary) == nil)
    }

    func temporaryDatabase() throws -> (path: String, cleanup: () -> Void) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("namespaces-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return (folder.appendingPathComponent("registry.sqlite").path, { try? FileManager.default.removeItem(at: folder) })
    }

    /// Two namespaces in one file see only their own records and shadows.
    @Test func namespacesInOneFileDoNotSeeEachOther() async throws {
        let (path, cleanup) = try temporaryDatabase()
        defer { cleanup() }
        let file = try SQLiteRegistryStore(path: path)
        let ireland = file.namespace("123456789012/eu-west-1")
        let document = #"{"Version":"2012-10-17","Statement":[]}"#
        let first = try Registry(arns: primary.arns, store: file)
        let second = try Registry(arns: NamespaceID(accountID: "123456789012", region: "eu-west-1").arns, store: ireland)
        _ = try await first.perform { state throws(RegistryError) in try state.createPolicy(name: "same", document: document, now: 1) }
        _ = try await second.perform { state throws(RegistryError) in try state.createPolicy(name: "same", document: document, now: 2) }
        _ = try await second.perform { state throws(RegistryError) in try state.createPolicy(name: "only-ireland", document: document, now: 3) }
        try await first.perform { state throws(RegistryError) in try state.deletePolicy(name: "same") }
        #expect(try file.loadRecords().keys.map(\.key).sorted() == [])
        #expect(try ireland.loadRecords().keys.map(\.key).sorted() == ["only-ireland", "same"])
        try ireland.saveShadow(ShadowID(thingName: "t")!, Shadow())
        #expect(try file.loadShadow(ShadowID(thingName: "t")!) == nil)
        #expect(try ireland.loadShadow(ShadowID(thingName: "t")!) != nil)
        try ireland.saveShadow(ShadowID(thingName: "t", shadowName: "cfg")!, Shadow())
        try ireland.saveShadow(ShadowID(thingName: "u", shadowName: "other")!, Shadow())
        #expect(Set(try ireland.loadShadows(thingNames: ["t", "u", "v"], named: ["cfg"]).keys) == [ShadowID(thingName: "t")!, ShadowID(thingName: "t", shadowName: "cfg")!])
        #expect(try file.loadShadows(thingNames: ["t", "u"], named: ["cfg", "other"]).isEmpty)
        let many = (0..<1200).map { "thing-\($0)" } + ["t"]
        #expect(try ireland.loadShadows(thingNames: many, named: []).count == 1, "read in chunks below SQLite's limit on parameters")
        #expect(try file.namespacesInUse() == ["123456789012/eu-west-1"])
        // Things' last disconnects: per namespace, replaced, and forgotten.
        try ireland.saveDisconnects(["t": .init(epochMilliseconds: 5, reason: "CONNECTION_LOST")])
        try ireland.saveDisconnects(["t": .init(epochMilliseconds: 9, reason: nil), "u": .init(epochMilliseconds: 7, reason: "THROTTLED")])
        #expect(try file.loadDisconnects().isEmpty)
        #expect(try ireland.loadDisconnects() == ["t": .init(epochMilliseconds: 9, reason: nil), "u": .init(epochMilliseconds: 7, reason: "THROTTLED")])
        try ireland.saveDisconnects(["u": nil])
        #expect(try ireland.loadDisconnects().keys.sorted() == ["t"])
    }

    /// A file as the release before namespaces left it (migrations v1-v4) becomes the default namespace.
    @Test func aFileFromBeforeNamespacesBecomesTheDefaultNamespace() throws {
        let (path, cleanup) = try temporaryDatabase()
        defer { cleanup() }
        let old = try SQLiteRegistryStore(path: path, migrations: 4)
        // Rows as that release's store wrote them.
        try old.execute(sql: "INSERT INTO record (kind, key, data) VALUES ('policy', 'p', CAST('{}' AS BLOB)), ('thing', 't', CAST('{\"a\":1}' AS BLOB))")
        let shadow = try JSONEncoder().encode(Shadow())
        try old.execute(sql: "INSERT INTO shadow (thing, name, present, data) VALUES ('t', 'named', 0, CAST('\(String(decoding: shadow, as: UTF8.self))' AS BLOB))")
        let upgraded = try SQLiteRegistryStore(path: path)
        #expect(try upgraded.loadRecords() == [RegistryRecordKey(.policy, "p"): Data("{}".utf8), RegistryRecordKey(.thing, "t"): Data("{\"a\":1}".utf8)])
        #expect(try upgraded.loadShadow(ShadowID(thingName: "t", shadowName: "named")!) != nil)
        #expect(try upgraded.namespace("123456789012/eu-west-1").loadRecords().isEmpty)
        #expect(try upgraded.namespacesInUse() == [""])
    }
}
