/// One device shadow (reference 5.2): the desired and reported state, a metadata tree mirroring them
/// with each leaf's last update time, and the version. A deleted shadow keeps its version, so the next
/// update continues from it. No I/O: stores and transports are elsewhere.
public struct Shadow: Sendable, Hashable, Codable {
    public var desired: [String: JSONValue]?
    public var reported: [String: JSONValue]?
    public var metadataDesired: [String: JSONValue]?
    public var metadataReported: [String: JSONValue]?
    public var version: Int64
    /// False once deleted (or before the first update): requests other than update then get 404.
    public var exists: Bool

    public init(version: Int64 = 0, exists: Bool = false) {
        self.version = version
        self.exists = exists
    }

    /// The `state` object: desired and reported, empty sections left out.
    func stateObject(includingDelta: Bool) -> [String: JSONValue] {
        var state: [String: JSONValue] = [:]
        if let desired { state["desired"] = .object(desired) }
        if let reported { state["reported"] = .object(reported) }
        if includingDelta, let delta = delta { state["delta"] = .object(delta.state) }
        return state
    }

    func metadataObject() -> [String: JSONValue] {
        var metadata: [String: JSONValue] = [:]
        if let metadataDesired { metadata["desired"] = .object(metadataDesired) }
        if let metadataReported { metadata["reported"] = .object(metadataReported) }
        return metadata
    }

    /// The desired leaves that differ from reported, with the desired metadata for them; nil when none.
    public var delta: (state: [String: JSONValue], metadata: [String: JSONValue])? {
        guard let desired else { return nil }
        let (state, metadata) = ShadowMerge.delta(desired: desired, reported: reported ?? [:], metadata: metadataDesired ?? [:])
        return state.isEmpty ? nil : (state, metadata)
    }

    /// The stored form: the members Codable gives a Shadow (so either reads the other), written
    /// directly by `JSONValue`.
    public var storedJSON: String {
        var members: [String: JSONValue] = ["version": .integer(version), "exists": .bool(exists)]
        if let desired { members["desired"] = .object(desired) }
        if let reported { members["reported"] = .object(reported) }
        if let metadataDesired { members["metadataDesired"] = .object(metadataDesired) }
        if let metadataReported { members["metadataReported"] = .object(metadataReported) }
        return JSONValue.object(members).text
    }

    /// The bytes desired and reported take, as AWS counts the 8 KB limit (metadata not counted).
    public var stateSize: Int {
        var state: [String: JSONValue] = [:]
        if let desired { state["desired"] = .object(desired) }
        if let reported { state["reported"] = .object(reported) }
        return state.isEmpty ? 0 : JSONValue.object(state).text.utf8.count
    }
}

/// Field-by-field merge, metadata and delta (reference 5.2).
enum ShadowMerge {
    /// Applies `update` to `section`: `null` deletes a key, objects merge into objects, anything else
    /// (arrays included) replaces. Metadata follows with `timestamp` on every leaf written.
    static func merge(_ section: inout [String: JSONValue], metadata: inout [String: JSONValue], update: [String: JSONValue], now: Int64) {
        for (key, value) in update {
            switch value {
            case .null:
                section[key] = nil
                metadata[key] = nil
            case .object(let members):
                var inner = section[key]?.object ?? [:]
                var innerMetadata = metadata[key]?.object ?? [:]
                if section[key]?.object == nil { innerMetadata = [:] }
                merge(&inner, metadata: &innerMetadata, update: members, now: now)
                section[key] = .object(inner)
                metadata[key] = .object(innerMetadata)
            default:
                section[key] = value
                metadata[key] = mirror(value, now: now)
            }
        }
    }

    /// The metadata of a value written now: `{"timestamp": now}` per leaf, objects and arrays mirrored.
    static func mirror(_ value: JSONValue, now: Int64) -> JSONValue {
        switch value {
        case .object(let members): .object(members.mapValues { mirror($0, now: now) })
        case .array(let elements): .array(elements.map { mirror($0, now: now) })
        default: .object(["timestamp": .integer(now)])
        }
    }

    static func delta(desired: [String: JSONValue], reported: [String: JSONValue], metadata: [String: JSONValue])
        -> (state: [String: JSONValue], metadata: [String: JSONValue])
    {
        var state: [String: JSONValue] = [:]
        var deltaMetadata: [String: JSONValue] = [:]
        for (key, wanted) in desired {
            if case .object(let wantedMembers) = wanted, case .object(let reportedMembers)? = reported[key] {
                let (inner, innerMetadata) = delta(desired: wantedMembers, reported: reportedMembers, metadata: metadata[key]?.object ?? [:])
                if !inner.isEmpty {
                    state[key] = .object(inner)
                    deltaMetadata[key] = .object(innerMetadata)
                }
            } else if reported[key] != wanted {
                state[key] = wanted
                if let leaf = metadata[key] { deltaMetadata[key] = leaf }
            }
        }
        return (state, deltaMetadata)
    }
}
