import Foundation
import IoTSQL

/// The gateway's own DynamoDB-shaped tables, where the dynamoDB and dynamoDBv2 actions write: a table has
/// a key schema (a hash key and an optional range key, each S, N or B), and items are DynamoDB
/// AttributeValue maps (`{"id": {"S": "a"}, "payload": {"M": {...}}}`), so DynamoDB's own API (GetItem,
/// Scan, ...) serves them as they are. Pure values and rules; the store is at the edge.
public struct TableSchema: Sendable, Hashable, Codable {
    public struct Key: Sendable, Hashable, Codable {
        public var name: String
        /// S, N or B.
        public var type: String

        public init(name: String, type: String) {
            self.name = name
            self.type = type
        }
    }

    public var name: String
    public var hashKey: Key
    public var rangeKey: Key?
    public var createdAt: Double

    public init(name: String, hashKey: Key, rangeKey: Key?, createdAt: Double) {
        self.name = name
        self.hashKey = hashKey
        self.rangeKey = rangeKey
        self.createdAt = createdAt
    }
}

/// An item's primary key as stored: the hash and range values in a canonical text (numbers that are
/// equal have one text), "" for a table without a range key.
public struct ItemKey: Sendable, Hashable {
    public var hash: String
    public var range: String

    public init(hash: String, range: String) {
        self.hash = hash
        self.range = range
    }
}

/// Where local tables live (the SQLite store now; PostgreSQL later), for one (account, region).
public protocol RuleTableStore: Sendable {
    func tableSchema(_ name: String) throws -> TableSchema?
    /// False when a table of that name exists already.
    func createTable(_ schema: TableSchema) throws -> Bool
    /// The table removed with its items; nil when there was none.
    func deleteTable(_ name: String) throws -> TableSchema?
    func tableNames() throws -> [String]
    func putItem(table: String, key: ItemKey, item: String) throws
    func item(table: String, key: ItemKey) throws -> String?
    func deleteItem(table: String, key: ItemKey) throws
    /// Items in key order after `after`, at most `limit`.
    func scan(table: String, after: ItemKey?, limit: Int) throws -> [(key: ItemKey, item: String)]
    func itemCount(table: String) throws -> Int
}

public enum LocalTables {
    /// DynamoDB's table name rule: 3 to 255 of `[a-zA-Z0-9_.-]`.
    public static func isValidTableName(_ name: String) -> Bool {
        (3...255).contains(name.utf8.count) && name.utf8.allSatisfy {
            (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) || $0 == 0x5F || $0 == 0x2E || $0 == 0x2D
        }
    }

    /// At most this many tables per namespace (DynamoDB's default quota is 2,500 per region).
    public static let maximumTables = 256
    /// DynamoDB's item size limit.
    public static let maximumItemBytes = 400 * 1024

    /// A value of the SQL's result as a DynamoDB AttributeValue; nil for Undefined (the attribute is left out).
    public static func attributeValue(_ value: SQLValue) -> SQLValue? {
        switch value {
        case .undefined: return nil
        case .null: return .object(SQLObject([("NULL", .bool(true))]))
        case .bool(let b): return .object(SQLObject([("BOOL", .bool(b))]))
        case .int, .decimal: return .object(SQLObject([("N", .string(SQLJSON.text(value)))]))
        case .string(let s): return .object(SQLObject([("S", .string(s))]))
        case .bytes(let b): return .object(SQLObject([("B", .string(Data(b).base64EncodedString()))]))
        case .array(let items): return .object(SQLObject([("L", .array(items.compactMap(attributeValue)))]))
        case .object(let object):
            return .object(SQLObject([("M", .object(SQLObject(object.pairs.compactMap { pair in attributeValue(pair.value).map { (pair.key, $0) } })))]))
        }
    }

    /// An item's key by the table's schema, or DynamoDB's ValidationException message.
    public static func key(of item: SQLObject, schema: TableSchema) -> Result<ItemKey, TableError> {
        func part(_ key: TableSchema.Key) -> Result<String, TableError> {
            guard case .object(let attribute) = item[key.name], attribute.count == 1, let type = attribute.keys.first else {
                return .failure(.validation("One of the required keys was not given a value"))
            }
            guard type == key.type, case .string(let text) = attribute[type], !text.isEmpty else {
                return .failure(.validation("One or more parameter values were invalid: Type mismatch for key \(key.name) expected: \(key.type)"))
            }
            guard type == "N" else { return .success(text) }
            return canonicalNumber(text).map { .success($0) } ?? .failure(.validation("The number \(text.prefix(64)) for key \(key.name) is not a number"))
        }
        let hash: String
        switch part(schema.hashKey) {
        case .success(let text): hash = text
        case .failure(let error): return .failure(error)
        }
        guard let rangeKey = schema.rangeKey else { return .success(ItemKey(hash: hash, range: "")) }
        return part(rangeKey).map { ItemKey(hash: hash, range: $0) }
    }

    /// A number's one text, so that equal numbers are one key: 1, 1.0 and 1e0 alike.
    public static func canonicalNumber(_ text: String) -> String? {
        switch SQLJSON.parse(Array(text.utf8), version: .v2016) {
        case .int(let i): return "\(i)"
        case .decimal(let d):
            // Integral decimals within Int's range are written as Ints.
            if d.isFinite, abs(d) < Decimal(Int.max) {
                let i = NSDecimalNumber(decimal: d).intValue
                if Decimal(i) == d { return "\(i)" }
            }
            return "\(d)"
        default: return nil
        }
    }

    /// Why an item's text cannot be stored: too large, or nested too deeply to be read back (an
    /// AttributeValue map nests twice as deep as the payload it came from).
    public static func problem(storing text: String) -> TableError? {
        guard text.utf8.count <= maximumItemBytes else { return .validation("Item size has exceeded the maximum allowed size") }
        guard SQLJSON.parse(Array(text.utf8), version: .v2016) != nil else {
            return .validation("The item is nested too deeply to be stored (at most \(SQLJSON.maximumDepth) levels of AttributeValues).")
        }
        return nil
    }

    /// A stored key as DynamoDB's Key map (Scan's LastEvaluatedKey), from the schema's names and types.
    public static func keyMap(_ key: ItemKey, schema: TableSchema) -> SQLObject {
        var map = SQLObject([(schema.hashKey.name, .object(SQLObject([(schema.hashKey.type, .string(key.hash))])))])
        if let range = schema.rangeKey { map[range.name] = .object(SQLObject([(range.type, .string(key.range))])) }
        return map
    }

    /// The key attributes alone (Scan's LastEvaluatedKey, GetItem's Key).
    public static func keyAttributes(of item: SQLObject, schema: TableSchema) -> SQLObject {
        SQLObject([schema.hashKey, schema.rangeKey].compactMap { $0 }.map { ($0.name, item[$0.name]) })
    }

    /// The dynamoDB (v1) action: the item its request names, with the schema a missing table is made with.
    public static func v1Item(_ fields: [(name: String, value: SQLValue)]) -> (schema: TableSchema.Key, range: TableSchema.Key?, item: SQLObject) {
        func keyType(_ value: SQLValue) -> String { if case .string = value { "S" } else { "N" } }
        var item = SQLObject()
        for field in fields {
            if let attribute = attributeValue(field.value) { item[field.name] = attribute }
        }
        let hash = TableSchema.Key(name: fields[0].name, type: keyType(fields[0].value))
        let range = fields.count > 2 ? TableSchema.Key(name: fields[1].name, type: keyType(fields[1].value)) : nil
        return (hash, range, item)
    }
}

/// Why a table operation was refused, as DynamoDB names it.
public enum TableError: Error, Sendable, Hashable {
    case validation(String)
    case resourceNotFound(String)
    case resourceInUse(String)
    case limitExceeded(String)

    public var awsErrorType: String {
        switch self {
        case .validation: "ValidationException"
        case .resourceNotFound: "ResourceNotFoundException"
        case .resourceInUse: "ResourceInUseException"
        case .limitExceeded: "LimitExceededException"
        }
    }

    public var message: String {
        switch self {
        case .validation(let m), .resourceNotFound(let m), .resourceInUse(let m), .limitExceeded(let m): m
        }
    }
}

extension RuleTableStore {
    /// Writes what a dynamoDB or dynamoDBv2 action asks for; DynamoDB's error, if it cannot.
    /// The v1 action makes its table (with the action's keys) when there is none; v2 needs a table made
    /// with CreateTable, since only the table knows which attributes are its key.
    public func write(_ request: ActionRequest, now: Double) throws -> TableError? {
        switch request {
        case .dynamoDB(let table, let operation, let fields):
            guard LocalTables.isValidTableName(table) else { return .validation("The table name \(table.prefix(64)) is not valid: 3 to 255 of a-z, A-Z, 0-9, _ . -") }
            let (hash, range, item) = LocalTables.v1Item(fields)
            var schema = try tableSchema(table)
            if schema == nil {
                guard try tableNames().count < LocalTables.maximumTables else {
                    return .limitExceeded("At most \(LocalTables.maximumTables) tables per account and region.")
                }
                let made = TableSchema(name: table, hashKey: hash, rangeKey: range, createdAt: now)
                _ = try createTable(made)
                schema = try tableSchema(table)
            }
            guard let schema else { return .resourceNotFound("Requested resource not found: Table: \(table) not found") }
            guard schema.hashKey.name == hash.name, schema.rangeKey?.name == range?.name else {
                return .validation("The provided key element does not match the schema")
            }
            let key: ItemKey
            switch LocalTables.key(of: item, schema: schema) {
            case .success(let found): key = found
            case .failure(let error): return error
            }
            switch operation {
            case "DELETE":
                try deleteItem(table: table, key: key)
            case "UPDATE":
                // UpdateItem: the payload column replaced, other attributes kept (made if absent).
                var merged = try self.item(table: table, key: key).flatMap { SQLJSON.parse(Array($0.utf8), version: .v2016) }
                    .flatMap { if case .object(let o) = $0 { o } else { nil } } ?? SQLObject()
                for (name, value) in item.pairs { merged[name] = value }
                return try put(table: table, key: key, item: merged)
            default:
                return try put(table: table, key: key, item: item)
            }
            return nil
        case .dynamoDBv2(let table, let object):
            guard let schema = try tableSchema(table) else {
                return .resourceNotFound("Requested resource not found: Table: \(table.prefix(255)) not found (make it with DynamoDB's CreateTable on this gateway's API)")
            }
            var item = SQLObject()
            for (name, value) in object.pairs {
                if let attribute = LocalTables.attributeValue(value) { item[name] = attribute }
            }
            switch LocalTables.key(of: item, schema: schema) {
            case .success(let key): return try put(table: table, key: key, item: item)
            case .failure(let error): return error
            }
        default:
            return nil
        }
    }

    private func put(table: String, key: ItemKey, item: SQLObject) throws -> TableError? {
        let text = SQLJSON.text(.object(item))
        if let problem = LocalTables.problem(storing: text) { return problem }
        try putItem(table: table, key: key, item: text)
        return nil
    }
}
