import DeviceShadow
import Foundation
import HTTPTypes
import Hummingbird
import IoTPolicy
import NIOCore

/// What the shadow routes need: the gateway's shadow service (which also publishes the MQTT messages).
public protocol ShadowDataPlane: Sendable {
    func shadow(_ operation: ShadowOperation, on id: ShadowID, payload: [UInt8]) async -> Result<ShadowOutcome, ShadowError>
    func namedShadows(thingName: String, after token: String?, pageSize: Int) async -> Result<(names: [String], next: String?), ShadowError>
}

/// The shadow operations of iot-data (reference 5.4): GetThingShadow, UpdateThingShadow,
/// DeleteThingShadow (`/things/{thingName}/shadow?name=`) and ListNamedShadowsForThing, each authorized
/// by `iot:*ThingShadow` on `thing/<thing>` or `thing/<thing>/<shadow>`. The body of a success is the
/// shadow service's document; a refusal carries the service's message under AWS's error type.
extension ControlPlane {
    static func addShadowRoutes(to router: Router<ControlPlaneContext>, shadows: any ShadowDataPlane, keys: DataPlaneKeys?) {
        router.get("/things/:thingName/shadow") { request, context in
            try await shadowRequest(.get, request, context, shadows: shadows, keys: keys)
        }
        router.post("/things/:thingName/shadow") { request, context in
            try await shadowRequest(.update, request, context, shadows: shadows, keys: keys)
        }
        router.delete("/things/:thingName/shadow") { request, context in
            try await shadowRequest(.delete, request, context, shadows: shadows, keys: keys)
        }
        // A thing's shadow answers GET, POST and DELETE; other methods are AWS's modeled 405.
        for method in [HTTPRequest.Method.put, .patch] {
            router.on("/things/:thingName/shadow", method: method) { request, _ -> Response in
                throw AWSErrorResponse(status: 405, type: "MethodNotAllowedException",
                                       message: "The method \(request.method.rawValue) is not allowed on a thing's shadow; use GET, POST or DELETE.")
            }
        }
        router.get("/api/things/shadow/ListNamedShadowsForThing/:thingName") { request, context in
            try requireDataPlane(context)
            let thing = try pathParameter(context, "thingName")
            guard ShadowID(thingName: thing) != nil else { throw AWSErrorResponse.invalidRequest("thingName must match [a-zA-Z0-9:_-]+, 1 to 128 characters.") }
            let pageSize = try intParameter(request, "pageSize") ?? 25
            guard (1...100).contains(pageSize) else { throw AWSErrorResponse.invalidRequest("pageSize must be between 1 and 100.") }
            var after: String?
            if let token = request.uri.queryParameters["nextToken"] {
                guard let data = Data(base64Encoded: String(token)), let name = String(data: data, encoding: .utf8) else {
                    throw AWSErrorResponse.invalidRequest("The nextToken is not valid.")
                }
                after = name
            }
            try authorizeData(context, keys, [(.listNamedShadowsForThing, thing)])
            switch await shadows.namedShadows(thingName: thing, after: after, pageSize: pageSize) {
            case .success(let page):
                var out: [String: Any] = ["results": page.names, "timestamp": Int64(Date().timeIntervalSince1970)]
                if let next = page.next { out["nextToken"] = Data(next.utf8).base64EncodedString() }
                return try json(out)
            case .failure(let error):
                throw shadowError(error)
            }
        }
    }

    static func shadowRequest(_ operation: ShadowOperation, _ request: Request, _ context: ControlPlaneContext,
                              shadows: any ShadowDataPlane, keys: DataPlaneKeys?) async throws -> Response {
        try requireDataPlane(context)
        let thing = try pathParameter(context, "thingName")
        let name = request.uri.queryParameters["name"].map(String.init)
        guard let id = ShadowID(thingName: thing, shadowName: name) else {
            throw AWSErrorResponse.invalidRequest("thingName must match [a-zA-Z0-9:_-]+ (1 to 128 characters) and name [$a-zA-Z0-9:_-]+ (1 to 64).")
        }
        let action: IoTAction = switch operation {
        case .get: .getThingShadow
        case .update: .updateThingShadow
        case .delete: .deleteThingShadow
        }
        try authorizeData(context, keys, [(action, id.shadowName.map { "\(thing)/\($0)" } ?? thing)])
        var request = request
        let payload = operation == .update ? try await request.collectBody(upTo: context.maxUploadSize) : ByteBuffer()
        switch await shadows.shadow(operation, on: id, payload: Array(payload.readableBytesView)) {
        case .success(let outcome):
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: outcome.accepted)))
        case .failure(let error):
            throw shadowError(error)
        }
    }

    /// The service's error under the type botocore models for its status.
    static func shadowError(_ error: ShadowError) -> AWSErrorResponse {
        let type = switch error.code {
        case 400: "InvalidRequestException"
        case 401: "UnauthorizedException"
        case 404: "ResourceNotFoundException"
        case 405: "MethodNotAllowedException"
        case 409: "ConflictException"
        case 413: "RequestEntityTooLargeException"
        case 415: "UnsupportedDocumentEncodingException"
        case 429: "ThrottlingException"
        case 503: "ServiceUnavailableException"
        default: "InternalFailureException"
        }
        return AWSErrorResponse(status: error.code, type: type, message: error.message)
    }
}
