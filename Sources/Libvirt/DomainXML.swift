/// The libvirt domain XML for one guest, built from typed parts. Pure: it renders
/// text and never talks to libvirt, so it is unit-tested on its own.
public struct DomainXML: Sendable, Equatable {
    public enum Accelerator: String, Sendable { case kvm, tcg }

    public struct Disk: Sendable, Equatable {
        public var path: String
        public var format: String
        public var target: String
        public var serial: String?
        public var cache: String?
        public init(
            path: String, format: String = "qcow2", target: String = "vda", serial: String? = nil, cache: String? = nil
        ) {
            self.path = path; self.format = format; self.target = target; self.serial = serial; self.cache = cache
        }
    }

    /// A NIC on a libvirt network (the cluster network).
    public struct NetworkInterface: Sendable, Equatable {
        public var network: String
        public var mac: String
        public var linkUp: Bool
        public init(network: String, mac: String, linkUp: Bool = true) {
            self.network = network; self.mac = mac; self.linkUp = linkUp
        }
    }

    /// A 9p share (`-virtfs … security_model=none`), as NixOS VMs mount /nix/store.
    public struct Share: Sendable, Equatable {
        public var source: String
        public var tag: String
        public var readOnly: Bool
        public init(source: String, tag: String, readOnly: Bool) {
            self.source = source; self.tag = tag; self.readOnly = readOnly
        }
    }

    /// A user-mode NIC whose only way in is a TCP forward from 127.0.0.1:hostPort.
    public struct ManagementForward: Sendable, Equatable {
        public var hostPort: Int
        public var guestPort: Int
        public var mac: String
        public init(hostPort: Int, guestPort: Int = 22, mac: String) {
            self.hostPort = hostPort; self.guestPort = guestPort; self.mac = mac
        }
    }

    public var name: String
    public var accelerator: Accelerator
    public var memoryMiB: Int
    public var vcpus: Int
    public var kernel: String
    public var initrd: String
    public var cmdline: String
    public var disks: [Disk]
    public var interfaces: [NetworkInterface]
    public var shares: [Share]
    public var management: ManagementForward?
    /// Serial console written to this file (by virtlogd).
    public var consoleLog: String
    /// TCG translation cache: QEMU's default is far larger than a small guest needs.
    public var tcgCacheMiB: Int?
    /// The run that made the domain, in its `<metadata>`: what lets a reaper prove it dead.
    public var owner: RunOwner?

    public init(
        name: String, accelerator: Accelerator, memoryMiB: Int, vcpus: Int = 1,
        kernel: String, initrd: String, cmdline: String,
        disks: [Disk] = [], interfaces: [NetworkInterface] = [], shares: [Share] = [],
        management: ManagementForward? = nil, consoleLog: String, tcgCacheMiB: Int? = 32, owner: RunOwner? = nil
    ) {
        self.name = name; self.accelerator = accelerator; self.memoryMiB = memoryMiB; self.vcpus = vcpus
        self.kernel = kernel; self.initrd = initrd; self.cmdline = cmdline
        self.disks = disks; self.interfaces = interfaces; self.shares = shares
        self.management = management; self.consoleLog = consoleLog; self.tcgCacheMiB = tcgCacheMiB
        self.owner = owner
    }

    public func render() -> String {
        var x: [String] = []
        let type = accelerator == .kvm ? "kvm" : "qemu"
        x.append("<domain type='\(type)' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>")
        x.append("  <name>\(esc(name))</name>")
        if let owner { x.append(contentsOf: owner.metadataLines().map { "  " + $0 }) }
        x.append("  <memory unit='MiB'>\(memoryMiB)</memory>")
        x.append("  <vcpu>\(vcpus)</vcpu>")
        x.append("  <os>")
        x.append("    <type arch='x86_64' machine='pc'>hvm</type>")
        x.append("    <kernel>\(esc(kernel))</kernel>")
        x.append("    <initrd>\(esc(initrd))</initrd>")
        x.append("    <cmdline>\(esc(cmdline))</cmdline>")
        x.append("  </os>")
        x.append("  <features>")
        x.append("    <acpi/>")
        if accelerator == .tcg, let tcgCacheMiB {
            x.append("    <tcg><tb-cache unit='MiB'>\(tcgCacheMiB)</tb-cache></tcg>")
        }
        x.append("  </features>")
        // Under TCG every emulated CPU feature costs time: keep QEMU's default model.
        if accelerator == .kvm { x.append("  <cpu mode='host-passthrough'/>") }
        // A guest that stops for any reason stays stopped: the harness decides what restarts.
        x.append("  <on_poweroff>destroy</on_poweroff>")
        x.append("  <on_reboot>destroy</on_reboot>")
        x.append("  <on_crash>destroy</on_crash>")
        x.append("  <devices>")
        for disk in disks {
            var driver = "name='qemu' type='\(esc(disk.format))'"
            if let cache = disk.cache { driver += " cache='\(esc(cache))'" }
            x.append("    <disk type='file' device='disk'>")
            x.append("      <driver \(driver)/>")
            x.append("      <source file='\(esc(disk.path))'/>")
            x.append("      <target dev='\(esc(disk.target))' bus='virtio'/>")
            if let serial = disk.serial { x.append("      <serial>\(esc(serial))</serial>") }
            x.append("    </disk>")
        }
        for share in shares {
            x.append("    <filesystem type='mount' accessmode='squash'>")
            x.append("      <driver type='path'/>")
            x.append("      <source dir='\(esc(share.source))'/>")
            x.append("      <target dir='\(esc(share.tag))'/>")
            if share.readOnly { x.append("      <readonly/>") }
            x.append("    </filesystem>")
        }
        for nic in interfaces {
            x.append(contentsOf: Self.interfaceLines(nic).map { "    " + $0 })
        }
        x.append("    <serial type='file'>")
        x.append("      <source path='\(esc(consoleLog))' append='on'/>")
        x.append("      <target port='0'/>")
        x.append("    </serial>")
        x.append("    <console type='file'>")
        x.append("      <source path='\(esc(consoleLog))' append='on'/>")
        x.append("      <target type='serial' port='0'/>")
        x.append("    </console>")
        x.append("    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>")
        // No USB controller: its polling costs guest CPU under TCG for nothing.
        x.append("    <controller type='usb' model='none'/>")
        x.append("    <memballoon model='none'/>")
        x.append("  </devices>")
        if let m = management {
            // libvirt has no SLIRP host-forward element (its passt backend is not built
            // on Debian), so the management NIC goes to QEMU directly. restrict=on: the
            // guest reaches nothing through it; only the loopback forward comes in.
            x.append("  <qemu:commandline>")
            x.append("    <qemu:arg value='-netdev'/>")
            x.append(
                "    <qemu:arg value='user,id=mgmt,restrict=on,hostfwd=tcp:127.0.0.1:\(m.hostPort)-:\(m.guestPort)'/>")
            x.append("    <qemu:arg value='-device'/>")
            x.append(
                "    <qemu:arg value='virtio-net-pci,netdev=mgmt,mac=\(esc(m.mac)),romfile=,bus=pci.0,addr=0x1e'/>")
            x.append("  </qemu:commandline>")
        }
        x.append("</domain>")
        return x.joined(separator: "\n") + "\n"
    }

    /// The `<interface>` element alone: what virDomainUpdateDeviceFlags takes to
    /// change a live NIC's link state.
    public static func interfaceXML(_ nic: NetworkInterface) -> String {
        interfaceLines(nic).joined(separator: "\n")
    }

    /// The alias libvirt gave the `<interface>` with `mac` in a live domain's XML:
    /// QEMU's id for the device (`net0`), which monitor commands take.
    public static func alias(ofInterfaceWithMAC mac: String, in xml: String) -> String? {
        let wanted = "<mac address='\(mac.lowercased())'/>"
        var inInterface = false, matches = false
        for line in xml.split(whereSeparator: \.isNewline).map({ $0.drop { $0 == " " }.lowercased() }) {
            if line.hasPrefix("<interface ") {
                inInterface = true; matches = false
            } else if line == "</interface>" {
                inInterface = false
            } else if inInterface && line == wanted {
                matches = true
            } else if inInterface && matches && line.hasPrefix("<alias name='") {
                return String(line.dropFirst(13).prefix { $0 != "'" })
            }
        }
        return nil
    }

    static func interfaceLines(_ nic: NetworkInterface) -> [String] {
        [
            "<interface type='network'>",
            "  <source network='\(esc(nic.network))'/>",
            "  <mac address='\(esc(nic.mac))'/>",
            "  <model type='virtio'/>",
            "  <rom enabled='no'/>",
            "  <link state='\(nic.linkUp ? "up" : "down")'/>",
            "</interface>",
        ]
    }
}

/// An isolated libvirt network: a bridge with no `<forward>` and no host address,
/// so guests reach each other and the host takes no part in their traffic.
public struct NetworkXML: Sendable, Equatable {
    public var name: String
    public var bridge: String
    /// The run that made the network (libvirt keeps a network's `<metadata>` too).
    public var owner: RunOwner?

    public init(name: String, bridge: String, owner: RunOwner? = nil) {
        self.name = name
        self.bridge = bridge
        self.owner = owner
    }

    public func render() -> String {
        var x = ["<network>", "  <name>\(esc(name))</name>"]
        if let owner { x.append(contentsOf: owner.metadataLines().map { "  " + $0 }) }
        x.append("  <bridge name='\(esc(bridge))' stp='off' delay='0'/>")
        x.append("</network>")
        return x.joined(separator: "\n") + "\n"
    }
}

/// Which run made a libvirt object, recorded in the object itself (`<metadata>`):
/// the run's lock file and the host's boot id. From these alone a reaper anywhere
/// can prove the object dead (the lock is free, or the host has rebooted since),
/// whatever state directory it runs with.
public struct RunOwner: Sendable, Hashable {
    /// Ours alone; libvirt keeps each application's metadata under its namespace.
    public static let namespace = "https://photoncloud.example/harness/1"

    /// The run's `run.lock`, flocked by the run's process while it lives.
    public var lockPath: String
    /// `/proc/sys/kernel/random/boot_id` when the object was made.
    public var bootID: String

    public init(lockPath: String, bootID: String) {
        self.lockPath = lockPath
        self.bootID = bootID
    }

    /// The `<metadata>` element, for domain and network XML alike.
    public func metadataLines() -> [String] {
        [
            "<metadata>",
            "  <phc:run xmlns:phc='\(Self.namespace)' lock='\(escAttribute(lockPath))'"
                + " boot-id='\(escAttribute(bootID))'/>",
            "</metadata>",
        ]
    }

    /// The owner recorded in a domain's or network's XML as libvirt gives it back
    /// (it rewrites quotes and writes non-ASCII as character references), or nil when
    /// there is none: the object was made by an older harness, or by someone else.
    public init?(readingXML xml: String) {
        for tag in XMLStartTags(xml) where tag.parents.count == 2 && tag.parents[1] == "metadata" {
            // libvirt puts the namespace declaration on the element itself, whatever the prefix.
            let parts = tag.name.split(separator: ":", maxSplits: 1)
            let declaration = parts.count == 2 ? "xmlns:\(parts[0])" : "xmlns"
            guard parts.last == "run", tag.attributes[declaration] == Self.namespace,
                let lock = tag.attributes["lock"], let boot = tag.attributes["boot-id"],
                !lock.isEmpty, !boot.isEmpty
            else { continue }
            self.init(lockPath: lock, bootID: boot)
            return
        }
        return nil
    }
}

/// The start tags of an XML document, each with its decoded attributes and the names
/// of the elements it is in. Enough for libvirt's own well-formed output; not a
/// validating parser. Markup is ASCII, so scanning UTF-8 bytes is safe.
struct XMLStartTags: Sequence, IteratorProtocol {
    struct Tag {
        var name: String
        var attributes: [String: String]
        var parents: [String]
    }

    private let bytes: [UInt8]
    private var i = 0
    private var stack: [String] = []

    init(_ xml: String) { bytes = Array(xml.utf8) }

    mutating func next() -> Tag? {
        while let lt = find(0x3C) {  // <
            i = lt
            if starts("<!--") {
                i = end(of: "-->")
            } else if starts("<![CDATA[") {
                i = end(of: "]]>")
            } else if starts("<?") {
                i = end(of: "?>")
            } else if starts("<!") {
                i = end(of: ">")
            } else if starts("</") {
                i = end(of: ">"); _ = stack.popLast()
            } else if let tag = startTag() {
                return tag
            } else {
                i = bytes.count
            }  // malformed: stop rather than guess
        }
        return nil
    }

    private func find(_ c: UInt8) -> Int? { bytes[i...].firstIndex(of: c) }
    private func starts(_ s: String) -> Bool { bytes[i...].starts(with: s.utf8) }
    private func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

    /// Just past the next `s`, or the end.
    private func end(of s: String) -> Int {
        let needle = Array(s.utf8)
        var j = i
        while j + needle.count <= bytes.count {
            if bytes[j..<j + needle.count].elementsEqual(needle) { return j + needle.count }
            j += 1
        }
        return bytes.count
    }

    private mutating func skipSpace() { while i < bytes.count, isSpace(bytes[i]) { i += 1 } }

    /// The token up to a space, `=`, `/` or `>`.
    private mutating func name() -> String {
        let start = i
        while i < bytes.count, !isSpace(bytes[i]), ![0x3D, 0x2F, 0x3E].contains(bytes[i]) { i += 1 }
        return String(decoding: bytes[start..<i], as: UTF8.self)
    }

    private mutating func startTag() -> Tag? {
        i += 1
        let tagName = name()
        guard !tagName.isEmpty else { return nil }
        var attributes: [String: String] = [:]
        while true {
            skipSpace()
            guard i < bytes.count else { return nil }
            if bytes[i] == 0x3E {  // >
                i += 1
                defer { stack.append(tagName) }
                return Tag(name: tagName, attributes: attributes, parents: stack)
            }
            if starts("/>") {
                i += 2
                return Tag(name: tagName, attributes: attributes, parents: stack)
            }
            let key = name()
            skipSpace()
            guard !key.isEmpty, i < bytes.count, bytes[i] == 0x3D else { return nil }  // =
            i += 1
            skipSpace()
            guard i < bytes.count, bytes[i] == 0x22 || bytes[i] == 0x27 else { return nil }  // " or '
            let quote = bytes[i]
            i += 1
            guard let close = bytes[i...].firstIndex(of: quote) else { return nil }
            attributes[key] = decodeAttribute(String(decoding: bytes[i..<close], as: UTF8.self))
            i = close + 1
        }
    }
}

/// An attribute value as XML defines it: references replaced, and literal tabs and
/// line breaks normalised to spaces (which is why `escAttribute` writes them as references).
func decodeAttribute(_ raw: String) -> String {
    let scalars = Array(raw.unicodeScalars)
    var out = String.UnicodeScalarView()
    var i = 0
    while i < scalars.count {
        let c = scalars[i]
        i += 1
        switch c {
        case "\r":
            if i < scalars.count, scalars[i] == "\n" { i += 1 }
            out.append(" ")
        case "\t", "\n":
            out.append(" ")
        case "&":
            guard let semi = scalars[i...].firstIndex(of: ";") else { out.append(c); continue }
            let entity = String(String.UnicodeScalarView(scalars[i..<semi]))
            let named: [String: Unicode.Scalar] = ["amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'"]
            let number =
                entity.hasPrefix("#x")
                ? UInt32(entity.dropFirst(2), radix: 16)
                : entity.hasPrefix("#") ? UInt32(entity.dropFirst(), radix: 10) : nil
            guard let decoded = named[entity] ?? number.flatMap(Unicode.Scalar.init) else { out.append(c); continue }
            out.append(decoded)
            i = semi + 1
        default:
            out.append(c)
        }
    }
    return String(out)
}

/// `esc`, and tabs and line breaks as references, which an attribute keeps only so.
func escAttribute(_ s: String) -> String {
    var out = ""
    for c in esc(s).unicodeScalars {
        switch c {
        case "\t": out += "&#9;"
        case "\n": out += "&#10;"
        case "\r": out += "&#13;"
        default: out.unicodeScalars.append(c)
        }
    }
    return out
}

/// Escapes text for XML content and single-quoted attributes.
func esc(_ s: String) -> String {
    var out = ""
    out.reserveCapacity(s.count)
    for c in s {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "'": out += "&apos;"
        case "\"": out += "&quot;"
        default: out.append(c)
        }
    }
    return out
}
