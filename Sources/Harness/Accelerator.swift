import Foundation
import HostCommand
import Libvirt
import Logging

/// Decides between KVM and TCG by trying KVM: /dev/kvm can exist while KVM does not
/// work (QEMU asserts or hangs), so its presence proves nothing. The verdict is
/// cached per host boot.
public enum AcceleratorProbe {
    public static func detect(kernel: String, state: StateDirectory, logger: Logger) async -> DomainXML.Accelerator {
        if let forced = ProcessInfo.processInfo.environment["PHOTONCLOUD_HARNESS_ACCEL"],
            let accel = DomainXML.Accelerator(rawValue: forced)
        {
            return accel
        }
        let bootID =
            (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown"
        let cache = state.root.appendingPathComponent("accelerator")
        if let cached = try? String(contentsOf: cache, encoding: .utf8).split(separator: " "),
            cached.count == 2, cached[0] == bootID, let accel = DomainXML.Accelerator(rawValue: String(cached[1]))
        {
            if accel == .tcg {
                logger.warning("KVM does not work on this host (cached verdict): guests run under TCG, timeouts scaled")
            }
            return accel
        }
        let accel: DomainXML.Accelerator = await kvmBoots(kernel: kernel) ? .kvm : .tcg
        try? FileManager.default.createDirectory(at: state.root, withIntermediateDirectories: true)
        try? "\(bootID) \(accel.rawValue)".write(to: cache, atomically: true, encoding: .utf8)
        if accel == .tcg { logger.warning("KVM does not work on this host: guests run under TCG, timeouts scaled") }
        return accel
    }

    /// Boots the fixture kernel under KVM with no root and looks for its banner.
    static func kvmBoots(kernel: String) async -> Bool {
        guard FileManager.default.fileExists(atPath: "/dev/kvm") else { return false }
        let probe = HostCommand(
            "qemu-system-x86_64",
            [
                "-machine", "pc,accel=kvm", "-m", "128", "-nodefaults", "-display", "none", "-no-reboot",
                "-serial", "stdio", "-kernel", kernel, "-append", "console=ttyS0 panic=-1 init=/nonexistent",
            ])
        guard let out = try? await probe.run(timeout: 8) else { return false }
        return out.stdout.contains("Linux version") && out.stdout.contains("Kernel panic")
    }

    /// How much longer waits must be under an accelerator.
    public static func timeoutScale(_ accel: DomainXML.Accelerator) -> Double { accel == .kvm ? 1 : 3 }
}
