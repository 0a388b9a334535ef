import DeviceIdentity
import Foundation
import MQTTCore
import PortcullisServer
import PortcullisTesting
import Registry
import Testing

/// Certificate revocation lists against the real server: a serial on the CA's list is refused at the
/// handshake although registered ACTIVE, and its live connections close when the list arrives.
@Suite("Live: certificate revocation lists", .serialized)
struct LiveRevocationListTests {
    func upload(_ live: LiveServer, revoking credentials: [IssuedCredential], at: Date = Date()) async throws {
        let ca = live.server.preparation.certificateAuthority
        let crl = try ca.makeRevocationList(revoking: credentials.map(\.certificate.serialNumber), thisUpdate: at,
                                            nextUpdate: at.addingTimeInterval(86_400), crlNumber: Int(at.timeIntervalSince1970))
        let id = ca.certificateID
        _ = try await live.server.registry.perform { state throws(RegistryError) in
            try state.putRevocationList(caCertificateID: id, crl: crl, now: at.timeIntervalSince1970)
        }
    }

    @Test func aRevokedSerialClosesItsConnectionAndCannotConnectAgain() async throws {
        try await LiveServer.with { live in
            let doomed = try live.pki.device("doomed"), kept = try live.pki.device("kept")
            let v5 = try await live.client("doomed", credential: doomed)
            #expect(try await v5.connect(clientID: "doomed").reasonCode == .success)
            let survivor = try await live.client("kept", credential: kept)
            #expect(try await survivor.connect(clientID: "kept").reasonCode == .success)

            try await upload(live, revoking: [doomed])
            let packets = try await v5.waitForClose()
            #expect(packets.last.map { if case .disconnect(let d) = $0 { d.reasonCode == .notAuthorized } else { false } } == true)
            #expect(try await survivor.subscribe("still/here").reasonCodes == [.grantedQoS1], "other devices are untouched")

            let retry = try await live.client("doomed", credential: doomed, register: false)
            await #expect(throws: (any Error).self) { try await retry.connect(clientID: "doomed") }
            let refusal = await live.events.waitFor { $0.eventType == .connect && $0.status == .failure && ($0.details ?? "").contains("revocation list") }
            #expect(refusal != nil, "the refusal says why")

            // A newer list without the serial lets it back in.
            try await upload(live, revoking: [], at: Date().addingTimeInterval(1))
            let back = try await live.client("doomed", credential: doomed, register: false)
            #expect(try await back.connect(clientID: "doomed").reasonCode == .success)
            await back.close()
            await survivor.close()
        }
    }
}
