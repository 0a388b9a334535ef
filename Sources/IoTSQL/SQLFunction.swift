/// The functions of AWS IoT SQL, each with the arguments it takes and the SQL version that has it.
/// Names are matched without regard to case (AWS's examples write `Round`, `isNull`, `Ltrim`).
public enum SQLFunction: String, Sendable, CaseIterable {
    // Numbers
    case abs, acos, asin, atan, atan2, ceil, cos, cosh, exp, floor, ln, log, mod, nanvl, power, rand, remainder
    case round, sign, sin, sinh, sqrt, tan, tanh, trunc
    case bitand, bitor, bitxor, bitnot
    // Strings
    case chr, concat, endswith, indexof, length, lower, lpad, ltrim, numbytes, regexp_matches, regexp_replace
    case regexp_substr, replace, rpad, rtrim, startswith, substring, trim, upper
    case md2, md5, sha1, sha224, sha256, sha384, sha512
    // Values
    case get, get_or_default, isnull, isundefined, transform, encode, decode
    // Time
    case timestamp, parse_time, time_to_epoch
    // The message
    case topic, clientid, principal, traceid, accountid, newuuid, sql_version, sourceip, get_mqtt_property
    case get_user_properties
    // The gateway's own services
    case get_thing_shadow, get_registry_data
    // Other AWS services (refused: no local equivalent)
    case aws_lambda, get_dynamodb, get_secret, machinelearning_predict

    /// The least and most arguments.
    var arity: ClosedRange<Int> {
        switch self {
        case .rand, .timestamp, .clientid, .principal, .traceid, .accountid, .newuuid, .sql_version, .sourceip: 0...0
        case .topic: 0...1
        case .get_user_properties: 0...1
        case .atan2, .mod, .nanvl, .power, .remainder, .bitand, .bitor, .bitxor, .endswith, .indexof, .lpad, .regexp_matches,
             .regexp_substr, .rpad, .startswith, .get, .get_or_default, .encode, .decode, .time_to_epoch, .trunc:
            2...2
        case .regexp_replace, .replace, .transform: 3...3
        case .substring: 2...3
        case .parse_time: 2...3
        case .concat: 0...Int.max
        case .get_thing_shadow: 2...3
        case .get_registry_data: 3...3
        case .aws_lambda, .get_dynamodb, .get_secret, .machinelearning_predict: 0...Int.max
        default: 1...1
        }
    }

    /// Functions AWS added with 2016-03-23.
    var needsVersion2016: Bool {
        switch self {
        case .decode, .encode, .get_dynamodb, .get_thing_shadow, .indexof, .isundefined, .length, .numbytes, .parse_time,
             .time_to_epoch, .transform, .get_or_default:
            true
        default: false
        }
    }

    /// The AWS service a function calls, when Portcullis has no local equivalent for it.
    var externalService: String? {
        switch self {
        case .aws_lambda: "AWS Lambda"
        case .get_dynamodb: "Amazon DynamoDB"
        case .get_secret: "AWS Secrets Manager"
        case .machinelearning_predict: "Amazon Machine Learning"
        default: nil
        }
    }

    /// The registry APIs `get_registry_data(api, thingName, roleArn)` calls.
    public static let registryDataAPIs: Set<String> = ["DescribeThing", "ListThingGroupsForThing"]

    /// Functions that read the gateway's services (AWS calls them external functions): not in an
    /// error action.
    public var isExternal: Bool { self == .get_thing_shadow || self == .get_registry_data }

    static func named(_ name: String) -> SQLFunction? {
        SQLFunction(rawValue: name.lowercased())
    }
}
