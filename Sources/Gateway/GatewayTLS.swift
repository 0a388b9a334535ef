import DeviceIdentity
import Foundation
import NIOCore
import NIOSSL
import X509

/// The TLS material of an MQTT listener: the server's certificate chains and keys (an ECDSA one, and
/// optionally an RSA one for clients that offer only RSA suites or signatures), the CAs whose device
/// certificates are trusted, and the security policy that fixes the versions and ciphers offered.
public struct GatewayTLSMaterial: Sendable {
    public var serverCertificateChainPEM: String
    public var serverPrivateKeyPEM: String
    public var rsaServerCertificateChainPEM: String?
    public var rsaServerPrivateKeyPEM: String?
    public var trustedCACertificatesPEM: String
    public var securityPolicy: TLSSecurityPolicy

    public init(serverCertificateChainPEM: String, serverPrivateKeyPEM: String,
                rsaServerCertificateChainPEM: String? = nil, rsaServerPrivateKeyPEM: String? = nil,
                trustedCACertificatesPEM: String, securityPolicy: TLSSecurityPolicy = .default) {
        self.serverCertificateChainPEM = serverCertificateChainPEM
        self.serverPrivateKeyPEM = serverPrivateKeyPEM
        self.rsaServerCertificateChainPEM = rsaServerCertificateChainPEM
        self.rsaServerPrivateKeyPEM = rsaServerPrivateKeyPEM
        self.trustedCACertificatesPEM = trustedCACertificatesPEM
        self.securityPolicy = securityPolicy
    }

    /// The server credentials in order of preference: ECDSA first.
    var credentials: [BoringSSLServerContext.Credential] {
        var list = [BoringSSLServerContext.Credential(chainPEM: serverCertificateChainPEM, privateKeyPEM: serverPrivateKeyPEM)]
        if let rsaServerCertificateChainPEM, let rsaServerPrivateKeyPEM {
            list.append(.init(chainPEM: rsaServerCertificateChainPEM, privateKeyPEM: rsaServerPrivateKeyPEM))
        }
        return list
    }
}

/// Builds the server TLS context (the security policy's versions and ciphers, client certificate required) and the verification
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

    init(material: GatewayTLSMaterial, directory: DeviceDirectory, port: TLSSecurityPolicy.Port = .dedicated) throws {
        self.context = try BoringSSLServerContext.make(
            policy: material.securityPolicy, port: port, credentials: material.credentials,
            trustedCACertificatesPEM: material.trustedCACertificatesPEM)
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
