import Crypto
import Foundation
import Hummingbird

/// STS's GetCallerIdentity (AWS query protocol: a form-encoded `POST /` signed for `sts`, answered in
/// XML), because many AWS scripts start with it to learn their account. The caller is the access key
/// that signed: an admin key is the account's `portcullis-admin` user, a data-plane key a user of
/// its own under `/portcullis/data-plane/`.
extension ControlPlane {
    static let stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"

    static func securityTokenService(_ request: Request, _ context: ControlPlaneContext, configuration: Configuration) async throws -> Response {
        var request = request
        let body = try await request.collectBody(upTo: context.maxUploadSize)
        let form = formFields(String(decoding: body.readableBytesView, as: UTF8.self))
        let action = form["Action"] ?? request.uri.queryParameters["Action"].map(String.init) ?? ""
        guard action == "GetCallerIdentity" else {
            return stsError(status: 400, code: "InvalidAction", message: "Could not find operation \(action.prefix(64)) for version 2011-06-15; this endpoint serves GetCallerIdentity.",
                            requestID: context.requestID)
        }
        let key = context.identity?.accessKeyID ?? ""
        let user = context.isAdmin ? "portcullis-admin" : "portcullis/data-plane/\(key)"
        let xml = """
            <GetCallerIdentityResponse xmlns="\(stsNamespace)">
              <GetCallerIdentityResult>
                <Arn>arn:aws:iam::\(configuration.accountID):user/\(xmlEscaped(user))</Arn>
                <UserId>\(userID(forAccessKey: key))</UserId>
                <Account>\(configuration.accountID)</Account>
              </GetCallerIdentityResult>
              <ResponseMetadata>
                <RequestId>\(context.requestID)</RequestId>
              </ResponseMetadata>
            </GetCallerIdentityResponse>
            """
        return xmlResponse(status: 200, xml)
    }

    /// An IAM-style user id (`AIDA` and 17 upper-case letters and digits), the same for a key every time.
    static func userID(forAccessKey key: String) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        let digest = SHA256.hash(data: Data(key.utf8))
        return "AIDA" + String(digest.prefix(17).map { alphabet[Int($0) % alphabet.count] })
    }

    /// The codes STS answers for what the rest-json services call otherwise.
    static let stsErrorCodes = ["UnrecognizedClientException": "InvalidClientTokenId", "InvalidSignatureException": "SignatureDoesNotMatch",
                                "ExpiredTokenException": "ExpiredToken", "AccessDeniedException": "AccessDenied"]

    static func stsError(status: Int, code: String, message: String, requestID: String) -> Response {
        xmlResponse(status: status, """
            <ErrorResponse xmlns="\(stsNamespace)">
              <Error><Type>Sender</Type><Code>\(stsErrorCodes[code] ?? code)</Code><Message>\(xmlEscaped(message))</Message></Error>
              <RequestId>\(requestID)</RequestId>
            </ErrorResponse>
            """)
    }

    static func xmlResponse(status: Int, _ xml: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/xml"
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(string: xml)))
    }

    static func xmlEscaped(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(character)
            }
        }
        return out
    }

    /// `application/x-www-form-urlencoded` fields (`+` is a space).
    static func formFields(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (raw: Substring) in String(raw).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(raw) }
            fields[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return fields
    }
}
