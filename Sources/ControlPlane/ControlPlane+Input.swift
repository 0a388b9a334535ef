import Foundation
import Hummingbird
import Registry

/// Reading path, query and body input, with AWS-style refusals for what is missing or malformed.
extension ControlPlane {
    static func pathParameter(_ context: ControlPlaneContext, _ name: String) throws -> String {
        guard let value = context.parameters.get(name), !value.isEmpty else {
            throw AWSErrorResponse.invalidRequest("\(name) is required.")
        }
        return value.removingPercentEncoding ?? value
    }

    /// The `marker`, `pageSize` and `isAscendingOrder` of the marker-paged list operations.
    static func markerPage(_ request: Request) throws -> (marker: String?, pageSize: Int?, ascending: Bool) {
        (request.uri.queryParameters["marker"].map(String.init), try intParameter(request, "pageSize"),
         try boolParameter(request, "isAscendingOrder") ?? false)
    }

    static func boolParameter(_ request: Request, _ name: String) throws -> Bool? {
        guard let value = request.uri.queryParameters[Substring(name)] else { return nil }
        switch value.lowercased() {
        case "true": return true
        case "false": return false
        default: throw AWSErrorResponse.invalidRequest("\(name) must be true or false.")
        }
    }

    static func intParameter(_ request: Request, _ name: String) throws -> Int? {
        guard let value = request.uri.queryParameters[Substring(name)] else { return nil }
        guard let number = Int(value) else { throw AWSErrorResponse.invalidRequest("\(name) must be an integer.") }
        return number
    }

    static func jsonBody(_ request: Request, _ context: ControlPlaneContext) async throws -> [String: Any] {
        var request = request
        let buffer = try await request.collectBody(upTo: context.maxUploadSize)
        guard buffer.readableBytes > 0 else { return [:] }
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer: buffer)) as? [String: Any] else {
            throw AWSErrorResponse(status: 400, type: "SerializationException", message: "The request body is not a JSON object.")
        }
        return object
    }

    static func optionalString(_ body: [String: Any], _ key: String) throws -> String? {
        guard let value = body[key], !(value is NSNull) else { return nil }
        guard let string = value as? String else { throw AWSErrorResponse.invalidRequest("\(key) must be a string.") }
        return string
    }

    static func optionalInt(_ body: [String: Any], _ key: String) throws -> Int? {
        guard let value = body[key], !(value is NSNull) else { return nil }
        guard let number = value as? NSNumber, String(cString: number.objCType) != "c", let int = Int(exactly: number.doubleValue) else {
            throw AWSErrorResponse.invalidRequest("\(key) must be an integer.")
        }
        return int
    }

    static func requiredString(_ body: [String: Any], _ key: String) throws -> String {
        guard let value = body[key] else { throw AWSErrorResponse.invalidRequest("\(key) is required.") }
        guard let string = value as? String else { throw AWSErrorResponse.invalidRequest("\(key) must be a string.") }
        return string
    }
}

extension AWSErrorResponse {
    init(_ error: RegistryError) {
        var extra: [String: String] = [:]
        if let id = error.resourceID { extra["resourceId"] = id }
        if let arn = error.resourceARN { extra["resourceArn"] = arn }
        self.init(status: error.code.httpStatus, type: error.code.awsErrorType, message: error.message, extra: extra)
    }
}
