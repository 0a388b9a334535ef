/// Why a request's signature was not accepted: a decision, returned as a value. Each code carries the
/// AWS error it becomes on the wire, so every HTTP edge answers the way AWS's front end does.
public struct SigV4Rejection: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        public let name: String
        /// The AWS error type (`x-amzn-ErrorType`, `__type`).
        public let awsErrorType: String
        public let httpStatus: Int
        public var description: String { name }

        init(_ name: String, _ awsErrorType: String, _ httpStatus: Int = 403) {
            self.name = name
            self.awsErrorType = awsErrorType
            self.httpStatus = httpStatus
        }

        /// Neither an Authorization header nor a presigned query.
        public static let missingAuthentication = Code("missingAuthentication", "MissingAuthenticationTokenException")
        /// The Authorization header or the X-Amz-* parameters are incomplete or malformed.
        public static let incompleteSignature = Code("incompleteSignature", "IncompleteSignatureException")
        /// An access key this server does not know, or a session token it did not issue.
        public static let unknownAccessKey = Code("unknownAccessKey", "UnrecognizedClientException")
        /// The signature does not match the request.
        public static let signatureMismatch = Code("signatureMismatch", "InvalidSignatureException")
        /// Signed too long ago or too far in the future, or a presigned URL past its expiry.
        public static let expired = Code("expired", "InvalidSignatureException")
        /// Scoped to another region or to a service this endpoint does not serve.
        public static let wrongScope = Code("wrongScope", "InvalidSignatureException")
        /// `x-amz-content-sha256` does not match the body received.
        public static let payloadHashMismatch = Code("payloadHashMismatch", "InvalidSignatureException")
    }

    public let code: Code
    /// AWS-style text for the error body; names no secret and no expected signature.
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.awsErrorType): \(message)" }
}
