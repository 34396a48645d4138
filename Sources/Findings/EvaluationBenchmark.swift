import Foundation
import HostCommand
import Logging
import Nix

/// `harness bench eval`: what the harness adds to the nix evaluations it wraps.
public struct EvaluationBenchmark: Sendable {
    public struct Report: Codable, Sendable {
        public var finding: String
        public var bareCommand: String
        /// Medians over `repetitions`, in seconds.
        public var bareNixEval: Double
        public var reproInProcess: Double
        public var reproCLI: Double
        public var checkAllInProcess: Double
        public var checkAllCLI: Double
        public var harnessProcessStart: Double
        public var repetitions: Int
        public var reproCLIOverBare: Double { reproCLI / bareNixEval }
        public var reproInProcessOverBare: Double { reproInProcess / bareNixEval }
    }

    public let home: HarnessHome
    public let harnessBinary: String
    public let repetitions: Int
    public let logger: Logger

    public init(home: HarnessHome, harnessBinary: String, repetitions: Int, logger: Logger) {
        self.home = home
        self.harnessBinary = harnessBinary
        self.repetitions = repetitions
        self.logger = logger
    }

    /// F5.2: one `nix eval` of node06's toplevel.
    public func run() async throws -> Report {
        let nix = try await Nix.locate(logger: logger)
        let target = try await Target.miniature(home: home)
        let ledger = try Ledger.load(home.defaultLedger)
        let run = CheckRun(nix: nix, logger: Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() }))
        let installable =
            "\(target.flake("nix/test-cluster"))#nixosConfigurations.node06.config.system.build.toplevel.drvPath"
        let bareArgs =
            Nix.features + ["eval", "--json", installable] + target.overrides.flatMap(\.arguments)
            + ["--no-write-lock-file"]
        let bare = HostCommand(nix.executable, bareArgs)

        func median(_ body: () async throws -> Void) async rethrows -> Double {
            var samples: [Double] = []
            for _ in 0..<repetitions {
                let start = ContinuousClock.now
                try await body()
                samples.append((ContinuousClock.now - start).seconds)
            }
            return samples.sorted()[samples.count / 2]
        }
        // One of each first, so every figure below is warm.
        _ = try await bare.run(timeout: 60)
        _ = try await run.run(["F5.2"], on: target, ledger: ledger)
        return Report(
            finding: "F5.2", bareCommand: bare.commandLine,
            bareNixEval: try await median { _ = try await bare.run(timeout: 60) },
            reproInProcess: try await median { _ = try await run.run(["F5.2"], on: target, ledger: ledger) },
            reproCLI: try await median {
                _ = try await HostCommand(harnessBinary, ["repro", "F5.2"]).run(timeout: 60)
            },
            checkAllInProcess: try await median {
                _ = try await run.run(try CheckRun.select(nil), on: target, ledger: ledger)
            },
            checkAllCLI: try await median { _ = try await HostCommand(harnessBinary, ["check"]).run(timeout: 120) },
            harnessProcessStart: try await median {
                _ = try await HostCommand(harnessBinary, ["--help"]).run(timeout: 60)
            },
            repetitions: repetitions)
    }
}
