import Foundation

/// A fleet-indexing query (AWS's Lucene-like syntax): `field:value` terms with `*` and `?` wildcards,
/// quoted phrases, ranges `[a TO b]` and `{a TO b}` (`*` for an open end), comparisons `field:>5`,
/// `AND`, `OR`, `NOT` and `-`, parentheses, field grouping `thingGroupNames:(a OR b)`, a bare term that
/// searches every field, and `\` escapes. The default operator is AND; at most twelve terms and one
/// leading wildcard; field names are case sensitive, values are not. Parsed once, evaluated per thing.
public indirect enum FleetQuery: Sendable, Hashable {
    case all([FleetQuery])
    case any([FleetQuery])
    case not(FleetQuery)
    case term(field: String?, FleetMatcher)

    public static let maximumTerms = 12

    /// The parsed query, or InvalidQueryException naming what is wrong.
    public static func parse(_ text: String) throws(RegistryError) -> FleetQuery {
        guard !text.trimmingCharacters(in: .whitespaces).isEmpty, text.utf8.count <= 4096 else {
            throw RegistryError(.invalidQuery, "queryString must be 1 to 4096 characters.")
        }
        var parser = FleetQueryParser(text)
        let query = try parser.parseQuery()
        guard parser.atEnd else { throw RegistryError(.invalidQuery, "Syntax error in query '\(text.prefix(200))' at position \(parser.position).") }
        guard parser.terms <= maximumTerms else {
            throw RegistryError(.invalidQuery, "A query has at most \(maximumTerms) terms; '\(text.prefix(200))' has \(parser.terms).")
        }
        guard parser.leadingWildcards <= 1 else {
            throw RegistryError(.invalidQuery, "At most one term of a query may start with a wildcard.")
        }
        return query
    }

    /// The fields the query names ("" for a term without one).
    public var fields: Set<String> {
        switch self {
        case .all(let parts), .any(let parts): parts.reduce(into: Set<String>()) { $0.formUnion($1.fields) }
        case .not(let part): part.fields
        case .term(let field, _): [field ?? ""]
        }
    }

    public func matches(_ document: FleetDocument) -> Bool {
        switch self {
        case .all(let parts): parts.allSatisfy { $0.matches(document) }
        case .any(let parts): parts.contains { $0.matches(document) }
        case .not(let part): !part.matches(document)
        case .term(let field, let matcher):
            if let field { document.values(field).contains { matcher.matches($0) } }
            else { document.allValues.contains { matcher.matches($0) } }
        }
    }
}

/// One searchable value of a document.
public enum FleetValue: Sendable, Hashable {
    case string(String)
    case number(Double)
    case bool(Bool)

    public var textValue: String {
        switch self {
        case .string(let text): text
        case .number(let number): number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number)
        case .bool(let flag): flag ? "true" : "false"
        }
    }

    public var numericValue: Double? {
        switch self {
        case .number(let number): number
        case .string(let text): Double(text)
        case .bool: nil
        }
    }
}

/// What a term asks of a value.
public enum FleetMatcher: Sendable, Hashable {
    /// Case-insensitive; `*` any run, `?` one character; `*` alone: the field exists.
    case pattern(String)
    /// A quoted phrase: the whole value, case-insensitive, wildcards literal.
    case exact(String)
    case range(lower: String?, lowerInclusive: Bool, upper: String?, upperInclusive: Bool)

    func matches(_ value: FleetValue) -> Bool {
        switch self {
        case .pattern(let pattern):
            if pattern == "*" { return true }
            return FleetMatcher.wildcard(Array(pattern.lowercased()), Array(value.textValue.lowercased()))
        case .exact(let text):
            return value.textValue.lowercased() == text.lowercased()
        case .range(let lower, let lowerInclusive, let upper, let upperInclusive):
            return Self.compare(value, lower, inclusive: lowerInclusive, below: false) && Self.compare(value, upper, inclusive: upperInclusive, below: true)
        }
    }

    /// Numbers compare as numbers when both sides are numbers, else as lower-case text.
    static func compare(_ value: FleetValue, _ bound: String?, inclusive: Bool, below: Bool) -> Bool {
        guard let bound else { return true }
        let order: Int
        if let number = value.numericValue, let limit = Double(bound) {
            order = number < limit ? -1 : number > limit ? 1 : 0
        } else {
            let text = value.textValue.lowercased(), limit = bound.lowercased()
            order = text < limit ? -1 : text > limit ? 1 : 0
        }
        return below ? (order < 0 || (inclusive && order == 0)) : (order > 0 || (inclusive && order == 0))
    }

    static func wildcard(_ pattern: [Character], _ text: [Character]) -> Bool {
        var p = 0, t = 0, star = -1, mark = 0
        while t < text.count {
            if p < pattern.count && (pattern[p] == "?" || pattern[p] == text[t]) {
                p += 1
                t += 1
            } else if p < pattern.count && pattern[p] == "*" {
                star = p
                mark = t
                p += 1
            } else if star >= 0 {
                p = star + 1
                mark += 1
                t = mark
            } else {
                return false
            }
        }
        while p < pattern.count && pattern[p] == "*" { p += 1 }
        return p == pattern.count
    }
}

/// A thing as the index sees it: field paths (`thingName`, `attributes.color`, `shadow.reported.temp`,
/// `connectivity.connected`, ...) to their values (an array gives one value per element).
public struct FleetDocument: Sendable, Hashable {
    public var fields: [String: [FleetValue]] = [:]

    public init() {}

    public func values(_ field: String) -> [FleetValue] { fields[field] ?? [] }

    public var allValues: [FleetValue] { fields.values.flatMap { $0 } }

    public mutating func add(_ field: String, _ value: FleetValue) { fields[field, default: []].append(value) }
}

/// Recursive descent over the query text.
struct FleetQueryParser {
    private let characters: [Character]
    private(set) var position = 0
    private(set) var terms = 0
    private(set) var leadingWildcards = 0
    /// Parentheses and negations open at once; beyond `maximumDepth` the query is refused (the parser
    /// and the matcher recurse per level).
    private var depth = 0
    static let maximumDepth = 32

    init(_ text: String) { characters = Array(text) }

    var atEnd: Bool {
        var index = position
        while index < characters.count, characters[index].isWhitespace { index += 1 }
        return index >= characters.count
    }

    mutating func parseQuery(field: String? = nil) throws(RegistryError) -> FleetQuery {
        var alternatives = [try parseAnd(field: field)]
        while keyword("OR") { alternatives.append(try parseAnd(field: field)) }
        return alternatives.count == 1 ? alternatives[0] : .any(alternatives)
    }

    private mutating func parseAnd(field: String?) throws(RegistryError) -> FleetQuery {
        var parts = [try parseUnary(field: field)]
        while true {
            skipSpace()
            guard position < characters.count, characters[position] != ")", !peekKeyword("OR") else { break }
            _ = keyword("AND")
            parts.append(try parseUnary(field: field))
        }
        return parts.count == 1 ? parts[0] : .all(parts)
    }

    private mutating func parseUnary(field: String?) throws(RegistryError) -> FleetQuery {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maximumDepth else { throw error("the query nests deeper than \(Self.maximumDepth) levels") }
        skipSpace()
        if keyword("NOT") { return .not(try parseUnary(field: field)) }
        if position < characters.count, characters[position] == "-" {
            position += 1
            return .not(try parseUnary(field: field))
        }
        return try parsePrimary(field: field)
    }

    private mutating func parsePrimary(field: String?) throws(RegistryError) -> FleetQuery {
        skipSpace()
        guard position < characters.count else { throw error("a term was expected") }
        if characters[position] == "(" {
            position += 1
            let inner = try parseQuery(field: field)
            try expect(")")
            return inner
        }
        // `field:` before the value, unless a field is already given by grouping.
        var name = field
        if field == nil, let colon = fieldColon() {
            name = String(characters[position..<colon])
            position = colon + 1
            skipSpace()
            if position < characters.count, characters[position] == "(" {
                position += 1
                let inner = try parseQuery(field: name)
                try expect(")")
                return inner
            }
        }
        return .term(field: name, try parseValue())
    }

    /// The index of the `:` ending a field name at the current position, if the next word is `name:`.
    private func fieldColon() -> Int? {
        var index = position
        while index < characters.count, characters[index].isLetter || characters[index].isNumber || "._-$".contains(characters[index]) {
            index += 1
        }
        return index > position && index < characters.count && characters[index] == ":" ? index : nil
    }

    private mutating func parseValue() throws(RegistryError) -> FleetMatcher {
        skipSpace()
        guard position < characters.count else { throw error("a value was expected") }
        terms += 1
        let first = characters[position]
        if first == "[" || first == "{" {
            position += 1
            let lower = try word(stopAt: " ")
            guard keyword("TO") else { throw error("a range is [low TO high]") }
            let upper = try word(stopAt: "]}")
            skipSpace()
            guard position < characters.count, characters[position] == "]" || characters[position] == "}" else { throw error("a range ends with ] or }") }
            let upperInclusive = characters[position] == "]"
            position += 1
            return .range(lower: lower == "*" ? nil : lower, lowerInclusive: first == "[", upper: upper == "*" ? nil : upper, upperInclusive: upperInclusive)
        }
        if first == ">" || first == "<" {
            position += 1
            var inclusive = false
            if position < characters.count, characters[position] == "=" {
                inclusive = true
                position += 1
            }
            let bound = try word(stopAt: "")
            return first == ">" ? .range(lower: bound, lowerInclusive: inclusive, upper: nil, upperInclusive: false)
                : .range(lower: nil, lowerInclusive: false, upper: bound, upperInclusive: inclusive)
        }
        if first == "\"" {
            position += 1
            var text = ""
            while position < characters.count, characters[position] != "\"" {
                if characters[position] == "\\", position + 1 < characters.count { position += 1 }
                text.append(characters[position])
                position += 1
            }
            try expect("\"")
            return .exact(text)
        }
        let text = try word(stopAt: "")
        if text.first == "*" || text.first == "?", text != "*" { leadingWildcards += 1 }
        return .pattern(text)
    }

    /// A run of characters up to white space, a parenthesis or one of `stopAt`; `\` escapes one.
    private mutating func word(stopAt: String) throws(RegistryError) -> String {
        skipSpace()
        var text = ""
        while position < characters.count {
            let character = characters[position]
            if character.isWhitespace || character == "(" || character == ")" || stopAt.contains(character) { break }
            if character == "\\", position + 1 < characters.count {
                position += 1
                text.append(characters[position])
            } else {
                guard !"`@#%/';,".contains(character) else { throw error("the character \(character) is not allowed") }
                text.append(character)
            }
            position += 1
        }
        guard !text.isEmpty else { throw error("a value was expected") }
        return text
    }

    private mutating func skipSpace() {
        while position < characters.count, characters[position].isWhitespace { position += 1 }
    }

    private func peekKeyword(_ word: String) -> Bool {
        var index = position
        while index < characters.count, characters[index].isWhitespace { index += 1 }
        let end = index + word.count
        guard end <= characters.count, String(characters[index..<end]) == word else { return false }
        return end == characters.count || characters[end].isWhitespace || characters[end] == "("
    }

    private mutating func keyword(_ word: String) -> Bool {
        guard peekKeyword(word) else { return false }
        skipSpace()
        position += word.count
        return true
    }

    private mutating func expect(_ character: Character) throws(RegistryError) {
        skipSpace()
        guard position < characters.count, characters[position] == character else { throw error("'\(character)' was expected") }
        position += 1
    }

    private func error(_ what: String) -> RegistryError {
        RegistryError(.invalidQuery, "Syntax error in query at position \(position): \(what).")
    }
}
