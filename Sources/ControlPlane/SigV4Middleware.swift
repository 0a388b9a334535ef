import AWSSigV4
import Crypto
import DeviceIdentity
import Foundation
import Hummingbird
import Registry

/// Authenticates every request with AWS Signature Version 4 before any route runs: the body is
/// collected (bounded) and hashed, the signature checked against the admin keys, and a refusal answered
/// in AWS's error shape. Route errors thrown further in become AWS-shaped too, so no client ever sees an
/// internal error text.
struct SigV4Middleware: RouterMiddleware {
    typealias Context = ControlPlaneContext
    let verifier: SigV4Verifier
    let clock: @Sendable () -> Int64
    /// The admin key ids: every other key that verifies is a data-plane key.
    let admins: Set<String>
    /// On the shared port: decides requests that carry no signature but arrived on a connection with a
    /// verified client certificate (`TLSClientPeer.current`).
    var certificates: (any CertificateRequestAuthorizer)?
    /// Where a session token of the credentials provider is checked before the signature.
    var keys: DataPlaneKeys?

    func handle(_ input: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // STS speaks AWS's query protocol: its errors are XML, not JSON.
        let isSTS = SigV4CredentialScope.parse(authorization: input.headers[.authorization], query: input.uri.query.map { Substring($0) })?.service == "sts"
        var response = try await verifyAndRun(input, context: context, next: next)
        guard isSTS, response.status.code >= 400, let type = response.headers[ControlPlaneHeaders.errorType] else {
            response.headers[ControlPlaneHeaders.errorMessage] = nil
            return response
        }
        let message = response.headers[ControlPlaneHeaders.errorMessage] ?? type
        return ControlPlane.stsError(status: Int(response.status.code), code: type, message: message, requestID: context.requestID)
    }

    private func verifyAndRun(_ input: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var request = input
        var context = context
        let body: ByteBuffer
        // A revocation list may be larger than any other request (10,000 entries are about 400 KB).
        let limit = request.method == .put && request.uri.path.hasSuffix(ControlPlane.revocationListPathSuffix)
            ? CertificateRevocationList.maximumBytes : context.maxUploadSize
        do {
            body = try await request.collectBody(upTo: limit)
        } catch {
            return AWSErrorResponse(status: 413, type: "RequestEntityTooLargeException",
                                    message: "The request body is larger than \(limit) bytes.")
                .response(requestID: context.requestID)
        }
        let digest = body.withUnsafeReadableBytes { SHA256.hash(data: $0) }
        var headers: [(name: String, value: String)] = []
        if let authority = request.head.authority { headers.append((name: "host", value: authority)) }
        for field in request.head.headerFields { headers.append((name: field.name.canonicalName, value: field.value)) }
        let signed = SigV4Request(method: request.method.rawValue, target: request.head.path ?? "/", headers: headers,
                                  payloadSHA256: digest.map { String(format: "%02x", $0) }.joined())
        let peer = certificates == nil ? nil : TLSClientPeer.current
        if peer != nil, request.uri.path == "/mqtt" {
            // Reached only by a request that did not ask for the WebSocket upgrade.
            return AWSErrorResponse.invalidRequest("GET /mqtt is MQTT over WebSocket: it needs Upgrade: websocket and Sec-WebSocket-Protocol: mqtt.")
                .response(requestID: context.requestID)
        }
        // Temporary credentials: their token lets their key verify, and a temporary key signs nothing without it.
        let token = request.headers[ControlPlane.securityTokenHeader] ?? request.uri.queryParameters["X-Amz-Security-Token"].map(String.init)
        let tokenKey = token.flatMap { keys?.admit(sessionToken: $0) }
        switch verifier.verify(signed, now: clock()) {
        case .verified(let identity) where TemporaryCredentials.isTemporaryKey(identity.accessKeyID) && identity.accessKeyID != tokenKey:
            return AWSErrorResponse(status: 403, type: "UnrecognizedClientException", message: "The security token included in the request is invalid.")
                .response(requestID: context.requestID)
        case .rejected(let rejection) where rejection.code == .missingAuthentication && request.method == .get
            && request.uri.path.hasPrefix(ControlPlane.confirmDestinationPrefix):
            // A topic rule destination's enableUrl, opened in a browser: the token is the credential.
            break
        case .rejected(let rejection):
            if rejection.code == .missingAuthentication, let certificates, let peer, let certificateID = peer.certificateID {
                if let refusal = peer.certificateRefusal {
                    return AWSErrorResponse(status: 403, type: "ForbiddenException", message: refusal).response(requestID: context.requestID)
                }
                context.certificateID = certificateID
                context.certificateAuthorization = { checks in
                    certificates.authorize(certificateID: certificateID, sourceIP: peer.sourceIP, serverName: peer.serverName,
                                           checks: checks, now: Date())
                }
                break
            }
            // A destination's confirmation token is a credential: never logged.
            let path = request.uri.path.hasPrefix(ControlPlane.confirmDestinationPrefix) ? ControlPlane.confirmDestinationPrefix + "..." : String(request.uri.path.prefix(200))
            context.logger.info("request refused", metadata: ["reason": "\(rejection.code)", "path": "\(path)"])
            return AWSErrorResponse(rejection).response(requestID: context.requestID)
        case .verified(let identity):
            if let refusal = peer?.sigV4Refusal {
                return AWSErrorResponse(status: 403, type: "ForbiddenException", message: refusal).response(requestID: context.requestID)
            }
            context.identity = identity
            context.isAdmin = admins.contains(identity.accessKeyID)
        }
        do {
            var response = try await next(request, context)
            response.headers[ControlPlaneHeaders.requestID] = context.requestID
            return response
        } catch let error as AWSErrorResponse {
            return error.response(requestID: context.requestID)
        } catch let error as RegistryError {
            return AWSErrorResponse(error).response(requestID: context.requestID)
        } catch let error as HTTPError where error.status == .notFound {
            return AWSErrorResponse.unknownOperation(method: request.method.rawValue, path: request.uri.path)
                .response(requestID: context.requestID)
        } catch let error as HTTPError where error.status == .methodNotAllowed {
            return AWSErrorResponse.unknownOperation(method: request.method.rawValue, path: request.uri.path)
                .response(requestID: context.requestID)
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            return AWSErrorResponse.internalFailure().response(requestID: context.requestID)
        }
    }
}
