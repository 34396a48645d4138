import Findings
import Foundation
import Harness
import Nix
import SSH

/// The findings only booted nodes decide. Each runs on the miniature with F5 fixed
/// (so the cluster evaluates) and judges what the target's generated scripts do.
public struct RuntimeChecks: Sendable {
    public static let ids = ["F3", "F4.1", "F4.2", "F4.3"]
    /// Fixes every runtime check needs so the test cluster evaluates at all.
    public static let baseFixes = ["F5.1", "F5.2"]
    public static let joiner = "node04"

    public let session: RuntimeSession
    public let plan: ClusterPlan

    public init(session: RuntimeSession, plan: ClusterPlan) {
        self.session = session
        self.plan = plan
    }

    public func decide(_ id: String) async throws -> Verdict {
        // A known state: fresh units, node01-node03 bootstrapped.
        let bootstrap = try await Scenarios(session: session, plan: plan).bootstrap()
        guard bootstrap.passed else {
            return Verdict(id: id, outcome: .error, summary: "bootstrap failed", evidence: [])
        }
        if id.hasPrefix("F4") {
            _ = try await Scenarios(session: session, plan: plan).readyForMember()
            // A NixOS joiner boots as a new machine: its system runs the first-boot units.
            if session.nodesRunTheirOwnUnits { try await session.bootDeferred(Self.joiner) }
        }
        switch id {
        case "F4.1": return try await chainfireJoin()
        case "F4.2": return try await flaredbJoin()
        case "F4.3": return try await tlsJoin()
        case "F3": return try await phoneHome()
        default: throw FindingsError(.notAvailable, "no runtime check for \(id)")
        }
    }

    /// A unit's run on the joiner: its exit status and journal. On a NixOS node the
    /// first is the run its system made at boot; `again` runs it once more.
    func runUnit(_ unit: String, on node: String = joiner, again: Bool = false) async throws -> (Int32, String) {
        let n = try session.node(node)
        if session.nodesRunTheirOwnUnits && !again {
            _ = try await session.waitFor("\(unit) to have run at \(node)'s boot", node: node, seconds: 90) {
                () -> Bool? in
                let state = try await session.unitActivity(n, unit)
                return try await session.unitRan(n, unit) && state != "activating" ? true : nil
            }
        } else {
            _ = try await n.exec("systemctl restart \(unit)", timeout: 60)
        }
        let journal = await session.journal(node, unit)
        // systemd says 0 for a unit that never ran: that is no success.
        guard !journal.contains("No entries") else { return (-1, journal) }
        let status =
            Int32(
                try await n.succeed("systemctl show -p ExecMainStatus --value \(unit)").trimmingCharacters(
                    in: .whitespacesAndNewlines)) ?? -1
        return (status, journal)
    }

    /// A string field of the joiner's cluster-config.json, as its first-boot scripts read it.
    func clusterConfig(_ key: String) async throws -> String? {
        let config = try await session.node(Self.joiner).succeed("cat /etc/plasmacloud/cluster-config.json")
        return (try? JSONSerialization.jsonObject(with: Data(config.utf8)) as? [String: Any])?[key] as? String
    }

    func curlMeaning(_ code: Int32) -> String {
        switch code {
        case 0: "success"
        case 6: "curl 6: could not resolve host"
        case 7: "curl 7: could not connect"
        case 22: "curl 22: the server answered an HTTP error (4xx/5xx)"
        case 28: "curl 28: timed out"
        case 35: "curl 35: TLS handshake failed (the endpoint does not speak TLS)"
        case 60: "curl 60: the peer's certificate is not trusted (self-signed, no CA given)"
        case 77: "curl 77: cannot read the CA certificates"
        default: "exit \(code)"
        }
    }

    /// F4.1: the generated Chainfire join against the running cluster.
    func chainfireJoin() async throws -> Verdict {
        let leaderURL = try await clusterConfig("leader_url") ?? "?"
        let (status, journal) = try await runUnit("first-boot-chainfire-join")
        let members = await session.adapter("node01", "members") ?? ""
        let joinerPeer = try plan.node(Self.joiner).ip + ":2380"
        let added = members.contains(" \(Self.joiner) ") || members.contains(joinerPeer)
        var evidence = [
            Evidence(
                command: "jq .leader_url /etc/plasmacloud/cluster-config.json (on \(Self.joiner))", excerpt: leaderURL,
                location: SourceLocation(file: "nix/modules/plasmacloud-cluster.nix", line: nil)),
            Evidence(
                command: "systemctl start first-boot-chainfire-join; journalctl -u first-boot-chainfire-join",
                excerpt: journal),
            Evidence(excerpt: "exit \(status): \(curlMeaning(status))"),
            Evidence(command: "adapter members (on node01)", excerpt: members),
        ]
        evidence.append(
            Evidence(
                excerpt:
                    "Chainfire serves /admin/member/add in plain HTTP on its httpPort (routes: \(plan.chainfireRoutes.joined(separator: ", ")))",
                location: SourceLocation(file: "chainfire/crates/chainfire-server/src/rest.rs", line: nil)))
        if status == 0 && added {
            return Verdict(
                id: "F4.1", outcome: .resolved,
                summary: "the generated join reached /admin/member/add at \(leaderURL) and \(Self.joiner) was added",
                evidence: evidence)
        }
        return Verdict(
            id: "F4.1", outcome: .reproduced,
            summary:
                "the join to \(leaderURL) failed (\(curlMeaning(status))): scheme and port do not match Chainfire's plain-HTTP REST",
            evidence: evidence)
    }

    /// F4.2: the generated FlareDB join against FlareDB's REST API.
    func flaredbJoin() async throws -> Verdict {
        let fallback = "http://\(try plan.node("node01").ip):8082"
        let url = try await clusterConfig("flaredb_leader_url") ?? fallback
        let (status, journal) = try await runUnit("first-boot-flaredb-join")
        let probe = try await session.node(Self.joiner).exec(
            "curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' -d '{\"id\":\"probe\",\"addr\":\"0.0.0.0:0\"}' \(url)/admin/member/add"
        )
        let evidence = [
            Evidence(
                command: "systemctl start first-boot-flaredb-join; journalctl -u first-boot-flaredb-join",
                excerpt: journal),
            Evidence(excerpt: "exit \(status): \(curlMeaning(status))"),
            Evidence(command: "curl -X POST \(url)/admin/member/add", excerpt: "HTTP \(probe.stdout)"),
            Evidence(
                excerpt: "FlareDB routes: \(plan.flaredbRoutes.joined(separator: ", "))",
                location: SourceLocation(file: "flaredb/crates/flaredb-server/src/rest.rs", line: nil)),
        ]
        if status == 0 && probe.stdout != "404" {
            return Verdict(
                id: "F4.2", outcome: .resolved, summary: "FlareDB accepted /admin/member/add (HTTP \(probe.stdout))",
                evidence: evidence)
        }
        return Verdict(
            id: "F4.2", outcome: .reproduced,
            summary: "FlareDB answers HTTP \(probe.stdout) to /admin/member/add: its router has no such route",
            evidence: evidence)
    }

    /// F4.3: the generated join against a leader with a self-signed certificate.
    func tlsJoin() async throws -> Verdict {
        let leader = try session.node("node01")
        let ip = try plan.node("node01").ip
        try await leader.succeed(
            """
            mkdir -p /run/tls && cd /run/tls && \
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout key.pem -out cert.pem \
              -days 1 -subj /CN=node01 -addext subjectAltName=IP:\(ip) 2>/dev/null && \
            ( (printf 'HTTP/1.0 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: 11\\r\\n\\r\\n{"ok":true}'; sleep 60) | \
              openssl s_server -accept 8443 -cert cert.pem -key key.pem -quiet -naccept 1 >/run/tls/served.log 2>&1 &)
            """, timeout: 60)
        let cert = try await leader.succeed("cat /run/tls/cert.pem")
        let joiner = try session.node(Self.joiner)
        // The CA goes where the evaluated module says, if it says anywhere.
        let script = try plan.node(Self.joiner).services["first-boot-chainfire-join"]?.script ?? ""
        let caPath =
            script.range(of: "--cacert ").map { String(script[$0.upperBound...].prefix { !$0.isWhitespace }) }
            ?? "/etc/plasmacloud/pki/ca.pem"
        try await joiner.upload(Data(cert.utf8), to: caPath)
        try await joiner.succeed(
            "f=/etc/plasmacloud/cluster-config.json; jq '.leader_url = \"https://\(ip):8443\"' $f > $f.new && mv $f.new $f && rm -rf /var/lib/first-boot"
        )
        let (status, journal) = try await runUnit("first-boot-chainfire-join", again: true)
        let line = script.split(separator: "\n").first { $0.contains("curl") }.map(String.init) ?? ""
        let evidence = [
            Evidence(
                excerpt:
                    "leader https://\(ip):8443 with a self-signed certificate; its certificate placed at \(caPath) on \(Self.joiner)"
            ),
            Evidence(
                excerpt: line.trimmingCharacters(in: .whitespaces),
                location: SourceLocation(file: "nix/modules/first-boot-automation.nix", line: nil)),
            Evidence(command: "journalctl -u first-boot-chainfire-join", excerpt: journal),
            Evidence(excerpt: "exit \(status): \(curlMeaning(status))"),
        ]
        if [35, 51, 58, 60, 77].contains(status) {
            return Verdict(
                id: "F4.3", outcome: .reproduced,
                summary: "the join refused the self-signed leader (\(curlMeaning(status))): no -k and no CA",
                evidence: evidence)
        }
        if status == 0 || status == 22 {
            return Verdict(
                id: "F4.3", outcome: .resolved,
                summary: "the join completed the TLS handshake with the leader (\(curlMeaning(status)))",
                evidence: evidence)
        }
        return Verdict(
            id: "F4.3", outcome: .error, summary: "the join failed for another reason: \(curlMeaning(status))",
            evidence: evidence)
    }

    /// F3: the ISO's phone-home, run on a new machine of the cluster.
    func phoneHome() async throws -> Verdict {
        guard let script = plan.phoneHomeScript else {
            return Verdict(
                id: "F3", outcome: .error, summary: "the ISO's phone-home script does not evaluate", evidence: [])
        }
        let node = try session.node(Scenarios.client)
        try await node.upload(Data(script.utf8), to: "/run/phone-home.sh", mode: "0755")
        let result = try await node.exec("sh -e /run/phone-home.sh", timeout: 60)
        let deployerLog =
            (try? await session.node("node01").exec("cat /var/lib/deployer/phoned-home 2>/dev/null").stdout) ?? ""
        let evidence = [
            Evidence(
                command: "sh -e phone-home (the ISO's plasmacloud-phone-home script) on \(Scenarios.client)",
                excerpt: (result.stdout + result.stderr).trimmingCharacters(in: .whitespacesAndNewlines).ifEmpty(
                    "(no output)"),
                location: SourceLocation(file: "nix/iso/plasmacloud-iso.nix", line: nil)),
            Evidence(excerpt: "exit \(result.exitStatus): \(curlMeaning(result.exitStatus))"),
            Evidence(
                command: "cat /var/lib/deployer/phoned-home (node01)", excerpt: deployerLog.ifEmpty("(no deployer)")),
        ]
        if result.exitStatus == 0 && deployerLog.contains(Scenarios.client) {
            return Verdict(
                id: "F3", outcome: .resolved,
                summary: "the phone-home reached a Deployer, which recorded \(Scenarios.client)", evidence: evidence)
        }
        return Verdict(
            id: "F3", outcome: .reproduced,
            summary: "the phone-home to $DEPLOYER_URL reaches nothing (\(curlMeaning(result.exitStatus)))",
            evidence: evidence)
    }
}
