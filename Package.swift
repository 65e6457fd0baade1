// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Sluice",
    products: [
        .executable(name: "sluice", targets: ["sluice"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CPCRE2",
            pkgConfig: "libpcre2-8",
            providers: [.apt(["libpcre2-dev"])]
        ),
        .target(
            name: "SluiceCore",
            dependencies: ["CPCRE2", .product(name: "Yams", package: "Yams")]
        ),
        .target(
            name: "SluicePlugins",
            dependencies: ["SluiceCore", .product(name: "Yams", package: "Yams")],
            resources: [.copy("Grok/patterns")]
        ),
        .executableTarget(
            name: "sluice",
            dependencies: [
                "SluiceCore", "SluicePlugins",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "SluiceTests",
            dependencies: ["SluiceCore", "SluicePlugins", "sluice"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
