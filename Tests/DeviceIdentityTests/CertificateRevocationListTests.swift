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
}
