@testable import IoTSQL
import Testing

func run(_ sql: String, payload: String, version: SQLVersion = .v2016, topic: String = "topic/subtopic") throws -> String? {
    let statement = try SQLParser.parse(sql, version: version)
    let message = SQLMessage(topic: topic, payload: Array(payload.utf8), timestamp: 1, accountID: "123456789012")
    return statement.evaluate(message).map { String(decoding: $0.payload, as: UTF8.self) }
}

@Suite("IoT SQL: operators")
struct SQLOperatorTests {
    @Test(arguments: [
        ("true AND \"TRUE\"", "true"), ("true AND 1", ""), ("NOT \"false\"", "true"), ("NOT 0", ""), ("\"10\" > 9", "true"),
        ("\"abc\" < \"abd\"", ""), ("null > 1", ""), ("1 = 1.0", "true"), ("\"5\" = 5", "false"), ("\"5\" <> 5", "true"),
        ("[1,2] = [1,2]", "true"), ("[1,2] = [2,1]", "false"), ("{\"a\":1,\"b\":2} = {\"b\":2,\"a\":1}", "true"), ("null <> null", "false"),
        ("null = null", "true"), ("missing = 1", ""), ("\"1\" + 2", "\"12\""), ("1 + \"2\"", "\"12\""), ("1 + 2", "3"), ("1 + 2.5", "3.5"),
        ("\"5\" - 2", "3"), ("\"x\" - 2", ""), ("true + 1", ""), ("8 % 3", "2"), ("-8 % 3", "-2"), ("7 / 2", "3"), ("-7 / 2", "-3"),
        ("7.5 / 2", "3.75"), ("7.0 / 2", "3"), ("1 / 0", ""), ("0.1 + 0.2", "0.3"), ("2 * 3 + 4", "10"), ("2 * (3 + 4)", "14"), ("-(3)", "-3"),
        ("3 IN [1, 2, 3]", "true"), ("\"3\" IN [1, 2, 3]", "false"), ("1 < 2 AND 2 < 3", "true"), ("1 > 2 OR NOT 1 > 2", "true"),
        ("9223372036854775807 + 1", "9223372036854775808"),
    ])
    func tables(_ expression: String, _ expected: String) throws {
        #expect(try value(expression) == expected, "\(expression)")
    }

    @Test func decimalsStayDecimalsIn2015AndWholeOnesAreIntsIn2016() throws {
        #expect(try value("10.0 + 1", version: .v2015) == "11")
        #expect(try value("cast(10.5 as Double)", version: .v2015) == "10.5")
        #expect(try value("x", payload: #"{"x": 54.98}"#, version: .v2015) == "54.98")
        #expect(try value("x * 2", payload: #"{"x": 10.0}"#) == "20")
    }
}

/// Whole statements from AWS's SELECT, WHERE, FROM, CASE, literal, nested-query and SET examples.
@Suite("IoT SQL: statements")
struct SQLStatementTests {
    static let reading = #"{"color":"red","temperature":50}"#
    static let sensors = #"{"e":[{"n":"temperature","u":"Cel","t":1234,"v":22.5},{"n":"light","u":"lm","t":1235,"v":135},{"n":"acidity","u":"pH","t":1235,"v":7}]}"#

    @Test(arguments: [
        ("SELECT color AS rgb FROM 'topic/subtopic' WHERE temperature > 50", #"{"color":"red","temperature":100}"#, #"{"rgb":"red"}"#),
        ("SELECT * FROM 'topic/subtopic'", reading, reading),
        ("SELECT color FROM 'topic/subtopic'", reading, #"{"color":"red"}"#),
        ("select color as my_color, temperature as fahrenheit from 'topic/subtopic'", reading, #"{"my_color":"red","fahrenheit":50}"#),
        ("SELECT *, 15 as speed FROM 'topic/subtopic'", reading, #"{"color":"red","temperature":50,"speed":15}"#),
        ("SELECT VALUE color FROM 'topic/subtopic'", reading, #""red""#),
        ("SELECT color.red as red_value FROM 'topic/subtopic'", #"{"color":{"red":255,"green":0,"blue":0},"temperature":50}"#, #"{"red_value":255}"#),
        ("SELECT (temperature - 32) * 5 / 9 AS celsius, upper(color) as my_color FROM 'topic/subtopic'", reading, #"{"celsius":10,"my_color":"RED"}"#),
        ("SELECT CASE color WHEN 'green' THEN 'go' WHEN 'yellow' THEN 'caution' WHEN 'red' THEN 'stop' ELSE 'you are not at a stop light' END as instructions FROM 'topic/subtopic'",
         #"{"color":"yellow"}"#, #"{"instructions":"caution"}"#),
        ("SELECT CASE WHEN temperature > 40 THEN 'hot' ELSE 'cold' END AS feel FROM 'topic/subtopic'", reading, #"{"feel":"hot"}"#),
        ("SELECT CASE color WHEN 'blue' THEN 1 END AS c, 2 AS d FROM 'topic/subtopic'", reading, #"{"d":2}"#),
        ("SELECT {'latitude': get(lat_long, 0),'longitude':get(lat_long, 1)} as lat_long FROM 'topic/subtopic'", #"{"lat_long":[47.606,-122.332]}"#,
         #"{"lat_long":{"latitude":47.606,"longitude":-122.332}}"#),
        ("SELECT [lat,long] as lat_long FROM 'topic/subtopic'", #"{"lat":47.606,"long":-122.332}"#, #"{"lat_long":[47.606,-122.332]}"#),
        ("SELECT NULL AS n, missing AS m FROM 'topic/subtopic'", "{}", #"{"n":null}"#),
        ("SELECT VALUE arr FROM 'topic'", #"{"a":{"b":"c"},"arr":[1,2,3,4]}"#, "[1,2,3,4]"),
        ("SELECT (SELECT VALUE n FROM e) as sensors FROM 'my/topic'", sensors, #"{"sensors":["temperature","light","acidity"]}"#),
        ("SELECT (SELECT v FROM e WHERE n = 'temperature') as temperature FROM 'my/topic'", sensors, #"{"temperature":[{"v":22.5}]}"#),
        ("SELECT get((SELECT v FROM e WHERE n = 'temperature'), 0).v as temperature FROM 'topic'", sensors, #"{"temperature":22.5}"#),
        ("SELECT * from 'iot/rules' WHERE get(get(get(mydata,\"item2\"),\"0\"),\"my-key\") = \"myValue\"",
         #"{"mydata":{"item2":{"0":{"my-key":"myValue"}}}}"#, #"{"mydata":{"item2":{"0":{"my-key":"myValue"}}}}"#),
        ("select value transform(\"enrichArray\", attributes, values) from 'A/B'", #"{"attributes":{"data1":1,"data2":2},"values":[{"a":3},{"b":4},{"c":5}]}"#,
         #"[{"a":3,"data1":1,"data2":2},{"b":4,"data1":1,"data2":2},{"c":5,"data1":1,"data2":2}]"#),
        ("select value transform('enrichArray', (select a, b from data2), (select value c from data2)) from 'A/B'",
         #"{"data1":"example","data2":{"a":"first attribute","b":"second attribute","c":[{"x":{"someInt":5,"someString":"hello"},"y":true},{"x":{"someInt":10,"someString":"world"},"y":false}]}}"#,
         #"[{"x":{"someInt":5,"someString":"hello"},"y":true,"a":"first attribute","b":"second attribute"},{"x":{"someInt":10,"someString":"world"},"y":false,"a":"first attribute","b":"second attribute"}]"#),
        ("SET @s = device1.deviceData.sensors SELECT @s.temp_fahrenheit AS temp_fahrenheit, @s.humidity as humidity, device1.deviceId as deviceId FROM 'device/data'",
         #"{"device1":{"deviceId":"weather_sensor","deviceData":{"sensors":{"temp_fahrenheit":75,"humidity":60},"location":[47.606,-122.332]}}}"#,
         #"{"temp_fahrenheit":75,"humidity":60,"deviceId":"weather_sensor"}"#),
        ("SELECT timestamp(), upper(color), a.b, 1 + 1 FROM 'x'", #"{"color":"red","a":{"b":true}}"#, #"{"timestamp":1,"upper":"RED","b":true,"_4":2}"#),
        ("SELECT arr[1] AS second, arr.0 AS first FROM 'x'", #"{"arr":[10,20]}"#, #"{"second":20,"first":10}"#),
        ("SELECT decode(encode(*, 'base64'), 'base64') AS value FROM 'topic/subtopic' WHERE decode(encode(*, 'base64'), 'base64') > 50", "80", #"{"value":80}"#),
    ])
    func awsExamples(_ sql: String, _ payload: String, _ expected: String) throws {
        #expect(try run(sql, payload: payload) == expected, "\(sql)")
    }

    @Test func whereDecidesWhetherActionsRun() throws {
        let sql = "SELECT color AS my_color FROM 'topic/subtopic' WHERE temperature > 50 AND color <> 'red'"
        #expect(try run(sql, payload: #"{"color":"red","temperature":40}"#) == nil)
        #expect(try run(sql, payload: #"{"color":"blue","temperature":60}"#) == #"{"my_color":"blue"}"#)
        // Undefined and non-Boolean conditions do not fire.
        #expect(try run("SELECT * FROM 't' WHERE missing > 1", payload: "{}") == nil)
        #expect(try run("SELECT * FROM 't' WHERE 'true'", payload: "{}") == nil)
    }

    @Test func aPayloadParsedOnceServesEveryRule() throws {
        let bytes = Array(#"{"v": 2}"#.utf8)
        let message = SQLMessage(topic: "t", payload: bytes, timestamp: 1, accountID: "1")
        let parsed = SQLJSON.payload(bytes, version: .v2016)
        for sql in ["SELECT v * 2 AS d FROM 't'", "SELECT v + 1 AS s FROM 't'"] {
            let statement = try SQLParser.parse(sql, version: .v2016)
            #expect(statement.evaluate(message, payload: parsed)?.payload == statement.evaluate(message)?.payload)
        }
        // The value given is what the SQL reads (the caller vouches it is this message's payload).
        let other = SQLJSON.payload(Array(#"{"v": 5}"#.utf8), version: .v2016)
        let statement = try SQLParser.parse("SELECT VALUE v FROM 't'", version: .v2016)
        #expect(statement.evaluate(message, payload: other)?.payload == Array("5".utf8))
    }

    @Test func aPayloadThatIsNotJSONPassesThroughSelectStar() throws {
        let statement = try SQLParser.parse("SELECT * FROM 'raw/#'")
        let bytes: [UInt8] = [0, 1, 2, 255]
        let outcome = try #require(statement.evaluate(SQLMessage(topic: "raw/x", payload: bytes, timestamp: 1, accountID: "1")))
        #expect(outcome.payload == bytes)
        #expect(try run("SELECT color FROM 'raw'", payload: "not json") == "{}")
    }

    @Test func templatesSeeThePayloadAndVariablesButNotAliases() throws {
        let statement = try SQLParser.parse("SET @v = temperature * 2 SELECT color AS c FROM 'things/+/data'", version: .v2016)
        let outcome = try #require(statement.evaluate(SQLMessage(topic: "things/lamp/data", payload: Array(Self.reading.utf8), timestamp: 1, accountID: "1")))
        #expect(outcome.render(try SQLTemplate.parse("${topic(2)}/republish/${color}/${@v}/${c}", version: .v2016)) == "lamp/republish/red/100/")
        #expect(outcome.render(try SQLTemplate.parse("${ {'a': 1} }${'}'}", version: .v2016)) == #"{"a":1}}"#)
        #expect(try SQLTemplate.parse("plain").isConstant)
        #expect(throws: SQLError.self) { try SQLTemplate.parse("${topic()") }
        #expect(throws: SQLError.self) { try SQLTemplate.parse("${1 +}") }
    }
}

@Suite("IoT SQL: syntax errors")
struct SQLSyntaxTests {
    @Test(arguments: [
        ("SELECT FROM 't'", 1, 8), ("SELECT * FROM t", 1, 15), ("SELECT a FROM 't' WHERE", 1, 24), ("SELECT a b FROM 't'", 1, 10),
        ("SELECT 'open FROM 't'", 1, 21), ("SELECT a FROM 't' WHERE a = ", 1, 29), ("SELECT a ?", 1, 10), ("SELECT *\nFROM 't' WHERE (", 2, 17),
        ("UPDATE t", 1, 1), ("SELECT CASE a END FROM 't'", 1, 15),
    ])
    func errorsHaveAPosition(_ sql: String, _ line: Int, _ column: Int) {
        do {
            _ = try SQLParser.parse(sql)
            Issue.record("\(sql) parsed")
        } catch {
            #expect(error.kind == .syntax, "\(sql): \(error)")
            #expect((error.line, error.column) == (line, column), "\(sql): \(error)")
        }
    }

    @Test func refusalsOfStatementsThatParse() throws {
        for sql in ["SELECT * FROM '$share/g/t'", "SELECT * FROM 'a/#/b'", "SELECT * FROM 'a+/b'", "SELECT VALUE a, b FROM 't'",
                    "SELECT (SELECT a FROM b) FROM 't'", "SELECT {'a': 1} FROM 't'", "SELECT cast(a AS Boolean) FROM 't'"] {
            #expect(throws: SQLError.self, "\(sql)") { try SQLParser.parse(sql, version: .v2015) }
        }
        #expect(throws: SQLError.self) { try SQLParser.parse("SELECT " + String(repeating: "(", count: 500) + "1" + String(repeating: ")", count: 500) + " FROM 't'") }
        #expect(throws: SQLError.self) { try SQLParser.parse("SELECT " + String(repeating: "-", count: 5000) + "x FROM 't'") }
        #expect(throws: SQLError.self) { try SQLParser.parse("SELECT " + String(repeating: "NOT ", count: 5000) + "x FROM 't'") }
        // Long flat chains make deep trees too: refused, not evaluated until the stack runs out.
        #expect(throws: SQLError.self) { try SQLParser.parse("SELECT a FROM 't' WHERE " + Array(repeating: "1", count: 1000).joined(separator: "+")) }
        #expect(throws: SQLError.self) { try SQLParser.parse("SELECT x" + String(repeating: ".b", count: 300) + " FROM 't'") }
        #expect(throws: SQLError.self) { try SQLTemplate.parse("${" + Array(repeating: "a", count: 500).joined(separator: " AND ") + "}") }
        #expect(throws: SQLError.self) { try SQLParser.parse("SELECT " + Array(repeating: "a", count: 3000).joined(separator: ",") + " FROM 't'") }
        #expect(try SQLParser.parse("SELECT a FROM 't' WHERE " + Array(repeating: "1", count: 150).joined(separator: "+")).topicFilter == "t")
    }

    @Test func aRuleWithoutFromTakesBasicIngestOnly() throws {
        #expect(try SQLParser.parse("SELECT * ").topicFilter == nil)
        #expect(try SQLParser.parse("select * from 'a/+/c'").topicFilter == "a/+/c")
    }
}
