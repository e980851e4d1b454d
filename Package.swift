// swift-tools-version:6.0
// Builds with Debian trixie's swiftlang 6.0.3: keep to the Swift 6.0 surface (no trailing commas in
// parameter lists, no `nonisolated` on types, no 6.1+ manifest features).
import PackageDescription

let package = Package(
    name: "proscenium-node",
    products: [
        .executable(name: "proscenium-node", targets: ["Appliance"]),
        .executable(name: "proscenium-bench", targets: ["Bench"]),
        .library(name: "Core", targets: ["Core"]),
        .library(name: "Transport", targets: ["Transport"]),
        .library(name: "AudioPipeline", targets: ["AudioPipeline"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
    ],
    targets: [
        // System libraries (Debian -dev packages, found through pkg-config).
        .systemLibrary(name: "CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "COpus", pkgConfig: "opus", providers: [.apt(["libopus-dev"])]),
        .systemLibrary(name: "CALSA", pkgConfig: "alsa", providers: [.apt(["libasound2-dev"])]),
        .systemLibrary(name: "CSpeexDSP", pkgConfig: "speexdsp", providers: [.apt(["libspeexdsp-dev"])]),
        .systemLibrary(name: "CNGTCP2", pkgConfig: "libngtcp2_crypto_gnutls",
                       providers: [.apt(["libngtcp2-dev", "libngtcp2-crypto-gnutls-dev", "libgnutls28-dev", "nettle-dev"])]),
        .systemLibrary(name: "CLibGPIOD", pkgConfig: "libgpiod", providers: [.apt(["libgpiod-dev"])]),

        // C shims: hide macro-heavy APIs and the bookworm/trixie version differences.
        .target(name: "CQUIC", dependencies: ["CNGTCP2"], exclude: ["README.md"]),
        .target(name: "CGPIOD", dependencies: ["CLibGPIOD"], exclude: ["README.md"]),
        .target(name: "COpusShim", dependencies: ["COpus"]),

        // Swift layers: Core → Transport → AudioPipeline → Appliance.
        .target(name: "Core", dependencies: ["CSodium", "CSQLite"],
                exclude: ["README.md", "Crypto/README.md", "Identity/README.md", "Wire/README.md", "Store/README.md",
                         "Social/README.md", "DM/README.md", "Gossip/README.md", "Stage/README.md"]),
        .target(name: "Transport", dependencies: ["Core", "CQUIC"], exclude: ["README.md"]),
        .target(name: "AudioPipeline", dependencies: ["Core", "COpus", "COpusShim", "CALSA", "CSpeexDSP"],
                exclude: ["README.md", "Calls/README.md"]),
        .executableTarget(
            name: "Appliance",
            dependencies: [
                "Core", "Transport", "AudioPipeline", "CGPIOD",
                .product(name: "ArgumentParser", package: "swift-argument-parser")
            ],
            exclude: ["README.md"]
        ),
        .executableTarget(
            name: "Bench",
            dependencies: [
                "Core", "Transport", "AudioPipeline",
                .product(name: "ArgumentParser", package: "swift-argument-parser")
            ]
        ),

        // One test-support module for every test target (namespaces, fake devices, real-peer launchers).
        .target(name: "TestSupport", dependencies: ["Core", "AudioPipeline"], path: "Tests/TestSupport"),
        // Victim process for the storage crash test; a dependency of CoreTests so it is built with them.
        .executableTarget(name: "store-crash-writer", dependencies: ["Core"], path: "Tests/Tools/StoreCrashWriter",
                          exclude: ["README.md"]),
        // Victim process for the DM outbox crash test (sender + receiver over the in-memory network).
        .executableTarget(name: "dm-crash-sender", dependencies: ["Core", "TestSupport"], path: "Tests/Tools/DMCrashSender",
                          exclude: ["README.md"]),
        .testTarget(name: "CoreTests", dependencies: ["Core", "TestSupport", "store-crash-writer", "dm-crash-sender"]),
        // Runs an endpoint in its own process, so tests can put endpoints in separate namespaces.
        .executableTarget(name: "transport-peer", dependencies: ["Core", "Transport"], path: "Tests/Tools/TransportPeer"),
        .testTarget(name: "TransportTests", dependencies: ["Transport", "TestSupport", "transport-peer"]),
        .testTarget(name: "AudioPipelineTests", dependencies: ["AudioPipeline", "Transport", "TestSupport"]),
        .testTarget(name: "ApplianceTests", dependencies: ["Appliance", "TestSupport"])
    ]
)
