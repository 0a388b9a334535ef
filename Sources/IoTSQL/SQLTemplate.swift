/// An action parameter with `${expression}` substitutions (AWS's substitution templates), parsed once
/// when the rule is made. The expressions see the original payload and the SET variables, not the
/// SELECT's aliases.
public struct SQLTemplate: Sendable {
    public enum Part: Sendable {
        case text(String)
        case expression(SQLExpression)
    }
    public let parts: [Part]
    public let text: String

    /// Whether the text has no substitution.
    public var isConstant: Bool { !parts.contains { if case .expression = $0 { true } else { false } } }

    /// The functions its expressions call (walked without recursion).
    public var functions: Set<SQLFunction> {
        var found = Set<SQLFunction>()
        var stack: [SQLExpression] = parts.compactMap { if case .expression(let expression) = $0 { expression } else { nil } }
        while let expression = stack.popLast() {
            if case .call(let function, _) = expression { found.insert(function) }
            stack.append(contentsOf: expression.children)
        }
        return found
    }

    /// How many times its expressions call `function`.
    public func calls(of function: SQLFunction) -> Int {
        var count = 0
        var stack: [SQLExpression] = parts.compactMap { if case .expression(let expression) = $0 { expression } else { nil } }
        while let expression = stack.popLast() {
            if case .call(let called, _) = expression, called == function { count += 1 }
            stack.append(contentsOf: expression.children)
        }
        return count
    }

    /// A `${` without its `}` is a syntax error; so is an expression that does not parse.
    public static func parse(_ text: String, version: SQLVersion = .default) throws(SQLError) -> SQLTemplate {
        var parts: [Part] = []
        var literal = ""
        let characters = Array(text)
        var index = 0
        while index < characters.count {
            guard characters[index] == "$", index + 1 < characters.count, characters[index + 1] == "{" else {
                literal.append(characters[index])
                index += 1
                continue
            }
            // The matching `}`: braces inside the expression (object literals) and quoted text do not end it.
            var end = index + 2
            var depth = 0
            var quote: Character?
            while end < characters.count {
                let character = characters[end]
                if let open = quote {
                    if character == open { quote = nil }
                } else if character == "'" || character == "\"" {
                    quote = character
                } else if character == "{" {
                    depth += 1
                } else if character == "}" {
                    if depth == 0 { break }
                    depth -= 1
                }
                end += 1
            }
            guard end < characters.count else {
                throw SQLError(kind: .syntax, message: "the substitution template at offset \(index) has no closing '}'", line: 1, column: index + 1)
            }
            if !literal.isEmpty { parts.append(.text(literal)) }
            literal = ""
            parts.append(.expression(try SQLParser.parseExpression(String(characters[(index + 2)..<end]), version: version)))
            index = end + 1
        }
        if !literal.isEmpty { parts.append(.text(literal)) }
        return SQLTemplate(parts: parts, text: text)
    }
}

extension SQLParser {
    /// One expression alone (a substitution template's).
    public static func parseExpression(_ text: String, version: SQLVersion = .default) throws(SQLError) -> SQLExpression {
        guard text.utf8.count <= maximumLength else {
            throw SQLError(kind: .invalid, message: "The expression is longer than \(maximumLength) bytes.", line: 1, column: 1)
        }
        var parser = try Parser(text: text, version: version)
        let expression = try parser.expression()
        guard parser.current.kind == .end else { throw parser.error("extraneous input '\(parser.current.text.prefix(64))' expecting <EOF>") }
        try checkDepth([expression])
        return expression
    }
}
