import Findings
import Foundation
import Harness
import HostCommand
import Libvirt
import Logging
import Nix
import SSH

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
    /// The derivations that make the toplevel and the initrd: what `nix build` builds.
    public var derivations: [String]

    /// The interface on the cluster network: the first one with an address that is
    /// not the harness's management NIC.
    public var clusterInterface: (name: String, interface: Interface)? {
        interfaces.sorted { $0.key < $1.key }
            .first { $0.key != NixOSImageProvider.managementInterface && !$0.value.addresses.isEmpty }
            .map { ($0.key, $0.value) }
    }

    /// The kernel command line: the definition's, with the first serial port as a
    /// console (the harness reads it) when the definition names none there, and
    /// `no_timer_check`: under TCG on a loaded host the kernel's check that the IO-APIC
    /// timer ticks can lose its race and panic the boot ("setup_IO_APIC"), seen in CI.
    public var commandLine: String {
        var params = kernelParams
        if !params.contains(where: { $0.hasPrefix("console=ttyS0") }) { params.append("console=ttyS0") }
        if !params.contains("no_timer_check") { params.append("no_timer_check") }
        return params.joined(separator: " ")
    }

    /// What the engine needs of this node.
    public var spec: NodeSpec {
        let cluster = clusterInterface
        return NodeSpec(
            name: hostName, memoryMiB: memorySize, clusterAddress: cluster?.interface.addresses.first ?? "",
            mac: cluster?.interface.mac ?? NixOSImageProvider.defaultClusterMAC)
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

    /// The harness's NIC for the 127.0.0.1 forward. Every node has its own
    /// user-mode network, so one MAC and one address serve them all.
    public static let managementInterface = "mgmt0"
    public static let managementMAC = "52:54:00:ff:00:01"
    static let managementAddress = "10.0.2.15"
    /// A cluster NIC's MAC when the definition gives none.
    static let defaultClusterMAC = "52:54:00:12:01:01"

    /// What the harness adds to every node's evaluation: root's SSH key; NIC names
    /// by MAC as NixOS's test framework sets them (the definition's, and the
    /// management NIC's); the management address; a unit that prints sshd's host key
    /// on the serial console, where the harness pins it from; and `etc`, files for
    /// /etc (what the miniature's service stand-ins read of the target).
    public static func harnessModule(publicKey: String, etc: [String: String] = [:]) -> String {
        let etcFiles = etc.sorted { $0.key < $1.key }.map { "\(nixString($0.key)).text = \(nixString($0.value));" }
            .joined(separator: " ")
        return """
            ({ config, ... }: let
                ifs = config.networking.interfaces;
                link = name: mac: { name = "10-phc-${name}"; value = { matchConfig.MACAddress = mac; linkConfig.Name = name; }; };
              in {
                services.openssh.enable = true;
                users.users.root.openssh.authorizedKeys.keys = [ "\(publicKey)" ];
                systemd.network.links = builtins.listToAttrs ([ (link "\(managementInterface)" "\(managementMAC)") ]
                  ++ map (name: link name ifs.${name}.macAddress)
                         (builtins.filter (name: (ifs.${name}.macAddress or null) != null) (builtins.attrNames ifs)));
                networking.interfaces.\(managementInterface).ipv4.addresses = [ { address = "\(managementAddress)"; prefixLength = 24; } ];
                environment.etc = { \(etcFiles) };
                systemd.services.photoncloud-harness-hostkey = {
                  wantedBy = [ "multi-user.target" ]; after = [ "sshd.service" ];
                  serviceConfig.Type = "oneshot";
                  script = ''
                    for i in $(seq 1 300); do [ -s /etc/ssh/ssh_host_ed25519_key.pub ] && break; sleep 0.2; done
                    echo "phc-hostkey: $(cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub)" > /dev/ttyS0
                  '';
                };
              })
            """
    }

    /// A Nix string literal of `text`.
    static func nixString(_ text: String) -> String {
        "\""
            + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "${", with: "\\${").replacingOccurrences(of: "\n", with: "\\n") + "\""
    }

    /// The projection of one node's vmVariant, with the harness's module added.
    public static func projection(publicKey: String, etc: [String: String] = [:]) -> String {
        """
        c: let
          e = c.extendModules { modules = [ \(harnessModule(publicKey: publicKey, etc: etc)) ]; };
          v = e.config.virtualisation.vmVariant; vc = v.virtualisation; t = v.system.build.toplevel;
        in {
          hostName = v.networking.hostName;
          toplevel = t; kernel = "${t}/kernel";
          initrd = vc.directBoot.initrd or "${t}/initrd";
          kernelParams = v.boot.kernelParams ++ [ "init=${t}/init" ];
          memorySize = vc.memorySize; cores = vc.cores; diskSize = vc.diskSize;
          shares = builtins.mapAttrs (_: s: { inherit (s) source target securityModel; }) vc.sharedDirectories;
          rootKeys = v.users.users.root.openssh.authorizedKeys.keys;
          derivations = builtins.attrNames (builtins.getContext ("${t}" + (vc.directBoot.initrd or "")));
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
    public func project(publicKey: String, etc: [String: String] = [:]) async throws -> [Projected] {
        let flake = target.flake("nix/test-cluster")
        let names = try await nix.eval(
            "\(flake)#nixosConfigurations", apply: "builtins.attrNames", overrides: target.overrides)
        guard let nodeNames = try? names.decode([String].self) else {
            throw HarnessError(
                .environment,
                "\(target.name): nix/test-cluster does not evaluate: \(names.failure?.headline ?? "no nixosConfigurations")"
            )
        }
        var out: [Projected] = []
        for name in nodeNames.sorted() {
            let result = try await nix.eval(
                "\(flake)#nixosConfigurations.\(name)", apply: Self.projection(publicKey: publicKey, etc: etc),
                overrides: target.overrides)
            if let node = try? result.decode(NixOSNode.self) {
                out.append(.node(node, command: result.command))
            } else if let failure = result.failure {
                out.append(
                    .failed(
                        name: name, finding: ClusterPlan.findingFor(failure), failure: failure, command: result.command)
                )
            }
        }
        return out
    }

    /// `nix build` of the nodes' systems, in one invocation. The miniature is built
    /// offline: nothing of it is in any binary cache.
    public func build(_ nodes: [NixOSNode]) -> HostCommand {
        var derivations: [String] = []
        for d in nodes.flatMap(\.derivations) where !derivations.contains(d) { derivations.append(d) }
        return nix.build(derivations: derivations, offline: target.isMiniature)
    }

    /// The host-side preparation of one node in its run directory `directory`:
    /// its 9p share directories, private copies of the kernel and initrd (libvirt
    /// relabels a domain's boot files, which must not touch the store), and a root
    /// disk with an ext4 filesystem labelled nixos (new qemu-vm.nix does not format
    /// in the initrd; a blank disk does not boot).
    public func preparation(_ node: NixOSNode, directory: URL, disk: String) -> [HostCommand] {
        let raw = disk + ".raw"
        let shares = Self.shares(node, directory: directory).map(\.source).filter { $0.hasPrefix(directory.path + "/") }
        // QEMU writes the shares as libvirt-qemu.
        let shareCommands =
            shares.isEmpty ? [] : [HostCommand("mkdir", ["-p"] + shares), HostCommand("chmod", ["0777"] + shares)]
        return shareCommands + [
            HostCommand("cp", ["-L", node.kernel, directory.appendingPathComponent("kernel").path]),
            HostCommand("cp", ["-L", node.initrd, directory.appendingPathComponent("initrd").path]),
            HostCommand("qemu-img", ["create", "-q", "-f", "raw", raw, "\(node.diskSize)M"]),
            HostCommand("mkfs.ext4", ["-q", "-F", "-L", "nixos", raw]),
            HostCommand("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", raw, disk]),
            HostCommand("rm", ["-f", raw]),
        ]
    }

    /// The node's 9p shares. A source that is not a fixed host path ($TMPDIR/xchg
    /// and the like, which the run script resolves) becomes a directory of the node's own.
    static func shares(_ node: NixOSNode, directory: URL) -> [DomainXML.Share] {
        node.shares.sorted { $0.key < $1.key }.map { tag, share in
            DomainXML.Share(
                source: share.source.hasPrefix("/")
                    ? share.source : directory.appendingPathComponent("shares/\(tag)").path,
                tag: tag, readOnly: tag == "nix-store")
        }
    }

    /// The libvirt domain for `node`: what run-<name>-vm's qemu line says, in XML,
    /// booting the copies of its kernel and initrd in `directory`.
    public static func domainXML(
        _ node: NixOSNode, domainName: String, accelerator: DomainXML.Accelerator, disk: String,
        network: String, sshPort: Int, consoleLog: String, directory: URL
    ) -> DomainXML {
        DomainXML(
            name: domainName, accelerator: accelerator, memoryMiB: node.memorySize, vcpus: node.cores,
            kernel: directory.appendingPathComponent("kernel").path,
            initrd: directory.appendingPathComponent("initrd").path,
            cmdline: node.commandLine,
            disks: [.init(path: disk, format: "qcow2", target: "vda", serial: "root", cache: "writeback")],
            interfaces: [.init(network: network, mac: node.spec.mac)],
            shares: shares(node, directory: directory),
            management: .init(hostPort: sshPort, mac: managementMAC),
            consoleLog: consoleLog, tcgCacheMiB: accelerator == .tcg ? 64 : nil)
    }
}

/// A checkout's test-cluster nodes as the engine boots them: projected and built
/// for one run's key.
public struct NixOSImage: GuestImage {
    public let provider: NixOSImageProvider
    public let nodes: [NixOSNode]

    /// Projects every node with `key` authorised and builds their systems.
    /// Nodes that do not evaluate are returned apart, with their finding.
    public static func make(provider: NixOSImageProvider, key: SSHKey, etc: [String: String] = [:], logger: Logger)
        async throws
        -> (image: NixOSImage, failed: [Unevaluated])
    {
        if provider.target.isMiniature,
            provider.target.overrides.contains(where: { $0.reference.hasSuffix("/" + HarnessHome.absentGuestTools) })
        {
            throw HarnessError(
                .environment,
                "the nixpkgs stand-in's guest tools are not built, so its NixOS nodes cannot be: run `Images/setup.sh` (or `Images/guest-tools/build.sh`)"
            )
        }
        var nodes: [NixOSNode] = []
        var failed: [Unevaluated] = []
        let publicKey = "ssh-ed25519 \(try key.publicKeyBase64()) harness"
        for projected in try await provider.project(publicKey: publicKey, etc: etc) {
            switch projected {
            case let .node(node, _): nodes.append(node)
            case let .failed(name, finding, failure, _):
                failed.append(Unevaluated(name: name, finding: finding, failure: failure))
            }
        }
        guard !nodes.isEmpty else {
            throw HarnessError(
                .failure,
                "no node of \(provider.target.name) evaluates: "
                    + failed.map { "\($0.name) (\($0.finding ?? "no finding"): \($0.failure.headline))" }.joined(
                        separator: "; "))
        }
        let build = provider.build(nodes)
        logger.info("building the nodes' systems", metadata: ["command": "\(build.commandLine.prefix(300))"])
        let out = try await build.run(timeout: 3600)
        guard out.status == 0 else {
            throw HarnessError(
                .environment,
                "`nix build` of the nodes' systems failed (exit \(out.status)):\n\(out.stderr.suffix(2000))")
        }
        return (NixOSImage(provider: provider, nodes: nodes), failed)
    }

    /// A node left out: it does not evaluate, for the finding named.
    public struct Unevaluated: Sendable {
        public let name: String
        public let finding: String?
        public let failure: NixFailure
    }

    public var specs: [NodeSpec] { nodes.map(\.spec) }

    public var probeKernel: String { nodes[0].kernel }

    func node(_ spec: NodeSpec) throws -> NixOSNode {
        guard let node = nodes.first(where: { $0.hostName == spec.name }) else {
            throw HarnessError(
                .badInput,
                "\(spec.name) is not a node of \(provider.target.name): it has \(nodes.map(\.hostName).joined(separator: ", "))"
            )
        }
        return node
    }

    public func prepare(_ spec: NodeSpec, in run: GuestRun) async throws {
        for command in provider.preparation(try node(spec), directory: run.directory, disk: run.disk.path) {
            do { try await command.succeed(timeout: 120) } catch {
                throw HarnessError(
                    .environment, "\(spec.name): preparing its NixOS VM failed at `\(command.commandLine)`",
                    cause: error)
            }
        }
    }

    /// What run-<name>-vm runs (shared/notes/nixos-vm-boot-facts.md), on this run's files.
    public func qemuArguments(for spec: NodeSpec, in run: GuestRun, sshPort: Int) throws -> [String] {
        let node = try node(spec)
        let shares = NixOSImageProvider.shares(node, directory: run.directory).flatMap { share in
            [
                "-virtfs",
                "local,path=\(share.source),security_model=none,mount_tag=\(share.tag)\(share.readOnly ? ",readonly=on" : "")",
            ]
        }
        return [
            "-m", "\(node.memorySize)", "-smp", "\(node.cores)",
            "-kernel", run.directory.appendingPathComponent("kernel").path, "-initrd",
            run.directory.appendingPathComponent("initrd").path,
            "-append", node.commandLine,
        ]
            + shares
            + [
                "-drive", "cache=writeback,file=\(run.disk.path),id=drive1,if=none,index=1,werror=report,format=qcow2",
                "-device", "virtio-blk-pci,bootindex=1,drive=drive1,serial=root",
                "-netdev", "user,id=mgmt,restrict=on,hostfwd=tcp:127.0.0.1:\(sshPort)-:22",
                "-device", "virtio-net-pci,netdev=mgmt,mac=\(NixOSImageProvider.managementMAC),romfile=",
            ]
    }

    public func domainXML(for spec: NodeSpec, in run: GuestRun, sshPort: Int) throws -> DomainXML {
        NixOSImageProvider.domainXML(
            try node(spec), domainName: run.domainName, accelerator: run.accelerator, disk: run.disk.path,
            network: run.networkName, sshPort: sshPort, consoleLog: run.consoleLog, directory: run.directory)
    }
}
