import Foundation
import MQTTCore
import NIOCore
import NIOPosix
import NIOSSL

/// Where the load goes and how clients authenticate: any MQTT broker, over TCP or TLS with an optional
/// client certificate, in MQTT 3.1.1 or 5.
public struct BenchTarget: Sendable {
    public var host: String
    public var port: Int
    public var version: ProtocolVersion
    /// TLS when set: CA bundle to trust, optional client certificate and key, SNI / verified name.
    public var tls: TLS?
    /// Local addresses to spread connections over (e.g. 127.0.0.1 ... 127.0.0.16), each with its own
    /// 64k ephemeral ports. Empty: let the OS choose.
    public var sourceAddresses: [String]
    public var allowRemote: Bool

    public struct TLS: Sendable {
        public var caFile: String
        public var certificateFile: String?
        public var keyFile: String?
        public var serverName: String

        public init(caFile: String, certificateFile: String?, keyFile: String?, serverName: String) {
            self.caFile = caFile
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.serverName = serverName
        }
    }

    public init(host: String, port: Int, version: ProtocolVersion, tls: TLS?, sourceAddresses: [String] = [], allowRemote: Bool = false) {
        self.host = host
        self.port = port
        self.version = version
        self.tls = tls
        self.sourceAddresses = sourceAddresses
        self.allowRemote = allowRemote
    }

    public struct Refusal: Error, CustomStringConvertible {
        public var description: String
    }

    /// The resolved address, refusing a non-loopback target unless remote load was allowed explicitly:
    /// a load generator pointed at someone else's server by a typo is an attack.
    public func resolve() throws -> SocketAddress {
        let address = try SocketAddress.makeAddressResolvingHost(host, port: port)
        if !allowRemote && !Self.isLoopback(address) {
            throw Refusal(description: "\(host) is not a loopback address; pass --allow-remote to load a remote broker")
        }
        return address
    }

    static func isLoopback(_ address: SocketAddress) -> Bool {
        guard let ip = address.ipAddress else { return false }
        return ip.hasPrefix("127.") || ip == "::1"
    }

    /// The TLS context shared by every connection of a run.
    public func makeTLSContext() throws -> NIOSSLContext? {
        guard let tls else { return nil }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .file(tls.caFile)
        configuration.minimumTLSVersion = .tlsv12
        if let certificate = tls.certificateFile, let key = tls.keyFile {
            configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
            configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
        }
        return try NIOSSLContext(configuration: configuration)
    }
}
