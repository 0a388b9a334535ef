import AWSSigV4
import Foundation
import Hummingbird
import IoTPolicy

/// The per-request context: who signed the request, once `SigV4Middleware` has verified it.
public struct ControlPlaneContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var identity: SigV4Identity?
    /// Signed with an admin key (anything allowed), not a data-plane key (only what its policies allow).
    public var isAdmin = false
    /// On the shared port, a request without a signature may be authenticated by the connection's TLS
    /// client certificate: its id, and the decision of its policies for a list of checks.
    public var certificateID: String?
    public var certificateAuthorization: (@Sendable ([(action: IoTAction, resource: String)]) -> String?)?
    public var requestID: String

    public init(source: Source) {
        self.coreContext = .init(source: source)
        self.identity = nil
        self.requestID = UUID().uuidString.lowercased()
    }

    /// Request bodies are collected and hashed before anything else; the largest the API takes is a
    /// policy document (404,600 bytes in the model), plus JSON around it.
    public var maxUploadSize: Int { 512 * 1024 }
}
