import DeviceIdentity
import Foundation
@testable import PortcullisServer
import Crypto
import Testing
import X509
import _CryptoExtras

@Suite("Data folder and local PKI")
struct DataDirectoryTests {
    func temporaryDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("portcullis-data-\(UUID().uuidString)").path
    }

    func permissions(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    @Test func firstStartCreatesTheCAAndServerCertificateThenReusesThem() throws {
        let path = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let data = DataDirectory(path: path)
        let first = try data.prepare(serverHostNames: ["gw.example.com", "10.0.0.5"])
        #expect(first.createdCA && first.issuedServerCertificate)
        #expect(try permissions(data.caKeyPath) == 0o600)
        #expect(try permissions(data.serverKeyPath) == 0o600)
        #expect(try permissions(data.root.path) == 0o700)

        let server = try PEM.parseCertificate(pem: first.serverCertificatePEM)
        let names = try #require(try server.extensions.subjectAlternativeNames)
        var dns: [String] = []
        var ips: [[UInt8]] = []
        for name in names {
            switch name {
            case .dnsName(let value): dns.append(value)
            case .ipAddress(let bytes): ips.append(Array(bytes.bytes))
            default: break
            }
        }
        #expect(Set(dns) == ["localhost", "gw.example.com"])
        #expect(ips.contains([127, 0, 0, 1]) && ips.contains([10, 0, 0, 5]) && ips.contains(Array(repeating: 0, count: 15) + [1]))

        let second = try data.prepare(serverHostNames: ["gw.example.com", "10.0.0.5"])
        #expect(!second.createdCA && !second.issuedServerCertificate)
        #expect(second.certificateAuthority.certificateID == first.certificateAuthority.certificateID)
        #expect(second.serverCertificatePEM == first.serverCertificatePEM)
        #expect(second.rsaServerCertificatePEM == first.rsaServerCertificatePEM)
    }

    /// An RSA-2048 chain for the same names is served to clients that offer only RSA suites or signatures;
    /// it may encipher (TLS_RSA_* key exchange), the ECDSA one only signs.
    @Test func anRSAServerCertificateIsIssuedBesideTheECDSAOne() throws {
        let path = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let data = DataDirectory(path: path)
        let prepared = try data.prepare(serverHostNames: ["gw.example.com"])
        #expect(try permissions(data.rsaServerKeyPath) == 0o600)
        let rsa = try PEM.parseCertificate(pem: prepared.rsaServerCertificatePEM)
        let ecdsa = try PEM.parseCertificate(pem: prepared.serverCertificatePEM)
        #expect(_RSA.Signing.PublicKey(rsa.publicKey)?.keySizeInBits == 2048)
        #expect(P256.Signing.PublicKey(ecdsa.publicKey) != nil)
        #expect(try rsa.extensions.keyUsage?.keyEncipherment == true)
        #expect(try ecdsa.extensions.keyUsage?.keyEncipherment == false)
        #expect(try rsa.extensions.subjectAlternativeNames == ecdsa.extensions.subjectAlternativeNames)
    }

    @Test func serverCertificateIsReissuedWhenNamesChangeOrExpiryNears() throws {
        let path = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let data = DataDirectory(path: path)
        let first = try data.prepare(serverHostNames: [])
        let renamed = try data.prepare(serverHostNames: ["new.example.com"])
        #expect(renamed.issuedServerCertificate && !renamed.createdCA)
        #expect(renamed.serverCertificatePEM != first.serverCertificatePEM)
        let later = try data.prepare(serverHostNames: ["new.example.com"], now: Date().addingTimeInterval(380 * 86_400))
        #expect(later.issuedServerCertificate, "renewed within 30 days of expiry")
    }

    @Test func addingAnIPAddressReissuesTheServerCertificate() throws {
        let path = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let data = DataDirectory(path: path)
        _ = try data.prepare(serverHostNames: [])
        #expect(try data.prepare(serverHostNames: ["10.1.2.3"]).issuedServerCertificate)
        #expect(try !data.prepare(serverHostNames: ["10.1.2.3"]).issuedServerCertificate)
        #expect(try data.prepare(serverHostNames: ["10.1.2.3", "fd00::7"]).issuedServerCertificate)
    }

    @Test func aCAKeyOthersCanReadIsRefused() throws {
        let path = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let data = DataDirectory(path: path)
        _ = try data.prepare(serverHostNames: [])
        chmod(data.caKeyPath, 0o644)
        #expect {
            try data.prepare(serverHostNames: [])
        } throws: { error in
            (error as? ConfigurationError)?.problems.first?.contains("chmod 600") == true
        }
        chmod(data.caKeyPath, 0o600)
        #expect(throws: Never.self) { try data.prepare(serverHostNames: []) }
    }

    @Test func anExistingDataFolderIsRestrictedToItsOwner() throws {
        let path = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        _ = try DataDirectory(path: path).prepare(serverHostNames: [])
        #expect(try permissions(path) == 0o700)
    }

    @Test func mintedDeviceChainsToTheCAAndKeyIsPrivate() async throws {
        let path = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let data = DataDirectory(path: path)
        let prepared = try data.prepare(serverHostNames: [])
        let files = try data.mintDevice(name: "sensor-1", validityDays: 30, directory: nil)
        #expect(try permissions(files.privateKeyPath) == 0o600)
        let pem = String(decoding: FileManager.default.contents(atPath: files.certificatePath)!, as: UTF8.self)
        let certificate = try PEM.parseCertificate(pem: pem)
        #expect(try CertificateID.compute(certificate) == files.certificateID)
        let verifier = ClientCertificateVerifier(trustRoots: [prepared.certificateAuthority.certificate])
        #expect(await verifier.verify(chain: [certificate], at: Date()).isTrusted)
        let key = String(decoding: FileManager.default.contents(atPath: files.privateKeyPath)!, as: UTF8.self)
        #expect(throws: Never.self) { try IssuedCredential(certificatePEM: pem, privateKeyPEM: key) }
    }

    @Test func mintRefusesBadInput() throws {
        let path = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let data = DataDirectory(path: path)
        #expect(throws: ConfigurationError.self) { try data.mintDevice(name: "x", validityDays: 1, directory: nil) }
        _ = try data.prepare(serverHostNames: [])
        for name in ["", "a b", "../escape", String(repeating: "a", count: 129)] {
            #expect(throws: ConfigurationError.self, "\(name)") { try data.mintDevice(name: name, validityDays: 1, directory: nil) }
        }
        #expect(throws: ConfigurationError.self) { try data.mintDevice(name: "ok", validityDays: 0, directory: nil) }
    }
}
