import Testing

import IPAddressText

@Suite("IP address parsing")
struct IPAddressParserTests {
    @Test(
        "valid addresses",
        arguments: [
            ("127.0.0.1", [127, 0, 0, 1]),
            ("0.0.0.0", [0, 0, 0, 0]),
            ("255.255.255.255", [255, 255, 255, 255]),
            ("::1", [UInt8](repeating: 0, count: 15) + [1]),
            ("::", [UInt8](repeating: 0, count: 16)),
            ("fe80::", [0xFE, 0x80] + [UInt8](repeating: 0, count: 14)),
            (
                "2001:db8:0:0:1:0:0:1",
                [0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1]
            ),
            ("2001:DB8::8:800:200C:417A", [0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 8, 0x08, 0, 0x20, 0x0C, 0x41, 0x7A]),
            ("::ffff:192.0.2.1", [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF, 192, 0, 2, 1]),
            ("64:ff9b::192.0.2.33", [0, 0x64, 0xFF, 0x9B] + [UInt8](repeating: 0, count: 8) + [192, 0, 2, 33]),
        ] as [(String, [UInt8])]
    )
    func valid(text: String, bytes: [UInt8]) {
        #expect(IPAddressParser.parse(text) == bytes)
    }

    @Test(
        "invalid addresses",
        arguments: [
            "", "1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4", "1.2.3.-4", "1..2.3", "a.b.c.d", " 1.2.3.4",
            "localhost", ":::", "1::2::3", "12345::", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1:2:3:4::5:6:7:8",
            "::ffff:1.2.3", "1.2.3.4::", "fe80::1%eth0", "g::1", "::1:",
        ]
    )
    func invalid(text: String) {
        #expect(IPAddressParser.parse(text) == nil)
    }
}
