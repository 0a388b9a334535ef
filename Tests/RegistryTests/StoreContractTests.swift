import Foundation
import DeviceIdentity
@testable import Registry
import RegistrySQLite
import Testing

/// One suite, every store: what the registry wrote is what a new registry over the same store reads
/// back (a restart), and a store that cannot write leaves the registry unchanged.
@Suite("Registry stores: the contract")
struct StoreContractTests {
    enum Kind: String, CaseIterable, CustomTestStringConvertible {
        case memory, sqlite
        var testDescription: String { rawValue }
    }

    /// A store and a way to open it again, as after a restart.
    func makeStore(_ kind: Kind) throws -> (store: any RegistryStore, reopen: () throws -> any RegistryStore, cleanup: () -> Void) {
        switch kind {
        case .memory:
            let store = InMemoryRegistryStore()
            return (store, { store }, {})
        case .sqlite:
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("registry-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let path = folder.appendingPathComponent("registry.sqlite").path
            return (try SQLiteRegistryStore(path: path), { try SQLiteRegistryStore(path: path) },
                    { try? FileManager.default.removeItem(at: folder) })
        }
    }

    let arns = ARNs(region: "eu-west-1", accountID: "123456789012")
    let document = #"{"Version":"2012-10-17","Statement":[]}"#

    @Test(arguments: Kind.allCases)
    func whatWasWrittenIsReadBackAfterARestart(_ kind: Kind) async throws {
        let (store, reopen, cleanup) = try makeStore(kind)
        defer { cleanup() }
        let document = self.document
        let registry = try Registry(arns: arns, store: store)
        for name in ["a", "b", "c"] {
            _ = try await registry.perform { state throws(RegistryError) in try state.createPolicy(name: name, document: document, now: 1) }
        }
        _ = try await registry.perform { state throws(RegistryError) in
            try state.createPolicyVersion(name: "a", document: #"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#, setAsDefault: true, now: 2)
        }
        try await registry.perform { state throws(RegistryError) in try state.deletePolicy(name: "b") }
        _ = try await registry.perform { state throws(RegistryError) in
            try state.createThing(name: "t1", thingTypeName: nil, attributes: ["room": "a/1"], now: 1)
        }
        try await registry.perform { state throws(RegistryError) in
            try state.updateThing(name: "t1", thingTypeName: nil, removeThingType: false, attributes: ["floor": "2"], merge: true, expectedVersion: 1)
        }
        _ = try await registry.perform { state throws(RegistryError) in try state.createThing(name: "t2", thingTypeName: nil, attributes: [:], now: 1) }
        try await registry.perform { state throws(RegistryError) in try state.deleteThing(name: "t2", expectedVersion: nil) }
        let before = try await registry.read { state throws(RegistryError) in try state.listPolicies(marker: nil, pageSize: nil, ascending: true).policies }

        let restarted = try Registry(arns: arns, store: try reopen())
        let after = try await restarted.read { state throws(RegistryError) in try state.listPolicies(marker: nil, pageSize: nil, ascending: true).policies }
        #expect(after == before)
        #expect(after.map(\.name) == ["a", "c"])
        #expect(after.first?.defaultVersion.document == #"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#)
        let things = try await restarted.read { state throws(RegistryError) in
            try state.listThings(nextToken: nil, maxResults: nil, attributeName: nil, attributeValue: nil, usePrefixAttributeValue: false, thingTypeName: nil).things
        }
        #expect(things.map(\.name) == ["t1"])
        #expect(things.first?.attributes == ["room": "a/1", "floor": "2"] && things.first?.version == 2)
        // Version numbering survives too: the next version of "a" is 3.
        let (_, next) = try await restarted.perform { state throws(RegistryError) in
            try state.createPolicyVersion(name: "a", document: document, setAsDefault: false, now: 3)
        }
        #expect(next.versionID == "3")
    }

    @Test(arguments: Kind.allCases)
    func aRefusedOperationWritesNothing(_ kind: Kind) async throws {
        let (store, reopen, cleanup) = try makeStore(kind)
        defer { cleanup() }
        let document = self.document
        let registry = try Registry(arns: arns, store: store)
        _ = try await registry.perform { state throws(RegistryError) in try state.createPolicy(name: "a", document: document, now: 1) }
        await #expect(throws: RegistryError.self) {
            try await registry.perform { state throws(RegistryError) in
                _ = try state.createPolicy(name: "new", document: document, now: 2)
                _ = try state.createPolicy(name: "a", document: document, now: 2)
            }
        }
        #expect(try reopen().loadRecords().keys.filter { $0.kind == .policy }.map(\.key) == ["a"])
    }

    @Test func aStoreThatCannotWriteLeavesTheRegistryUnchanged() async throws {
        struct Broken: RegistryStore {
            struct Failure: Error {}
            func loadRecords() throws -> [RegistryRecordKey: Data] { [:] }
            func apply(_ changes: RegistryChanges) throws { throw Failure() }
        }
        let document = self.document
        let registry = try Registry(arns: arns, store: Broken())
        do {
            _ = try await registry.perform { state throws(RegistryError) in try state.createPolicy(name: "a", document: document, now: 1) }
            Issue.record("accepted")
        } catch {
            #expect(error.code == .internalFailure)
        }
        #expect(try await registry.read { state in state.policies.isEmpty })
    }

    @Test func theSQLiteFileIsInWALModeAndMigrationsRunOnce() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("registry-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("registry.sqlite").path
        let first = try SQLiteRegistryStore(path: path)
        #expect(FileManager.default.fileExists(atPath: path + "-wal"), "WAL mode while open")
        // A second open of the same file migrates nothing again (CREATE TABLE would fail) and sees the data.
        try first.apply(RegistryChanges(upserts: [RegistryRecordKey(.policy, "p"): Data("{}".utf8)]))
        let second = try SQLiteRegistryStore(path: path)
        #expect(try second.loadRecords() == [RegistryRecordKey(.policy, "p"): Data("{}".utf8)])
    }
}


extension StoreContractTests {
    @Test(arguments: Kind.allCases)
    func certificatesCAsAndAttachmentsSurviveARestart(_ kind: Kind) async throws {
        let (store, reopen, cleanup) = try makeStore(kind)
        defer { cleanup() }
        let local = try CertificateAuthority.makeRoot(commonName: "Local CA", notBefore: Date().addingTimeInterval(-86_400))
        let fleet = try CertificateAuthority.makeRoot(commonName: "Fleet CA", notBefore: Date().addingTimeInterval(-86_400))
        let pem = try local.issueClientCertificate(commonName: "d", notBefore: Date().addingTimeInterval(-60), validity: 3600).certificatePEM
        let registry = try Registry(arns: arns, localCA: local.certificate, store: store)
        let arns = self.arns
        let (id, code) = try await registry.perform { state throws(RegistryError) in
            let id = try state.registerCertificate(pem: pem, caPEM: nil, status: "ACTIVE", setAsActive: nil, now: 1).certificateID
            _ = try state.createThing(name: "t", thingTypeName: nil, attributes: [:], now: 1)
            _ = try state.createPolicy(name: "p", document: #"{"Version":"2012-10-17","Statement":[]}"#, now: 1)
            try state.attachThingPrincipal(thingName: "t", principal: arns.certificate(id), type: .exclusive)
            try state.attachPolicy(name: "p", target: arns.certificate(id))
            _ = try state.registerCACertificate(pem: fleet.certificatePEM, verificationPEM: nil, setAsActive: true, allowAutoRegistration: true,
                                                mode: nil, now: 1)
            return (id, state.obtainRegistrationCode())
        }
        let restarted = try Registry(arns: arns, localCA: local.certificate, store: try reopen())
        try await restarted.read { state throws(RegistryError) in
            #expect(try state.certificate(id: id).status == .active)
            #expect(try state.listPrincipalThings(principal: arns.certificate(id), nextToken: nil, maxResults: nil).things.map(\.type) == [.exclusive])
            #expect(try state.listTargetsForPolicy(name: "p", marker: nil, pageSize: nil).targets == [arns.certificate(id)])
            #expect(try state.listCACertificates(marker: nil, pageSize: nil, ascending: true).certificates.first?.autoRegistration == true)
        }
        #expect(try await restarted.perform { state throws(RegistryError) in state.obtainRegistrationCode() } == code)
    }
}
