@testable import Registry
import Foundation
import Testing

@Suite("Registry: topic rule destinations")
struct TopicRuleDestinationTests {
    let arns = ARNs(region: "eu-west-1", accountID: "123456789012")

    func made(_ state: inout RegistryState, url: String = "https://example.com/in/", token: String = "123456789012.eu-west-1.t1") throws
        -> TopicRuleDestinationRecord
    {
        try state.createTopicRuleDestination(id: UUID().uuidString.lowercased(), confirmationUrl: url, token: token,
                                             enableUrl: "https://api/confirmdestination/\(token)", now: 100)
    }

    @Test func aDestinationIsConfirmedOnceThenEnabledAndDisabledWithoutAnotherConfirmation() throws {
        var state = RegistryState(arns: arns)
        let record = try made(&state)
        let arn = arns.topicRuleDestination(record)
        #expect(arn.hasPrefix("arn:aws:iot:eu-west-1:123456789012:ruledestination/http/"))
        #expect(try state.topicRuleDestination(arn: arn).status == "IN_PROGRESS")
        // Not confirmed: it cannot be enabled or disabled.
        #expect(refusal { try state.updateTopicRuleDestination(arn: arn, status: "ENABLED", token: "x", enableUrl: "", now: 101) } == .invalidRequest)
        #expect(refusal { try state.updateTopicRuleDestination(arn: arn, status: "DISABLED", token: "x", enableUrl: "", now: 101) } == .invalidRequest)
        #expect(refusal { try state.confirmTopicRuleDestination(token: "123456789012.eu-west-1.other", status: "ENABLED", now: 101) } == .invalidRequest)
        try state.confirmTopicRuleDestination(token: "123456789012.eu-west-1.t1", status: "DISABLED", now: 102)
        #expect(try state.topicRuleDestination(arn: arn).status == "DISABLED")
        #expect(refusal { try state.confirmTopicRuleDestination(token: "123456789012.eu-west-1.t1", status: "ENABLED", now: 103) } == .invalidRequest,
                "a token confirms once")
        try state.updateTopicRuleDestination(arn: arn, status: "ENABLED", token: "unused", enableUrl: "", now: 104)
        #expect(TopicRuleDestinationRecord.enabled(for: "https://example.com/in/kitchen", in: state.allTopicRuleDestinations)?.id == record.id)
        #expect(TopicRuleDestinationRecord.enabled(for: "https://example.com/out", in: state.allTopicRuleDestinations) == nil)
        try state.updateTopicRuleDestination(arn: arn, status: "DISABLED", token: "unused", enableUrl: "", now: 105)
        #expect(TopicRuleDestinationRecord.enabled(for: "https://example.com/in/kitchen", in: state.allTopicRuleDestinations) == nil)
        #expect(refusal { try state.updateTopicRuleDestination(arn: arn, status: "ERROR", token: "x", enableUrl: "", now: 106) } == .invalidRequest)
        #expect(refusal { try state.updateTopicRuleDestination(arn: arn, status: "SIDEWAYS", token: "x", enableUrl: "", now: 106) } == .invalidRequest)
        #expect(try state.topicRuleDestination(arn: arn).lastUpdatedAt == 105)
    }

    @Test func inProgressSendsANewTokenAndAnUndeliveredOneEndsInError() throws {
        var state = RegistryState(arns: arns)
        let record = try made(&state)
        let arn = arns.topicRuleDestination(record)
        try state.updateTopicRuleDestination(arn: arn, status: "IN_PROGRESS", token: "123456789012.eu-west-1.t2", enableUrl: "e2", now: 110)
        #expect(try state.topicRuleDestination(arn: arn).confirmationToken == "123456789012.eu-west-1.t2")
        // The old token's failure no longer applies; the current one's does.
        state.failTopicRuleDestinationConfirmation(id: record.id, token: "123456789012.eu-west-1.t1", reason: "old", now: 111)
        #expect(try state.topicRuleDestination(arn: arn).status == "IN_PROGRESS")
        state.failTopicRuleDestinationConfirmation(id: record.id, token: "123456789012.eu-west-1.t2", reason: "connection refused", now: 112)
        let failed = try state.topicRuleDestination(arn: arn)
        #expect(failed.status == "ERROR" && failed.statusReason == "connection refused" && failed.confirmationToken == nil)
        #expect(refusal { try state.confirmTopicRuleDestination(token: "123456789012.eu-west-1.t2", status: "ENABLED", now: 113) } == .invalidRequest)
    }

    @Test func anExpiredTokenPutsTheDestinationInError() throws {
        var state = RegistryState(arns: arns)
        let record = try made(&state)
        let later = 100 + TopicRuleDestinationRules.tokenLifetime + 1
        // Answered nil (refused by the caller) while the ERROR is kept: a refusal thrown would discard it.
        #expect(try state.confirmTopicRuleDestination(token: "123456789012.eu-west-1.t1", status: "ENABLED", now: later) == nil)
        #expect(try state.topicRuleDestination(arn: arns.topicRuleDestination(record)).status == "ERROR")
        #expect(refusal { try state.confirmTopicRuleDestination(token: "123456789012.eu-west-1.t1", status: "ENABLED", now: later) } == .invalidRequest)
    }

    @Test func urlsAreUniqueUnlessReusedAndMissingDestinationsAreDenials() throws {
        var state = RegistryState(arns: arns)
        let record = try made(&state)
        #expect(refusal { _ = try made(&state) } == .resourceAlreadyExists)
        let reused = try state.createTopicRuleDestination(id: "other", confirmationUrl: record.confirmationUrl!, token: "t", enableUrl: "", now: 1, reuse: true)
        #expect(reused.id == record.id && state.allTopicRuleDestinations.count == 1)
        let missing = "arn:aws:iot:eu-west-1:123456789012:ruledestination/http/00000000-0000-0000-0000-000000000000"
        #expect(refusal { _ = try state.topicRuleDestination(arn: missing) } == .unauthorized)
        #expect(refusal { try state.deleteTopicRuleDestination(arn: missing) } == .unauthorized)
        // Another region's ARN for the same id is not this destination.
        let elsewhere = arns.topicRuleDestination(record).replacingOccurrences(of: "eu-west-1", with: "us-east-1")
        #expect(refusal { _ = try state.topicRuleDestination(arn: elsewhere) } == .unauthorized)
        try state.deleteTopicRuleDestination(arn: arns.topicRuleDestination(record))
        #expect(state.allTopicRuleDestinations.isEmpty)
    }

    @Test func aTemplatedURLCannotLeaveItsConfirmedHostOrPath() throws {
        var state = RegistryState(arns: arns)
        let record = try made(&state, url: "https://api.example.com")
        try state.confirmTopicRuleDestination(token: "123456789012.eu-west-1.t1", status: "ENABLED", now: 101)
        let enabled = state.allTopicRuleDestinations
        #expect(TopicRuleDestinationRecord.enabled(for: "https://api.example.com/in", in: enabled)?.id == record.id)
        #expect(TopicRuleDestinationRecord.enabled(for: "https://API.example.com:443/in", in: enabled) == nil, "not a prefix: as AWS")
        for escape in ["https://api.example.com.evil.net/x", "https://api.example.com@evil.net/x", "https://api.example.com:8443/x",
                       "https://api.example.com/a/../../x", "https://api.example.com/a/%2e%2e/x", "https://api.example.com/a/%2E/x",
                       "https://api.example.com/a%2f..%2fb", "https://api.example.com/ x", "https://api.example.com\\@evil.net"] {
            #expect(TopicRuleDestinationRecord.enabled(for: escape, in: enabled) == nil, "\(escape)")
        }
        let plain = try made(&state, url: "http://10.0.0.5:8080/hooks/", token: "123456789012.eu-west-1.t9")
        try state.confirmTopicRuleDestination(token: "123456789012.eu-west-1.t9", status: "ENABLED", now: 102)
        #expect(TopicRuleDestinationRecord.enabled(for: "http://10.0.0.5:8080/hooks/a?b=c", in: state.allTopicRuleDestinations)?.id == plain.id)
    }

    @Test func tokensNameTheirNamespaceAndNothingElseParses() {
        let token = TopicRuleDestinationRules.tokenPrefix(accountID: "123456789012", region: "eu-west-1") + "abc_-XYZ"
        #expect(TopicRuleDestinationRules.namespace(ofToken: token)! == ("123456789012", "eu-west-1"))
        for bad in ["", "abc", "12345.eu-west-1.x", "123456789012.EU.x", "123456789012..x", "123456789012.eu-west-1"] {
            #expect(TopicRuleDestinationRules.namespace(ofToken: bad) == nil, "\(bad)")
        }
    }

    @Test func destinationsSurviveAStoreRoundTrip() throws {
        var state = RegistryState(arns: arns)
        let record = try made(&state)
        let changes = state.changes(since: RegistryState(arns: arns))
        #expect(changes.upserts.keys.contains(RegistryRecordKey(.topicRuleDestination, record.id)))
        let loaded = try RegistryState(arns: arns, records: changes.upserts)
        #expect(loaded.allTopicRuleDestinations == state.allTopicRuleDestinations)
    }
}
