import Findings
import Foundation
import Harness
import HostCommand
import Libvirt
import Nix

/// One node of a real checkout as a NixOS VM: what `config.virtualisation.vmVariant`
/// evaluates to (shared/notes/nixos-vm-boot-facts.md).
public struct NixOSNode: Sendable, Codable, Equatable {
    public struct Share: Sendable, Codable, Equatable {
        public var source: String
        public var target: String
        public var securityModel: String
    }
    public struct Interface: Sendable, Codable, Equatable {
        public var mac: String?
        public var addresses: [String]
    }

    public var hostName: String
    public var toplevel: String
    public var kernel: String
    public var initrd: String
    public var kernelParams: [String]
    public var memorySize: Int
    public var cores: Int
    public var diskSize: Int
    public var shares: [String: Share]
    public var interfaces: [String: Interface]
    /// root's authorized keys in the VM: shows the harness's SSH module took effect.
    public var rootKeys: [String]

    /// The interface on the cluster network: the first one with an address.
    public var clusterInterface: (name: String, interface: Interface)? {
        interfaces.sorted { $0.key < $1.key }.first { !$0.value.addresses.isEmpty }.map { ($0.key, $0.value) }
    }
}

/// Builds NixOS nodes of a checkout into libvirt domains: one `nix eval --apply`
/// projection per node, `nix build` of what must exist, a root disk prepared the
/// way qemu-vm.nix expects, /nix/store over 9p, the cluster NIC with the
/// definition's MAC, the management forward, and SSH for the run's key through a
/// module the harness adds to the evaluation.
public struct NixOSImageProvider: Sendable {
    public let target: Target
    public let nix: Nix

    public init(target: Target, nix: Nix) {
        self.target = target
        self.nix = nix
    }

    /// The projection, with `publicKey` authorised for root by an added module.
    public static func projection(publicKey: String) -> String {
        """
        c: let
          e = c.extendModules { modules = [ ({ ... }: {
                services.openssh.enable = true;
                users.users.root.openssh.authorizedKeys.keys = [ "\(publicKey)" ];
              }) ]; };
          v = e.config.virtualisation.vmVariant; vc = v.virtualisation; t = v.system.build.toplevel;
        in {
          hostName = v.networking.hostName;
          toplevel = t; kernel = "${t}/kernel";
          initrd = vc.directBoot.initrd or "${t}/initrd";
          kernelParams = v.boot.kernelParams ++ [ "init=${t}/init" ];
          memorySize = vc.memorySize; cores = vc.cores; diskSize = vc.diskSize;
          shares = builtins.mapAttrs (_: s: { inherit (s) source target securityModel; }) vc.sharedDirectories;
          rootKeys = v.users.users.root.openssh.authorizedKeys.keys;
          interfaces = builtins.mapAttrs (_: i: {
            mac = i.macAddress or null;
            addresses = map (a: "${a.address}/${toString a.prefixLength}") i.ipv4.addresses;
          }) v.networking.interfaces;
        }
        """
    }

    public enum Projected: Sendable {
        case node(NixOSNode, command: String)
        case failed(name: String, finding: String?, failure: NixFailure, command: String)
    }

    /// Projects every node of the checkout's test cluster.
    public func project(publicKey: String) async throws -> [Projected] {
        let flake = target.flake("nix/test-cluster")
        let names = try await nix.eval("\(flake)#nixosConfigurations", apply: "builtins.attrNames", overrides: target.overrides)
        guard let nodeNames = try? names.decode([String].self) else {
            throw HarnessError(.environment, "\(target.name): nix/test-cluster does not evaluate: \(names.failure?.headline ?? "no nixosConfigurations")")
        }
        var out: [Projected] = []
        for name in nodeNames.sorted() {
            let result = try await nix.eval("\(flake)#nixosConfigurations.\(name)", apply: Self.projection(publicKey: publicKey), overrides: target.overrides)
            if let node = try? result.decode(NixOSNode.self) {
                out.append(.node(node, command: result.command))
            } else if let failure = result.failure {
                out.append(.failed(name: name, finding: ClusterPlan.findingFor(failure), failure: failure, command: result.command))
            }
        }
        return out
    }

    /// What must exist before the domain starts: the system closure, and a root
    /// disk with an ext4 filesystem labelled nixos (new qemu-vm.nix does not format
    /// in the initrd; a blank disk would not boot).
    public func preparation(_ node: NixOSNode, disk: String) -> [HostCommand] {
        let raw = disk + ".raw"
        return [
            HostCommand("nix", Nix.features + ["build", "--no-link", "\(target.flake("nix/test-cluster"))#nixosConfigurations.\(node.hostName).config.system.build.vm"]
                        + target.overrides.flatMap { ["--override-input", $0.input, $0.reference] }),
            HostCommand("qemu-img", ["create", "-f", "raw", raw, "\(node.diskSize)M"]),
            HostCommand("mkfs.ext4", ["-q", "-L", "nixos", raw]),
            HostCommand("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", raw, disk]),
            HostCommand("rm", ["-f", raw]),
        ]
    }

    /// The libvirt domain for `node`: what run-<name>-vm's qemu line says, in XML.
    public static func domainXML(_ node: NixOSNode, domainName: String, accelerator: DomainXML.Accelerator, disk: String,
                                 network: String, sshPort: Int, consoleLog: String, shareRoot: String) -> DomainXML {
        let shares = node.shares.sorted { $0.key < $1.key }.map { tag, share in
            // $TMPDIR-relative sources become the run's own directories.
            DomainXML.Share(source: share.source.hasPrefix("/") ? share.source : "\(shareRoot)/\(tag)", tag: tag, readOnly: tag == "nix-store")
        }
        let cluster = node.clusterInterface
        let mac = cluster?.interface.mac ?? "52:54:00:12:01:01"
        return DomainXML(
            name: domainName, accelerator: accelerator, memoryMiB: node.memorySize, vcpus: node.cores,
            kernel: node.kernel, initrd: node.initrd,
            // The console the harness reads is the first serial port.
            cmdline: (node.kernelParams + (node.kernelParams.contains { $0.hasPrefix("console=ttyS0") } ? [] : ["console=ttyS0"])).joined(separator: " "),
            disks: [.init(path: disk, format: "qcow2", target: "vda", serial: "root", cache: "writeback")],
            interfaces: [.init(network: network, mac: mac)],
            shares: shares,
            management: .init(hostPort: sshPort, mac: Node.managementMAC(for: mac)),
            consoleLog: consoleLog, tcgCacheMiB: accelerator == .tcg ? 64 : nil)
    }
}
