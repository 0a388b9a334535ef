import IoTPolicy
import Testing

/// The grammar of IoT policy documents (reference 3.1): what parses and into what, and for every refusal
/// the JSON path and the problem AWS's MalformedPolicyException carries.
@Suite("Policy documents: parsing")
struct PolicyParserTests {
    @Test func aStatementObjectOrArrayParsesIntoStatements() throws {
        let single = try PolicyDocument.parse(#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}}"#)
        #expect(single.version == .v2012 && single.statements.count == 1)
        #expect(single.statements[0].actions == ["iot:connect"], "action names compare without case")
        let list = try PolicyDocument.parse(#"""
            {"Version":"2012-10-17","Statement":[
              {"Sid":"pub","Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":["arn:aws:iot:us-east-1:123456789012:topic/a/*"]},
              {"Effect":"Deny","NotAction":"iot:Connect","NotResource":"arn:aws:iot:*:*:client/${iot:ClientId}",
               "Condition":{"ForAllValues:StringEquals":{"iot:ConnectAttributes":[]},"IpAddressIfExists":{"aws:SourceIp":["10.0.0.0/8","::1"]},
                            "NumericLessThan":{"x":5},"Bool":{"iot:Connection.Thing.IsAttached":true}}}]}
            """#)
        #expect(list.statements.map(\.sid) == ["pub", nil])
        let deny = list.statements[1]
        #expect(deny.effect == .deny && deny.notAction && deny.notResource)
        #expect(deny.conditions.count == 4)
        let attributes = deny.conditions.first { $0.key == "iot:ConnectAttributes" }
        #expect(attributes?.qualifier == .forAllValues && attributes?.operator == .stringEquals && attributes?.values == [])
        let ip = deny.conditions.first { $0.operator == .ipAddress }
        #expect(ip?.ifExists == true && ip?.values == ["10.0.0.0/8", "::1"])
        #expect(deny.conditions.first { $0.operator == .numericLessThan }?.values == ["5"])
        #expect(deny.conditions.first { $0.operator == .bool }?.values == ["true"])
    }

    @Test func withoutAVersionADocumentIs2008() throws {
        #expect(try PolicyDocument.parse(#"{"Statement":[]}"#).version == .v2008)
    }

    @Test(arguments: [
        ("", "", "empty"),
        ("[1]", "", "JSON object"),
        ("{not json", "", "not valid JSON"),
        (#"{"Version":"2020-01-01","Statement":[]}"#, "Version", "2012-10-17"),
        (#"{"Version":"2012-10-17"}"#, "Statement", "required"),
        (#"{"Statement":"x"}"#, "Statement", "object or an array"),
        (#"{"Statement":[], "Extra":1}"#, "Extra", "not an element"),
        (#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},"x"]}"#, "Statement[1]", "must be an object"),
        (#"{"Statement":{"Action":"*","Resource":"*"}}"#, "Statement.Effect", "required"),
        (#"{"Statement":{"Effect":"allow","Action":"*","Resource":"*"}}"#, "Statement.Effect", "Allow"),
        (#"{"Statement":{"Effect":"Allow","Resource":"*"}}"#, "Statement.Action", "Action or NotAction"),
        (#"{"Statement":{"Effect":"Allow","Action":"*","NotAction":"*","Resource":"*"}}"#, "Statement.NotAction", "not both"),
        (#"{"Statement":{"Effect":"Allow","Action":[],"Resource":"*"}}"#, "Statement.Action", "empty"),
        (#"{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#, "Statement.Action[0]", "not an IoT action"),
        (#"{"Statement":{"Effect":"Allow","Action":["iot:Publish",3],"Resource":"*"}}"#, "Statement.Action[1]", "string"),
        (#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"topic/a"}}"#, "Statement.Resource[0]", "not an ARN"),
        (#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Principal":"*"}}"#, "Statement.Principal", "no Principal"),
        (#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquality":{"a":"b"}}}}"#,
         "Statement.Condition.StringEquality", "unknown condition operator"),
        (#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"ForSome:StringEquals":{"a":"b"}}}}"#,
         "Statement.Condition.ForSome:StringEquals", "unknown set operator"),
        (#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NullIfExists":{"a":"true"}}}}"#,
         "Statement.Condition.NullIfExists", "no IfExists"),
        (#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericEquals":{"n":"ten"}}}}"#,
         "Statement.Condition.NumericEquals.n[0]", "not a number"),
        (#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}}}}"#,
         "Statement.Condition.IpAddress.aws:SourceIp[0]", "CIDR"),
        (#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"soon"}}}}"#,
         "Statement.Condition.DateLessThan.aws:CurrentTime[0]", "not a date"),
        (#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"b":"yes"}}}}"#,
         "Statement.Condition.Bool.b[0]", "true or false"),
        (#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"k":{"x":1}}}}}"#,
         "Statement.Condition.StringEquals.k", "string, a number or a boolean"),
    ] as [(String, String, String)])
    func malformedDocumentsNameThePathAndTheProblem(document: String, path: String, problem: String) {
        do {
            _ = try PolicyDocument.parse(document)
            Issue.record("accepted: \(document)")
        } catch {
            #expect(error.path == path, "\(error)")
            #expect(error.problem.contains(problem), "\(error)")
        }
    }

    @Test func variablesInConditionValuesAreNotCheckedBeforeTheyAreResolved() throws {
        let document = try PolicyDocument.parse(#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericEquals":{"n":"${iot:Connection.Thing.Attributes[n]}"}}}}"#)
        #expect(document.statements[0].conditions[0].values == ["${iot:Connection.Thing.Attributes[n]}"])
    }

    @Test func theSizeLimitIs2048CharactersWithoutWhiteSpace() throws {
        func document(sid: String) -> String { #"{"Statement":{"Sid":""# + sid + #"","Effect":"Allow","Action":"*","Resource":"*"}}"# }
        let padding = String(repeating: "x", count: PolicyDocument.maximumCharacters - document(sid: "").count)
        _ = try PolicyDocument.parse(document(sid: padding) + String(repeating: "\n ", count: 400))
        #expect(throws: PolicyParseError.self) { try PolicyDocument.parse(document(sid: padding + "x")) }
    }

    @Test(arguments: [("10.1.2.3", "10.0.0.0/8", true), ("11.0.0.1", "10.0.0.0/8", false), ("192.168.1.1", "192.168.1.1", true),
                      ("2001:db8::1", "2001:db8::/32", true), ("2001:db9::1", "2001:db8::/32", false), ("10.0.0.1", "::/0", false),
                      ("1.2.3.4", "0.0.0.0/0", true)])
    func cidrBlocksContainTheirAddresses(address: String, block: String, inside: Bool) throws {
        #expect(try #require(CIDRBlock(block)).contains(address) == inside)
    }
}
