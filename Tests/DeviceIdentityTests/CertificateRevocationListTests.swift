import Foundation
import Testing
import X509

@testable import DeviceIdentity

@Suite("Certificate revocation lists")
struct CertificateRevocationListTests {
    @Test func aListMadeByTheCAParsesVerifiesAndListsItsSerials() throws {
        let authority = try Fixtures.makeRoot()
        let devices = try (0..<3).map { try Fixtures.makeClient(from: authority, commonName: "d\($0)") }
        let crl = try authority.makeRevocationList(revoking: devices.prefix(2).map(\.certificate.serialNumber),
                                                   thisUpdate: Fixtures.referenceTime, nextUpdate: Fixtures.referenceTime.addingTimeInterval(3600))
        let parsed = try CertificateRevocationList(bytes: Array(crl.pem.utf8))
        #expect(parsed.isSigned(by: authority.certificate))
        #expect(parsed.revokedSerials.count == 2)
        #expect(parsed.revokedSerials.contains(CertificateRevocationList.serialKey(devices[0].certificate.serialNumber)))
        #expect(!parsed.revokedSerials.contains(CertificateRevocationList.serialKey(devices[2].certificate.serialNumber)))
        #expect(parsed.thisUpdate == Fixtures.referenceTime)
        #expect(parsed.nextUpdate == Fixtures.referenceTime.addingTimeInterval(3600))
        #expect(parsed.issuer == authority.certificate.subject)
        #expect(try CertificateRevocationList(bytes: parsed.der).revokedSerials == parsed.revokedSerials, "DER as well as PEM")
    }

    @Test func anotherCAOrATamperedListDoesNotVerify() throws {
        let authority = try Fixtures.makeRoot()
        let sameName = try Fixtures.makeRoot()  // same subject, other key
        let device = try Fixtures.makeClient(from: authority)
        let crl = try authority.makeRevocationList(revoking: [device.certificate.serialNumber], thisUpdate: Fixtures.referenceTime,
                                                   nextUpdate: Fixtures.referenceTime.addingTimeInterval(60))
        #expect(!crl.isSigned(by: sameName.certificate))
        #expect(!crl.isSigned(by: try Fixtures.makeExternalRoot().certificate))
        // Flip one bit of a serial inside the signed part: still parses, no longer verifies.
        var bytes = crl.der
        let serial = Array(device.certificate.serialNumber.bytes)
        let at = try #require(bytes.indices.first { Array(bytes[$0..<min($0 + serial.count, bytes.count)]) == serial })
        bytes[at + serial.count - 1] ^= 0x01
        let tampered = try CertificateRevocationList(bytes: bytes)
        #expect(!tampered.isSigned(by: authority.certificate))
    }

    @Test func anEmptyListHasNoSerials() throws {
        let authority = try Fixtures.makeRoot()
        let crl = try authority.makeRevocationList(revoking: [], thisUpdate: Fixtures.referenceTime, nextUpdate: Fixtures.referenceTime.addingTimeInterval(60))
        #expect(crl.revokedSerials.isEmpty && crl.isSigned(by: authority.certificate))
    }

    @Test(arguments: [
        [UInt8](), [0x30, 0x00], [0x30, 0x03, 0x02, 0x01, 0x01], Array("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".utf8),
        Array("not a crl".utf8),
    ])
    func malformedInputIsRefusedWithAnError(bytes: [UInt8]) {
        #expect(throws: DeviceIdentityError.self) { try CertificateRevocationList(bytes: bytes) }
    }

    @Test func anOversizedListIsRefusedBeforeParsing() {
        let bytes = [UInt8](repeating: 0x30, count: CertificateRevocationList.maximumBytes + 1)
        #expect(throws: DeviceIdentityError.self) { try CertificateRevocationList(bytes: bytes) }
    }

    @Test func tenThousandEntriesParse() throws {
        let authority = try Fixtures.makeRoot()
        let serials = (0..<10_000).map { Certificate.SerialNumber(bytes: [0x01, UInt8($0 >> 8), UInt8($0 & 0xFF)]) }
        let crl = try authority.makeRevocationList(revoking: serials, thisUpdate: Fixtures.referenceTime, nextUpdate: Fixtures.referenceTime.addingTimeInterval(60))
        #expect(crl.revokedSerials.count == 10_000)
        #expect(crl.der.count < CertificateRevocationList.maximumBytes)
        #expect(crl.isSigned(by: authority.certificate))
    }

    /// Bad input never crashes the parser: thousands of seeded mutations of a valid list (flipped bytes,
    /// truncations, duplicated spans) either parse or throw; and what parses never verifies unless the
    /// signed part is intact.
    @Test func mutatedListsParseOrThrowAndNeverCrash() throws {
        let authority = try Fixtures.makeRoot()
        let devices = try (0..<3).map { try Fixtures.makeClient(from: authority, commonName: "m\($0)") }
        let crl = try authority.makeRevocationList(revoking: devices.map(\.certificate.serialNumber), thisUpdate: Fixtures.referenceTime,
                                                   nextUpdate: Fixtures.referenceTime.addingTimeInterval(3600))
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        var parsed = 0, refused = 0
        for _ in 0..<3000 {
            var bytes = crl.der
            switch next() % 3 {
            case 0:
                for _ in 0..<(1 + Int(next() % 4)) { bytes[Int(next() % UInt64(bytes.count))] ^= UInt8(truncatingIfNeeded: next() | 1) }
            case 1:
                bytes = Array(bytes.prefix(Int(next() % UInt64(bytes.count))))
            default:
                let start = Int(next() % UInt64(bytes.count)), length = Int(next() % 16)
                bytes.insert(contentsOf: bytes[start..<min(bytes.count, start + length)], at: start)
            }
            if let mutated = try? CertificateRevocationList(bytes: bytes) {
                parsed += 1
                if mutated.isSigned(by: authority.certificate) { #expect(mutated.revokedSerials == crl.revokedSerials) }
            } else {
                refused += 1
            }
        }
        #expect(refused > 0 && parsed + refused == 3000)
    }
}
