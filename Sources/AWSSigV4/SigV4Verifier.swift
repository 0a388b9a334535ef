import Crypto

/// An access key pair the server accepts.
public struct SigV4Credential: Sendable, Hashable {
    public var accessKeyID: String
    public var secretAccessKey: String

    public init(accessKeyID: String, secretAccessKey: String) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
    }
}

/// Who signed a verified request and for what: the service name in the credential scope tells the
/// `iot` control plane from the `iot-data` API when both share one port.
public struct SigV4Identity: Sendable, Hashable {
    public var accessKeyID: String
    public var service: String
    public var region: String
    /// When it was signed, in seconds since 1970.
    public var signedAt: Int64
    public var presigned: Bool
}

public enum SigV4Result: Sendable, Hashable {
    case verified(SigV4Identity)
    case rejected(SigV4Rejection)
}

/// Verifies AWS Signature Version 4, in the Authorization header form and the presigned query form,
/// the way AWS's front end does for services other than S3: the path is signed encoded twice, the
/// payload hash is checked, and the request time must be within the clock-skew window (or the presigned
/// URL unexpired). No I/O and no clock: the caller passes the time in.
public struct SigV4Verifier: Sendable {
    public static let algorithm = "AWS4-HMAC-SHA256"
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"
    static let securityTokenParameter = "X-Amz-Security-Token"
    public static let emptyPayloadSHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    public var region: String
    /// Service names accepted in the credential scope (botocore signs the control plane as `iot` and
    /// iot-data as `iotdata`; AWS's documents also name `iotdevicegateway` and `execute-api`).
    public var services: Set<String>
    /// AWS allows a request time up to 15 minutes away from its own clock.
    public var maximumClockSkewSeconds: Int64 = 15 * 60
    /// The longest `X-Amz-Expires` AWS accepts: seven days.
    public var maximumPresignedExpirySeconds: Int64 = 7 * 24 * 3600
    private let secrets: [String: String]
    /// Secrets of keys that come and go (the registry's data-plane access keys), asked after the fixed ones.
    private let lookup: (@Sendable (String) -> String?)?

    public init(credentials: [SigV4Credential], region: String, services: Set<String>, lookup: (@Sendable (String) -> String?)? = nil) {
        var secrets: [String: String] = [:]
        for credential in credentials { secrets[credential.accessKeyID] = credential.secretAccessKey }
        self.secrets = secrets
        self.region = region
        self.services = services
        self.lookup = lookup
    }

    /// How a request may be signed beyond the standard forms.
    public struct Options: Sendable, Hashable {
        /// AWS IoT's MQTT-over-WebSocket URLs (reference 2.8): `X-Amz-Security-Token` is appended after
        /// the signature is computed, so it is not part of the canonical query; and `X-Amz-Expires` may
        /// be absent (the AWS IoT Device SDKs leave it out), the URL then being valid within the
        /// clock-skew window of `X-Amz-Date`. This server issues no temporary credentials, so such a
        /// token proves nothing and is ignored: the signature with the long-term secret decides.
        public var iotWebSocket: Bool

        public init(iotWebSocket: Bool = false) {
            self.iotWebSocket = iotWebSocket
        }
    }

    public func verify(_ request: SigV4Request, now: Int64, options: Options = .init()) -> SigV4Result {
        switch check(request, now: now, options: options) {
        case .success(let identity): .verified(identity)
        case .failure(let rejection): .rejected(rejection)
        }
    }

    /// What a request claims about its signature, from the header or the query.
    struct Claim {
        var accessKeyID: String
        var scopeDate: String
        var region: String
        var service: String
        var signedHeaders: [String]
        var signature: String
        var amzDate: String
        var expires: Int64?
        var presigned: Bool
        var scope: String { "\(scopeDate)/\(region)/\(service)/aws4_request" }
    }

    private func check(_ request: SigV4Request, now: Int64, options: Options) -> Result<SigV4Identity, SigV4Rejection> {
        let claim: Claim
        switch parseClaim(request) {
        case .success(let parsed): claim = parsed
        case .failure(let rejection): return .failure(rejection)
        }
        guard let signedAt = SigV4Time.parse(claim.amzDate) else {
            return .failure(SigV4Rejection(.incompleteSignature, "X-Amz-Date must be in the form YYYYMMDD'T'HHMMSS'Z', not '\(claim.amzDate.prefix(32))'."))
        }
        guard let secret = secrets[claim.accessKeyID] ?? lookup?(claim.accessKeyID) else {
            return .failure(SigV4Rejection(.unknownAccessKey, "The security token included in the request is invalid."))
        }
        let tokenInQuery = request.rawQueryPairs.contains(where: { $0.key == Self.securityTokenParameter })
        // A session token goes only with a temporary key (`ASIA...`, the credentials provider's), whose
        // token the caller checked before asking for its secret; long-term keys take none.
        let temporary = claim.accessKeyID.hasPrefix("ASIA") && secrets[claim.accessKeyID] == nil
        if !temporary && (request.value(of: "x-amz-security-token") != nil || (tokenInQuery && !(options.iotWebSocket && claim.presigned))) {
            return .failure(SigV4Rejection(.unknownAccessKey, "The security token included in the request is invalid."))
        }
        guard claim.scopeDate == String(claim.amzDate.prefix(8)) else {
            return .failure(SigV4Rejection(.wrongScope, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '\(claim.scopeDate)' != '\(claim.amzDate.prefix(8))', from 'x-amz-date'."))
        }
        guard claim.region == region else {
            return .failure(SigV4Rejection(.wrongScope, "Credential should be scoped to a valid region, not '\(claim.region.prefix(32))'. This endpoint serves '\(region)'."))
        }
        guard services.contains(claim.service) else {
            return .failure(SigV4Rejection(.wrongScope, "Credential should be scoped to correct service: one of \(services.sorted().joined(separator: ", ")), not '\(claim.service.prefix(32))'."))
        }
        if let rejection = checkTime(claim, signedAt: signedAt, now: now, expiryOptional: options.iotWebSocket) { return .failure(rejection) }

        let lowerSigned = claim.signedHeaders
        guard lowerSigned.contains("host") else {
            return .failure(SigV4Rejection(.incompleteSignature, "The host header must be signed."))
        }
        if !claim.presigned && !lowerSigned.contains("x-amz-date") {
            return .failure(SigV4Rejection(.incompleteSignature, "The x-amz-date header must be signed."))
        }
        var canonicalHeaders = ""
        for name in lowerSigned {
            let values = request.values(of: name)
            guard !values.isEmpty else {
                return .failure(SigV4Rejection(.incompleteSignature, "The request does not carry the signed header '\(name.prefix(64))'."))
            }
            canonicalHeaders += "\(name):\(SigV4Canonical.headerValue(values))\n"
        }

        // The body is always signed (botocore presigns with the hash of the empty body too). S3's
        // UNSIGNED-PAYLOAD is taken only where there is no body to swap: a presigned URL with none.
        var payloadHashes = [request.payloadSHA256]
        if let declared = request.value(of: "x-amz-content-sha256") {
            if declared == Self.unsignedPayload {
                guard claim.presigned && request.payloadSHA256 == Self.emptyPayloadSHA256 else {
                    return .failure(SigV4Rejection(.payloadHashMismatch, "UNSIGNED-PAYLOAD is accepted only in presigned URLs without a body."))
                }
                payloadHashes = [Self.unsignedPayload]
            } else if declared.lowercased() != request.payloadSHA256 {
                return .failure(SigV4Rejection(.payloadHashMismatch, "The provided 'x-amz-content-sha256' header does not match what was computed."))
            }
        } else if claim.presigned && request.payloadSHA256 == Self.emptyPayloadSHA256 {
            payloadHashes.append(Self.unsignedPayload)
        }

        let excluded = claim.presigned ? "X-Amz-Signature" : nil
        // The IoT SDKs sign without the session token; botocore's presigner signs with it: both verify.
        var pairSets = [request.rawQueryPairs]
        if options.iotWebSocket && claim.presigned && tokenInQuery {
            pairSets.insert(request.rawQueryPairs.filter { $0.key != Self.securityTokenParameter }, at: 0)
        }
        var queries: [String] = []
        for pairs in pairSets {
            guard let query = SigV4Canonical.query(pairs, excluding: excluded) else {
                return .failure(SigV4Rejection(.incompleteSignature, "The query string has a malformed percent escape."))
            }
            queries.append(query)
            let literal = SigV4Canonical.literalQuery(pairs, excluding: excluded)
            if literal != query { queries.append(literal) }
        }
        let key = Self.signingKey(secret: secret, date: claim.scopeDate, region: claim.region, service: claim.service)
        let uri = SigV4Canonical.uri(rawPath: request.rawPath)
        for candidate in queries {
            for payloadHash in payloadHashes {
                let canonical = [request.method, uri, candidate, canonicalHeaders, lowerSigned.joined(separator: ";"), payloadHash]
                    .joined(separator: "\n")
                let expected = Self.signature(canonicalRequest: canonical, amzDate: claim.amzDate, scope: claim.scope, key: key)
                if Self.constantTimeEqual(expected, claim.signature.lowercased()) {
                    return .success(SigV4Identity(accessKeyID: claim.accessKeyID, service: claim.service, region: claim.region,
                                                  signedAt: signedAt, presigned: claim.presigned))
                }
            }
        }
        return .failure(SigV4Rejection(.signatureMismatch, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."))
    }

    private func checkTime(_ claim: Claim, signedAt: Int64, now: Int64, expiryOptional: Bool) -> SigV4Rejection? {
        let stamp = claim.amzDate
        if claim.presigned && !(expiryOptional && claim.expires == nil) {
            guard let expires = claim.expires, expires >= 1, expires <= maximumPresignedExpirySeconds else {
                return SigV4Rejection(.incompleteSignature, "X-Amz-Expires must be a whole number of seconds from 1 to \(maximumPresignedExpirySeconds).")
            }
            if now > signedAt + expires {
                return SigV4Rejection(.expired, "Signature expired: \(stamp) + \(expires) s is now earlier than \(SigV4Time.format(now)).")
            }
        } else if now - signedAt > maximumClockSkewSeconds {
            return SigV4Rejection(.expired, "Signature expired: \(stamp) is now earlier than \(SigV4Time.format(now - maximumClockSkewSeconds)) (\(SigV4Time.format(now)) - \(maximumClockSkewSeconds / 60) min.)")
        }
        if signedAt - now > maximumClockSkewSeconds {
            return SigV4Rejection(.expired, "Signature not yet current: \(stamp) is still later than \(SigV4Time.format(now + maximumClockSkewSeconds)) (\(SigV4Time.format(now)) + \(maximumClockSkewSeconds / 60) min.)")
        }
        return nil
    }

    private func parseClaim(_ request: SigV4Request) -> Result<Claim, SigV4Rejection> {
        let authorizations = request.values(of: "authorization")
        if authorizations.count > 1 {
            return .failure(SigV4Rejection(.incompleteSignature, "A request may carry only one Authorization header."))
        }
        if let authorization = authorizations.first {
            return parseHeader(authorization, request: request)
        }
        let pairs = request.rawQueryPairs
        if pairs.contains(where: { $0.key == "X-Amz-Algorithm" || $0.key == "X-Amz-Signature" || $0.key == "X-Amz-Credential" }) {
            return parseQuery(pairs)
        }
        return .failure(SigV4Rejection(.missingAuthentication, "Missing Authentication Token"))
    }

    private func parseHeader(_ authorization: String, request: SigV4Request) -> Result<Claim, SigV4Rejection> {
        let trimmed = authorization.drop(while: { $0 == " " })
        guard let space = trimmed.firstIndex(of: " ") else {
            return .failure(SigV4Rejection(.incompleteSignature, "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters."))
        }
        guard trimmed[..<space] == Self.algorithm else {
            return .failure(SigV4Rejection(.incompleteSignature, "Unsupported signing algorithm: only \(Self.algorithm) is accepted."))
        }
        var fields: [Substring: Substring] = [:]
        for part in trimmed[trimmed.index(after: space)...].split(separator: ",") {
            let field = part.drop(while: { $0 == " " })
            guard let equals = field.firstIndex(of: "=") else { continue }
            fields[field[..<equals]] = field[field.index(after: equals)...].prefix(while: { $0 != " " })
        }
        guard let credential = fields["Credential"], let signedHeaders = fields["SignedHeaders"], let signature = fields["Signature"] else {
            return .failure(SigV4Rejection(.incompleteSignature, "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters."))
        }
        guard let amzDate = request.value(of: "x-amz-date") else {
            return .failure(SigV4Rejection(.incompleteSignature, "Authorization header requires existence of a 'X-Amz-Date' header."))
        }
        return makeClaim(credential: String(credential), signedHeaders: String(signedHeaders), signature: String(signature),
                         amzDate: amzDate.trimmingSpaces, expires: nil, presigned: false)
    }

    private func parseQuery(_ pairs: [(key: String, value: String)]) -> Result<Claim, SigV4Rejection> {
        var fields: [String: String] = [:]
        for (key, value) in pairs where key.hasPrefix("X-Amz-") {
            guard fields[key] == nil else {
                return .failure(SigV4Rejection(.incompleteSignature, "The query parameter \(key.prefix(40)) appears more than once."))
            }
            fields[key] = SigV4Canonical.decode(value) ?? ""
        }
        guard fields["X-Amz-Algorithm"] == Self.algorithm else {
            return .failure(SigV4Rejection(.incompleteSignature, "X-Amz-Algorithm must be \(Self.algorithm)."))
        }
        guard let credential = fields["X-Amz-Credential"], let signedHeaders = fields["X-Amz-SignedHeaders"],
              let signature = fields["X-Amz-Signature"], let amzDate = fields["X-Amz-Date"] else {
            return .failure(SigV4Rejection(.incompleteSignature, "A presigned request requires X-Amz-Credential, X-Amz-Date, X-Amz-SignedHeaders, X-Amz-Expires and X-Amz-Signature."))
        }
        if let raw = fields["X-Amz-Expires"], Int64(raw) == nil {
            return .failure(SigV4Rejection(.incompleteSignature, "X-Amz-Expires must be a whole number of seconds from 1 to \(maximumPresignedExpirySeconds)."))
        }
        let expires = fields["X-Amz-Expires"].flatMap { Int64($0) }
        return makeClaim(credential: credential, signedHeaders: signedHeaders, signature: signature, amzDate: amzDate,
                         expires: expires, presigned: true)
    }

    private func makeClaim(credential: String, signedHeaders: String, signature: String, amzDate: String, expires: Int64?,
                           presigned: Bool) -> Result<Claim, SigV4Rejection> {
        let scope = credential.split(separator: "/", omittingEmptySubsequences: false)
        guard scope.count == 5, scope[4] == "aws4_request", !scope[0].isEmpty else {
            return .failure(SigV4Rejection(.incompleteSignature, "Credential must have the form <access key>/<date>/<region>/<service>/aws4_request."))
        }
        let headers = signedHeaders.split(separator: ";").map { $0.lowercased() }
        guard !headers.isEmpty, headers == headers.sorted(), Set(headers).count == headers.count else {
            return .failure(SigV4Rejection(.incompleteSignature, "SignedHeaders must list lower-case header names, sorted, each once."))
        }
        guard signature.utf8.count == 64, signature.utf8.allSatisfy({ $0.isHexDigit }) else {
            return .failure(SigV4Rejection(.incompleteSignature, "Signature must be 64 hexadecimal characters."))
        }
        return .success(Claim(accessKeyID: String(scope[0]), scopeDate: String(scope[1]), region: String(scope[2]),
                              service: String(scope[3]), signedHeaders: headers, signature: signature, amzDate: amzDate,
                              expires: expires, presigned: presigned))
    }

    // MARK: signing (shared with SigV4Signer)

    static func signingKey(secret: String, date: String, region: String, service: String) -> SymmetricKey {
        var key = SymmetricKey(data: Array("AWS4\(secret)".utf8))
        for part in [date, region, service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        return key
    }

    static func signature(canonicalRequest: String, amzDate: String, scope: String, key: SymmetricKey) -> String {
        let stringToSign = [algorithm, amzDate, scope, hex(SHA256.hash(data: Array(canonicalRequest.utf8)))].joined(separator: "\n")
        return hex(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key))
    }

    static func hex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func hex(_ digest: SHA256.Digest) -> String { hex(Array(digest)) }
    static func hex(_ code: HMAC<SHA256>.MAC) -> String { hex(Array(code)) }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for index in x.indices { difference |= x[index] ^ y[index] }
        return difference == 0
    }
}

extension UInt8 {
    var isHexDigit: Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(self)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(self)
    }
}

extension String {
    var trimmingSpaces: String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
