import Foundation

/// IAM's condition semantics: every operator block and every key in it must hold (AND); any of a key's
/// values may match (OR); `ForAnyValue` / `ForAllValues` for multi-valued keys; `...IfExists` holds when
/// the key is absent; `Null` tests presence.
enum ConditionEvaluator {
    static func allHold(_ conditions: [PolicyCondition], context: AuthorizationContext, substitute: Bool,
                        now: Date) -> Result<Bool, PolicyPattern.Unresolved> {
        for condition in conditions {
            switch holds(condition, context: context, substitute: substitute, now: now) {
            case .success(true): continue
            case let other: return other
            }
        }
        return .success(true)
    }

    static func holds(_ condition: PolicyCondition, context: AuthorizationContext, substitute: Bool,
                      now: Date) -> Result<Bool, PolicyPattern.Unresolved> {
        let present = contextValues(condition.key, context: context, now: now)
        if condition.operator == .null {
            let wantsAbsent = condition.values.contains { $0.lowercased() == "true" }
            return .success(wantsAbsent == (present == nil || present?.isEmpty == true))
        }
        // Condition values may hold variables too. One that does not resolve is a null value (IAM): it
        // matches nothing, so positive operators fail on it and negated ones hold.
        let resolve = resolver(context: context, now: now)
        var expected: [Expected] = []
        var unresolved: [String] = []
        for value in condition.values {
            let text: String
            if substitute, value.contains("${") {
                do {
                    text = try resolvedText(value, resolve: resolve)
                } catch {
                    unresolved += error.variables
                    continue
                }
            } else {
                text = value
            }
            // For the Like operators the value is a pattern whose substituted parts stay literal; for
            // the ARN operators, one such pattern per ARN component.
            let pattern = condition.operator.isLike
                ? try? PolicyPattern(template: value, substitute: substitute, resolve: resolve) : nil
            let arn = condition.operator.isARN ? arnComponents(value, substitute: substitute, resolve: resolve) : nil
            expected.append(Expected(text: text, pattern: pattern, arnComponents: arn))
        }

        let result: Bool
        switch condition.qualifier {
        case .forAllValues:
            // Vacuously true for an absent or empty key: every (no) value matches.
            guard let present, !present.isEmpty else { return .success(true) }
            result = present.allSatisfy { match(condition.operator, $0, expected) }
        case .forAnyValue:
            guard let present, !present.isEmpty else { return .success(condition.ifExists) }
            result = present.contains { match(condition.operator, $0, expected) }
        case nil:
            guard let present, !present.isEmpty else {
                // IAM: an absent key matches nothing, so a negated operator holds, and IfExists holds.
                if condition.ifExists || condition.operator.isNegated { return .success(true) }
                return .failure(PolicyPattern.Unresolved(variables: [condition.key] + unresolved))
            }
            // A negated operator holds when no value of the key matches.
            result = condition.operator.isNegated
                ? present.allSatisfy { match(condition.operator, $0, expected) }
                : present.contains { match(condition.operator, $0, expected) }
        }
        if !result, !unresolved.isEmpty { return .failure(PolicyPattern.Unresolved(variables: unresolved)) }
        return .success(result)
    }

    /// A condition value, as text and (for the Like operators) as a pattern.
    struct Expected {
        var text: String
        var pattern: PolicyPattern?
        /// For the ARN operators: the six component patterns (nil when the value is not an ARN pattern).
        var arnComponents: [PolicyPattern]? = nil
    }

    /// A condition value of an ARN operator split into its six colon-separated components before any
    /// substitution (colons inside `${...}`, as in `${iot:ClientId}`, do not split), each a pattern whose
    /// substituted parts stay literal. The last component keeps any further colons. Nil if fewer than six.
    static func arnComponents(_ value: String, substitute: Bool, resolve: (String) -> String?) -> [PolicyPattern]? {
        var parts: [Substring] = []
        var start = value.startIndex
        var depth = 0
        var index = value.startIndex
        while index < value.endIndex, parts.count < 5 {
            let character = value[index]
            if substitute, character == "$", value[index...].hasPrefix("${") {
                depth += 1
            } else if character == "}", depth > 0 {
                depth -= 1
            } else if character == ":", depth == 0 {
                parts.append(value[start..<index])
                start = value.index(after: index)
            }
            index = value.index(after: index)
        }
        parts.append(value[start...])
        guard parts.count == 6 else { return nil }
        var patterns: [PolicyPattern] = []
        for part in parts {
            guard let pattern = try? PolicyPattern(template: String(part), substitute: substitute, resolve: resolve) else { return nil }
            patterns.append(pattern)
        }
        return patterns
    }

    /// Resolves `${key}` in condition values: the request time keys, then the context.
    static func resolver(context: AuthorizationContext, now: Date) -> (String) -> String? {
        { key in
            switch key.lowercased() {
            case "aws:currenttime", "aws:epochtime": contextValues(key, context: context, now: now)?.first
            default: context.substitution(for: key)
            }
        }
    }

    /// Context keys that are not connection facts: the time of the request.
    static func contextValues(_ key: String, context: AuthorizationContext, now: Date) -> [String]? {
        switch key.lowercased() {
        case "aws:currenttime": return [now.formatted(.iso8601)]
        case "aws:epochtime": return [String(Int64(now.timeIntervalSince1970))]
        default: return context.values(of: key)
        }
    }

    /// A condition value with its variables substituted as text; `*` and `?` keep their meaning for
    /// the Like operators, `${*}`, `${?}`, `${$}` become the characters.
    static func resolvedText(_ template: String, resolve: (String) -> String?) throws(PolicyPattern.Unresolved) -> String {
        var result = ""
        var unresolved: [String] = []
        var rest = Substring(template)
        while let start = rest.range(of: "${"), let close = rest[start.upperBound...].firstIndex(of: "}") {
            result += rest[..<start.lowerBound]
            let name = String(rest[start.upperBound..<close])
            if ["*", "?", "$"].contains(name) {
                result += name
            } else if let value = resolve(name) {
                result += value
            } else {
                unresolved.append(name)
            }
            rest = rest[rest.index(after: close)...]
        }
        result += rest
        guard unresolved.isEmpty else { throw PolicyPattern.Unresolved(variables: unresolved) }
        return result
    }

    /// Whether one context value satisfies the operator against the condition's values: for a positive
    /// operator, it matches one of them; for a negated one, it matches none.
    static func match(_ op: ConditionOperator, _ value: String, _ values: [Expected]) -> Bool {
        let expected = values.map(\.text)
        switch op {
        case .stringEquals: return expected.contains(value)
        case .stringNotEquals: return !expected.contains(value)
        case .stringEqualsIgnoreCase: return expected.contains { $0.lowercased() == value.lowercased() }
        case .stringNotEqualsIgnoreCase: return !expected.contains { $0.lowercased() == value.lowercased() }
        case .stringLike: return values.contains { $0.pattern?.matches(value) == true }
        case .stringNotLike: return !values.contains { $0.pattern?.matches(value) == true }
        case .arnEquals, .arnLike: return values.contains { arnMatches($0.arnComponents, value) }
        case .arnNotEquals, .arnNotLike: return !values.contains { arnMatches($0.arnComponents, value) }
        case .numericEquals: return numeric(value, expected) { $0 == $1 }
        case .numericNotEquals: return !numeric(value, expected) { $0 == $1 }
        case .numericLessThan: return numeric(value, expected) { $0 < $1 }
        case .numericLessThanEquals: return numeric(value, expected) { $0 <= $1 }
        case .numericGreaterThan: return numeric(value, expected) { $0 > $1 }
        case .numericGreaterThanEquals: return numeric(value, expected) { $0 >= $1 }
        case .dateEquals: return date(value, expected) { $0 == $1 }
        case .dateNotEquals: return !date(value, expected) { $0 == $1 }
        case .dateLessThan: return date(value, expected) { $0 < $1 }
        case .dateLessThanEquals: return date(value, expected) { $0 <= $1 }
        case .dateGreaterThan: return date(value, expected) { $0 > $1 }
        case .dateGreaterThanEquals: return date(value, expected) { $0 >= $1 }
        case .bool: return expected.contains { $0.lowercased() == value.lowercased() }
        case .binaryEquals: return expected.contains(value)
        case .ipAddress: return expected.contains { CIDRBlock($0)?.contains(value) == true }
        case .notIpAddress: return !expected.contains { CIDRBlock($0)?.contains(value) == true }
        case .null: return false
        }
    }

    /// IAM's ARN operators (ArnEquals and ArnLike alike): the six colon-separated components are compared
    /// one by one, each with `*` and `?` wildcards that never cross a colon; the last component (the
    /// resource) keeps any further colons.
    static func arnMatches(_ components: [PolicyPattern]?, _ value: String) -> Bool {
        guard let components else { return false }
        let valueParts = value.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard valueParts.count == 6 else { return false }
        return zip(components, valueParts).allSatisfy { pattern, text in pattern.matches(String(text)) }
    }

    static func numeric(_ value: String, _ expected: [String], _ compare: (Double, Double) -> Bool) -> Bool {
        guard let number = Double(value) else { return false }
        return expected.contains { Double($0).map { compare(number, $0) } ?? false }
    }

    static func date(_ value: String, _ expected: [String], _ compare: (Date, Date) -> Bool) -> Bool {
        guard let time = PolicyDate.parse(value) else { return false }
        return expected.contains { PolicyDate.parse($0).map { compare(time, $0) } ?? false }
    }
}
