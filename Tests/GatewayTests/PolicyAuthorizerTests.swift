@testable import Gateway
import Testing

@Suite("Gateway: policy authorizer")
struct PolicyAuthorizerTests {
    @Test(arguments: [("::ffff:10.1.2.3", "10.1.2.3"), ("::FFFF:192.168.0.1", "192.168.0.1"), ("10.1.2.3", "10.1.2.3"),
                      ("::1", "::1"), ("::ffff:abcd", "::ffff:abcd"), ("2001:db8::1", "2001:db8::1")])
    func ipv4MappedSourceAddressesAreSeenAsIPv4(address: String, seen: String) {
        #expect(PolicyAuthorizer.policySourceIP(address) == seen)
    }
}
