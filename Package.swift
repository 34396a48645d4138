// swift-tools-version: 6.0
import PackageDescription

/// Every module a target uses must be imported where it is used.
let strict: [SwiftSetting] = [.enableUpcomingFeature("MemberImportVisibility")]

let package = Package(
    name: "photoncloud-harness",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "harness", targets: ["harness"]),
        .library(name: "Harness", targets: ["Harness"]),
        // For the fuzzers in Tests/Fuzz, a package of their own that depends on this one.
        .library(name: "Linearizability", targets: ["Linearizability"]),
        .library(name: "Findings", targets: ["Findings"]),
        .library(name: "Nix", targets: ["Nix"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        .systemLibrary(name: "CLibvirt", pkgConfig: "libvirt", providers: [.apt(["libvirt-dev"])]),
        .systemLibrary(name: "CLibSSH", pkgConfig: "libssh", providers: [.apt(["libssh-dev"])]),
        .target(name: "Blocking", swiftSettings: strict),
        .target(name: "Libvirt", dependencies: ["CLibvirt", "Blocking"], swiftSettings: strict),
        .target(name: "SSH", dependencies: ["CLibSSH", "Blocking"], swiftSettings: strict),
        .target(name: "HostCommand", dependencies: ["Blocking"], swiftSettings: strict),
        .target(
            name: "Nix", dependencies: ["HostCommand", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict),
        // Pure history checkers: Jepsen's history format, WGL over sequential models.
        .target(name: "Linearizability", dependencies: ["Blocking"], swiftSettings: strict),
        // Clients and workloads that drive a cluster from the host (through forwards).
        .target(
            name: "Workloads",
            dependencies: [
                "Linearizability", "Blocking", "HostCommand", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // What a run leaves to look at: results.json, timeline.html, latency and rate plots.
        .target(name: "Report", dependencies: ["Linearizability"], swiftSettings: strict),
        // Faults the guests cannot see: partitions on the host's bridge, and their probes.
        .target(name: "Nemesis", dependencies: ["Harness", "HostCommand"], swiftSettings: strict),
        .target(
            name: "Findings", dependencies: ["Nix", "HostCommand", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict),
        .target(
            name: "Harness",
            dependencies: [
                "Libvirt", "SSH", "HostCommand", "Blocking", .product(name: "Logging", package: "swift-log"),
            ], swiftSettings: strict
        ),
        .target(
            name: "Runtime",
            dependencies: [
                "Harness", "Findings", "Nix", "HostCommand", "SSH", "Libvirt", "Linearizability", "Workloads",
                "Nemesis", "Report", .product(name: "Logging", package: "swift-log"),
            ], swiftSettings: strict),
        .executableTarget(
            name: "harness",
            dependencies: [
                "SSH", "Libvirt", "Nix", "HostCommand",
                "Harness", "Findings", "Runtime", "Linearizability", "Workloads", "Report",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ], swiftSettings: strict
        ),
        .testTarget(name: "LibvirtTests", dependencies: ["Libvirt"], swiftSettings: strict),
        // Real libvirtd, QEMU and libssh: boots fixture nodes; depends on the CLI so it
        // can kill a real `harness` process mid-boot.
        .testTarget(
            name: "EngineTests",
            dependencies: [
                "SSH", "Libvirt",
                "Harness", "HostCommand", "harness", "Nemesis", .product(name: "Logging", package: "swift-log"),
            ], swiftSettings: strict),
        .testTarget(name: "HarnessTests", dependencies: ["Harness", "HostCommand"], swiftSettings: strict),
        .testTarget(
            name: "NixTests", dependencies: ["Nix", "HostCommand", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict),
        .testTarget(name: "LinearizabilityTests", dependencies: ["Linearizability"], swiftSettings: strict),
        .testTarget(name: "ReportTests", dependencies: ["Report", "Linearizability"], swiftSettings: strict),
        .testTarget(name: "NemesisTests", dependencies: ["Nemesis", "Harness", "Libvirt"], swiftSettings: strict),
        // Against a real etcd on the host's loopback.
        .testTarget(
            name: "WorkloadsTests",
            dependencies: [
                "Workloads", "Linearizability", "HostCommand", "Harness", "harness",
                .product(name: "Logging", package: "swift-log"),
            ], swiftSettings: strict),
        .testTarget(
            name: "RuntimeTests",
            dependencies: [
                "Harness", "Runtime", "Libvirt", "HostCommand", "Linearizability", "Workloads", "Findings", "Report",
            ],
            swiftSettings: strict),
        // `swift test --filter Scenarios`: every finding against the miniature with the real nix.
        .testTarget(
            name: "ScenariosTests",
            dependencies: [
                "SSH",
                "Findings", "Nix", "Harness", "Runtime", "HostCommand", "harness", "Linearizability", "Workloads",
                "Nemesis", "Report", .product(name: "Logging", package: "swift-log"),
            ], swiftSettings: strict, plugins: ["ScenarioFileTests"]),
        // A test for each scenario file, named by it: a new file needs no other edit.
        .plugin(name: "ScenarioFileTests", capability: .buildTool()),
    ]
)
