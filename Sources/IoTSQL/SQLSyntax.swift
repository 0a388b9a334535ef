/// The parsed form of a rule's SQL: made once when the rule is created, evaluated per message without
/// parsing again.
public struct SQLStatement: Sendable {
    public let version: SQLVersion
    /// `SET @name = expression, ...`, in order (a later one may use an earlier one).
    public let variables: [(name: String, expression: SQLExpression)]
    public let select: SQLSelect
    /// The FROM topic filter (nil: the rule takes Basic Ingest messages only).
    public let topicFilter: String?
    /// The text as written.
    public let text: String
}

/// A SELECT: the top-level one, or a nested query over a payload field.
public struct SQLSelect: Sendable {
    public enum Item: Sendable {
        /// `*`: every member of the row (the whole payload at the top).
        case all
        case expression(SQLExpression, alias: String?)
    }
    /// `SELECT VALUE`: the one item's value itself, not an object around it.
    public var value: Bool
    public var items: [Item]
    /// A nested query's source (an expression over the enclosing row); nil at the top.
    public var source: SQLExpression?
    public var condition: SQLExpression?
}

public enum SQLBinaryOperator: String, Sendable {
    case and = "AND", or = "OR"
    case equal = "=", notEqual = "<>", less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">="
    case add = "+", subtract = "-", multiply = "*", divide = "/", modulo = "%"
    case `in` = "IN"
}

public indirect enum SQLExpression: Sendable {
    case literal(SQLValue)
    /// A name at the start of a path: a member of the current row.
    case field(String)
    /// `*` as a value (the whole payload, as bytes when it is not JSON).
    case wholePayload
    case variable(String)
    case member(SQLExpression, String)
    /// `a[n]` (an extension: AWS documents `get(a, n)`).
    case index(SQLExpression, SQLExpression)
    case negate(SQLExpression)
    case not(SQLExpression)
    case binary(SQLBinaryOperator, SQLExpression, SQLExpression)
    case call(SQLFunction, [SQLExpression])
    case cast(SQLExpression, SQLCastType)
    /// `CASE v WHEN t THEN r ... [ELSE e] END`, or the searched form when `subject` is nil.
    case caseWhen(subject: SQLExpression?, branches: [(SQLExpression, SQLExpression)], otherwise: SQLExpression?)
    case object([(String, SQLExpression)])
    case array([SQLExpression])
    case query(SQLSelect)
}

/// `cast(x AS type)`'s types, by AWS's names.
public enum SQLCastType: String, Sendable {
    case string, int, decimal, boolean, double

    static func named(_ name: String, version: SQLVersion) -> SQLCastType? {
        switch name.lowercased() {
        case "string", "nvarchar", "text", "ntext", "varchar": .string
        case "int", "integer": .int
        case "double": .double
        case "decimal": version == .v2016 ? .decimal : nil
        case "bool", "boolean": version == .v2016 ? .boolean : nil
        default: nil
        }
    }
}

/// Why SQL text is refused: a syntax error (AWS's SqlParseException) at a position, or a statement that
/// parses but cannot run here (InvalidRequestException: an unknown function, one that needs another AWS
/// service, a feature of the other SQL version).
public struct SQLError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable { case syntax, invalid }
    public let kind: Kind
    public let message: String
    /// 1-based line and column of the offending text.
    public let line: Int
    public let column: Int

    public var description: String { kind == .syntax ? "Line \(line):\(column) \(message)" : message }
}
