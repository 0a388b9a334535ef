import DeviceIdentity
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import X509

/// The gateway's data folder and the local PKI in it: a root CA created on first start, a server
/// certificate for the configured names (renewed when it nears expiry or the names change), and
/// device credentials minted for the quick start. Private keys are written 0600 in 0700 folders.
public struct DataDirectory: Sendable {
    public let root: URL

    public init(path: String) {
        self.root = URL(fileURLWithPath: path, isDirectory: true).standardizedFileURL
    }

    public var caCertificatePath: String { root.appendingPathComponent("ca/root-ca.pem").path }
    public var caKeyPath: String { root.appendingPathComponent("ca/root-ca.key").path }
    public var serverCertificatePath: String { root.appendingPathComponent("server/server.pem").path }
    public var serverKeyPath: String { root.appendingPathComponent("server/server.key").path }
    /// The RSA-2048 server certificate for the same names, served to clients that cannot use ECDSA.
    public var rsaServerCertificatePath: String { root.appendingPathComponent("server/server-rsa.pem").path }
    public var rsaServerKeyPath: String { root.appendingPathComponent("server/server-rsa.key").path }
    public var devicesPath: String { root.appendingPathComponent("devices").path }
    /// The registry (SQLite, WAL: the -wal and -shm files beside it belong to it).
    public var registryDatabasePath: String { root.appendingPathComponent("registry.sqlite").path }

    /// What `prepare` found or created, for the first-start message.
    public struct Preparation: Sendable {
        public var certificateAuthority: CertificateAuthority
        public var serverCertificatePEM: String
        public var serverKeyPEM: String
        public var rsaServerCertificatePEM: String
        public var rsaServerKeyPEM: String
        public var createdCA: Bool
        public var issuedServerCertificate: Bool
    }

    /// Loads the local PKI, creating what is missing. `now` is injectable for tests.
    public func prepare(serverHostNames: [String], now: Date = Date()) throws -> Preparation {
        try Self.makeDirectory(root.path)
        try Self.makeDirectory(root.appendingPathComponent("ca").path)
        try Self.makeDirectory(root.appendingPathComponent("server").path)

        var createdCA = false
        let ca: CertificateAuthority
        if FileManager.default.fileExists(atPath: caCertificatePath) {
            try Self.requirePrivate(caKeyPath)
            ca = try CertificateAuthority(certificatePEM: try Self.read(caCertificatePath), privateKeyPEM: try Self.read(caKeyPath))
        } else {
            // Backdated an hour so devices with a slightly slow clock accept it.
            ca = try CertificateAuthority.makeRoot(notBefore: now.addingTimeInterval(-3600))
            try Self.write(ca.privateKeyPEM, to: caKeyPath, secret: true)
            try Self.write(ca.certificatePEM, to: caCertificatePath, secret: false)
            createdCA = true
        }

        let dnsNames = ["localhost"] + serverHostNames.filter { !Self.isIPAddress($0) }
        let ipAddresses = ["127.0.0.1", "::1"] + serverHostNames.filter(Self.isIPAddress)
        var issued = false
        var served: [(pem: String, key: String)] = []
        for (certificatePath, keyPath, algorithm) in [(serverCertificatePath, serverKeyPath, KeyAlgorithm.p256),
                                                       (rsaServerCertificatePath, rsaServerKeyPath, KeyAlgorithm.rsa2048)] {
            if let existing = try? Self.read(certificatePath), let key = try? Self.read(keyPath),
               Self.serverCertificateIsUsable(existing, ca: ca, dnsNames: dnsNames, ipAddresses: ipAddresses, now: now) {
                served.append((existing, key))
            } else {
                let credential = try ca.issueServerCertificate(
                    dnsNames: dnsNames, ipAddresses: ipAddresses, commonName: "localhost",
                    notBefore: now.addingTimeInterval(-3600), validity: 397 * 24 * 3600, keyAlgorithm: algorithm)
                try Self.write(credential.privateKeyPEM, to: keyPath, secret: true)
                try Self.write(credential.certificatePEM, to: certificatePath, secret: false)
                served.append((credential.certificatePEM, credential.privateKeyPEM))
                issued = true
            }
        }
        return Preparation(certificateAuthority: ca, serverCertificatePEM: served[0].pem, serverKeyPEM: served[0].key,
                           rsaServerCertificatePEM: served[1].pem, rsaServerKeyPEM: served[1].key,
                           createdCA: createdCA, issuedServerCertificate: issued)
    }

    /// Files written for a minted device.
    public struct DeviceFiles: Sendable {
        public var certificatePath: String
        public var privateKeyPath: String
        public var caPath: String
        public var certificateID: String
    }

    /// Issues a device certificate signed by the local CA and writes it, its key and the CA into `directory`.
    public func mintDevice(name: String, validityDays: Int, directory: String?, now: Date = Date()) throws -> DeviceFiles {
        guard !name.isEmpty, name.count <= 128,
              name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ":" }) else {
            throw ConfigurationError(["device name must be 1-128 characters of letters, digits, '-', '_' or ':'"])
        }
        guard validityDays > 0, validityDays <= 3650 * 3 else {
            throw ConfigurationError(["validity must be between 1 and 10950 days"])
        }
        guard FileManager.default.fileExists(atPath: caCertificatePath) else {
            throw ConfigurationError(["no local CA in '\(root.path)': start the gateway once (portcullis serve) or check --data-dir"])
        }
        let ca = try CertificateAuthority(certificatePEM: try Self.read(caCertificatePath), privateKeyPEM: try Self.read(caKeyPath))
        let credential = try ca.issueClientCertificate(
            commonName: name, notBefore: now.addingTimeInterval(-3600), validity: Double(validityDays) * 86_400)
        let folder = directory ?? URL(fileURLWithPath: devicesPath).appendingPathComponent(name).path
        try Self.makeDirectory(folder)
        let base = URL(fileURLWithPath: folder, isDirectory: true)
        let files = DeviceFiles(
            certificatePath: base.appendingPathComponent("\(name).cert.pem").path,
            privateKeyPath: base.appendingPathComponent("\(name).private.key").path,
            caPath: base.appendingPathComponent("root-ca.pem").path,
            certificateID: credential.certificateID)
        try Self.write(credential.privateKeyPEM, to: files.privateKeyPath, secret: true)
        try Self.write(credential.certificatePEM, to: files.certificatePath, secret: false)
        try Self.write(ca.certificatePEM, to: files.caPath, secret: false)
        return files
    }

    /// Writes the files of a device whose certificate and key came from the API (CreateKeysAndCertificate).
    public func writeDeviceFiles(name: String, certificatePEM: String, privateKeyPEM: String, certificateID: String,
                                 directory: String) throws -> DeviceFiles {
        try Self.makeDirectory(directory)
        let base = URL(fileURLWithPath: directory, isDirectory: true)
        let files = DeviceFiles(
            certificatePath: base.appendingPathComponent("\(name).cert.pem").path,
            privateKeyPath: base.appendingPathComponent("\(name).private.key").path,
            caPath: base.appendingPathComponent("root-ca.pem").path,
            certificateID: certificateID)
        try Self.write(privateKeyPEM, to: files.privateKeyPath, secret: true)
        try Self.write(certificatePEM, to: files.certificatePath, secret: false)
        try Self.write(try Self.read(caCertificatePath), to: files.caPath, secret: false)
        return files
    }

    static func serverCertificateIsUsable(_ pem: String, ca: CertificateAuthority, dnsNames: [String], ipAddresses: [String], now: Date) -> Bool {
        guard let certificate = try? PEM.parseCertificate(pem: pem) else { return false }
        guard certificate.issuer == ca.certificate.subject,
              ca.certificate.publicKey.isValidSignature(certificate.signature, for: certificate) else { return false }
        // Renew a month before expiry.
        guard certificate.notValidAfter > now.addingTimeInterval(30 * 86_400), certificate.notValidBefore <= now else { return false }
        guard let names = try? certificate.extensions.subjectAlternativeNames else { return false }
        var present = Set<String>()
        var presentIPs = Set<[UInt8]>()
        for name in names {
            switch name {
            case .dnsName(let dns): present.insert(dns)
            case .ipAddress(let bytes): presentIPs.insert(Array(bytes.bytes))
            default: break
            }
        }
        guard let wantedIPs = try? ipAddresses.map(IPAddressText.bytes) else { return false }
        return dnsNames.allSatisfy(present.contains) && wantedIPs.allSatisfy(presentIPs.contains)
    }

    /// Refuses a private key that others can read: a CA key readable by the group or the world is a
    /// key anyone on the machine could mint devices with.
    static func requirePrivate(_ path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else { return }
        if info.st_mode & 0o077 != 0 {
            throw ConfigurationError(["'\(path)' is readable by other users (mode \(String(info.st_mode & 0o777, radix: 8))); run: chmod 600 \(path)"])
        }
    }

    static func isIPAddress(_ text: String) -> Bool {
        text.contains(":") || (text.split(separator: ".").count == 4 && text.allSatisfy { $0.isNumber || $0 == "." })
    }

    /// Creates the folder if needed and makes sure only the owner can enter it, even if it existed.
    static func makeDirectory(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        guard chmod(path, 0o700) == 0 else {
            throw ConfigurationError(["cannot restrict '\(path)' to its owner: \(String(cString: strerror(errno)))"])
        }
    }

    static func read(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(["cannot read '\(path)'"])
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Writes through a new temporary file (created with its final mode, never readable by others even
    /// for a moment), synced, then renamed over the target, so a crash never leaves half a key behind.
    static func write(_ text: String, to path: String, secret: Bool) throws {
        let temporary = path + ".tmp-\(getpid())"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, secret ? 0o600 : 0o644)
        guard fd >= 0 else { throw ConfigurationError(["cannot write '\(path)': \(String(cString: strerror(errno)))"]) }
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                close(fd)
                unlink(temporary)
                throw ConfigurationError(["cannot write '\(path)': \(String(cString: strerror(errno)))"])
            }
            written += n
        }
        fsync(fd)
        close(fd)
        if rename(temporary, path) != 0 {
            unlink(temporary)
            throw ConfigurationError(["cannot write '\(path)': \(String(cString: strerror(errno)))"])
        }
    }
}

/// IPv4 and IPv6 text to the bytes a certificate's SAN holds (inet_pton).
enum IPAddressText {
    struct Invalid: Error {}

    static func bytes(_ text: String) throws -> [UInt8] {
        if text.contains(":") {
            var address = in6_addr()
            guard inet_pton(AF_INET6, text, &address) == 1 else { throw Invalid() }
            return withUnsafeBytes(of: &address) { Array($0) }
        }
        var address = in_addr()
        guard inet_pton(AF_INET, text, &address) == 1 else { throw Invalid() }
        return withUnsafeBytes(of: &address) { Array($0) }
    }
}
