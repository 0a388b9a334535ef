import AWSSigV4
import Foundation
import HTTPTypes
import Hummingbird

/// An error as AWS's rest-json services put it on the wire: the HTTP status, the `x-amzn-ErrorType`
/// header botocore reads the code from, and a body with `__type` and `message` (what other AWS
/// emulators send too, so every client finds the code where it looks).
public struct AWSErrorResponse: Error, Sendable, Hashable {
    public var status: Int
    public var type: String
    public var message: String
    /// Extra members of some exceptions (`resourceId`, `resourceArn`).
    public var extra: [String: String]

    public init(status: Int, type: String, message: String, extra: [String: String] = [:]) {
        self.status = status
        self.type = type
        self.message = message
        self.extra = extra
    }

    public init(_ rejection: SigV4Rejection) {
        self.init(status: rejection.code.httpStatus, type: rejection.code.awsErrorType, message: rejection.message)
    }

    public static func invalidRequest(_ message: String) -> AWSErrorResponse {
        AWSErrorResponse(status: 400, type: "InvalidRequestException", message: message)
    }

    public static func unknownOperation(method: String, path: String) -> AWSErrorResponse {
        AWSErrorResponse(status: 404, type: "UnknownOperationException",
                         message: "No operation matches \(method) \(path.prefix(200)) on this endpoint.")
    }

    public static func internalFailure() -> AWSErrorResponse {
        AWSErrorResponse(status: 500, type: "InternalFailureException", message: "An internal error occurred.")
    }

    public func response(requestID: String) -> Response {
        var object: [String: String] = extra
        object["__type"] = type
        object["message"] = message
        let body = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[ControlPlaneHeaders.errorType] = type
        headers[ControlPlaneHeaders.requestID] = requestID
        // For answers in another protocol's shape (STS's XML), which cannot read the body back.
        headers[ControlPlaneHeaders.errorMessage] = String(message.unicodeScalars.filter { $0.isASCII && $0.value >= 0x20 && $0 != "\u{7F}" }.prefix(512).map(Character.init))
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

enum ControlPlaneHeaders {
    static let errorType = HTTPField.Name("x-amzn-ErrorType")!
    static let requestID = HTTPField.Name("x-amzn-RequestId")!
    /// Not AWS's: the error message, so a middleware can re-render the error in XML.
    static let errorMessage = HTTPField.Name("x-portcullis-error-message")!
}
