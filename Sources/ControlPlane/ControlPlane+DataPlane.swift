import Broker
import Foundation
import Hummingbird
import IoTPolicy
import MQTTCore
import NIOCore

/// What the iot-data routes need of the broker. The composition root hands in the gateway's broker.
public protocol DataPlane: Sendable {
    func publish(_ publish: PublishPacket, principal: String, sourceIP: String?) -> Broker.APIRefusal?
    func retainedMessage(topic: String) -> Broker.RetainedMessageInfo?
    func retainedSummaries(after topic: String?, limit: Int) -> (page: [Broker.RetainedSummary], more: Bool)
    func describeConnection(clientID: String) -> Broker.ConnectionDescription?
    func subscriptions(clientID: String, after filter: String?, limit: Int) -> (page: [(topicFilter: String, qos: Int)], more: Bool)?
    func deleteConnection(clientID: String, cleanSession: Bool, preventWillMessage: Bool) -> Bool
    func sendDirectMessage(clientID: String, _ publish: PublishPacket, confirmation: Bool, timeout: TimeAmount) async -> Broker.APIRefusal?
}

/// The iot-data API on the same port as the control plane, chosen by the credential scope's service
/// (`iotdata`): Publish, SendDirectMessage, GetRetainedMessage, ListRetainedMessages (reference 6, 4.11). Topics arrive
/// percent-encoded (`%24aws%2Fthings`); they are one label even with `%2F`, and a raw `/` works too.
extension ControlPlane {
    static func addDataPlaneRoutes(to router: Router<ControlPlaneContext>, dataPlane: any DataPlane, keys: DataPlaneKeys?) {
        router.post("/topics/**") { request, context in
            try requireDataPlane(context)
            let topic = try topicParameter(context)
            let query = request.uri.queryParameters
            var publish = PublishPacket(topic: topic, payload: ByteBuffer(), qos: .atMostOnce)
            if let qos = query["qos"] {
                guard let value = UInt8(qos), let level = QoS(rawValue: value), level != .exactlyOnce else {
                    throw AWSErrorResponse.invalidRequest("qos must be 0 or 1.")
                }
                publish.qos = level
            }
            publish.retain = try boolParameter(request, "retain") ?? false
            if let expiry = query["messageExpiry"] {
                guard let seconds = UInt32(expiry) else { throw AWSErrorResponse.invalidRequest("messageExpiry must be a number of seconds.") }
                publish.properties.messageExpiryInterval = seconds
            }
            try readMQTT5Properties(request, into: &publish)
            try authorizeData(context, keys, [(.publish, topic)] + (publish.retain ? [(.retainPublish, topic)] : []))
            var request = request
            publish.payload = try await request.collectBody(upTo: context.maxUploadSize)
            let principal = context.certificateID ?? context.identity?.accessKeyID ?? ""
            if let refusal = dataPlane.publish(publish, principal: principal, sourceIP: TLSClientPeer.current?.sourceIP) {
                throw AWSErrorResponse(status: refusal.httpStatus, type: refusal.awsErrorType, message: refusal.message)
            }
            return try json(["message": "OK", "traceId": context.requestID])
        }
        router.post("/connections/:clientId/messages") { request, context in
            try requireDataPlane(context)
            let clientID = try clientIDParameter(context)
            guard let topic = request.uri.queryParameters["topic"].map(String.init), !topic.isEmpty else {
                throw AWSErrorResponse.invalidRequest("topic is required.")
            }
            let confirmation = try boolParameter(request, "confirmation") ?? false
            let timeout = try intParameter(request, "timeout") ?? 5
            guard (1...30).contains(timeout) else { throw AWSErrorResponse.invalidRequest("timeout must be 1 to 30 seconds.") }
            var publish = PublishPacket(topic: topic, payload: ByteBuffer(), qos: .atMostOnce)
            try readMQTT5Properties(request, into: &publish)
            try authorizeData(context, keys, [(.sendDirectMessage, clientID)])
            var request = request
            publish.payload = try await request.collectBody(upTo: context.maxUploadSize)
            if let refusal = await dataPlane.sendDirectMessage(clientID: clientID, publish, confirmation: confirmation, timeout: .seconds(Int64(timeout))) {
                throw AWSErrorResponse(status: refusal.httpStatus, type: refusal.awsErrorType, message: refusal.message)
            }
            return try json(["message": "OK", "traceId": context.requestID])
        }
    }

    /// `contentType`, `responseTopic` and the `x-amz-mqtt5-*` headers, as Publish and SendDirectMessage take them.
    static func readMQTT5Properties(_ request: Request, into publish: inout PublishPacket) throws {
        let query = request.uri.queryParameters
        publish.properties.contentType = query["contentType"].map(String.init)
        publish.properties.responseTopic = query["responseTopic"].map(String.init)
        if let format = request.headers[.init("x-amz-mqtt5-payload-format-indicator")!] {
            switch format {
            case "UNSPECIFIED_BYTES": publish.properties.payloadFormat = .unspecifiedBytes
            case "UTF8_DATA": publish.properties.payloadFormat = .utf8
            default: throw AWSErrorResponse.invalidRequest("x-amz-mqtt5-payload-format-indicator must be UNSPECIFIED_BYTES or UTF8_DATA.")
            }
        }
        if let encoded = request.headers[.init("x-amz-mqtt5-correlation-data")!] {
            guard let data = Data(base64Encoded: encoded) else {
                throw AWSErrorResponse.invalidRequest("x-amz-mqtt5-correlation-data must be base64.")
            }
            publish.properties.correlationData = ByteBuffer(data: data)
        }
        if let encoded = request.headers[.init("x-amz-mqtt5-user-properties")!] {
            publish.properties.userProperties = try userProperties(encoded)
        }
    }

    static func addRetainedMessageRoutes(to router: Router<ControlPlaneContext>, dataPlane: any DataPlane, keys: DataPlaneKeys?) {
        router.get("/retainedMessage/**") { _, context in
            try requireDataPlane(context)
            let topic = try topicParameter(context)
            try authorizeData(context, keys, [(.getRetainedMessage, topic)])
            guard let message = dataPlane.retainedMessage(topic: topic) else {
                throw AWSErrorResponse(status: 404, type: "ResourceNotFoundException", message: "No retained message for the topic.")
            }
            var out: [String: Any] = ["topic": message.topic, "payload": Data(message.payload).base64EncodedString(), "qos": message.qos,
                                      "lastModifiedTime": message.lastModifiedMilliseconds]
            if !message.userProperties.isEmpty {
                let list = message.userProperties.map { [$0.name: $0.value] }
                out["userProperties"] = try JSONSerialization.data(withJSONObject: list).base64EncodedString()
            }
            return try json(out)
        }
        router.get("/retainedMessage") { request, context in
            try requireDataPlane(context)
            let (maxResults, after) = try tokenPage(request)
            try authorizeData(context, keys, [(.listRetainedMessages, "*")])
            let (page, more) = dataPlane.retainedSummaries(after: after, limit: maxResults)
            var out: [String: Any] = ["retainedTopics": page.map { message -> [String: Any] in
                ["topic": message.topic, "payloadSize": message.payloadSize, "qos": message.qos, "lastModifiedTime": message.lastModifiedMilliseconds]
            }]
            if more, let last = page.last { out["nextToken"] = Data(last.topic.utf8).base64EncodedString() }
            return try json(out)
        }
    }

    /// The connection APIs (reference 4.11): GetConnection, ListSubscriptions, DeleteConnection.
    static func addConnectionRoutes(to router: Router<ControlPlaneContext>, dataPlane: any DataPlane, keys: DataPlaneKeys?) {
        router.get("/connections/:clientId") { request, context in
            try requireDataPlane(context)
            let clientID = try clientIDParameter(context)
            let socket = try boolParameter(request, "includeSocketInformation") ?? false
            try authorizeData(context, keys, [(.getConnection, clientID)])
            guard let description = dataPlane.describeConnection(clientID: clientID) else {
                throw AWSErrorResponse(status: 404, type: "ResourceNotFoundException", message: "No connection or session for the client id \(clientID).")
            }
            var out: [String: Any] = ["clientId": description.clientID, "connected": description.connected,
                                      "cleanSession": description.cleanSession, "sessionExpiry": description.sessionExpirySeconds]
            if let keepAlive = description.keepAlive { out["keepAliveDuration"] = keepAlive }
            if let since = description.connectedSinceMilliseconds { out["connectedSince"] = Double(since) / 1000 }
            if let since = description.disconnectedSinceMilliseconds { out["disconnectedSince"] = Double(since) / 1000 }
            if let reason = description.disconnectReason { out["disconnectReason"] = reason }
            if socket, let ip = description.sourceIP, let port = description.sourcePort {
                out["sourceIp"] = ip
                out["sourcePort"] = port
            }
            return try json(out)
        }
        router.get("/connections/:clientId/subscriptions") { request, context in
            try requireDataPlane(context)
            let clientID = try clientIDParameter(context)
            let (maxResults, after) = try tokenPage(request)
            try authorizeData(context, keys, [(.listSubscriptions, clientID)])
            guard let (page, more) = dataPlane.subscriptions(clientID: clientID, after: after, limit: maxResults) else {
                throw AWSErrorResponse(status: 404, type: "ResourceNotFoundException", message: "No session for the client id \(clientID).")
            }
            var out: [String: Any] = ["subscriptions": page.map { ["topicFilter": $0.topicFilter, "qos": $0.qos] }]
            if more, let last = page.last { out["nextToken"] = Data(last.topicFilter.utf8).base64EncodedString() }
            return try json(out)
        }
        router.delete("/connections/:clientId") { request, context in
            try requireDataPlane(context)
            let clientID = try clientIDParameter(context)
            let clean = try boolParameter(request, "cleanSession") ?? false
            let preventWill = try boolParameter(request, "preventWillMessage") ?? false
            try authorizeData(context, keys, [(.deleteConnection, clientID)])
            guard dataPlane.deleteConnection(clientID: clientID, cleanSession: clean, preventWillMessage: preventWill) else {
                throw AWSErrorResponse(status: 404, type: "ResourceNotFoundException", message: "No connection for the client id \(clientID).")
            }
            return Response(status: .ok)
        }
    }

    /// An iot-data call's authorization: the admin key may do anything; a data-plane access key only what
    /// its IoT policies allow, every check in turn (403 ForbiddenException with the engine's explanation).
    static func authorizeData(_ context: ControlPlaneContext, _ keys: DataPlaneKeys?, _ checks: [(IoTAction, String)]) throws {
        if let decide = context.certificateAuthorization {
            if let denial = decide(checks.map { (action: $0.0, resource: $0.1) }) {
                throw AWSErrorResponse(status: 403, type: "ForbiddenException", message: denial)
            }
            return
        }
        guard !context.isAdmin, let id = context.identity?.accessKeyID else {
            // Neither a signature nor a certificate: the middleware refuses such requests before any route.
            if context.identity == nil { throw AWSErrorResponse(status: 403, type: "ForbiddenException", message: "The request is not authenticated.") }
            return
        }
        let now = Date()
        for (action, resource) in checks {
            let decision = keys?.authorize(id, action, resource: resource, now: now) ?? (allowed: false, explanation: "data-plane keys are not enabled")
            if !decision.allowed { throw AWSErrorResponse(status: 403, type: "ForbiddenException", message: decision.explanation) }
        }
    }

    /// `maxResults` (1-200, default 200) and the key after which `nextToken` (base64) continues.
    static func tokenPage(_ request: Request) throws -> (maxResults: Int, after: String?) {
        let maxResults = try intParameter(request, "maxResults") ?? 200
        guard (1...200).contains(maxResults) else { throw AWSErrorResponse.invalidRequest("maxResults must be between 1 and 200.") }
        guard let token = request.uri.queryParameters["nextToken"] else { return (maxResults, nil) }
        guard let data = Data(base64Encoded: String(token)), let last = String(data: data, encoding: .utf8) else {
            throw AWSErrorResponse.invalidRequest("The nextToken is not valid.")
        }
        return (maxResults, last)
    }

    /// A client id in the path: percent-decoded once, 1 to 128 characters, not starting with `$`.
    static func clientIDParameter(_ context: ControlPlaneContext) throws -> String {
        let clientID = try pathParameter(context, "clientId")
        guard (1...128).contains(clientID.count), !clientID.hasPrefix("$") else {
            throw AWSErrorResponse.invalidRequest("clientId must be 1 to 128 characters and must not start with $.")
        }
        return clientID
    }

    /// iot-data operations answer only requests signed for `iotdata` (or `iotdevicegateway`).
    static func requireDataPlane(_ context: ControlPlaneContext) throws {
        if context.certificateID != nil { return }
        guard let service = context.identity?.service, service == "iotdata" || service == "iotdevicegateway" else {
            throw AWSErrorResponse(status: 404, type: "UnknownOperationException",
                                   message: "This operation belongs to iot-data; the request was signed for \(context.identity?.service ?? "another service").")
        }
    }

    /// The topic after the operation's prefix: every remaining segment, percent-decoded once.
    static func topicParameter(_ context: ControlPlaneContext) throws -> String {
        try greedyParameter(context, "The topic")
    }

    /// `x-amz-mqtt5-user-properties`: base64 of a JSON array of one-pair objects, `[{"k":"v"}, ...]`.
    static func userProperties(_ encoded: String) throws -> [UserProperty] {
        guard let data = Data(base64Encoded: encoded), let list = try? JSONSerialization.jsonObject(with: data) as? [[String: String]] else {
            throw AWSErrorResponse.invalidRequest("x-amz-mqtt5-user-properties must be base64 of a JSON array of {\"name\": \"value\"} objects.")
        }
        return list.flatMap { $0.sorted { $0.key < $1.key }.map { UserProperty($0.key, $0.value) } }
    }
}
