// swift-tools-version:6.1
import PackageDescription

// Swift 6 language mode everywhere (strict concurrency). The pure targets
// (MQTTCore, DeviceIdentity, Broker, AWSSigV4, Registry) never import NIOPosix, NIOSSL or file APIs.
let package = Package(
    name: "Portcullis",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "portcullis", targets: ["portcullis"]),
        .library(name: "MQTTCore", targets: ["MQTTCore"]),
        .library(name: "Broker", targets: ["Broker"]),
        .library(name: "IoTPolicy", targets: ["IoTPolicy"]),
        .library(name: "PortcullisTesting", targets: ["PortcullisTesting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    ],
    targets: [
        // MQTT 3.1.1 / 5.0 packets, properties, reason codes, codec, topics. No I/O.
        .target(
            name: "MQTTCore",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")]
        ),
        // Textual IPv4/IPv6 addresses to bytes, in Swift (no socket headers). No I/O.
        .target(name: "IPAddressText"),
        // IoT policies: the document grammar, checked once (reference 3). No I/O.
        .target(name: "IoTPolicy", dependencies: ["IPAddressText"]),
        // X.509: certificate ids, local CA, issuing, chain verification. No sockets, no files.
        .target(
            name: "DeviceIdentity",
            dependencies: [
                "IPAddressText",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        // The device shadow's semantics (reference 5): documents, merge, delta, versions, errors. No I/O.
        .target(name: "DeviceShadow"),
        // AWS IoT SQL: lexer, parser and evaluator with AWS's types, Undefined/Null rules and functions. No I/O.
        .target(name: "IoTSQL", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        // Topic rules: payloads checked and compiled (SQL and action templates). No I/O.
        .target(name: "Rules", dependencies: ["IoTSQL", "MQTTCore"]),
        // UTC calendar arithmetic for AWS timestamps. No Foundation.
        .target(name: "CivilTime"),
        // AWS Signature Version 4: verification (header and presigned forms) and signing. No I/O, no clock.
        .target(
            name: "AWSSigV4",
            dependencies: ["CivilTime", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // Sessions, subscriptions, QoS 1, retained, wills, quotas, lifecycle events. No sockets.
        .target(
            name: "Broker",
            dependencies: [
                "MQTTCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
            ]
        ),
        // The I/O edge: NIO listeners, TLS, channel handlers, the IoT event log.
        .target(
            name: "Gateway",
            dependencies: [
                "MQTTCore", "Broker", "DeviceIdentity", "CivilTime", "Registry", "IoTPolicy", "IPAddressText", "AWSSigV4", "DeviceShadow",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The registry's objects and AWS's rules for them (things, certificates, policies). No I/O.
        .target(
            name: "Registry",
            dependencies: [
                "DeviceIdentity", "IoTPolicy", "IPAddressText",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        // The registry in SQLite (GRDB): WAL, named migrations, one transaction per operation.
        .target(
            name: "RegistrySQLite",
            dependencies: ["Registry", "DeviceShadow", "Rules", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        // The AWS-compatible HTTPS API (Hummingbird): SigV4 on every request, AWS error shapes.
        .target(
            name: "ControlPlane",
            dependencies: [
                "AWSSigV4", "Registry", "DeviceIdentity", "Broker", "MQTTCore", "IoTPolicy", "DeviceShadow", "Rules",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Composition root: configuration, data folder, services.
        .target(
            name: "PortcullisServer",
            dependencies: [
                "Gateway", "Broker", "DeviceIdentity", "MQTTCore", "ControlPlane", "AWSSigV4", "Registry", "RegistrySQLite",
                "IoTPolicy", "DeviceShadow", "Rules", "IoTSQL",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The load generator behind `portcullis bench`: any MQTT broker, TCP or TLS, on the project's codec.
        .target(
            name: "Bench",
            dependencies: [
                "MQTTCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .executableTarget(
            name: "portcullis",
            dependencies: [
                "PortcullisServer", "DeviceIdentity", "Broker", "Gateway", "Bench", "MQTTCore", "AWSSigV4", "IoTPolicy", "Registry", "Rules", "IoTSQL",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "X509", package: "swift-certificates"),
            ]
        ),
        // Test support shipped as a library: in-code PKI, a raw MQTT client, a live server harness.
        .target(
            name: "PortcullisTesting",
            dependencies: [
                "Registry",
                "MQTTCore", "DeviceIdentity", "PortcullisServer", "Gateway",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "MQTTCoreTests",
            dependencies: [
                "MQTTCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "BrokerTests", dependencies: ["Broker", "MQTTCore"]),
        .testTarget(
            name: "AWSSigV4Tests",
            dependencies: ["AWSSigV4", .product(name: "Crypto", package: "swift-crypto")],
            exclude: ["Fixtures/generate.py"],
            resources: [.copy("Fixtures/sigv4-botocore.json")]
        ),
        .testTarget(
            name: "DeviceIdentityTests",
            dependencies: [
                "DeviceIdentity",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .testTarget(name: "IoTPolicyTests", dependencies: ["IoTPolicy", "IPAddressText"]),
        .testTarget(name: "DeviceShadowTests", dependencies: ["DeviceShadow"]),
        .testTarget(name: "IoTSQLTests", dependencies: ["IoTSQL"]),
        .testTarget(name: "RulesTests", dependencies: ["Rules", "IoTSQL"]),
        .testTarget(name: "RegistryTests", dependencies: ["Registry", "RegistrySQLite", "DeviceShadow", "DeviceIdentity", .product(name: "X509", package: "swift-certificates"), .product(name: "SwiftASN1", package: "swift-asn1"), .product(name: "Crypto", package: "swift-crypto"), "IoTPolicy"]),
        .testTarget(
            name: "ControlPlaneTests",
            dependencies: [
                "ControlPlane", "AWSSigV4", "Registry", "DeviceIdentity",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "PortcullisServerTests",
            dependencies: [
                "PortcullisServer", "Broker", "DeviceIdentity",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        .testTarget(
            name: "BenchTests",
            // PortcullisServer directly: its configuration is set in closures here, so a change to its layout
            // must rebuild this target (an indirect dependency alone left stale field offsets).
            dependencies: ["Bench", "MQTTCore", "PortcullisTesting", "PortcullisServer"]
        ),
        .testTarget(
            name: "GatewayTests",
            dependencies: [
                "PortcullisTesting", "PortcullisServer", "Gateway", "MQTTCore", "DeviceIdentity", "Registry", "DeviceShadow", "Broker",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
