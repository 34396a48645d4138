import Foundation
import Nix

/// F1: the main flake's node01-03 must evaluate; they import a path that is missing.
struct MissingNodeDefinitionsCheck: FindingCheck {
    let id = "F1"
    let nodes = ["node01", "node02", "node03"]

    func decide(on target: Target, nix: Nix) async throws -> Verdict {
        var evidence: [Evidence] = [], missing: [String] = [], other: [String] = []
        let search = TextSearch(target: target)
        for node in nodes {
            let result = try await evaluateToplevel(node, flake: target.flake(), target: target, nix: nix)
            evidence.append(result.evidence)
            guard let failure = result.failure else { continue }
            if failure.kind == .missingPath {
                missing.append(node)
                // Name the import in flake.nix that points at the missing file.
                for hit in search.lines(in: "flake.nix", where: { $0.contains("/\(node)/") && $0.contains(".nix") }) {
                    let path =
                        hit.text.split(whereSeparator: { " []();".contains($0) }).first { $0.hasPrefix("./") }.map(
                            String.init) ?? hit.text
                    let exists = FileManager.default.fileExists(atPath: target.file(String(path.dropFirst(2))).path)
                    evidence.append(
                        Evidence(
                            excerpt: "\(node) imports \(path)\(exists ? "" : " (does not exist)")",
                            location: hit.location))
                }
            } else {
                other.append("\(node): \(failure.headline)")
            }
        }
        if !missing.isEmpty {
            return Verdict(
                id: id, outcome: .reproduced,
                summary:
                    "\(missing.joined(separator: ", ")) of the main flake cannot be evaluated: an imported path does not exist",
                evidence: evidence)
        }
        if other.isEmpty {
            return Verdict(
                id: id, outcome: .resolved, summary: "node01, node02 and node03 of the main flake evaluate",
                evidence: evidence)
        }
        return Verdict(
            id: id, outcome: .error, summary: "evaluation failed for another reason: \(other.joined(separator: "; "))",
            evidence: evidence)
    }
}

/// F2: the disko layout the ISO's auto-install hands to disko must exist for every node.
struct DiskoLayoutCheck: FindingCheck {
    let id = "F2"
    static let srcMount = "/opt/plasmacloud-src/"

    func decide(on target: Target, nix: Nix) async throws -> Verdict {
        var evidence: [Evidence] = []
        // The install script as the ISO runs it; the ISO file's text if the ISO does not evaluate.
        let script = try await nix.eval(
            "\(target.flake())#nixosConfigurations.plasmacloud-iso.config.systemd.services.plasmacloud-auto-install.script",
            overrides: target.overrides)
        var template: String?
        if let text = try? script.decode(String.self) {
            template = Self.diskoPath(in: text)
            evidence.append(
                Evidence(
                    command: script.command,
                    excerpt: text.split(separator: "\n").first { $0.contains("disko") }.map(String.init) ?? text))
        }
        if template == nil {
            let hits = TextSearch(target: target).lines(in: "nix/iso/plasmacloud-iso.nix") {
                $0.contains("--mode disko")
            }
            evidence += TextSearch(target: target).evidence(hits)
            template = hits.lazy.compactMap { Self.diskoPath(in: $0.text) }.first
        }
        guard let template else {
            return Verdict(
                id: id, outcome: .error, summary: "found no `disko --mode disko PATH` in the ISO's auto-install",
                evidence: evidence + [script.evidence])
        }
        let names = try await nix.eval(
            "\(target.flake())#nixosConfigurations", apply: "builtins.attrNames", overrides: target.overrides)
        let nodes = ((try? names.decode([String].self)) ?? ["node01", "node02", "node03"]).filter {
            $0.hasPrefix("node")
        }
        var missing: [String] = []
        for node in nodes {
            let installPath = template.replacingOccurrences(of: "$NODE_ID", with: node).replacingOccurrences(
                of: "${NODE_ID}", with: node)
            let relative =
                installPath.hasPrefix(Self.srcMount) ? String(installPath.dropFirst(Self.srcMount.count)) : installPath
            let exists = FileManager.default.fileExists(atPath: target.file(relative).path)
            if !exists { missing.append(node) }
            evidence.append(
                Evidence(
                    excerpt: "\(node): disko gets \(installPath) → \(relative) \(exists ? "exists" : "is missing")",
                    location: SourceLocation(file: relative, line: nil)))
        }
        if !missing.isEmpty {
            return Verdict(
                id: id, outcome: .reproduced,
                summary:
                    "the auto-install's disko layout is missing for \(missing.joined(separator: ", ")) (\(template))",
                evidence: evidence)
        }
        return Verdict(
            id: id, outcome: .resolved, summary: "every node's disko layout exists (\(template))", evidence: evidence)
    }

    static func diskoPath(in text: String) -> String? {
        guard let range = text.range(of: "--mode disko ") else { return nil }
        return text[range.upperBound...].split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\"" }).first.map(
            String.init)
    }
}

/// F3: something expects a Deployer (the ISO's phone-home, CI) but the flake's
/// outputs and nix/modules provide none.
struct DeployerWiringCheck: FindingCheck {
    let id = "F3"

    func decide(on target: Target, nix: Nix) async throws -> Verdict {
        let search = TextSearch(target: target)
        let mentions: (String) -> Bool = { $0.range(of: "deployer", options: .caseInsensitive) != nil }
        var evidence: [Evidence] = []

        let show = try await nix.flakeShow(target.flake(), overrides: target.overrides)
        var outputs: [String] = []
        if let json = show.json, let tree = try? JSONSerialization.jsonObject(with: Data(json.utf8)) {
            outputs = Self.paths(tree).filter(mentions)
            evidence.append(
                Evidence(
                    command: show.command + " | rg deployer",
                    excerpt: outputs.isEmpty ? "no matches" : outputs.joined(separator: "\n")))
        } else {
            evidence.append(show.evidence)
        }
        let flakeHits = search.lines(in: "flake.nix", where: mentions)
        evidence.append(
            Evidence(
                command: "rg deployer flake.nix",
                excerpt: flakeHits.isEmpty ? "no matches" : "\(flakeHits.count) match(es)"))
        evidence += search.evidence(flakeHits)
        let moduleHits = search.files(under: "nix/modules", suffixes: [".nix"]).flatMap {
            search.lines(in: $0, where: mentions)
        }
        evidence.append(
            Evidence(
                command: "rg deployer nix/modules",
                excerpt: moduleHits.isEmpty ? "no matches" : "\(moduleHits.count) match(es)"))
        evidence += search.evidence(moduleHits.prefix(5).map { $0 })

        // Who expects one.
        let isoHits = search.lines(in: "nix/iso/plasmacloud-iso.nix") {
            $0.contains("DEPLOYER_URL") || $0.contains("phone-home")
        }
        let ciHits = search.files(under: ".github/workflows", suffixes: [".yml", ".yaml"]).flatMap {
            search.lines(in: $0, where: mentions)
        }
        evidence += search.evidence(isoHits + ciHits)

        let provided = !outputs.isEmpty && !moduleHits.isEmpty
        let expected = !isoHits.isEmpty || !ciHits.isEmpty
        if expected && !provided {
            let who = [
                isoHits.isEmpty ? nil : "the ISO phones home to $DEPLOYER_URL",
                ciHits.isEmpty ? nil : "CI builds a deployer",
            ].compactMap { $0 }
            return Verdict(
                id: id, outcome: .reproduced,
                summary:
                    "\(who.joined(separator: " and ")), but \(outputs.isEmpty ? "no flake output" : "no module in nix/modules") provides a deployer",
                evidence: evidence)
        }
        return Verdict(
            id: id, outcome: .resolved,
            summary: provided
                ? "the flake exports a deployer (\(outputs.prefix(3).joined(separator: ", "))) and nix/modules defines it"
                : "nothing expects a deployer", evidence: evidence)
    }

    /// Every attribute path in `nix flake show --json` output, e.g. `packages.x86_64-linux.deployer-server`.
    static func paths(_ tree: Any, prefix: String = "") -> [String] {
        guard let dict = tree as? [String: Any] else { return [] }
        return dict.keys.sorted().flatMap { key -> [String] in
            let path = prefix.isEmpty ? key : "\(prefix).\(key)"
            guard let child = dict[key] as? [String: Any], child["type"] == nil else { return [path] }
            return [path] + paths(child, prefix: path)
        }
    }
}

/// F5.1: node02 and node03 of the test cluster set an option no module declares.
struct UndeclaredOptionCheck: FindingCheck {
    let id = "F5.1"
    let nodes = ["node02", "node03"]

    func decide(on target: Target, nix: Nix) async throws -> Verdict {
        try await decideTestClusterNodes(
            id: id, nodes: nodes, target: target, nix: nix, kind: .undefinedOption,
            what: "sets an option that no module declares")
    }
}

/// F5.2: node06 of the test cluster reads config.services.flaredb without the module.
struct UnimportedModuleCheck: FindingCheck {
    let id = "F5.2"
    let nodes = ["node06"]

    func decide(on target: Target, nix: Nix) async throws -> Verdict {
        try await decideTestClusterNodes(
            id: id, nodes: nodes, target: target, nix: nix, kind: .missingAttribute,
            what: "reads an attribute of a module it does not import")
    }
}

/// Evaluates test-cluster nodes: `kind` of failure reproduces, success resolves.
func decideTestClusterNodes(id: String, nodes: [String], target: Target, nix: Nix, kind: NixFailure.Kind, what: String)
    async throws -> Verdict
{
    var evidence: [Evidence] = [], broken: [String] = [], other: [String] = []
    let search = TextSearch(target: target)
    for node in nodes {
        let result = try await evaluateToplevel(node, flake: target.flake("nix/test-cluster"), target: target, nix: nix)
        evidence.append(result.evidence)
        guard let failure = result.failure else { continue }
        guard failure.kind == kind else { other.append("\(node): \(failure.headline)"); continue }
        broken.append("\(node) (\(failure.subject ?? "?"))")
        // nix names the file of an undeclared option but not the line: find it.
        if kind == .undefinedOption, let option = failure.subject, let file = failure.location?.file,
            let leaf = option.split(separator: ".").last
        {
            evidence += search.evidence(
                search.lines(in: file) {
                    $0.contains(String(leaf)) && !$0.trimmingCharacters(in: .whitespaces).hasPrefix("#")
                })
        }
    }
    if !broken.isEmpty {
        return Verdict(
            id: id, outcome: .reproduced, summary: "\(broken.joined(separator: ", ")): the node \(what)",
            evidence: evidence)
    }
    if other.isEmpty {
        return Verdict(
            id: id, outcome: .resolved, summary: "\(nodes.joined(separator: ", ")) of the test cluster evaluate",
            evidence: evidence)
    }
    return Verdict(
        id: id, outcome: .error, summary: "evaluation failed for another reason: \(other.joined(separator: "; "))",
        evidence: evidence)
}

/// F7: packages whose test phase is switched off.
struct DisabledChecksCheck: FindingCheck {
    let id = "F7"

    func decide(on target: Target, nix: Nix) async throws -> Verdict {
        let search = TextSearch(target: target)
        let lines = search.lines(in: "flake.nix") {
            $0.replacingOccurrences(of: " ", with: "").contains("doCheck=false")
        }
        let result = try await nix.eval(
            "\(target.flake())#packages.x86_64-linux",
            apply: "ps: builtins.mapAttrs (n: p: p.doCheck or true) ps", overrides: target.overrides)
        var evidence = search.evidence(lines, command: "rg 'doCheck = false' flake.nix")
        guard let checks = try? result.decode([String: Bool].self) else {
            evidence.append(result.evidence)
            // Without an evaluation the text still shows it.
            if !lines.isEmpty {
                return Verdict(
                    id: id, outcome: .reproduced,
                    summary: "\(lines.count) `doCheck = false` in flake.nix (packages did not evaluate)",
                    evidence: evidence)
            }
            return Verdict(
                id: id, outcome: .error,
                summary: "packages.x86_64-linux does not evaluate: \(result.failure?.headline ?? "")",
                evidence: evidence)
        }
        let disabled = checks.filter { !$0.value }.keys.sorted()
        evidence.insert(
            Evidence(
                command: result.command,
                excerpt: "checks disabled: \(disabled.isEmpty ? "none" : disabled.joined(separator: ", "))"), at: 0)
        if disabled.isEmpty {
            return Verdict(
                id: id, outcome: .resolved,
                summary: "every package of the flake runs its checks (\(checks.count) packages)", evidence: evidence)
        }
        return Verdict(
            id: id, outcome: .reproduced,
            summary:
                "\(disabled.count) of \(checks.count) packages have doCheck = false: \(disabled.joined(separator: ", "))",
            evidence: evidence)
    }
}
