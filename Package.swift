// swift-tools-version: 6.0
import PackageDescription

/// Release builds skip the run-time exclusivity checks on the event hot paths (every field write of an `Event`, a
/// class, paid for a check); debug builds — the tests — keep them.
let releaseSettings: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "Sluice",
    products: [
        .executable(name: "sluice", targets: ["sluice"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        // Already in async-http-client's graph; named so the HTTP outputs can import NIOCore, NIOHTTP1 and NIOSSL.
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        // Already in swift-nio-ssl's graph; the network inputs read client certificates' subjects with it.
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        // Already in swift-certificates' graph; message digests (plugin ids, sincedb names, the fingerprint filter).
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        // Already in hummingbird's graph; the http input accepts gzip and deflate bodies with its decompressor.
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        // The monitoring API's HTTP server; it shares swift-nio with async-http-client.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CPCRE2",
            pkgConfig: "libpcre2-8",
            providers: [.apt(["libpcre2-dev"])]
        ),
        // libruby 3.1 (Debian's ruby3.1-dev), embedded by the `ruby` filter; CSluiceRuby is the C glue around it.
        .systemLibrary(
            name: "CRuby",
            pkgConfig: "ruby-3.1",
            providers: [.apt(["ruby3.1-dev"])]
        ),
        .target(
            name: "CSluiceRuby",
            dependencies: ["CRuby"]
        ),
        .target(
            name: "SluiceCore",
            dependencies: ["CPCRE2", "CDeflate", .product(name: "Yams", package: "Yams"), .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: releaseSettings
        ),
        // librdkafka (Debian's librdkafka-dev), the client of the `kafka` input and output.
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        // libdeflate (Debian's libdeflate-dev): CRC-32 at memory speed for the DLQ and the persisted queue.
        .systemLibrary(
            name: "CDeflate",
            pkgConfig: "libdeflate",
            providers: [.apt(["libdeflate-dev"])]
        ),
        .systemLibrary(
            name: "CZlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .target(
            name: "SluicePlugins",
            dependencies: [
                "SluiceCore", "CZlib", "CSluiceRuby", "CRdKafka",
                .product(name: "Yams", package: "Yams"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOHTTPCompression", package: "swift-nio-extras"),
            ],
            resources: [.copy("Grok/patterns")],
            swiftSettings: releaseSettings
        ),
        .target(
            name: "SluiceAPI",
            dependencies: [
                "SluiceCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
            ]
        ),
        // What `sluice test` and the test suite share: golden fixture cases, logstash-filter-verifier test-case
        // files, the semantic JSON comparison and its field-by-field diff, reports (text and JUnit XML).
        .target(
            name: "SluiceTesting",
            dependencies: ["SluiceCore", .product(name: "Yams", package: "Yams")]
        ),
        .executableTarget(
            name: "sluice",
            dependencies: [
                "SluiceCore", "SluicePlugins", "SluiceAPI", "SluiceTesting",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            // jemalloc replaces glibc's malloc for the whole process (as in Vector and Fluent Bit): events are
            // allocated by the input thread and freed by the workers, and glibc's per-arena locks make that
            // cross-thread traffic the bottleneck of a second worker.
            linkerSettings: [.linkedLibrary("jemalloc")]
        ),
        .testTarget(
            name: "SluiceTests",
            dependencies: ["SluiceCore", "SluicePlugins", "SluiceAPI", "SluiceTesting", "sluice", .product(name: "Yams", package: "Yams")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
