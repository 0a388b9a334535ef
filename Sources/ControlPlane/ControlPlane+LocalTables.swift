import Foundation
import HTTPTypes
import Hummingbird
import IoTSQL
import Rules

/// The rules' local tables through DynamoDB's own API (JSON 1.0: `POST /` with `X-Amz-Target:
/// DynamoDB_20120810.<Operation>`, signed for `dynamodb`), so boto3's and the CLI's `dynamodb` clients read
/// what the dynamoDB and dynamoDBv2 actions wrote, and make the tables dynamoDBv2 needs: CreateTable,
/// DescribeTable, ListTables, DeleteTable, PutItem, GetItem, DeleteItem and Scan. Admin keys only.
extension ControlPlane {
    static func dynamoDB(_ request: Request, _ context: ControlPlaneContext, configuration: Configuration) async throws -> Response {
        guard context.isAdmin else {
            throw AWSErrorResponse(status: 400, type: "AccessDeniedException", message: "Only the admin key may call DynamoDB operations.")
        }
        guard let tables = configuration.ruleTables else {
            throw AWSErrorResponse(status: 400, type: "UnknownOperationException", message: "This gateway serves no local tables.")
        }
        guard let target = request.headers[targetHeader], target.hasPrefix("DynamoDB_20120810.") else {
            throw AWSErrorResponse(status: 400, type: "UnknownOperationException", message: "X-Amz-Target must name a DynamoDB_20120810 operation.")
        }
        let body = try await jsonBody(request, context)
        let arnPrefix = "arn:aws:dynamodb:\(configuration.region):\(configuration.accountID):table/"
        func fail(_ error: TableError) -> AWSErrorResponse { AWSErrorResponse(status: 400, type: error.awsErrorType, message: error.message) }
        func tableName() throws -> String {
            guard let name = body["TableName"] as? String, LocalTables.isValidTableName(name) else {
                throw fail(.validation("TableName must be 3 to 255 characters of a-z, A-Z, 0-9, _ . -"))
            }
            return name
        }
        func schema(_ name: String) throws -> TableSchema {
            guard let schema = try tables.tableSchema(name) else { throw fail(.resourceNotFound("Requested resource not found: Table: \(name) not found")) }
            return schema
        }
        func describe(_ schema: TableSchema, status: String = "ACTIVE") throws -> [String: Any] {
            let keys = [schema.hashKey, schema.rangeKey].compactMap { $0 }
            return ["TableName": schema.name, "TableArn": arnPrefix + schema.name, "TableStatus": status, "CreationDateTime": schema.createdAt,
                    "KeySchema": keys.enumerated().map { ["AttributeName": $1.name, "KeyType": $0 == 0 ? "HASH" : "RANGE"] },
                    "AttributeDefinitions": keys.map { ["AttributeName": $0.name, "AttributeType": $0.type] },
                    "ItemCount": try tables.itemCount(table: schema.name), "TableSizeBytes": 0,
                    "BillingModeSummary": ["BillingMode": "PAY_PER_REQUEST"],
                    "ProvisionedThroughput": ["ReadCapacityUnits": 0, "WriteCapacityUnits": 0, "NumberOfDecreasesToday": 0]]
        }
        /// An AttributeValue map from the request, as the engine's value (checked: each value one of DynamoDB's types).
        func item(_ key: String) throws -> SQLObject {
            guard let map = body[key] as? [String: Any], !map.isEmpty,
                  let data = try? JSONSerialization.data(withJSONObject: map), case .object(let object) = SQLJSON.parse(Array(data), version: .v2016) else {
                throw fail(.validation("\(key) must be a map of attribute names to AttributeValues."))
            }
            let types: Set<String> = ["S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"]
            for (name, value) in object.pairs {
                guard case .object(let attribute) = value, attribute.count == 1, types.contains(attribute.keys[0]) else {
                    throw fail(.validation("The attribute \(name.prefix(255)) is not an AttributeValue (one of S, N, B, BOOL, NULL, M, L, SS, NS, BS)."))
                }
            }
            return object
        }
        func key(_ object: SQLObject, _ schema: TableSchema, exact: Bool) throws -> ItemKey {
            if exact, object.count != (schema.rangeKey == nil ? 1 : 2) {
                throw fail(.validation("The provided key element does not match the schema"))
            }
            switch LocalTables.key(of: object, schema: schema) {
            case .success(let key): return key
            case .failure(let error): throw fail(error)
            }
        }
        func parsed(_ text: String) -> Any { (try? JSONSerialization.jsonObject(with: Data(text.utf8))) ?? [:] }

        var out: [String: Any] = [:]
        switch target.dropFirst("DynamoDB_20120810.".count) {
        case "CreateTable":
            let name = try tableName()
            guard let keySchema = body["KeySchema"] as? [[String: Any]], (1...2).contains(keySchema.count),
                  let definitions = body["AttributeDefinitions"] as? [[String: Any]] else {
                throw fail(.validation("KeySchema (a HASH key and an optional RANGE key) and AttributeDefinitions are required."))
            }
            func key(_ type: String) throws -> TableSchema.Key? {
                guard let entry = keySchema.first(where: { $0["KeyType"] as? String == type }) else { return nil }
                guard let attribute = entry["AttributeName"] as? String, (1...255).contains(attribute.utf8.count),
                      let definition = definitions.first(where: { $0["AttributeName"] as? String == attribute }),
                      let kind = definition["AttributeType"] as? String, ["S", "N", "B"].contains(kind) else {
                    throw fail(.validation("Every key attribute needs an AttributeDefinition of type S, N or B."))
                }
                return TableSchema.Key(name: attribute, type: kind)
            }
            guard let hash = try key("HASH") else { throw fail(.validation("KeySchema needs a HASH key.")) }
            let range = try key("RANGE")
            guard range == nil || keySchema.count == 2, range?.name != hash.name else { throw fail(.validation("KeySchema is not valid.")) }
            guard try tables.tableNames().count < LocalTables.maximumTables else {
                throw fail(.limitExceeded("At most \(LocalTables.maximumTables) tables per account and region."))
            }
            let made = TableSchema(name: name, hashKey: hash, rangeKey: range, createdAt: Date().timeIntervalSince1970)
            guard try tables.createTable(made) else { throw fail(.resourceInUse("Table already exists: \(name)")) }
            out["TableDescription"] = try describe(made)
        case "DescribeTable":
            out["Table"] = try describe(try schema(try tableName()))
        case "ListTables":
            let limit = try optionalInt(body, "Limit") ?? 100
            guard (1...100).contains(limit) else { throw fail(.validation("Limit must be between 1 and 100.")) }
            let start = try optionalString(body, "ExclusiveStartTableName")
            let names = try tables.tableNames().filter { start == nil || $0 > start! }
            out["TableNames"] = Array(names.prefix(limit))
            if names.count > limit { out["LastEvaluatedTableName"] = names[limit - 1] }
        case "DeleteTable":
            let name = try tableName()
            let described = try describe(try schema(name), status: "DELETING")
            _ = try tables.deleteTable(name)
            out["TableDescription"] = described
        case "PutItem":
            let name = try tableName()
            let table = try schema(name)
            let object = try item("Item")
            let text = SQLJSON.text(.object(object))
            if let problem = LocalTables.problem(storing: text) { throw fail(problem) }
            try tables.putItem(table: name, key: try key(object, table, exact: false), item: text)
        case "GetItem":
            let name = try tableName()
            if let found = try tables.item(table: name, key: try key(try item("Key"), try schema(name), exact: true)) { out["Item"] = parsed(found) }
        case "DeleteItem":
            let name = try tableName()
            try tables.deleteItem(table: name, key: try key(try item("Key"), try schema(name), exact: true))
        case "Scan":
            let name = try tableName()
            let table = try schema(name)
            let limit = try optionalInt(body, "Limit") ?? 1000
            guard (1...1000).contains(limit) else { throw fail(.validation("Limit must be between 1 and 1000 here.")) }
            let after = body["ExclusiveStartKey"] == nil ? nil : try key(try item("ExclusiveStartKey"), table, exact: true)
            var rows = try tables.scan(table: name, after: after, limit: limit)
            // A page holds at most 1 MB of items, as DynamoDB's (at least one item).
            var bytes = 0
            var cut = false
            if let end = rows.indices.first(where: { index in
                bytes += rows[index].item.utf8.count
                return index > 0 && bytes > 1 << 20
            }) {
                rows.removeSubrange(end...)
                cut = true
            }
            out["Items"] = rows.map { parsed($0.item) }
            out["Count"] = rows.count
            out["ScannedCount"] = rows.count
            if rows.count == limit || cut, let last = rows.last {
                out["LastEvaluatedKey"] = parsed(SQLJSON.text(.object(LocalTables.keyMap(last.key, schema: table))))
            }
        default:
            throw AWSErrorResponse(status: 400, type: "UnknownOperationException", message: "\(target.prefix(128)) is not supported here.")
        }
        var response = try json(out)
        response.headers[.contentType] = "application/x-amz-json-1.0"
        return response
    }
}
