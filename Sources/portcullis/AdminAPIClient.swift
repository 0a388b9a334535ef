import AWSSigV4
import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOSSL
import PortcullisServer

/// The CLI's way into a running gateway: its AWS-compatible API, found through the admin profile that
/// `portcullis serve` writes into the data folder (endpoint, CA bundle, access keys), every request
/// signed with SigV4 like awscli's.
struct AdminAPIClient {
    struct Failure: Error, CustomStringConvertible {
        var description: String
        /// The AWS error type (`ResourceNotFoundException`), when the API answered one.
        var errorType: String?
    }

    let endpoint: URL
    let signer: SigV4Signer
    let caPEM: String

    /// The profile of the gateway using `data`; the access keys come from the data folder, else from
    /// PORTCULLIS_API_ACCESS_KEY_ID and PORTCULLIS_API_SECRET_ACCESS_KEY (a gateway with configured keys).
    init(data: DataDirectory, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard let config = try? String(contentsOfFile: data.adminConfigPath, encoding: .utf8),
              let url = Self.value("endpoint_url", in: config, section: "profile \(AdminCredentials.profile)").flatMap(URL.init(string:)) else {
            throw Failure(description: "no API endpoint in \(data.adminConfigPath): start the gateway with `portcullis serve --data-dir \(data.root.path)` (with its API enabled) first")
        }
        let region = Self.value("region", in: config, section: "profile \(AdminCredentials.profile)") ?? "us-east-1"
        let credentials = (try? String(contentsOfFile: data.adminCredentialsPath, encoding: .utf8)) ?? ""
        let id = Self.value("aws_access_key_id", in: credentials, section: AdminCredentials.profile) ?? environment["PORTCULLIS_API_ACCESS_KEY_ID"]
        let secret = Self.value("aws_secret_access_key", in: credentials, section: AdminCredentials.profile)
            ?? environment["PORTCULLIS_API_SECRET_ACCESS_KEY"]
        guard let id, let secret, !id.isEmpty, !secret.isEmpty else {
            throw Failure(description: "no admin access key in \(data.adminCredentialsPath) or PORTCULLIS_API_ACCESS_KEY_ID / PORTCULLIS_API_SECRET_ACCESS_KEY")
        }
        guard let ca = try? String(contentsOfFile: data.caCertificatePath, encoding: .utf8) else {
            throw Failure(description: "cannot read the gateway's CA certificate \(data.caCertificatePath)")
        }
        self.endpoint = url
        self.signer = SigV4Signer(credential: SigV4Credential(accessKeyID: id, secretAccessKey: secret), region: region, service: "iot")
        self.caPEM = ca
    }

    /// Calls one operation; returns the JSON object answered, or throws the AWS error as text.
    /// `path` and `query` are already percent-encoded.
    /// `rawBody` is sent as it is (a CRL), instead of a JSON `body`.
    func call(_ method: String, _ path: String, query: String = "", body: [String: Any]? = nil, rawBody: Data? = nil,
              headers extra: [(String, String)] = []) async throws -> [String: Any] {
        let payload = try rawBody ?? body.map { try JSONSerialization.data(withJSONObject: $0) } ?? Data()
        let host = endpoint.port.map { "\(endpoint.host ?? "localhost"):\($0)" } ?? (endpoint.host ?? "localhost")
        var headers: [(name: String, value: String)] = [("Host", host)] + extra.map { (name: $0.0, value: $0.1) }
        if body != nil { headers.append(("Content-Type", "application/json")) }
        let hash = SHA256.hash(data: payload).map { String(format: "%02x", $0) }.joined()
        let signed = signer.sign(SigV4Request(method: method, rawPath: path, rawQuery: query, headers: headers, payloadSHA256: hash),
                                 at: Int64(Date().timeIntervalSince1970), extraSignedHeaders: extra.map(\.0))

        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(caPEM.utf8)))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
        let result: Result<(status: UInt, headers: [(String, String)], data: Data), any Error>
        do {
            result = .success(try await send(signed, payload: payload, path: path, query: query, client: client))
        } catch {
            result = .failure(error)
        }
        try? await client.shutdown()
        let (status, responseHeaders, data) = try result.get()
        let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        guard status == 200 else {
            let type = responseHeaders.first { $0.0.lowercased() == "x-amzn-errortype" }?.1 ?? "HTTP \(status)"
            throw Failure(description: "\(type): \(object["message"] as? String ?? "")", errorType: type)
        }
        return object
    }

    private func send(_ signed: SigV4Request, payload: Data, path: String, query: String, client: HTTPClient) async throws
        -> (status: UInt, headers: [(String, String)], data: Data)
    {
        var request = HTTPClientRequest(url: endpoint.absoluteString + path + (query.isEmpty ? "" : "?" + query))
        request.method = .init(rawValue: signed.method)
        for (name, value) in signed.headers where name.lowercased() != "host" { request.headers.add(name: name, value: value) }
        if !payload.isEmpty { request.body = .bytes(ByteBuffer(data: payload)) }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .seconds(30))
        } catch {
            throw Failure(description: "cannot reach the gateway's API at \(endpoint.absoluteString) (is `portcullis serve` running?): \(error)")
        }
        let data = Data(buffer: try await response.body.collect(upTo: 4 << 20))
        return (response.status.code, response.headers.map { ($0.name, $0.value) }, data)
    }

    /// `key = value` of one `[section]` of an AWS-style INI file.
    static func value(_ key: String, in text: String, section: String) -> String? {
        var current: String?
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("[") && line.hasSuffix("]") {
                current = String(line.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
            } else if current == section, let equals = line.firstIndex(of: "="),
                      line[..<equals].trimmingCharacters(in: .whitespaces) == key {
                return line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }

    /// A path segment encoded as botocore encodes labels (everything but unreserved characters).
    static func encode(_ segment: String) -> String {
        segment.addingPercentEncoding(withAllowedCharacters: unreserved) ?? segment
    }

    static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
}
