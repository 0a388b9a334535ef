import DeviceIdentity
import Foundation
import NIOCore
import NIOSSL
import NIOTLS
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

/// The TLS side of a listener: the contexts per server name (`ServerTLSDirectory`), the namespace each
/// server name reaches, and the verification callback that checks the client's chain against that
/// namespace's registry snapshot off the event loop.
struct GatewayTLS: Sendable {
    let contexts: ServerTLSDirectory
    let namespaces: DeviceNamespaces

    /// The primary namespace's directory (connections whose server name is not yet known).
    var directory: DeviceDirectory { namespaces.primary.directory }

    init(contexts: ServerTLSDirectory, namespaces: DeviceNamespaces) {
        self.contexts = contexts
        self.namespaces = namespaces
    }

    init(contexts: ServerTLSDirectory, directory: DeviceDirectory, host: BrokerHost) {
        self.init(contexts: contexts, namespaces: DeviceNamespaces(host: host, directory: directory))
    }

    /// Reads the Client Hello's server name, picks the domain configuration for it (its certificate,
    /// security policy and rules) or refuses it, puts the TLS handler in before `next`, then removes
    /// itself and hands the bytes to TLS. Its buffer is one TLS record at most. The name becomes
    /// iot:DomainName only if it is one of the gateway's: a client may send anything. A refusal is
    /// fired as an error (the next handler logs it as a failed Connect and closes).
    ///
    /// - Parameters:
    ///   - next: the handler TLS goes before; nil: at the end of the pipeline.
    ///   - install: adds the handlers after TLS for the namespace the name reached (the primary one for a
    ///     refusal, so it is logged there): a connection's handlers are made for their namespace, whose
    ///     broker they then hold as a constant.
    func makeSNIHandler(channel: any Channel, peerIdentity: PeerIdentityBox, service: ServerTLSDirectory.Service,
                        before next: (any ChannelHandler)? = nil, served: @escaping (DomainRules) -> Void = { _ in },
                        install: ((DeviceNamespace) throws -> Void)? = nil) -> ByteToMessageHandler<SNIHandler> {
        let loop = channel.eventLoop
        return ByteToMessageHandler(SNIHandler { result in
            var name: String?
            if case .hostname(let hostname) = result { name = hostname }
            switch contexts.select(serverName: name, for: service) {
            case .serve(let context, let domainName, let rules):
                peerIdentity.serverName = domainName
                // The namespace is chosen by the name the client sent, before its certificate is checked
                // against that namespace's registry.
                let namespace = namespaces.namespace(forServerName: name)
                peerIdentity.namespace = namespace
                served(rules)
                do {
                    let handler = makeHandler(context: context, peerIdentity: peerIdentity, directory: namespace.directory)
                    try channel.pipeline.syncOperations.addHandler(handler, position: next.map { .before($0) } ?? .last)
                    try install?(namespace)
                } catch {
                    return loop.makeFailedFuture(error)
                }
                return loop.makeSucceededVoidFuture()
            case .refuse(let reason):
                peerIdentity.rejected(ClientRejection(code: .domainNotServed, reason: reason))
                try? install?(namespaces.primary)
                // NIO's SNIHandler does nothing with a failed future: the error is fired here.
                channel.pipeline.fireErrorCaught(DomainRefused(reason: reason))
                return loop.makeFailedFuture(DomainRefused(reason: reason))
            }
        })
    }

    /// A handler for one connection. Verification runs in a task, never on the event loop.
    func makeHandler(context: NIOSSLContext, peerIdentity: PeerIdentityBox, directory: DeviceDirectory) -> NIOSSLServerHandler {
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
