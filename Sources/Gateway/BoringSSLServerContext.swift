import CNIOBoringSSL
import DeviceIdentity
import NIOSSL

/// What swift-nio-ssl's `TLSConfiguration` cannot say, set on the BoringSSL context underneath it:
/// no session tickets (TLS 1.2 SessionTicket or TLS 1.3 NewSessionTicket) and no session cache, so
/// every connection runs the full handshake and the client certificate check; the exact TLS 1.2 and
/// TLS 1.3 cipher lists of a security policy; and several server certificates (ECDSA and RSA) of
/// which BoringSSL picks the first the client can use.
///
/// swift-nio-ssl keeps the `SSL_CTX` private. It is read by reflection, once per context; if a future
/// swift-nio-ssl renames it, building the listener fails (the gateway refuses to start) rather than
/// serving tickets or other ciphers silently.
enum BoringSSLServerContext {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// A server certificate chain (leaf first) and its private key, as PEM.
    struct Credential: Sendable {
        var chainPEM: String
        var privateKeyPEM: String
    }

    /// Builds a server context for `policy` on this kind of port, serving `credentials` in order of
    /// preference (ECDSA before RSA), client certificates requested and checked by the callback.
    static func make(
        policy: TLSSecurityPolicy, port: TLSSecurityPolicy.Port, credentials: [Credential],
        trustedCACertificatesPEM: String, applicationProtocols: [String] = [], clientCertificateOptional: Bool = false
    ) throws -> NIOSSLContext {
        guard let first = credentials.first else { throw Failure(description: "no server certificate") }
        let chain = try NIOSSLCertificate.fromPEMBytes(Array(first.chainPEM.utf8))
        let key = try NIOSSLPrivateKey(bytes: Array(first.privateKeyPEM.utf8), format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = policy.allowsTLS12 ? .tlsv12 : .tlsv13
        configuration.maximumTLSVersion = policy.allowsTLS13 ? .tlsv13 : .tlsv12
        let tls12 = policy.tls12CipherSuitesServed(on: port).map(\.openSSLName).joined(separator: ":")
        if !tls12.isEmpty { configuration.cipherSuites = tls12 }
        // Requests (and unless optional, requires) a client certificate; the custom callback replaces
        // BoringSSL's checks of one that is presented.
        configuration.certificateVerification = clientCertificateOptional ? .optionalVerification : .noHostnameVerification
        configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(trustedCACertificatesPEM.utf8)))
        // No CA list: devices registered under their own CA or without one must not be told to pick a
        // certificate from the gateway's CA (some TLS stacks would then send none).
        configuration.sendCANameList = false
        configuration.applicationProtocols = applicationProtocols
        let context = try NIOSSLContext(configuration: configuration)
        let raw = try rawContext(of: context)

        _ = SSL_CTX_set_options(raw, UInt32(SSL_OP_NO_TICKET))
        _ = SSL_CTX_set_session_cache_mode(raw, Int32(SSL_SESS_CACHE_OFF))
        if !tls12.isEmpty {
            guard SSL_CTX_set_strict_cipher_list(raw, tls12) == 1 else {
                throw Failure(description: "BoringSSL refused the cipher list of \(policy): \(tls12)")
            }
        }
        let tls13 = policy.tls13CipherSuites.map(\.rawValue)
        if !tls13.isEmpty {
            guard tls13.withUnsafeBufferPointer({ SSL_CTX_set1_tls13_ciphers(raw, $0.baseAddress, nil, $0.count) }) == 1 else {
                throw Failure(description: "BoringSSL refused the TLS 1.3 suites of \(policy)")
            }
        }
        for credential in credentials {
            try add(credential, to: raw)
        }
        return context
    }

    /// The BoringSSL `SSL_CTX` a swift-nio-ssl context wraps.
    static func rawContext(of context: NIOSSLContext) throws -> OpaquePointer {
        guard let child = Mirror(reflecting: context).children.first(where: { $0.label == "sslContext" }),
              let pointer = child.value as? OpaquePointer else {
            throw Failure(description: "this swift-nio-ssl version hides its SSL_CTX; cannot disable session tickets")
        }
        return pointer
    }

    /// Appends a certificate chain and key to the context's credential list.
    private static func add(_ credential: Credential, to context: OpaquePointer) throws {
        let chain = try NIOSSLCertificate.fromPEMBytes(Array(credential.chainPEM.utf8)).map { try $0.toDERBytes() }
        guard !chain.isEmpty else { throw Failure(description: "a server certificate chain is empty") }
        guard let key = privateKey(pem: credential.privateKeyPEM) else {
            throw Failure(description: "a server private key cannot be read")
        }
        defer { EVP_PKEY_free(key) }
        var buffers: [OpaquePointer?] = chain.map { der in der.withUnsafeBufferPointer { CRYPTO_BUFFER_new($0.baseAddress, $0.count, nil) } }
        defer { for buffer in buffers { CRYPTO_BUFFER_free(buffer) } }
        guard buffers.allSatisfy({ $0 != nil }), let cred = SSL_CREDENTIAL_new_x509() else {
            throw Failure(description: "out of memory building a server credential")
        }
        defer { SSL_CREDENTIAL_free(cred) }
        let chainSet = buffers.withUnsafeMutableBufferPointer { SSL_CREDENTIAL_set1_cert_chain(cred, $0.baseAddress, $0.count) }
        guard chainSet == 1, SSL_CREDENTIAL_set1_private_key(cred, key) == 1, SSL_CTX_add1_credential(context, cred) == 1 else {
            throw Failure(description: "BoringSSL refused a server certificate and key (do they match?)")
        }
    }

    private static func privateKey(pem: String) -> OpaquePointer? {
        let bytes = Array(pem.utf8)
        return bytes.withUnsafeBufferPointer { buffer -> OpaquePointer? in
            guard let bio = BIO_new_mem_buf(buffer.baseAddress, buffer.count) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PrivateKey(bio, nil, nil, nil)
        }
    }
}
