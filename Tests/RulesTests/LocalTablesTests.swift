import IoTSQL
import Rules
import Testing

@Suite("Rules: local tables")
struct LocalTablesTests {
    func object(_ json: String) -> SQLObject {
        guard case .object(let o) = SQLJSON.parse(Array(json.utf8), version: .v2016) else { Issue.record("not an object: \(json)"); return SQLObject() }
        return o
    }

    @Test func sqlValuesBecomeDynamoDBAttributeValues() {
        let value = SQLJSON.parse(Array(#"{"s": "x", "n": 1.5, "i": 2, "b": false, "z": null, "l": [1, "a"], "m": {"k": true}}"#.utf8), version: .v2016)!
        let converted = LocalTables.attributeValue(value).map(SQLJSON.text)
        #expect(converted == #"{"M":{"s":{"S":"x"},"n":{"N":"1.5"},"i":{"N":"2"},"b":{"BOOL":false},"z":{"NULL":true},"l":{"L":[{"N":"1"},{"S":"a"}]},"m":{"M":{"k":{"BOOL":true}}}}}"#)
        #expect(LocalTables.attributeValue(.undefined) == nil)
        #expect(LocalTables.attributeValue(.bytes([1, 2])).map(SQLJSON.text) == #"{"B":"AQI="}"#)
    }

    @Test func equalNumbersAreOneKeyAndKeysMustHaveTheSchemasType() throws {
        #expect(LocalTables.canonicalNumber("1") == "1")
        #expect(LocalTables.canonicalNumber("1.0") == LocalTables.canonicalNumber("1"))
        #expect(LocalTables.canonicalNumber("1e2") == "100")
        #expect(LocalTables.canonicalNumber("1.50") == LocalTables.canonicalNumber("1.5"))
        #expect(LocalTables.canonicalNumber("one") == nil)
        let schema = TableSchema(name: "t", hashKey: .init(name: "id", type: "S"), rangeKey: .init(name: "n", type: "N"), createdAt: 0)
        #expect(try LocalTables.key(of: object(#"{"id": {"S": "a"}, "n": {"N": "2.0"}, "x": {"S": "y"}}"#), schema: schema).get()
                == ItemKey(hash: "a", range: "2"))
        let missing = LocalTables.key(of: object(#"{"id": {"S": "a"}}"#), schema: schema)
        #expect(missing == .failure(.validation("One of the required keys was not given a value")))
        guard case .failure(let mismatch) = LocalTables.key(of: object(#"{"id": {"N": "1"}, "n": {"N": "2"}}"#), schema: schema) else {
            Issue.record("a number is not an S key"); return
        }
        #expect(mismatch.message.contains("Type mismatch for key id expected: S"))
        #expect(LocalTables.key(of: object(#"{"id": {"S": ""}, "n": {"N": "2"}}"#), schema: schema).isFailure, "an empty key")
    }

    @Test func anItemThatCouldNotBeReadBackIsRefusedAndPagesEndOnTheStoredKey() {
        // A payload nested 40 deep is fine for SQL; as AttributeValues it nests 80 deep: refused, not stored unreadable.
        let deep = String(repeating: "{\"a\":", count: 40) + "1" + String(repeating: "}", count: 40)
        let value = SQLJSON.parse(Array(deep.utf8), version: .v2016)!
        let item = LocalTables.attributeValue(value).map(SQLJSON.text)!
        #expect(LocalTables.problem(storing: item) != nil)
        #expect(LocalTables.problem(storing: #"{"id":{"S":"a"}}"#) == nil)
        let schema = TableSchema(name: "t", hashKey: .init(name: "id", type: "S"), rangeKey: .init(name: "n", type: "N"), createdAt: 0)
        #expect(SQLJSON.text(.object(LocalTables.keyMap(ItemKey(hash: "a", range: "2"), schema: schema))) == #"{"id":{"S":"a"},"n":{"N":"2"}}"#)
    }

    @Test func tableNamesAreDynamoDBs() {
        #expect(LocalTables.isValidTableName("Readings_2024.v-1"))
        for bad in ["ab", String(repeating: "a", count: 256), "with space", "slash/no", "ünï"] {
            #expect(!LocalTables.isValidTableName(bad), "\(bad)")
        }
    }
}

extension Result {
    var isFailure: Bool { if case .failure = self { true } else { false } }
}
