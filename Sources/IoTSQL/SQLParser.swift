/// IoT SQL text to a `SQLStatement`: a lexer and a recursive-descent parser. Precedence, lowest first:
/// OR, AND, NOT, comparisons (`= <> != < <= > >= IN`), `+ -`, `* / %`, unary `-`, then `.`, `[ ]` and
/// calls. Keywords and function names are not case sensitive; field names are.
public enum SQLParser {
    /// Longest SQL text taken (AWS's rule payload is at most 256 KB; the SQL is a small part of it).
    public static let maximumLength = 128 * 1024
    /// Parentheses, nested queries and the like nest at most this deep (the parser recurses per level).
    public static let maximumDepth = 64
    /// Tokens in one statement: bounds the size of the tree.
    public static let maximumTokens = 4096
    /// How deep the finished tree may be, counting every operator and `.` (the evaluator recurses per
    /// level, so `a+a+a+...` must not be able to exhaust the stack).
    public static let maximumTreeDepth = 200

    public static func parse(_ text: String, version: SQLVersion = .default) throws(SQLError) -> SQLStatement {
        guard text.utf8.count <= maximumLength else {
            throw SQLError(kind: .invalid, message: "The SQL statement is longer than \(maximumLength) bytes.", line: 1, column: 1)
        }
        var parser = try Parser(text: text, version: version)
        let statement = try parser.statement()
        try checkDepth(statement.variables.map(\.expression) + statement.select.expressions)
        return statement
    }

    /// The deepest path through the trees, walked without recursion.
    static func checkDepth(_ roots: [SQLExpression]) throws(SQLError) {
        var stack = roots.map { ($0, 1) }
        while let (expression, depth) = stack.popLast() {
            guard depth <= maximumTreeDepth else {
                throw SQLError(kind: .invalid, message: "The statement is too complex: its expressions nest more than \(maximumTreeDepth) levels.",
                               line: 1, column: 1)
            }
            for child in expression.children { stack.append((child, depth + 1)) }
        }
    }
}

extension SQLSelect {
    /// Every expression of the query (items, source, condition).
    var expressions: [SQLExpression] {
        var all: [SQLExpression] = items.compactMap { if case .expression(let expression, _) = $0 { expression } else { nil } }
        if let source { all.append(source) }
        if let condition { all.append(condition) }
        return all
    }
}

extension SQLStatement {
    /// How many times the statement calls `function` (walked without recursion).
    public func calls(of function: SQLFunction) -> Int {
        var count = 0
        var stack: [SQLExpression] = variables.map(\.expression) + select.expressions
        while let expression = stack.popLast() {
            if case .call(let called, _) = expression, called == function { count += 1 }
            stack.append(contentsOf: expression.children)
        }
        return count
    }
}

extension SQLExpression {
    /// The expressions directly inside this one.
    var children: [SQLExpression] {
        switch self {
        case .literal, .field, .wholePayload, .variable: []
        case .member(let base, _): [base]
        case .index(let base, let index): [base, index]
        case .negate(let operand), .not(let operand), .cast(let operand, _): [operand]
        case .binary(_, let left, let right): [left, right]
        case .call(_, let arguments): arguments
        case .caseWhen(let subject, let branches, let otherwise):
            (subject.map { [$0] } ?? []) + branches.flatMap { [$0.0, $0.1] } + (otherwise.map { [$0] } ?? [])
        case .object(let members): members.map(\.1)
        case .array(let elements): elements
        case .query(let query): query.expressions
        }
    }
}

struct Token: Sendable {
    enum Kind: Equatable, Sendable {
        case identifier(String)
        case number(String)
        case string(String)
        case variable(String)
        case symbol(String)
        case end
    }
    let kind: Kind
    /// Offset in characters, for positions in errors.
    let offset: Int

    func isKeyword(_ word: String) -> Bool {
        if case .identifier(let name) = kind { return name.caseInsensitiveCompare(word) == .orderedSame }
        return false
    }

    func isSymbol(_ symbol: String) -> Bool { kind == .symbol(symbol) }

    var text: String {
        switch kind {
        case .identifier(let name): name
        case .number(let digits): digits
        case .string(let value): "'\(value)'"
        case .variable(let name): "@\(name)"
        case .symbol(let symbol): symbol
        case .end: "<EOF>"
        }
    }
}

struct Lexer {
    static func tokens(_ text: String) throws(SQLError) -> (tokens: [Token], lines: [Int]) {
        let characters = Array(text)
        var lineStarts = [0]
        for (index, character) in characters.enumerated() where character == "\n" { lineStarts.append(index + 1) }
        func error(_ message: String, at offset: Int) -> SQLError {
            let line = lineStarts.lastIndex { $0 <= offset } ?? 0
            return SQLError(kind: .syntax, message: message, line: line + 1, column: offset - lineStarts[line] + 1)
        }
        var tokens: [Token] = []
        var index = 0
        while index < characters.count {
            let character = characters[index]
            if character.isWhitespace {
                index += 1
                continue
            }
            let start = index
            if character.isLetter || character == "_" || character == "$" {
                while index < characters.count, characters[index].isLetter || characters[index].isNumber || characters[index] == "_" || characters[index] == "$" {
                    index += 1
                }
                tokens.append(Token(kind: .identifier(String(characters[start..<index])), offset: start))
            } else if character.isNumber {
                while index < characters.count, characters[index].isNumber || characters[index] == "." { index += 1 }
                if index < characters.count, characters[index] == "e" || characters[index] == "E" {
                    var next = index + 1
                    if next < characters.count, characters[next] == "+" || characters[next] == "-" { next += 1 }
                    if next < characters.count, characters[next].isNumber {
                        index = next
                        while index < characters.count, characters[index].isNumber { index += 1 }
                    }
                }
                tokens.append(Token(kind: .number(String(characters[start..<index])), offset: start))
            } else if character == "'" || character == "\"" {
                // Either quote makes a string; a backslash or a doubled quote puts the quote itself in it.
                // Other backslashes stay as they are (regular expressions keep their `\d`).
                index += 1
                var value = ""
                var closed = false
                while index < characters.count {
                    let next = characters[index]
                    if next == "\\", index + 1 < characters.count, characters[index + 1] == character || characters[index + 1] == "\\" {
                        value.append(characters[index + 1])
                        index += 2
                    } else if next == character {
                        if index + 1 < characters.count, characters[index + 1] == character {
                            value.append(character)
                            index += 2
                        } else {
                            index += 1
                            closed = true
                            break
                        }
                    } else {
                        value.append(next)
                        index += 1
                    }
                }
                guard closed else { throw error("unterminated string literal", at: start) }
                tokens.append(Token(kind: .string(value), offset: start))
            } else if character == "@" {
                index += 1
                while index < characters.count, characters[index].isLetter || characters[index].isNumber || characters[index] == "_" { index += 1 }
                guard index > start + 1 else { throw error("a variable name must follow '@'", at: start) }
                tokens.append(Token(kind: .variable(String(characters[(start + 1)..<index])), offset: start))
            } else {
                let pair = index + 1 < characters.count ? String(characters[index...index + 1]) : ""
                if ["<>", "!=", "<=", ">="].contains(pair) {
                    tokens.append(Token(kind: .symbol(pair == "!=" ? "<>" : pair), offset: start))
                    index += 2
                } else if "(),.*+-/%=<>[]{}:".contains(character) {
                    tokens.append(Token(kind: .symbol(String(character)), offset: start))
                    index += 1
                } else {
                    throw error("token recognition error at: '\(character)'", at: start)
                }
            }
        }
        guard tokens.count < SQLParser.maximumTokens else {
            throw SQLError(kind: .invalid, message: "The statement has more than \(SQLParser.maximumTokens) tokens.", line: 1, column: 1)
        }
        tokens.append(Token(kind: .end, offset: characters.count))
        return (tokens, lineStarts)
    }
}

struct Parser {
    let text: String
    let version: SQLVersion
    let tokens: [Token]
    let lineStarts: [Int]
    var position = 0
    var depth = 0

    init(text: String, version: SQLVersion) throws(SQLError) {
        self.text = text
        self.version = version
        (tokens, lineStarts) = try Lexer.tokens(text)
    }

    var current: Token { tokens[position] }

    func error(_ message: String, at token: Token? = nil, kind: SQLError.Kind = .syntax) -> SQLError {
        let offset = (token ?? current).offset
        let line = lineStarts.lastIndex { $0 <= offset } ?? 0
        return SQLError(kind: kind, message: message, line: line + 1, column: offset - lineStarts[line] + 1)
    }

    func unexpected(_ expecting: String) -> SQLError {
        error("mismatched input '\(current.text.prefix(64))' expecting \(expecting)")
    }

    mutating func advance() { if position < tokens.count - 1 { position += 1 } }

    mutating func accept(keyword: String) -> Bool {
        guard current.isKeyword(keyword) else { return false }
        advance()
        return true
    }

    mutating func accept(symbol: String) -> Bool {
        guard current.isSymbol(symbol) else { return false }
        advance()
        return true
    }

    mutating func expect(keyword: String) throws(SQLError) {
        guard accept(keyword: keyword) else { throw unexpected(keyword.uppercased()) }
    }

    mutating func expect(symbol: String) throws(SQLError) {
        guard accept(symbol: symbol) else { throw unexpected("'\(symbol)'") }
    }

    mutating func nested<T>(_ body: (inout Parser) throws(SQLError) -> T) throws(SQLError) -> T {
        depth += 1
        defer { depth -= 1 }
        guard depth <= SQLParser.maximumDepth else { throw error("the statement nests more than \(SQLParser.maximumDepth) levels") }
        return try body(&self)
    }

    static let reserved: Set<String> = ["select", "from", "where", "as", "and", "or", "not", "case", "when", "then", "else", "end", "in", "set"]

    // MARK: statement

    mutating func statement() throws(SQLError) -> SQLStatement {
        var variables: [(name: String, expression: SQLExpression)] = []
        if accept(keyword: "SET") {
            repeat {
                guard case .variable(let name) = current.kind else { throw unexpected("a variable (@name)") }
                guard name.count <= 64 else { throw error("a variable name is at most 64 characters") }
                guard !variables.contains(where: { $0.name == name }) else { throw error("the variable @\(name) is set twice", kind: .invalid) }
                advance()
                try expect(symbol: "=")
                variables.append((name, try expression()))
            } while accept(symbol: ",")
            guard variables.count <= 10 else { throw error("at most 10 variables may be set", kind: .invalid) }
        }
        guard current.isKeyword("SELECT") else { throw unexpected("SELECT") }
        advance()
        let (value, items) = try selectList()
        var topicFilter: String?
        if accept(keyword: "FROM") {
            guard case .string(let filter) = current.kind else { throw unexpected("a quoted topic filter") }
            try Self.checkTopicFilter(filter, parser: self)
            topicFilter = filter
            advance()
        }
        var condition: SQLExpression?
        if accept(keyword: "WHERE") { condition = try expression() }
        guard current.kind == .end else { throw error("extraneous input '\(current.text.prefix(64))' expecting <EOF>") }
        return SQLStatement(version: version, variables: variables,
                            select: SQLSelect(value: value, items: items, source: nil, condition: condition), topicFilter: topicFilter, text: text)
    }

    /// A FROM filter is an MQTT topic filter; shared subscriptions are not rule sources.
    static func checkTopicFilter(_ filter: String, parser: Parser) throws(SQLError) {
        let levels = filter.split(separator: "/", omittingEmptySubsequences: false)
        guard !filter.isEmpty, filter.utf8.count <= 256 else { throw parser.error("the FROM topic filter must be 1 to 256 bytes", kind: .invalid) }
        guard !filter.hasPrefix("$share/") else { throw parser.error("a rule's FROM cannot be a shared subscription ($share)", kind: .invalid) }
        for (index, level) in levels.enumerated() {
            if level.contains("#"), level != "#" || index != levels.count - 1 {
                throw parser.error("'#' must be a whole level, the last one, in the FROM topic filter", kind: .invalid)
            }
            if level.contains("+"), level != "+" { throw parser.error("'+' must be a whole level in the FROM topic filter", kind: .invalid) }
        }
        guard !filter.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) else {
            throw parser.error("the FROM topic filter contains a control character", kind: .invalid)
        }
    }

    mutating func selectList() throws(SQLError) -> (value: Bool, items: [SQLSelect.Item]) {
        // `VALUE` is the keyword unless it is a field called value (`SELECT value FROM`, `SELECT value, x`).
        var value = false
        if current.isKeyword("VALUE") {
            let next = tokens[position + 1]
            if !(next.isKeyword("FROM") || next.isSymbol(",") || next.isKeyword("AS") || next.kind == .end || next.isSymbol(".")) {
                value = true
                advance()
            }
        }
        var items: [SQLSelect.Item] = []
        repeat {
            if current.isSymbol("*"), !value {
                advance()
                items.append(.all)
                continue
            }
            let expression = try expression()
            var alias: String?
            if accept(keyword: "AS") {
                switch current.kind {
                case .identifier(let name), .string(let name): alias = name
                default: throw unexpected("a name after AS")
                }
                advance()
                // A dotted alias (`AS bar.baz`) names a key with a dot in it.
                while accept(symbol: ".") {
                    guard case .identifier(let part) = current.kind else { throw unexpected("a name") }
                    alias! += "." + part
                    advance()
                }
            }
            items.append(.expression(expression, alias: alias))
        } while accept(symbol: ",")
        if value {
            guard items.count == 1 else { throw error("SELECT VALUE selects exactly one item", kind: .invalid) }
        }
        return (value, items)
    }

    // MARK: expressions

    mutating func expression() throws(SQLError) -> SQLExpression {
        try nested { (parser: inout Parser) throws(SQLError) in try parser.or() }
    }

    mutating func or() throws(SQLError) -> SQLExpression {
        var left = try and()
        while accept(keyword: "OR") { left = .binary(.or, left, try and()) }
        return left
    }

    mutating func and() throws(SQLError) -> SQLExpression {
        var left = try not()
        while accept(keyword: "AND") { left = .binary(.and, left, try not()) }
        return left
    }

    mutating func not() throws(SQLError) -> SQLExpression {
        if accept(keyword: "NOT") { return .not(try nested { (parser: inout Parser) throws(SQLError) in try parser.not() }) }
        return try comparison()
    }

    mutating func comparison() throws(SQLError) -> SQLExpression {
        let left = try additive()
        let operators: [(String, SQLBinaryOperator)] = [("=", .equal), ("<>", .notEqual), ("<=", .lessOrEqual), (">=", .greaterOrEqual),
                                                          ("<", .less), (">", .greater)]
        for (symbol, op) in operators where accept(symbol: symbol) { return .binary(op, left, try additive()) }
        if accept(keyword: "IN") { return .binary(.in, left, try additive()) }
        return left
    }

    mutating func additive() throws(SQLError) -> SQLExpression {
        var left = try multiplicative()
        while true {
            if accept(symbol: "+") { left = .binary(.add, left, try multiplicative()) }
            else if accept(symbol: "-") { left = .binary(.subtract, left, try multiplicative()) }
            else { return left }
        }
    }

    mutating func multiplicative() throws(SQLError) -> SQLExpression {
        var left = try unary()
        while true {
            if accept(symbol: "*") { left = .binary(.multiply, left, try unary()) }
            else if accept(symbol: "/") { left = .binary(.divide, left, try unary()) }
            else if accept(symbol: "%") { left = .binary(.modulo, left, try unary()) }
            else { return left }
        }
    }

    mutating func unary() throws(SQLError) -> SQLExpression {
        if accept(symbol: "-") {
            // A negative number literal stays a literal.
            if case .number(let digits) = current.kind {
                let literal = try number(digits, negative: true)
                advance()
                return try postfix(.literal(literal))
            }
            return .negate(try nested { (parser: inout Parser) throws(SQLError) in try parser.unary() })
        }
        return try postfix(try primary())
    }

    mutating func postfix(_ base: SQLExpression) throws(SQLError) -> SQLExpression {
        var result = base
        while true {
            if accept(symbol: ".") {
                switch current.kind {
                case .identifier(let name):
                    result = .member(result, name)
                    advance()
                case .number(let digits) where digits.allSatisfy(\.isNumber):
                    result = .member(result, digits)
                    advance()
                default: throw unexpected("a field name")
                }
            } else if accept(symbol: "[") {
                let index = try expression()
                try expect(symbol: "]")
                result = .index(result, index)
            } else {
                return result
            }
        }
    }

    func number(_ digits: String, negative: Bool) throws(SQLError) -> SQLValue {
        guard let value = SQLJSON.number((negative ? "-" : "") + digits, version: version)
                ?? SQLJSON.number((negative ? "-" : "") + "0" + digits, version: version) else {
            throw error("'\(digits)' is not a number")
        }
        return value
    }

    mutating func primary() throws(SQLError) -> SQLExpression {
        let token = current
        switch token.kind {
        case .number(let digits):
            advance()
            return .literal(try number(digits, negative: false))
        case .string(let value):
            advance()
            return .literal(.string(value))
        case .variable(let name):
            advance()
            return .variable(name)
        case .symbol("("):
            advance()
            if current.isKeyword("SELECT") {
                let query = try subquery()
                try expect(symbol: ")")
                return .query(query)
            }
            let inner = try expression()
            try expect(symbol: ")")
            return inner
        case .symbol("*"):
            advance()
            return .wholePayload
        case .symbol("{"):
            guard version == .v2016 else { throw error("object literals need SQL version 2016-03-23", kind: .invalid) }
            advance()
            return try objectLiteral()
        case .symbol("["):
            guard version == .v2016 else { throw error("array literals need SQL version 2016-03-23", kind: .invalid) }
            advance()
            var elements: [SQLExpression] = []
            if !accept(symbol: "]") {
                repeat { elements.append(try expression()) } while accept(symbol: ",")
                try expect(symbol: "]")
            }
            return .array(elements)
        case .identifier(let name):
            let lower = name.lowercased()
            switch lower {
            case "true": advance(); return .literal(.bool(true))
            case "false": advance(); return .literal(.bool(false))
            case "null": advance(); return .literal(.null)
            case "case": advance(); return try caseExpression()
            default: break
            }
            if tokens[position + 1].isSymbol("(") {
                advance()
                advance()
                return try call(name, at: token)
            }
            guard !Self.reserved.contains(lower) else { throw unexpected("an expression") }
            advance()
            return .field(name)
        default:
            throw unexpected("an expression")
        }
    }

    mutating func objectLiteral() throws(SQLError) -> SQLExpression {
        var members: [(String, SQLExpression)] = []
        if accept(symbol: "}") { return .object(members) }
        repeat {
            let key: String
            switch current.kind {
            case .string(let name), .identifier(let name): key = name
            default: throw unexpected("a key")
            }
            advance()
            try expect(symbol: ":")
            members.append((key, try expression()))
        } while accept(symbol: ",")
        try expect(symbol: "}")
        return .object(members)
    }

    mutating func caseExpression() throws(SQLError) -> SQLExpression {
        let subject: SQLExpression? = current.isKeyword("WHEN") ? nil : try expression()
        var branches: [(SQLExpression, SQLExpression)] = []
        while accept(keyword: "WHEN") {
            let test = try expression()
            try expect(keyword: "THEN")
            branches.append((test, try expression()))
        }
        guard !branches.isEmpty else { throw unexpected("WHEN") }
        let otherwise: SQLExpression? = accept(keyword: "ELSE") ? try expression() : nil
        try expect(keyword: "END")
        return .caseWhen(subject: subject, branches: branches, otherwise: otherwise)
    }

    mutating func subquery() throws(SQLError) -> SQLSelect {
        guard version == .v2016 else { throw error("nested queries need SQL version 2016-03-23", kind: .invalid) }
        return try nested { (parser: inout Parser) throws(SQLError) in
            try parser.expect(keyword: "SELECT")
            let (value, items) = try parser.selectList()
            try parser.expect(keyword: "FROM")
            let source = try parser.additive()
            let condition: SQLExpression? = parser.accept(keyword: "WHERE") ? try parser.expression() : nil
            return SQLSelect(value: value, items: items, source: source, condition: condition)
        }
    }

    mutating func call(_ name: String, at token: Token) throws(SQLError) -> SQLExpression {
        if name.lowercased() == "cast" {
            let value = try expression()
            try expect(keyword: "AS")
            guard case .identifier(let typeName) = current.kind else { throw unexpected("a type") }
            guard let type = SQLCastType.named(typeName, version: version) else {
                throw error("cast to \(typeName.prefix(64)) is not supported in SQL version \(version.rawValue)", kind: .invalid)
            }
            advance()
            try expect(symbol: ")")
            return .cast(value, type)
        }
        guard let function = SQLFunction.named(name) else {
            throw error("Unknown function: \(name.prefix(64))", at: token, kind: .invalid)
        }
        if let service = function.externalService {
            throw error("\(function.rawValue)() calls \(service), which this gateway has no local equivalent for", at: token, kind: .invalid)
        }
        if function.needsVersion2016, version != .v2016 {
            throw error("\(function.rawValue)() needs SQL version 2016-03-23", at: token, kind: .invalid)
        }
        var arguments: [SQLExpression] = []
        if !accept(symbol: ")") {
            repeat { arguments.append(try expression()) } while accept(symbol: ",")
            try expect(symbol: ")")
        }
        guard function.arity.contains(arguments.count) else {
            let wanted = function.arity.lowerBound == function.arity.upperBound ? "\(function.arity.lowerBound)"
                : "\(function.arity.lowerBound) to \(function.arity.upperBound)"
            throw error("\(function.rawValue)() takes \(wanted) arguments, not \(arguments.count)", at: token, kind: .invalid)
        }
        if function == .get_registry_data, case .literal(let api) = arguments[0],
           !(SQLConvert.string(api).map(SQLFunction.registryDataAPIs.contains) ?? false) {
            throw error("get_registry_data() calls DescribeThing or ListThingGroupsForThing", at: token, kind: .invalid)
        }
        return .call(function, arguments)
    }
}
