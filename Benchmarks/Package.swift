// swift-tools-version:6.1
import PackageDescription

// Micro benchmarks (ordo-one/benchmark), kept in their own package so the product build and the test
// command do not pay for the benchmark tooling. Run from this folder:
//   swift package --allow-writing-to-package-directory benchmark
let package = Package(
    name: "PortcullisBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // Named, because a path dependency is otherwise known by its folder name, which varies by clone.
        .package(name: "Portcullis", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "Codec",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "MQTTCore", package: "Portcullis"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/Codec",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "Authorization",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "IoTPolicy", package: "Portcullis"),
            ],
            path: "Benchmarks/Authorization",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "Routing",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "MQTTCore", package: "Portcullis"),
                .product(name: "Broker", package: "Portcullis"),
                .product(name: "IoTPolicy", package: "Portcullis"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/Routing",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
