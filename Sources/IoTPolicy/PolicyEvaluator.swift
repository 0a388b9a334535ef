import Foundation

/// A named policy's default version, parsed: what the evaluator holds for each attached policy.
public struct NamedPolicy: Sendable, Hashable {
    public var name: String
    /// The default version's id, for explanations (nil for documents that are not stored, e.g. offline tests).
    public var versionID: String?
    /// The document with what does not depend on a connection worked out (share one per document text).
    public let prepared: PreparedPolicy
    public var document: PolicyDocument { prepared.document }

    public init(name: String, versionID: String? = nil, document: PolicyDocument) {
        self.init(name: name, versionID: versionID, prepared: PreparedPolicy(document))
    }

    public init(name: String, versionID: String? = nil, prepared: PreparedPolicy) {
        self.name = name
        self.versionID = versionID
        self.prepared = prepared
    }

    public static func == (lhs: NamedPolicy, rhs: NamedPolicy) -> Bool {
        lhs.name == rhs.name && lhs.versionID == rhs.versionID && lhs.document == rhs.document
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(versionID)
        hasher.combine(document)
    }
}

/// The outcome of one authorization, with what decided it, so a denial can explain itself.
public struct AuthorizationDecision: Sendable, Hashable {
    public enum Effect: String, Sendable, Hashable {
        case allowed = "ALLOWED"
        case explicitDeny = "EXPLICIT_DENY"
        case implicitDeny = "IMPLICIT_DENY"
    }

    /// A statement by its policy and its position in the document.
    public struct StatementReference: Sendable, Hashable, CustomStringConvertible {
        public var policyName: String
        public var versionID: String?
        public var index: Int
        public var sid: String?
        /// The variables substituted into this statement, with their values (`iot:ClientId=lamp`).
        public var variables: [String] = []

        public var description: String {
            var text = "policy \(policyName)"
            if let versionID { text += " version \(versionID)" }
            text += " Statement[\(index)]"
            if let sid { text += " (Sid \(sid))" }
            if !variables.isEmpty { text += " with " + variables.joined(separator: ", ") }
            return text
        }
    }

    public var effect: Effect
    /// The statements that allowed (for ALLOWED) or explicitly denied (for EXPLICIT_DENY).
    public var statements: [StatementReference]
    /// Variables and condition keys that had no value where a statement needed one (TestAuthorization's
    /// `missingContextValues`).
    public var missingContextValues: [String]
    /// For IMPLICIT_DENY: the statements that name the action but whose resource or condition did not match.
    public var considered: [StatementReference]

    public init(effect: Effect, statements: [StatementReference], missingContextValues: [String], considered: [StatementReference] = []) {
        self.effect = effect
        self.statements = statements
        self.missingContextValues = missingContextValues
        self.considered = considered
    }

    public var isAllowed: Bool { effect == .allowed }

    /// One sentence for logs and reason strings.
    public func explanation(action: IoTAction, resource: String, policyCount: Int) -> String {
        switch effect {
        case .allowed:
            return "\(action.rawValue) on \(resource) allowed by \(statements.map(\.description).joined(separator: ", "))"
        case .explicitDeny:
            return "\(action.rawValue) on \(resource) explicitly denied by \(statements.map(\.description).joined(separator: ", "))"
        case .implicitDeny:
            var text = "no statement of the \(policyCount) attached \(policyCount == 1 ? "policy" : "policies") allows \(action.rawValue) on \(resource)"
            if !missingContextValues.isEmpty { text += " (no value for \(missingContextValues.map { "${\($0)}" }.joined(separator: ", ")))" }
            if !considered.isEmpty {
                let shown = considered.prefix(5).map(\.description).joined(separator: "; ")
                text += "; resource or condition not matched in " + shown + (considered.count > 5 ? "; and \(considered.count - 5) more" : "")
            }
            return text
        }
    }
}

/// IAM's evaluation over a set of policies (reference 3.6): default deny, any explicit Deny wins, else
/// any Allow allows. Statement order and policy order never matter. For one-off decisions (the API);
/// connections keep a `CompiledPolicySet` or a `ConnectionAuthorizer` instead.
public struct PolicyEvaluator: Sendable {
    public let policies: [NamedPolicy]

    public init(policies: [NamedPolicy]) {
        self.policies = policies
    }

    public func evaluate(_ action: IoTAction, resource: String, context: AuthorizationContext, now: Date) -> AuthorizationDecision {
        CompiledPolicySet(policies: policies, context: context).decide(action, resource: resource, now: now)
    }
}
