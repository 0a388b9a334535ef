/// A refusal of a registry operation, as a value that names its AWS exception and HTTP status
/// (reference 9.1), so the API edge answers exactly what AWS would.
public struct RegistryError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable {
        public let awsErrorType: String
        public let httpStatus: Int

        public static let invalidRequest = Code(awsErrorType: "InvalidRequestException", httpStatus: 400)
        public static let certificateValidation = Code(awsErrorType: "CertificateValidationException", httpStatus: 400)
        public static let registrationCodeValidation = Code(awsErrorType: "RegistrationCodeValidationException", httpStatus: 400)
        public static let certificateState = Code(awsErrorType: "CertificateStateException", httpStatus: 406)
        public static let malformedPolicy = Code(awsErrorType: "MalformedPolicyException", httpStatus: 400)
        public static let resourceNotFound = Code(awsErrorType: "ResourceNotFoundException", httpStatus: 404)
        public static let resourceAlreadyExists = Code(awsErrorType: "ResourceAlreadyExistsException", httpStatus: 409)
        public static let deleteConflict = Code(awsErrorType: "DeleteConflictException", httpStatus: 409)
        public static let versionsLimitExceeded = Code(awsErrorType: "VersionsLimitExceededException", httpStatus: 409)
        public static let versionConflict = Code(awsErrorType: "VersionConflictException", httpStatus: 409)
        public static let conflictingResourceUpdate = Code(awsErrorType: "ConflictingResourceUpdateException", httpStatus: 409)
        public static let limitExceeded = Code(awsErrorType: "LimitExceededException", httpStatus: 410)
        public static let internalFailure = Code(awsErrorType: "InternalFailureException", httpStatus: 500)
        public static let unauthorized = Code(awsErrorType: "UnauthorizedException", httpStatus: 401)
        // Fleet indexing.
        public static let invalidQuery = Code(awsErrorType: "InvalidQueryException", httpStatus: 400)
        public static let invalidAggregation = Code(awsErrorType: "InvalidAggregationException", httpStatus: 400)
        public static let indexNotReady = Code(awsErrorType: "IndexNotReadyException", httpStatus: 400)
        // ACM's (JSON 1.1: every client error is a 400).
        public static let acmValidation = Code(awsErrorType: "ValidationException", httpStatus: 400)
        public static let acmInvalidARN = Code(awsErrorType: "InvalidArnException", httpStatus: 400)
        public static let acmResourceInUse = Code(awsErrorType: "ResourceInUseException", httpStatus: 400)
        public static let acmLimitExceeded = Code(awsErrorType: "LimitExceededException", httpStatus: 400)
    }

    public let code: Code
    public let message: String
    /// `ResourceAlreadyExistsException` names the existing resource.
    public let resourceID: String?
    public let resourceARN: String?

    public init(_ code: Code, _ message: String, resourceID: String? = nil, resourceARN: String? = nil) {
        self.code = code
        self.message = message
        self.resourceID = resourceID
        self.resourceARN = resourceARN
    }

    public var description: String { "\(code.awsErrorType): \(message)" }
}
