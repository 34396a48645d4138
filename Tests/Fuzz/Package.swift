// swift-tools-version: 6.0
// libFuzzer targets for every parser of outside input. Not part of `swift test`:
// run Tests/Fuzz/run.sh (it builds with -sanitize=fuzzer and runs each).
import PackageDescription

let harness = "photoncloud-harness"
let noMain: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]

let package = Package(
    name: "photoncloud-harness-fuzz",
    platforms: [.macOS(.v13)],
    dependencies: [.package(name: harness, path: "../..")],
    targets: [
        .executableTarget(
            name: "FuzzHistory", dependencies: [.product(name: "Linearizability", package: harness)],
            swiftSettings: noMain),
        .executableTarget(
            name: "FuzzLedger", dependencies: [.product(name: "Findings", package: harness)], swiftSettings: noMain),
        .executableTarget(
            name: "FuzzNodes", dependencies: [.product(name: "Harness", package: harness)], swiftSettings: noMain),
        .executableTarget(
            name: "FuzzNixFailure", dependencies: [.product(name: "Nix", package: harness)], swiftSettings: noMain),
    ]
)
