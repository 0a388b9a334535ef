import Foundation

/// A connection's policies compiled against its context, once: action patterns built, resource
/// templates substituted into patterns, time-independent conditions already decided. A decision then
/// only matches strings: nothing is parsed or substituted per PUBLISH. Build a new set when the policies
/// or the context change (a new default version, an attachment, a thing attribute).
public struct CompiledPolicySet: Sendable {
    /// A prepared statement with what this connection's context made of it.
    struct Statement: Sendable {
        /// Actions, effect, NotAction/NotResource and the time conditions, as the document has them.
        var prepared: PreparedPolicy.Statement
        var reference: AuthorizationDecision.StatementReference
        /// The prepared variable-free resources plus the templates substituted for this connection.
        var resources: [PolicyPattern]
        /// Variables of the Resource that had no value: with no other resource matching, the statement
        /// cannot apply.
        var unresolvedResources: [String]
        /// nil: the conditions hold; a list: they cannot hold (the keys that were missing, if any).
        var conditionFailure: [String]?
        var substitute: Bool
    }

    let statements: [Statement]
    let context: AuthorizationContext
    public let policyCount: Int

    public init(policies: [NamedPolicy], context: AuthorizationContext) {
        var statements: [Statement] = []
        for policy in policies {
            let prepared = policy.prepared
            let substitute = prepared.substitute
            for statement in prepared.statements {
                var resources = statement.fixedResources
                var unresolved: [String] = []
                var used: [String] = []
                if !statement.templates.isEmpty {
                    let resolve: (String) -> String? = { name in
                        let value = context.substitution(for: name)
                        if let value, !used.contains(where: { $0.hasPrefix(name + "=") }) { used.append("\(name)=\(value)") }
                        return value
                    }
                    for template in statement.templates {
                        do {
                            resources.append(try PolicyPattern(template: template, substitute: substitute, resolve: resolve))
                        } catch {
                            unresolved += error.variables
                        }
                    }
                }
                var failure: [String]?
                if !statement.fixedConditions.isEmpty {
                    switch ConditionEvaluator.allHold(statement.fixedConditions, context: context, substitute: substitute,
                                                      now: Date(timeIntervalSince1970: 0)) {
                    case .success(true): failure = nil
                    case .success(false): failure = []
                    case .failure(let missing): failure = missing.variables
                    }
                }
                statements.append(Statement(
                    prepared: statement,
                    reference: .init(policyName: policy.name, versionID: policy.versionID, index: statement.index, sid: statement.sid,
                                     variables: used),
                    resources: resources, unresolvedResources: unresolved, conditionFailure: failure, substitute: substitute))
            }
        }
        self.statements = statements
        self.dependsOnTime = statements.contains { !$0.prepared.timeConditions.isEmpty }
        self.context = context
        self.policyCount = policies.count
    }

    /// The decision for one request.
    public func decide(_ action: IoTAction, resource: String, now: Date) -> AuthorizationDecision {
        let name = action.matchName
        var allows: [AuthorizationDecision.StatementReference] = []
        var denies: [AuthorizationDecision.StatementReference] = []
        var missing: [String] = []
        var considered: [AuthorizationDecision.StatementReference] = []
        for statement in statements {
            let prepared = statement.prepared
            let listed = prepared.actionNames.contains(name) || prepared.actionPatterns.contains { $0.matches(name) }
            guard listed != prepared.notAction else { continue }
            considered.append(statement.reference)
            let covered = prepared.matchesEveryResource || statement.resources.contains { $0.matches(resource) }
            // An unresolved entry matches nothing: a Resource statement cannot apply, a NotResource one
            // excludes nothing (so it applies, as IAM has it).
            if !covered, !statement.unresolvedResources.isEmpty {
                missing += statement.unresolvedResources
                if !prepared.notResource { continue }
            }
            guard covered != prepared.notResource else { continue }
            if let failure = statement.conditionFailure {
                missing += failure
                continue
            }
            if !prepared.timeConditions.isEmpty {
                switch ConditionEvaluator.allHold(prepared.timeConditions, context: context, substitute: statement.substitute, now: now) {
                case .success(true): break
                case .success(false): continue
                case .failure(let unresolved): missing += unresolved.variables; continue
                }
            }
            if prepared.deny { denies.append(statement.reference) } else { allows.append(statement.reference) }
        }
        var seen = Set<String>()
        let uniqueMissing = missing.filter { seen.insert($0.lowercased()).inserted }
        if !denies.isEmpty { return AuthorizationDecision(effect: .explicitDeny, statements: denies, missingContextValues: uniqueMissing) }
        if !allows.isEmpty { return AuthorizationDecision(effect: .allowed, statements: allows, missingContextValues: uniqueMissing) }
        return AuthorizationDecision(effect: .implicitDeny, statements: [], missingContextValues: uniqueMissing, considered: considered)
    }

    /// Whether any statement reads the request time: such decisions are not cached.
    public let dependsOnTime: Bool
}

/// A policy document with everything that does not depend on a connection worked out once: action
/// names and patterns, resources without variables as patterns, conditions split into those that read
/// the request time and the rest. Connections compile from it (`CompiledPolicySet`) by substituting
/// their variables into the remaining templates and deciding the fixed conditions.
public struct PreparedPolicy: Sendable {
    struct Statement: Sendable {
        var index: Int
        var sid: String?
        var deny: Bool
        var actionNames: Set<String>
        var actionPatterns: [PolicyPattern]
        var notAction: Bool
        var matchesEveryResource: Bool
        var fixedResources: [PolicyPattern]
        /// Resources with `${...}`, substituted per connection.
        var templates: [String]
        var notResource: Bool
        var fixedConditions: [PolicyCondition]
        var timeConditions: [PolicyCondition]
    }

    public let document: PolicyDocument
    let substitute: Bool
    let statements: [Statement]

    static let timeKeys: Set<String> = ["aws:currenttime", "aws:epochtime"]

    /// A condition on the request time, as its key or inside a value (`${aws:CurrentTime}`).
    static func readsTime(_ condition: PolicyCondition) -> Bool {
        timeKeys.contains(condition.key.lowercased())
            || condition.values.contains { value in timeKeys.contains { value.lowercased().contains("${\($0)}") } }
    }

    public init(_ document: PolicyDocument) {
        self.document = document
        let substitute = document.version == .v2012
        self.substitute = substitute
        self.statements = document.statements.enumerated().map { index, statement in
            var names = Set<String>()
            var patterns: [PolicyPattern] = []
            for action in statement.actions {
                if action.contains("*") || action.contains("?") {
                    if let pattern = try? PolicyPattern(template: action, substitute: false, resolve: { _ in nil }) { patterns.append(pattern) }
                } else {
                    names.insert(action)
                }
            }
            var fixed: [PolicyPattern] = []
            var templates: [String] = []
            var every = false
            for template in statement.resources {
                if template == "*" {
                    every = true
                } else if let pattern = try? PolicyPattern(template: template, substitute: substitute, resolve: { _ in nil }) {
                    // Variable-free (or a 2008 document): the same for every connection.
                    fixed.append(pattern)
                } else {
                    // Holds variables: substituted per connection, an unresolved one recorded there.
                    templates.append(template)
                }
            }
            return Statement(
                index: index, sid: statement.sid, deny: statement.effect == .deny, actionNames: names, actionPatterns: patterns,
                notAction: statement.notAction, matchesEveryResource: every, fixedResources: fixed, templates: templates,
                notResource: statement.notResource, fixedConditions: statement.conditions.filter { !Self.readsTime($0) },
                timeConditions: statement.conditions.filter(Self.readsTime))
        }
    }
}

/// A connection's authorizer: its compiled policies and a bounded cache of decisions by action and
/// resource name, so a device publishing to the same topics pays for matching once and a cache hit builds
/// no ARN. Not thread-safe: it belongs to one connection, used under the broker's lock.
public final class ConnectionAuthorizer {
    public let policies: CompiledPolicySet
    /// `arn:aws:iot:<region>:<account>:`, put before `client/`, `topic/`, `topicfilter/`, `thing/`.
    public let arnPrefix: String
    private var cache: [CacheKey: AuthorizationDecision] = [:]
    public static let cacheCapacity = 256

    struct CacheKey: Hashable {
        var action: IoTAction
        var name: String
    }

    public init(policies: CompiledPolicySet, arnPrefix: String = "") {
        self.policies = policies
        self.arnPrefix = arnPrefix
    }

    /// The resource ARN for an action on a name (a client id, a topic, a topic filter, a thing).
    public func resource(_ action: IoTAction, _ name: String) -> String { arnPrefix + action.resourceType + name }

    /// The decision for `action` on the resource named `name` (turned into an ARN only on a cache miss).
    public func decide(_ action: IoTAction, name: String, now: Date) -> AuthorizationDecision {
        if policies.dependsOnTime { return policies.decide(action, resource: resource(action, name), now: now) }
        let key = CacheKey(action: action, name: name)
        if let cached = cache[key] { return cached }
        let decision = policies.decide(action, resource: resource(action, name), now: now)
        // Bounded: a device cycling through endless topics cannot grow it (cleared, not evicted one by one).
        if cache.count >= Self.cacheCapacity { cache.removeAll(keepingCapacity: true) }
        cache[key] = decision
        return decision
    }

    /// The decision for a full resource ARN (the API, offline tests).
    public func decide(_ action: IoTAction, resource: String, now: Date) -> AuthorizationDecision {
        if !arnPrefix.isEmpty, resource.hasPrefix(arnPrefix + action.resourceType) {
            return decide(action, name: String(resource.dropFirst(arnPrefix.count + action.resourceType.count)), now: now)
        }
        return policies.decide(action, resource: resource, now: now)
    }

    public var cachedDecisions: Int { cache.count }
}
