@testable import Registry
import Testing

@Suite("Fleet indexing: the query language")
struct FleetQueryTests {
    static func document() -> FleetDocument {
        var document = FleetDocument()
        document.add("thingName", .string("Kitchen-Lamp-7"))
        document.add("thingTypeName", .string("lamp"))
        document.add("thingGroupNames", .string("floor1"))
        document.add("thingGroupNames", .string("lights"))
        document.add("attributes.color", .string("red"))
        document.add("attributes.serial", .string("0042"))
        document.add("shadow.reported.battery", .number(73))
        document.add("shadow.reported.on", .bool(true))
        document.add("connectivity.connected", .bool(false))
        return document
    }

    @Test(arguments: [
        ("thingName:Kitchen-Lamp-7", true), ("thingName:kitchen-lamp-7", true), ("thingName:kitchen*", true), ("thingName:kitchen-lamp-?", true),
        ("thingName:kitchen", false), ("thingName:*", true), ("attributes.size:*", false), ("attributes.color:red thingTypeName:lamp", true),
        ("attributes.color:red AND thingTypeName:fan", false), ("attributes.color:blue OR thingTypeName:lamp", true),
        ("NOT attributes.color:red", false), ("-attributes.color:blue", true), ("thingGroupNames:(floor1 AND lights)", true),
        ("thingGroupNames:(floor1 AND -lights)", false), ("shadow.reported.battery:[70 TO 80]", true), ("shadow.reported.battery:{73 TO 80]", false),
        ("shadow.reported.battery:[73 TO *]", true), ("shadow.reported.battery:>72", true), ("shadow.reported.battery:>=74", false),
        ("shadow.reported.battery:<100", true), ("shadow.reported.on:true", true), ("connectivity.connected:false", true),
        ("attributes.serial:42", false), ("attributes.serial:\"0042\"", true), ("red", true), ("purple", false),
        ("(thingTypeName:fan OR attributes.color:red) AND shadow.reported.battery:[0 TO 100]", true),
        ("attributes.serial:[0040 TO 0050]", true), ("Thingname:kitchen*", false),
    ])
    func queriesMatchAsAWSDocuments(_ query: String, _ expected: Bool) throws {
        #expect(try FleetQuery.parse(query).matches(Self.document()) == expected, "\(query)")
    }

    @Test(arguments: ["", "   ", "thingName:", "(thingName:a", "thingName:a)", "attributes.x:[1 TO", "attributes.x:[1 5]", "thingName:a@b",
                      "thingName:*a AND thingTypeName:*b", "a b c d e f g h i j k l m",
                      String(repeating: "(", count: 2000) + "a" + String(repeating: ")", count: 2000), String(repeating: "-", count: 4000) + "a"])
    func badQueriesAreInvalidQueryException(_ query: String) {
        #expect(refusal { _ = try FleetQuery.parse(query) } == .invalidQuery, "\(query)")
    }
}
