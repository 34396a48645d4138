import Foundation
import HostCommand
import Libvirt
import Logging
import SSH

/// `harness bench boot`: boots the cluster cold to all-SSH-ready several times and
/// compares with the same guest under a bare `qemu-system-x86_64` command line.
public struct BootBenchmark: Sendable {
    public struct Run: Codable, Sendable {
        public var wallSeconds: Double
        public var nodeReadySeconds: [String: Double]
        public var harnessCPUSeconds: Double
        public var destroySeconds: [String: Double]
        public var teardownSeconds: Double
    }

    public struct Bare: Codable, Sendable {
        public var readySeconds: Double
        public var qemuCPUSeconds: Double
        public var commandLine: String
    }

    public struct Report: Codable, Sendable {
        public var nodes: Int
        public var accelerator: String
        public var runs: [Run]
        public var bare: Bare
        public var harnessPeakRSSMiB: Double
        /// 1.3 × (nodes × bare CPU seconds ÷ cores): the wall-time target for all nodes ready.
        public var targetWallSeconds: Double
        public var cores: Int
    }

    public let options: ClusterOptions
    public let repetitions: Int
    public let logger: Logger

    public init(options: ClusterOptions, repetitions: Int = 3, logger: Logger) {
        self.options = options
        self.repetitions = repetitions
        self.logger = logger
    }

    public func run() async throws -> Report {
        var runs: [Run] = []
        var accelerator = "tcg"
        for i in 1...repetitions {
            let cpu0 = ResourceUsage.selfCPUSeconds()
            let start = ContinuousClock.now
            let cluster = try await Cluster.boot(options, logger: logger)
            let wall = (ContinuousClock.now - start).seconds
            let cpu = ResourceUsage.selfCPUSeconds() - cpu0
            var ready: [String: Double] = [:]
            for node in cluster.nodes { ready[node.name] = await node.readySeconds }
            accelerator = cluster.accelerator.rawValue
            let teardown = await cluster.teardown()
            runs.append(
                Run(
                    wallSeconds: wall, nodeReadySeconds: ready, harnessCPUSeconds: cpu,
                    destroySeconds: teardown.destroySeconds, teardownSeconds: teardown.totalSeconds))
            logger.info("bench run \(i): \(String(format: "%.2f", wall)) s to all ready")
        }
        let bare = try await bareGuest(accelerator: accelerator)
        let cores = ProcessInfo.processInfo.activeProcessorCount
        return Report(
            nodes: options.nodes.count, accelerator: accelerator, runs: runs, bare: bare,
            harnessPeakRSSMiB: ResourceUsage.peakRSSMiB(),
            targetWallSeconds: 1.3 * Double(options.nodes.count) * bare.qemuCPUSeconds / Double(cores),
            cores: cores)
    }

    /// node01's guest with the same kernel, initramfs, disk and memory, started by
    /// hand with QEMU and timed to SSH-ready with the same libssh client.
    func bareGuest(accelerator: String) async throws -> Bare {
        let image = try options.image ?? FixtureImage.load(from: options.state)
        let spec = options.nodes[0]
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("phc-bench-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let console = dir.appendingPathComponent("console.log").path
        let key = try options.key ?? SSHKey.generateEd25519()
        let run = GuestRun(
            domainName: "bare", accelerator: accelerator == "tcg" ? .tcg : .kvm,
            disk: dir.appendingPathComponent("bare.qcow2"), directory: dir.appendingPathComponent(spec.name),
            networkName: "", consoleLog: console, publicKey: try key.publicKeyBase64(), peers: [spec])
        try FileManager.default.createDirectory(at: run.directory, withIntermediateDirectories: true)
        try await image.prepare(spec, in: run)
        let port = try LoopbackPort.free()
        let args =
            [
                "-machine", "pc", "-accel", accelerator == "tcg" ? "tcg,tb-size=32" : "kvm", "-nodefaults", "-display",
                "none",
                "-no-reboot", "-device", "virtio-rng-pci", "-serial", "file:\(console)",
            ] + (try image.qemuArguments(for: spec, in: run, sshPort: port))
        let stderrPath = dir.appendingPathComponent("qemu.stderr").path
        let start = ContinuousClock.now
        // Its own process group and a clean signal mask: it and all it started end on every path.
        let qemu = try ChildProcess.spawn(
            HostCommand.resolve("qemu-system-x86_64") ?? "/usr/bin/qemu-system-x86_64",
            args, stderr: .file(stderrPath))
        do {
            let bare = try await waitUntilReady(
                qemu, start: start, port: port, key: key, console: console,
                stderrPath: stderrPath)
            await qemu.terminateGroup()
            return Bare(
                readySeconds: bare.ready, qemuCPUSeconds: bare.cpu,
                commandLine: HostCommand("qemu-system-x86_64", args).commandLine)
        } catch {
            await qemu.terminateGroup()
            throw error
        }
    }

    /// Seconds from `start` to SSH-ready, and QEMU's CPU seconds by then.
    private func waitUntilReady(
        _ qemu: ChildProcess, start: ContinuousClock.Instant, port: Int, key: SSHKey,
        console: String, stderrPath: String
    ) async throws -> (ready: Double, cpu: Double) {
        let log = ConsoleLog(path: console)
        let limit = Duration.seconds(120)
        while ContinuousClock.now - start < limit {
            if qemu.hasExited {
                let status = await qemu.terminateGroup()
                let stderr = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
                throw HarnessError(.node, "bare qemu exited \(status): \(stderr)\n\(log.formattedTail())")
            }
            if let hostKey = log.pinnedHostKey(),
                let session = try? await SSHSession.connect(
                    host: "127.0.0.1", port: port, key: key, pinnedHostKey: hostKey, timeout: 3),
                (try? await session.exec("true", timeout: 10))?.exitStatus == 0
            {
                return ((ContinuousClock.now - start).seconds, ResourceUsage.processCPUSeconds(pid: qemu.pid))
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw HarnessError(.timeout, "bare qemu guest did not answer SSH within 120 s:\n\(log.formattedTail())")
    }
}

/// CPU time and memory of this process and its children, from the kernel.
public enum ResourceUsage {
    public static func selfCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    }

    public static func peakRSSMiB() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024
    }

    /// utime + stime of a live process, from /proc/PID/stat.
    public static func processCPUSeconds(pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command name: state is field 3, utime 14, stime 15 (1-based).
        guard fields.count > 13, let utime = Double(fields[11]), let stime = Double(fields[12]) else { return 0 }
        return (utime + stime) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
