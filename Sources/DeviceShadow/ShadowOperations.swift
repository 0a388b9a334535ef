/// A refused shadow request: AWS's error document (reference 5.3), `{"code", "message", "timestamp",
/// "clientToken"}`, the same code as the HTTP status.
public struct ShadowError: Error, Sendable, Hashable {
    public var code: Int
    public var message: String
    public var clientToken: String?

    public init(_ code: Int, _ message: String, clientToken: String? = nil) {
        self.code = code
        self.message = message
        self.clientToken = clientToken
    }

    public static let invalidJSON = ShadowError(400, "Invalid JSON")
    public static let missingState = ShadowError(400, "Missing required node: state")
    public static let stateNotObject = ShadowError(400, "State node must be an object")
    public static let desiredNotObject = ShadowError(400, "Desired node must be an object")
    public static let reportedNotObject = ShadowError(400, "Reported node must be an object")
    public static let invalidVersion = ShadowError(400, "Invalid version")
    public static let invalidClientToken = ShadowError(400, "Invalid clientToken")
    public static let tooDeep = ShadowError(400, "JSON contains too many levels of nesting; maximum is 6")
    public static let invalidNode = ShadowError(400, "State contains an invalid node")
    public static let versionConflict = ShadowError(409, "Version conflict")
    public static let tooLarge = ShadowError(413, "The payload exceeds the maximum size allowed")
    public static let unsupportedEncoding = ShadowError(415, "Unsupported documented encoding; supported encoding is UTF-8")
    public static let tooManyRequests = ShadowError(429, "Too Many Requests")
    public static let internalFailure = ShadowError(500, "Internal service failure")

    /// 404 for a shadow that does not exist: the classic shadow is named by its thing.
    public static func notFound(_ id: ShadowID) -> ShadowError {
        ShadowError(404, "No shadow exists with name: '\(id.shadowName ?? id.thingName)'")
    }

    public func document(timestamp: Int64) -> String {
        var members: [String: JSONValue] = ["code": .integer(Int64(code)), "message": .string(message), "timestamp": .integer(timestamp)]
        if let clientToken { members["clientToken"] = .string(clientToken) }
        return JSONValue.object(members).text
    }

    func with(clientToken: String?) -> ShadowError {
        var copy = self
        copy.clientToken = clientToken
        return copy
    }
}

/// Which shadow: a thing's classic shadow (no name) or one of its named shadows.
public struct ShadowID: Sendable, Hashable, Codable, CustomStringConvertible {
    public var thingName: String
    public var shadowName: String?

    /// Nil unless the names follow AWS's patterns: thing `[a-zA-Z0-9:_-]{1,128}`, shadow `[$a-zA-Z0-9:_-]{1,64}`.
    public init?(thingName: String, shadowName: String? = nil) {
        guard Self.valid(thingName, maximum: 128, dollar: false), shadowName.map({ Self.valid($0, maximum: 64, dollar: true) }) ?? true else {
            return nil
        }
        self.thingName = thingName
        self.shadowName = shadowName
    }

    static func valid(_ name: String, maximum: Int, dollar: Bool) -> Bool {
        (1...maximum).contains(name.utf8.count) && name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: ":"), UInt8(ascii: "_"), UInt8(ascii: "-"): true
            case UInt8(ascii: "$"): dollar
            default: false
            }
        }
    }

    /// `$aws/things/<thing>/shadow` or `$aws/things/<thing>/shadow/name/<shadow>`.
    public var topicPrefix: String {
        "$aws/things/\(thingName)/shadow" + (shadowName.map { "/name/\($0)" } ?? "")
    }

    /// The store key: the thing name, then the shadow name (empty for the classic shadow).
    public var key: String { "\(thingName)/\(shadowName ?? "")" }

    public var description: String { shadowName.map { "\(thingName)/\($0)" } ?? thingName }
}

/// The three requests of the shadow service, on a topic or over HTTPS.
public enum ShadowOperation: String, Sendable, Hashable {
    case get, update, delete
}

/// A request topic `$aws/things/<thing>/shadow[/name/<shadow>]/{get,update,delete}` parsed; nil for any
/// other topic (the reply topics are the service's own).
public struct ShadowTopic: Sendable, Hashable {
    public var id: ShadowID
    public var operation: ShadowOperation

    public init?(_ topic: String) {
        guard topic.hasPrefix("$aws/things/") else { return nil }
        let levels = topic.split(separator: "/", omittingEmptySubsequences: false)
        // $aws things <thing> shadow [name <shadow>] <op>
        guard levels.count == 5 || levels.count == 7, levels[3] == "shadow" else { return nil }
        var shadowName: String?
        if levels.count == 7 {
            guard levels[4] == "name" else { return nil }
            shadowName = String(levels[5])
        }
        guard let operation = ShadowOperation(rawValue: String(levels[levels.count - 1])),
              let id = ShadowID(thingName: String(levels[2]), shadowName: shadowName) else { return nil }
        self.id = id
        self.operation = operation
    }
}

/// What a successful operation publishes: the answer (to `/accepted`, or the HTTP body) and, for an
/// update, `/update/delta` (when desired and reported differ) and `/update/documents`.
public struct ShadowOutcome: Sendable, Hashable {
    public var accepted: String
    public var delta: String?
    public var documents: String?

    public init(accepted: String, delta: String? = nil, documents: String? = nil) {
        self.accepted = accepted
        self.delta = delta
        self.documents = documents
    }
}

/// The shadow semantics of reference 5.2 as functions of (shadow, request, time): no clock, no store.
public enum ShadowRules {
    /// Desired plus reported may take 8 KB; documents nest at most 6 levels.
    public static let maximumStateBytes = 8192
    public static let maximumDepth = 6
    public static let maximumClientTokenBytes = 64

    /// GET: the full document with the delta, or 404.
    public static func get(_ shadow: Shadow, id: ShadowID, clientToken: String?, now: Int64) -> Result<String, ShadowError> {
        guard shadow.exists else { return .failure(ShadowError.notFound(id).with(clientToken: clientToken)) }
        var members: [String: JSONValue] = [
            "state": .object(shadow.stateObject(includingDelta: true)), "metadata": .object(shadow.metadataObject()),
            "version": .integer(shadow.version), "timestamp": .integer(now),
        ]
        if let clientToken { members["clientToken"] = .string(clientToken) }
        return .success(JSONValue.object(members).text)
    }

    /// DELETE: the state goes, the version stays (the next update continues from it).
    public static func delete(_ shadow: inout Shadow, id: ShadowID, clientToken: String?, now: Int64) -> Result<String, ShadowError> {
        guard shadow.exists else { return .failure(ShadowError.notFound(id).with(clientToken: clientToken)) }
        let version = shadow.version
        shadow = Shadow(version: version, exists: false)
        var members: [String: JSONValue] = ["version": .integer(version), "timestamp": .integer(now)]
        if let clientToken { members["clientToken"] = .string(clientToken) }
        return .success(JSONValue.object(members).text)
    }

    /// The clientToken of a get or delete request body (which may be empty), or why it is refused.
    public static func clientToken(ofRequest payload: [UInt8]) -> Result<String?, ShadowError> {
        guard !payload.isEmpty, !payload.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) else { return .success(nil) }
        guard String(validating: payload, as: UTF8.self) != nil else { return .failure(.unsupportedEncoding) }
        guard let value = JSONValue.parse(payload), case .object(let members) = value else { return .failure(.invalidJSON) }
        return token(members)
    }

    static func token(_ members: [String: JSONValue]) -> Result<String?, ShadowError> {
        switch members["clientToken"] {
        case nil: .success(nil)
        case .string(let token)? where token.utf8.count <= maximumClientTokenBytes: .success(token)
        default: .failure(.invalidClientToken)
        }
    }

    /// UPDATE: validates the request, merges it field by field, bumps the version, and makes the
    /// accepted, delta and documents messages. The shadow is changed only on success.
    public static func update(_ shadow: inout Shadow, id: ShadowID, payload: [UInt8], now: Int64) -> Result<ShadowOutcome, ShadowError> {
        guard String(validating: payload, as: UTF8.self) != nil else { return .failure(.unsupportedEncoding) }
        guard let parsed = JSONValue.parse(payload), case .object(let request) = parsed else { return .failure(.invalidJSON) }
        let clientToken: String?
        switch token(request) {
        case .success(let token): clientToken = token
        case .failure(let error): return .failure(error)
        }
        func refuse(_ error: ShadowError) -> Result<ShadowOutcome, ShadowError> { .failure(error.with(clientToken: clientToken)) }
        guard let stateValue = request["state"] else { return refuse(.missingState) }
        // `"state": null` clears desired and reported at once (AWS accepts it, bumps the version and
        // answers with `"state": null`); any other non-object state is refused.
        let state: [String: JSONValue]
        let clearsAll: Bool
        switch stateValue {
        case .object(let members): (state, clearsAll) = (members, false)
        case .null: (state, clearsAll) = ([:], true)
        default: return refuse(.stateNotObject)
        }
        guard state.keys.allSatisfy({ $0 == "desired" || $0 == "reported" }) else { return refuse(.invalidNode) }
        guard var (desiredUpdate, clearDesired) = sectionUpdate(state["desired"]) else { return refuse(.desiredNotObject) }
        guard var (reportedUpdate, clearReported) = sectionUpdate(state["reported"]) else { return refuse(.reportedNotObject) }
        if clearsAll {
            (desiredUpdate, clearDesired) = (nil, true)
            (reportedUpdate, clearReported) = (nil, true)
        }
        if let version = request["version"] {
            guard case .integer(let expected) = version else { return refuse(.invalidVersion) }
            guard expected == shadow.version else { return refuse(.versionConflict) }
        }
        // Nesting counts from desired or reported themselves (level 1).
        for section in [desiredUpdate, reportedUpdate] {
            if let section, JSONValue.object(section).depth > maximumDepth { return refuse(.tooDeep) }
        }

        let previous = shadow
        var next = shadow
        if !next.exists {
            next = Shadow(version: shadow.version, exists: true)
        }
        apply(desiredUpdate, clear: clearDesired, to: &next.desired, metadata: &next.metadataDesired, now: now)
        apply(reportedUpdate, clear: clearReported, to: &next.reported, metadata: &next.metadataReported, now: now)
        for section in [next.desired, next.reported] {
            if let section, JSONValue.object(section).depth > maximumDepth { return refuse(.tooDeep) }
        }
        guard next.stateSize <= maximumStateBytes else { return refuse(.tooLarge) }
        next.version = shadow.version + 1
        shadow = next

        // Accepted: the request's state as sent, its metadata, the new version.
        var acceptedMetadata: [String: JSONValue] = [:]
        for (name, section) in state {
            acceptedMetadata[name] = ShadowMerge.mirror(section, now: now)
        }
        var accepted: [String: JSONValue] = [
            "state": clearsAll ? .null : .object(state),
            "metadata": clearsAll ? ShadowMerge.mirror(.null, now: now) : .object(acceptedMetadata),
            "version": .integer(next.version), "timestamp": .integer(now),
        ]
        var documents: [String: JSONValue] = [
            "current": snapshot(next), "timestamp": .integer(now),
        ]
        if previous.exists { documents["previous"] = snapshot(previous) }
        var deltaText: String?
        // Reference 5.1: after every successful update that leaves desired and reported different,
        // whichever section the update touched (a report that misses desired gets the delta again).
        if let delta = next.delta {
            var message: [String: JSONValue] = [
                "state": .object(delta.state), "metadata": .object(delta.metadata), "version": .integer(next.version), "timestamp": .integer(now),
            ]
            if let clientToken { message["clientToken"] = .string(clientToken) }
            deltaText = JSONValue.object(message).text
        }
        if let clientToken {
            accepted["clientToken"] = .string(clientToken)
            documents["clientToken"] = .string(clientToken)
        }
        return .success(ShadowOutcome(accepted: JSONValue.object(accepted).text, delta: deltaText, documents: JSONValue.object(documents).text))
    }

    /// A section of the request: absent (nothing), `null` (clear it) or an object (merge it); nil otherwise.
    static func sectionUpdate(_ value: JSONValue?) -> (update: [String: JSONValue]?, clear: Bool)? {
        switch value {
        case nil: (nil, false)
        case .null?: (nil, true)
        case .object(let members)?: (members, false)
        default: nil
        }
    }

    /// One section's part of an update: cleared by `null`, else merged; an empty section is left out.
    static func apply(_ update: [String: JSONValue]?, clear: Bool, to section: inout [String: JSONValue]?,
                      metadata: inout [String: JSONValue]?, now: Int64) {
        if clear {
            section = nil
            metadata = nil
            return
        }
        guard let update else { return }
        var merged = section ?? [:]
        var mergedMetadata = metadata ?? [:]
        ShadowMerge.merge(&merged, metadata: &mergedMetadata, update: update, now: now)
        section = merged.isEmpty ? nil : merged
        metadata = merged.isEmpty ? nil : mergedMetadata
    }

    /// `{state, metadata, version}` as `/update/documents` shows a shadow.
    static func snapshot(_ shadow: Shadow) -> JSONValue {
        .object(["state": .object(shadow.stateObject(includingDelta: false)), "metadata": .object(shadow.metadataObject()),
                 "version": .integer(shadow.version)])
    }
}
