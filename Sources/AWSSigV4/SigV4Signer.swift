/// Signs requests the way botocore does (header form and presigned query form), for the project's own
/// clients and tests. Shares the canonical request and key derivation with `SigV4Verifier`.
public struct SigV4Signer: Sendable {
    public var credential: SigV4Credential
    public var region: String
    public var service: String

    public init(credential: SigV4Credential, region: String, service: String) {
        self.credential = credential
        self.region = region
        self.service = service
    }

    /// Adds `X-Amz-Date` and `Authorization`, signing `host`, `x-amz-date` and any `extraSignedHeaders`.
    public func sign(_ request: SigV4Request, at seconds: Int64, extraSignedHeaders: [String] = []) -> SigV4Request {
        var signed = request
        let amzDate = SigV4Time.format(seconds)
        signed.headers.removeAll { ["authorization", "x-amz-date"].contains($0.name.lowercased()) }
        signed.headers.append((name: "X-Amz-Date", value: amzDate))
        let names = Array(Set(["host", "x-amz-date"] + extraSignedHeaders.map { $0.lowercased() })).sorted()
        let scope = "\(amzDate.prefix(8))/\(region)/\(service)/aws4_request"
        let signature = computeSignature(signed, signedHeaders: names, payloadHash: request.payloadSHA256,
                                         query: SigV4Canonical.query(signed.rawQueryPairs) ?? "", amzDate: amzDate, scope: scope)
        signed.headers.append((name: "Authorization",
                               value: "\(SigV4Verifier.algorithm) Credential=\(credential.accessKeyID)/\(scope), SignedHeaders=\(names.joined(separator: ";")), Signature=\(signature)"))
        return signed
    }

    /// Adds the `X-Amz-*` query parameters of a presigned URL that is valid for `expires` seconds (nil:
    /// no `X-Amz-Expires`, as the AWS IoT Device SDKs sign MQTT-over-WebSocket URLs).
    public func presign(_ request: SigV4Request, at seconds: Int64, expires: Int64?) -> SigV4Request {
        var signed = request
        let amzDate = SigV4Time.format(seconds)
        let scope = "\(amzDate.prefix(8))/\(region)/\(service)/aws4_request"
        let parameters = [
            ("X-Amz-Algorithm", SigV4Verifier.algorithm),
            ("X-Amz-Credential", "\(credential.accessKeyID)/\(scope)"),
            ("X-Amz-Date", amzDate),
            ("X-Amz-Expires", expires.map { "\($0)" } ?? ""),
            ("X-Amz-SignedHeaders", "host"),
        ].filter { !$0.1.isEmpty }.map { "\($0.0)=\(SigV4Canonical.encode($0.1, keepSlash: false))" }.joined(separator: "&")
        signed.rawQuery = signed.rawQuery.isEmpty ? parameters : "\(signed.rawQuery)&\(parameters)"
        let signature = computeSignature(signed, signedHeaders: ["host"], payloadHash: request.payloadSHA256,
                                         query: SigV4Canonical.query(signed.rawQueryPairs) ?? "", amzDate: amzDate, scope: scope)
        signed.rawQuery += "&X-Amz-Signature=\(signature)"
        return signed
    }

    private func computeSignature(_ request: SigV4Request, signedHeaders: [String], payloadHash: String, query: String,
                                  amzDate: String, scope: String) -> String {
        let headers = signedHeaders.map { "\($0):\(SigV4Canonical.headerValue(request.values(of: $0)))\n" }.joined()
        let canonical = [request.method, SigV4Canonical.uri(rawPath: request.rawPath), query, headers,
                         signedHeaders.joined(separator: ";"), payloadHash].joined(separator: "\n")
        let key = SigV4Verifier.signingKey(secret: credential.secretAccessKey, date: String(amzDate.prefix(8)), region: region,
                                           service: service)
        return SigV4Verifier.signature(canonicalRequest: canonical, amzDate: amzDate, scope: scope, key: key)
    }
}
