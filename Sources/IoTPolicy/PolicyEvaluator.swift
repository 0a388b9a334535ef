import Foundation

/// A named policy's default version, parsed: what the evaluator holds for each attached policy.
public struct NamedPolicy: Sendable, Hashable {
    public var name: String
    public var document: PolicyDocument

    public init(name: String, document: PolicyDocument) {
        self.name = name
        self.document = document
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
        public var index: Int
        public var sid: String?
        public var description: String { "\(policyName) statement \(index)\(sid.map { " (\($0))" } ?? "")" }
    }

    public var effect: Effect
    /// The statements that allowed (for ALLOWED) or explicitly denied (for EXPLICIT_DENY).
    public var statements: [StatementReference]
    /// Variables and condition keys that had no value where a statement needed one (TestAuthorization's
    /// `missingContextValues`).
    public var missingContextValues: [String]

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
            return text
        }
    }
}

/// IAM's evaluation over a set of policies (reference 3.6): default deny, any explicit Deny wins, else
/// any Allow allows. Statement order and policy order never matter.
public struct PolicyEvaluator: Sendable {
    public let policies: [NamedPolicy]

    public init(policies: [NamedPolicy]) {
        self.policies = policies
    }

    public func evaluate(_ action: IoTAction, resource: String, context: AuthorizationContext, now: Date) -> AuthorizationDecision {
        var allows: [AuthorizationDecision.StatementReference] = []
        var denies: [AuthorizationDecision.StatementReference] = []
        var missing: [String] = []
        for policy in policies {
            let substitute = policy.document.version == .v2012
            for (index, statement) in policy.document.statements.enumerated() {
                guard Self.actionMatches(statement, action) else { continue }
                switch Self.resourceMatches(statement, resource, context: context, substitute: substitute) {
                case .failure(let unresolved): missing += unresolved.variables; continue
                case .success(false): continue
                case .success(true): break
                }
                switch ConditionEvaluator.allHold(statement.conditions, context: context, substitute: substitute, now: now) {
                case .failure(let unresolved): missing += unresolved.variables; continue
                case .success(false): continue
                case .success(true): break
                }
                let reference = AuthorizationDecision.StatementReference(policyName: policy.name, index: index, sid: statement.sid)
                if statement.effect == .deny { denies.append(reference) } else { allows.append(reference) }
            }
        }
        var seen = Set<String>()
        let uniqueMissing = missing.filter { seen.insert($0.lowercased()).inserted }
        if !denies.isEmpty { return AuthorizationDecision(effect: .explicitDeny, statements: denies, missingContextValues: uniqueMissing) }
        if !allows.isEmpty { return AuthorizationDecision(effect: .allowed, statements: allows, missingContextValues: uniqueMissing) }
        return AuthorizationDecision(effect: .implicitDeny, statements: [], missingContextValues: uniqueMissing)
    }

    static func actionMatches(_ statement: PolicyStatement, _ action: IoTAction) -> Bool {
        let name = action.matchName
        let listed = statement.actions.contains { pattern in
            pattern == name || (try? PolicyPattern(template: pattern, substitute: false, resolve: { _ in nil }))?.matches(name) == true
        }
        return listed != statement.notAction
    }

    /// Whether the request's resource is covered (NotResource: not covered by any). A Resource whose
    /// variables do not resolve matches nothing; for NotResource it cannot exclude anything either, so
    /// the statement is skipped, as AWS does.
    static func resourceMatches(_ statement: PolicyStatement, _ resource: String, context: AuthorizationContext,
                                substitute: Bool) -> Result<Bool, PolicyPattern.Unresolved> {
        var unresolved: [String] = []
        var matched = false
        for template in statement.resources {
            if template == "*" { matched = true; break }
            do {
                let pattern = try PolicyPattern(template: template, substitute: substitute, resolve: context.substitution(for:))
                if pattern.matches(resource) { matched = true; break }
            } catch {
                unresolved += error.variables
            }
        }
        if !matched, !unresolved.isEmpty { return .failure(PolicyPattern.Unresolved(variables: unresolved)) }
        return .success(matched != statement.notResource)
    }
}
