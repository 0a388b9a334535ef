import Foundation

extension PolicyDocument {
    /// AWS counts a document's characters without white space.
    public static let maximumCharacters = 2048

    /// Parses and checks a document. Every refusal names the JSON path (`Statement[1].Condition`) and
    /// the problem.
    public static func parse(_ text: String) throws(PolicyParseError) -> PolicyDocument {
        let characters = text.unicodeScalars.filter { !CharacterSet.whitespacesAndNewlines.contains($0) }.count
        guard characters > 0 else { throw PolicyParseError(path: "", problem: "the policy document is empty") }
        guard characters <= maximumCharacters else {
            throw PolicyParseError(path: "", problem: "the document has \(characters) characters without white space; the maximum is \(maximumCharacters)")
        }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
        } catch {
            throw PolicyParseError(path: "", problem: "the document is not valid JSON")
        }
        guard let root = parsed as? [String: Any] else { throw PolicyParseError(path: "", problem: "the document must be a JSON object") }
        try PolicyParser.allowOnly(["Version", "Id", "Statement"], in: root, at: "")
        var version = Version.v2008
        if let raw = root["Version"] {
            guard let text = raw as? String, let parsedVersion = Version(rawValue: text) else {
                throw PolicyParseError(path: "Version", problem: "must be \"2012-10-17\" or \"2008-10-17\"")
            }
            version = parsedVersion
        }
        if let id = root["Id"], !(id is String) { throw PolicyParseError(path: "Id", problem: "must be a string") }
        guard let rawStatements = root["Statement"] else { throw PolicyParseError(path: "Statement", problem: "is required") }
        let list: [Any]
        if let array = rawStatements as? [Any] {
            list = array
        } else if rawStatements is [String: Any] {
            list = [rawStatements]
        } else {
            throw PolicyParseError(path: "Statement", problem: "must be an object or an array of objects")
        }
        var statements: [PolicyStatement] = []
        for (index, raw) in list.enumerated() {
            let path = rawStatements is [Any] ? "Statement[\(index)]" : "Statement"
            statements.append(try PolicyParser.statement(raw, at: path))
        }
        return PolicyDocument(version: version, statements: statements)
    }
}

enum PolicyParser {
    static func allowOnly(_ keys: Set<String>, in object: [String: Any], at path: String) throws(PolicyParseError) {
        for key in object.keys.sorted() where !keys.contains(key) {
            throw PolicyParseError(path: join(path, key), problem: "is not an element of an IoT policy here (allowed: \(keys.sorted().joined(separator: ", ")))")
        }
    }

    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    static func statement(_ raw: Any, at path: String) throws(PolicyParseError) -> PolicyStatement {
        guard let object = raw as? [String: Any] else { throw PolicyParseError(path: path, problem: "a statement must be an object") }
        if object["Principal"] != nil || object["NotPrincipal"] != nil {
            throw PolicyParseError(path: join(path, object["Principal"] != nil ? "Principal" : "NotPrincipal"),
                                   problem: "IoT policies are attached to their principals and take no Principal")
        }
        try allowOnly(["Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"], in: object, at: path)
        var sid: String?
        if let raw = object["Sid"] {
            guard let text = raw as? String else { throw PolicyParseError(path: join(path, "Sid"), problem: "must be a string") }
            sid = text
        }
        guard let effectText = object["Effect"] as? String, let effect = PolicyStatement.Effect(rawValue: effectText) else {
            throw PolicyParseError(path: join(path, "Effect"), problem: object["Effect"] == nil ? "is required" : "must be \"Allow\" or \"Deny\"")
        }
        let (actionKey, actions) = try exactlyOne("Action", "NotAction", in: object, at: path)
        for (index, action) in actions.enumerated() {
            try checkAction(action, at: "\(join(path, actionKey))[\(index)]")
        }
        let (resourceKey, resources) = try exactlyOne("Resource", "NotResource", in: object, at: path)
        for (index, resource) in resources.enumerated() {
            try checkResource(resource, at: "\(join(path, resourceKey))[\(index)]")
        }
        var conditions: [PolicyCondition] = []
        if let raw = object["Condition"] {
            conditions = try condition(raw, at: join(path, "Condition"))
        }
        return PolicyStatement(sid: sid, effect: effect, actions: actions.map { $0.lowercased() }, notAction: actionKey == "NotAction",
                               resources: resources, notResource: resourceKey == "NotResource", conditions: conditions)
    }

    /// One of two alternative elements (Action/NotAction, Resource/NotResource), as a non-empty list.
    static func exactlyOne(_ first: String, _ second: String, in object: [String: Any], at path: String) throws(PolicyParseError) -> (String, [String]) {
        switch (object[first], object[second]) {
        case (nil, nil): throw PolicyParseError(path: join(path, first), problem: "a statement needs \(first) or \(second)")
        case (.some, .some): throw PolicyParseError(path: join(path, second), problem: "a statement takes \(first) or \(second), not both")
        case (let value?, nil): return (first, try stringList(value, at: join(path, first), allowEmpty: false))
        case (nil, let value?): return (second, try stringList(value, at: join(path, second), allowEmpty: false))
        }
    }

    static func stringList(_ raw: Any, at path: String, allowEmpty: Bool) throws(PolicyParseError) -> [String] {
        if let text = raw as? String { return [text] }
        guard let array = raw as? [Any] else { throw PolicyParseError(path: path, problem: "must be a string or an array of strings") }
        guard allowEmpty || !array.isEmpty else { throw PolicyParseError(path: path, problem: "must not be empty") }
        var values: [String] = []
        for (index, element) in array.enumerated() {
            guard let text = element as? String else { throw PolicyParseError(path: "\(path)[\(index)]", problem: "must be a string") }
            values.append(text)
        }
        return values
    }

    static func checkAction(_ action: String, at path: String) throws(PolicyParseError) {
        if action == "*" { return }
        let parts = action.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].lowercased() == "iot", !parts[1].isEmpty,
              parts[1].unicodeScalars.allSatisfy({ ($0.isASCII && CharacterSet.letters.contains($0)) || $0 == "*" || $0 == "?" }) else {
            throw PolicyParseError(path: path, problem: "'\(action.prefix(128))' is not an IoT action (iot:Name, iot:* or *)")
        }
    }

    static func checkResource(_ resource: String, at path: String) throws(PolicyParseError) {
        if resource == "*" { return }
        guard resource.hasPrefix("arn:"), resource.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false).count == 6 else {
            throw PolicyParseError(path: path, problem: "'\(resource.prefix(128))' is not an ARN (arn:partition:iot:region:account:type/name) or *")
        }
    }

    static func condition(_ raw: Any, at path: String) throws(PolicyParseError) -> [PolicyCondition] {
        guard let blocks = raw as? [String: Any] else { throw PolicyParseError(path: path, problem: "must be an object of operators") }
        var conditions: [PolicyCondition] = []
        for operatorName in blocks.keys.sorted() {
            let operatorPath = join(path, operatorName)
            var name = Substring(operatorName)
            var qualifier: PolicyCondition.SetQualifier?
            if let colon = name.firstIndex(of: ":") {
                guard let parsed = PolicyCondition.SetQualifier(rawValue: String(name[..<colon])) else {
                    throw PolicyParseError(path: operatorPath, problem: "unknown set operator '\(name[..<colon])' (ForAnyValue or ForAllValues)")
                }
                qualifier = parsed
                name = name[name.index(after: colon)...]
            }
            var ifExists = false
            if name.hasSuffix("IfExists") {
                ifExists = true
                name = name.dropLast("IfExists".count)
            }
            guard let op = ConditionOperator(rawValue: String(name)) else {
                throw PolicyParseError(path: operatorPath, problem: "unknown condition operator '\(operatorName.prefix(64))'")
            }
            if op == .null && ifExists { throw PolicyParseError(path: operatorPath, problem: "Null has no IfExists form") }
            guard let entries = blocks[operatorName] as? [String: Any], !entries.isEmpty else {
                throw PolicyParseError(path: operatorPath, problem: "must be an object of condition keys and values")
            }
            for key in entries.keys.sorted() {
                let keyPath = join(operatorPath, key)
                guard !key.isEmpty else { throw PolicyParseError(path: keyPath, problem: "a condition key must not be empty") }
                let values = try conditionValues(entries[key]!, at: keyPath)
                for (index, value) in values.enumerated() where !value.contains("${") {
                    if let problem = valueProblem(op, value) {
                        throw PolicyParseError(path: "\(keyPath)[\(index)]", problem: problem)
                    }
                }
                conditions.append(PolicyCondition(qualifier: qualifier, operator: op, ifExists: ifExists, key: key, values: values))
            }
        }
        return conditions
    }

    /// Condition values: strings, numbers and booleans, alone or in an array (possibly empty).
    static func conditionValues(_ raw: Any, at path: String) throws(PolicyParseError) -> [String] {
        func scalar(_ value: Any, at path: String) throws(PolicyParseError) -> String {
            if let text = value as? String { return text }
            if let number = value as? NSNumber {
                if String(cString: number.objCType) == "c" { return number.boolValue ? "true" : "false" }
                return number.stringValue
            }
            throw PolicyParseError(path: path, problem: "a condition value must be a string, a number or a boolean")
        }
        if let array = raw as? [Any] {
            var values: [String] = []
            for (index, element) in array.enumerated() { values.append(try scalar(element, at: "\(path)[\(index)]")) }
            return values
        }
        return [try scalar(raw, at: path)]
    }

    /// Values each operator family cannot compare with.
    static func valueProblem(_ op: ConditionOperator, _ value: String) -> String? {
        switch op {
        case .numericEquals, .numericNotEquals, .numericLessThan, .numericLessThanEquals, .numericGreaterThan, .numericGreaterThanEquals:
            return Double(value) == nil ? "'\(value.prefix(64))' is not a number" : nil
        case .dateEquals, .dateNotEquals, .dateLessThan, .dateLessThanEquals, .dateGreaterThan, .dateGreaterThanEquals:
            return PolicyDate.parse(value) == nil ? "'\(value.prefix(64))' is not a date (ISO 8601 or epoch seconds)" : nil
        case .bool, .null:
            return ["true", "false"].contains(value.lowercased()) ? nil : "'\(value.prefix(64))' is not true or false"
        case .ipAddress, .notIpAddress:
            return CIDRBlock(value) == nil ? "'\(value.prefix(64))' is not an IP address or CIDR block" : nil
        case .binaryEquals:
            return Data(base64Encoded: value) == nil ? "'\(value.prefix(64))' is not base64" : nil
        default:
            return nil
        }
    }
}
