import DeviceIdentity
import Foundation
import NIOCore
import NIOSSL
import X509

/// The TLS material of an MQTT listener: the server's certificate chain and key, and the CAs whose
/// device certificates are trusted.
public struct GatewayTLSMaterial: Sendable {
    public var serverCertificateChainPEM: String
    public var serverPrivateKeyPEM: String
    public var trustedCACertificatesPEM: String

    public init(serverCertificateChainPEM: String, serverPrivateKeyPEM: String, trustedCACertificatesPEM: String) {
        self.serverCertificateChainPEM = serverCertificateChainPEM
        self.serverPrivateKeyPEM = serverPrivateKeyPEM
        self.trustedCACertificatesPEM = trustedCACertificatesPEM
    }
}

/// Builds the server TLS context (TLS 1.2 and 1.3, client certificate required) and the verification
/// callback that checks the client's chain against the registry's snapshot off the event loop.
struct GatewayTLS: Sendable {
    let context: NIOSSLContext
    let directory: DeviceDirectory
    /// The DNS names the server certificate is for (lower case): the only SNI values taken as
    /// `iot:DomainName`, since a client may send any name it likes.
    let serverNames: Set<String>

    /// The name a client asked for, if the server certificate covers it (lower case, no trailing dot).
    func domainName(fromSNI name: String) -> String? {
        var lowered = name.lowercased()
        if lowered.hasSuffix(".") { lowered.removeLast() }
        return serverNames.contains(lowered) ? lowered : nil
    }

    init(material: GatewayTLSMaterial, directory: DeviceDirectory) throws {
        let chain = try NIOSSLCertificate.fromPEMBytes(Array(material.serverCertificateChainPEM.utf8))
        let key = try NIOSSLPrivateKey(bytes: Array(material.serverPrivateKeyPEM.utf8), format: .pem)
        let caCertificates = try NIOSSLCertificate.fromPEMBytes(Array(material.trustedCACertificatesPEM.utf8))
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.maximumTLSVersion = .tlsv13
        // Requests and requires a client certificate; the custom callback replaces BoringSSL's checks.
        configuration.certificateVerification = .noHostnameVerification
        configuration.trustRoots = .certificates(caCertificates)
        // No CA list: devices registered under their own CA or without one must not be told to pick a
        // certificate from the gateway's CA (some TLS stacks would then send none).
        configuration.sendCANameList = false
        self.context = try NIOSSLContext(configuration: configuration)
        self.directory = directory
        let leaf = try? PEM.parseCertificates(pem: material.serverCertificateChainPEM).first
        let names = (try? leaf?.extensions.subjectAlternativeNames).flatMap { $0 }.map { names in
            names.compactMap { name -> String? in if case .dnsName(let value) = name { value.lowercased() } else { nil } }
        } ?? []
        self.serverNames = Set(names)
    }

    /// A handler for one connection. Verification runs in a task, never on the event loop.
    func makeHandler(peerIdentity: PeerIdentityBox) -> NIOSSLServerHandler {
        let directory = self.directory
        return NIOSSLServerHandler(context: context) { presented, promise in
            let ders = presented.map { (try? $0.toDERBytes()) ?? [] }
            Task {
                switch await directory.authenticate(derChain: ders, at: Date()) {
                case .success(let certificateID):
                    // The connection keeps only its certificate id: handing NIOSSL the validated chain
                    // would keep two more parsed X509 objects (about 5 KB) alive per idle connection.
                    peerIdentity.trusted(certificateID)
                    promise.succeed(.certificateVerified(VerificationMetadata(nil)))
                case .failure(let rejection):
                    peerIdentity.rejected(rejection)
                    promise.succeed(.failed)
                }
            }
        }
    }
}
