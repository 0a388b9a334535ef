import Foundation
import IoTPolicy

/// What the shared port (AWS's 443) knows of the TLS connection an HTTPS request arrived on, set by the
/// composition root around every request of that connection: the verified client certificate, if one
/// was presented, and what the domain configuration allows.
public struct TLSClientPeer: Sendable {
    public var certificateID: String?
    public var sourceIP: String?
    public var serverName: String?
    /// Why this domain refuses requests authenticated by the client certificate, or by SigV4, if it does.
    public var certificateRefusal: String?
    public var sigV4Refusal: String?
    /// The namespace the connection's server name reached: where its unsigned requests belong.
    public var namespace: String?

    public init(certificateID: String?, sourceIP: String?, serverName: String?, certificateRefusal: String?, sigV4Refusal: String?,
                namespace: String? = nil) {
        self.namespace = namespace
        self.certificateID = certificateID
        self.sourceIP = sourceIP
        self.serverName = serverName
        self.certificateRefusal = certificateRefusal
        self.sigV4Refusal = sigV4Refusal
    }

    @TaskLocal public static var current: TLSClientPeer?
}

/// Decides iot-data requests authenticated by a client certificate, by the certificate's IoT policies.
public protocol CertificateRequestAuthorizer: Sendable {
    /// Nil when every check is allowed, else the first denial explained.
    func authorize(certificateID: String, sourceIP: String?, serverName: String?,
                   checks: [(action: IoTAction, resource: String)], now: Date) -> String?
}
