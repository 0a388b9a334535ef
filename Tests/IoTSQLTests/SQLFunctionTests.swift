@testable import IoTSQL
import Testing

/// `SELECT VALUE <expression>`'s output for a payload, as JSON text ("" for Undefined).
func value(_ expression: String, payload: String = "{}", version: SQLVersion = .v2016, topic: String = "things/myThings/thingOne") throws -> String {
    let statement = try SQLParser.parse("SELECT VALUE \(expression) FROM '#'", version: version)
    let message = SQLMessage(topic: topic, payload: Array(payload.utf8), clientID: "client-1", principal: "abc", sourceIP: "10.0.0.1",
                             timestamp: 1_700_000_000_123, accountID: "123456789012")
    guard let outcome = statement.evaluate(message) else { return "<skipped>" }
    return String(decoding: outcome.payload, as: UTF8.self)
}

/// AWS's function examples (the IoT SQL functions reference), each `function(args) = result`, plus the
/// Undefined and conversion rules of its tables.
@Suite("IoT SQL: functions")
struct SQLFunctionTests {
    @Test(arguments: [
        ("abs(-5)", "5"), ("abs(\"-5.123\")", "5.123"), ("abs(true)", ""), ("acos(0)", "1.5707963267948966"), ("asin(0)", "0"),
        ("atan(0)", "0"), ("atan2(1, 0)", "1.5707963267948966"), ("bitand(13, 5)", "5"), ("bitor(8, 5)", "13"), ("bitxor(13, 5)", "8"),
        ("bitand(13.9, \"5\")", "5"), ("bitand(\"x\", 5)", ""),
        ("cast(true as Int)", "1"), ("cast(\"1.5\" as Int)", "1"), ("cast(0 as Boolean)", "false"), ("cast(null as Int)", ""),
        ("cast(12 as String)", "\"12\""), ("cast(\"TRUE\" as Bool)", "true"), ("cast(1.5 as Decimal)", "1.5"), ("cast([1] as Int)", ""),
        ("ceil(1.2)", "2"), ("ceil(-1.2)", "-1"), ("chr(65)", "\"A\""), ("chr(49)", "\"1\""), ("chr(300)", ""),
        ("concat()", ""), ("concat([1, 2, 3], 4)", "[1,2,3,4]"), ("concat([1, 2, 3], \"hello\")", "[1,2,3,\"hello\"]"),
        ("concat(\"con\", \"cat\")", "\"concat\""), ("concat(1, \"hello\")", "\"1hello\""), ("concat(\"he\",\"is\",\"man\")", "\"heisman\""),
        ("concat([1, 2, 3], \"hello\", [4, 5, 6])", "[1,2,3,\"hello\",4,5,6]"), ("cos(0)", "1"), ("cosh(2.3)", "5.037220649268761"),
        ("endswith(\"cat\",\"at\")", "true"), ("floor(1.2)", "1"), ("floor(-1.2)", "-2"), ("get([\"a\", \"b\", \"c\"], 1)", "\"b\""),
        ("get({\"a\":\"b\"}, \"a\")", "\"b\""), ("get(\"abc\", 1)", "\"b\""), ("get([\"a\"], 5)", ""), ("indexof(\"abcd\", \"bc\")", "1"),
        ("isNull(5)", "false"), ("isNull(Null)", "true"), ("isNull(missing)", "false"), ("isUndefined(5)", "false"),
        ("isUndefined(floor([1,2,3]))", "true"), ("length(\"hi\")", "2"), ("length(false)", "5"), ("log(100)", "2"),
        ("lower(\"HELLO\")", "\"hello\""), ("lower([\"HELLO\"])", #""[\"hello\"]""#), ("lpad(\"hello\", 2)", "\"  hello\""),
        ("lpad(1, 3)", "\"   1\""), ("ltrim(\" h i \")", "\"h i \""), ("md2(\"hello\")", "\"a9046c73e00331af68917d3804f70655\""),
        ("md5(\"hello\")", "\"5d41402abc4b2a76b9719d911017c592\""), ("sha1(\"hello\")", "\"aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d\""),
        ("sha224(\"hello\")", "\"ea09ae9cc6768c50fcee903ed054556e5bfc8347907f12598aa24193\""),
        ("sha256(\"hello\")", "\"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\""),
        ("mod(8, 3)", "2"), ("nanvl(8, 3)", "8"), ("nanvl(missing, 3)", "3"), ("numbytes(\"hi\")", "2"), ("numbytes(\"€\")", "3"),
        ("power(2, 5)", "32"), ("regexp_matches(\"aaaa\", \"a{2,}\")", "true"), ("regexp_matches(\"aaaa\", \"b\")", "false"),
        ("regexp_replace(\"abcd\", \"bc\", \"x\")", "\"axd\""), ("regexp_replace(\"abcd\", \"b(.*)d\", \"$1\")", "\"ac\""),
        ("regexp_substr(\"hihihello\", \"hi\")", "\"hi\""), ("regexp_substr(\"hihihello\", \"(hi)*\")", "\"hihi\""),
        ("regexp_matches(\"a1\", \"\\d\")", "true"), ("regexp_matches(\"a\", \"(\")", ""),
        ("remainder(8, 3)", "2"), ("replace(\"abcd\", \"bc\", \"x\")", "\"axd\""), ("replace(\"abcdabcd\", \"b\", \"x\")", "\"axcdaxcd\""),
        ("rpad(\"hello\", 2)", "\"hello  \""), ("rpad(1, 3)", "\"1   \""), ("round(1.2)", "1"), ("round(1.5)", "2"), ("round(1.7)", "2"),
        ("round(-1.1)", "-1"), ("round(-1.5)", "-2"), ("rtrim(\" h i \")", "\" h i\""), ("sign(-7)", "-1"), ("sign(0)", "0"), ("sign(13)", "1"),
        ("sin(0)", "0"), ("sinh(2.3)", "4.936961805545957"), ("sqrt(9)", "3"), ("startswith(\"ranger\",\"ran\")", "true"),
        ("substring(\"012345\", 0)", "\"012345\""), ("substring(\"012345\", 2)", "\"2345\""), ("substring(\"012345\", 2.745)", "\"2345\""),
        ("substring(123, 2)", "\"3\""), ("substring(\"012345\", -1)", "\"012345\""), ("substring(true, 1.2)", "\"rue\""),
        ("substring(false, -2.411E24)", "\"false\""), ("substring(\"012345\", 1, 3)", "\"12\""), ("substring(\"012345\", -50, 50)", "\"012345\""),
        ("substring(\"012345\", 3, 1)", "\"\""), ("sql_version()", "\"2016-03-23\""), ("tan(3)", "-0.1425465430742778"),
        ("tanh(2.3)", "0.9800963962661914"), ("trim(\" hi \")", "\"hi\""), ("trunc(2.3, 0)", "2"), ("trunc(2.3123, 2)", "2.31"),
        ("trunc(2.888, 2)", "2.88"), ("trunc(2.00, 5)", "2"), ("upper(\"hello\")", "\"HELLO\""), ("upper([\"hello\"])", #""[\"HELLO\"]""#),
        ("topic()", "\"things/myThings/thingOne\""), ("topic(1)", "\"things\""), ("topic(9)", ""), ("clientid()", "\"client-1\""),
        ("principal()", "\"abc\""), ("sourceip()", "\"10.0.0.1\""), ("accountid()", "\"123456789012\""), ("timestamp()", "1700000000123"),
        ("traceid()", ""), ("encode(\"hi\", 'base64')", "\"aGk=\""), ("decode(\"aGk=\", 'base64')", "\"hi\""), ("decode(\"!!\", 'base64')", "null"),
        ("transform(\"enrichArray\", {\"k\": 1}, [{\"a\": 3}, {\"b\": 4}])", "[{\"a\":3,\"k\":1},{\"b\":4,\"k\":1}]"),
        ("get_or_default(missing, 7)", "7"), ("get_or_default(1, 7)", "1"),
        ("parse_time(\"yyyy-MM-dd'T'HH:mm:ss\", 1700000000123)", "\"2023-11-14T22:13:20\""),
        ("time_to_epoch(\"18 December 2015\", \"dd MMMM yyyy\")", "1450396800000"),
    ])
    func awsExamples(_ expression: String, _ expected: String) throws {
        #expect(try value(expression) == expected, "\(expression)")
    }

    @Test func decodeReadsJSONAndTheMessageFunctionsSeeTheMessage() throws {
        #expect(try value("decode(encoded_temp,\"base64\").temperature", payload: #"{"encoded_temp":"eyAidGVtcGVyYXR1cmUiOiAzMyB9Cg=="}"#) == "33")
        #expect(try value("md5(deviceid)", payload: #"{"deviceid":"iot123"}"#) == "\"e37f81fb397e595c4aeb5645b8cbbbd1\"")
        // A raw (non-JSON) payload: encode(*) gives its bytes in base64.
        #expect(try value("encode(*, 'base64')", payload: "\u{01}\u{02}binary") == "\"AQJiaW5hcnk=\"")
        let uuid = try value("newuuid()")
        let other = try value("newuuid()")
        #expect(uuid.count == 38 && uuid != other)
    }

    @Test(arguments: ["encode", "decode", "indexof", "isUndefined", "length", "numbytes", "parse_time", "time_to_epoch", "transform", "get_thing_shadow"])
    func functionsOf2016AreRefusedIn2015(_ name: String) {
        #expect(throws: SQLError.self) { try SQLParser.parse("SELECT \(name)(a, b) FROM 't'", version: .v2015) }
    }

    @Test func unknownAndRemoteFunctionsAreRefusedWhenTheRuleIsMade() throws {
        for (sql, message) in [("SELECT nosuch(1) FROM 't'", "Unknown function: nosuch"),
                               ("SELECT aws_lambda('arn:aws:lambda:us-east-1:1:function:f', *) FROM 't'", "AWS Lambda"),
                               ("SELECT get_dynamodb('t', 'k', 'v', 'arn') FROM 't'", "DynamoDB"),
                               ("SELECT get_secret('s', 'SecretString', 'arn') FROM 't'", "Secrets Manager"),
                               ("SELECT upper(a, b) FROM 't'", "takes 1 arguments, not 2"),
                               ("SELECT get_registry_data('DescribeThing', 'x') FROM 't'", "takes 3 arguments, not 2"),
                               ("SELECT get_registry_data('DeleteThing', 'x', 'arn') FROM 't'", "DescribeThing or ListThingGroupsForThing")] {
            do {
                _ = try SQLParser.parse(sql, version: .v2016)
                Issue.record("\(sql) parsed")
            } catch {
                #expect(error.kind == .invalid)
                #expect(error.message.contains(message), "\(error.message)")
            }
        }
    }

    struct Registry: SQLServices {
        func thingShadow(thingName: String, shadowName: String?) -> SQLValue { .undefined }
        func registryData(api: String, thingName: String) -> SQLValue {
            guard thingName == "oven" else { return .undefined }
            return api == "DescribeThing" ? .object(SQLObject([("attributes", .object(SQLObject([("site", .string("north"))])))]))
                : .object(SQLObject([("thingGroups", .array([.object(SQLObject([("groupName", .string("kitchen"))]))]))]))
        }
    }

    @Test func getRegistryDataReadsTheRegistryAPIItNames() throws {
        func evaluate(_ sql: String, topic: String) throws -> String? {
            let statement = try SQLParser.parse(sql, version: .v2016)
            let message = SQLMessage(topic: topic, payload: Array("{}".utf8), timestamp: 1, accountID: "123456789012")
            return statement.evaluate(message, services: Registry()).map { String(decoding: $0.payload, as: UTF8.self) }
        }
        #expect(try evaluate("SELECT get_registry_data('DescribeThing', topic(2), 'arn').attributes.site AS site FROM 'd/+'", topic: "d/oven")
                == #"{"site":"north"}"#)
        #expect(try evaluate("SELECT get_registry_data('ListThingGroupsForThing', topic(2), 'arn').thingGroups[0].groupName AS g FROM 'd/+'",
                             topic: "d/oven") == #"{"g":"kitchen"}"#)
        // No such thing: Undefined, so the key is left out (and a WHERE on it is not true).
        #expect(try evaluate("SELECT get_registry_data('DescribeThing', topic(2), 'arn') AS info FROM 'd/+'", topic: "d/none") == "{}")
        #expect(try evaluate("SELECT 1 AS x FROM 'd/+' WHERE get_registry_data('DescribeThing', topic(2), 'arn').attributes.site = 'north'",
                             topic: "d/none") == nil)
        // An API named by the message (not a literal) that is not one of the two: Undefined.
        #expect(try evaluate("SELECT get_registry_data(topic(2), 'oven', 'arn') AS info FROM 'd/+'", topic: "d/DeleteThing") == "{}")
    }
}
