/// Draws one key's operations over time as SVG, one row per process, like Knossos'
/// linear.svg: a bar from invocation to completion (open-ended for an unknown
/// outcome), coloured by outcome; the operation that cannot be linearized outlined
/// in red, those concurrent with it in orange, and its completion marked by a line.
/// Time runs by event order, so short operations stay visible; hovering a bar shows
/// its lines and clock times.
public enum AnomalyPicture {
    /// At most this many operations are drawn: those just before the failing point.
    public static let maxOperations = 160

    public static func svg(
        history: History, operationIDs: [Int], anomaly: Anomaly, describe: (HistoryOperation) -> String
    )
        -> String
    {
        let failingLine = anomaly.operation.invokeLine
        let allOps = operationIDs.map { history.operations[$0] }
        let failing = allOps.first {
            $0.invokeLine == failingLine && $0.process.description == anomaly.operation.process
        }
        let end = failing?.completePosition ?? allOps.map(\.invokePosition).max() ?? 0
        var ops = allOps.filter { $0.invokePosition <= end }
        if ops.count > maxOperations { ops = Array(ops.suffix(maxOperations)) }
        let concurrent = Set(anomaly.concurrent.map { "\($0.process)/\($0.invokeLine)" })

        // Columns: the distinct event positions drawn, in order.
        var positions = Set<Int>()
        for op in ops {
            positions.insert(op.invokePosition)
            if let c = op.completePosition, c <= end { positions.insert(c) }
        }
        let columns = positions.sorted()
        let column = Dictionary(uniqueKeysWithValues: columns.enumerated().map { ($1, $0) })
        let processes = Array(Set(ops.map(\.process.description))).sorted {
            (Int($0) ?? Int.max, $0) < (Int($1) ?? Int.max, $1)
        }
        let row = Dictionary(uniqueKeysWithValues: processes.enumerated().map { ($1, $0) })

        let left = 90.0, top = 118.0, rowHeight = 34.0, barHeight = 24.0
        let step = max(26.0, min(60.0, 1100.0 / Double(max(columns.count, 1))))
        let plotWidth = step * Double(columns.count + 2)
        let width = left + plotWidth + 30
        let listed = min(anomaly.concurrent.count, 12)
        let height = top + rowHeight * Double(processes.count) + 70 + 18 * Double(listed + 1)
        func x(_ position: Int) -> Double { left + step * (Double(column[position] ?? columns.count) + 0.5) }

        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
            font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="#ffffff"/>
            <text x="12" y="22" font-size="16" font-weight="bold">\
            Not linearizable\(anomaly.key.map { ": key \(escape($0))" } ?? "")</text>
            <text x="12" y="42">\(escape(anomaly.explanation.count > 220
                ? String(anomaly.explanation.prefix(220)) + "…" : anomaly.explanation))</text>
            <text x="12" y="62" fill="#555">The smallest prefix that cannot be linearized holds \
            \(anomaly.prefixOperations) operation(s)\(anomaly.prefixIsMinimal ? "" : " (not minimised: budget)")\
            \(ops.count < allOps.filter { $0.invokePosition <= end }.count ? "; the last \(ops.count) are drawn" : "").\
             Time runs left to right by event order.</text>
            <rect x="12" y="76" width="14" height="12" fill="#B7E1A1" stroke="#444"/>\
            <text x="30" y="86">ok</text>
            <rect x="62" y="76" width="14" height="12" fill="#F8C0C8" stroke="#444"/>\
            <text x="80" y="86">fail</text>
            <rect x="118" y="76" width="14" height="12" fill="#FBE7A1" stroke="#444" stroke-dasharray="3,2"/>\
            <text x="136" y="86">unknown (info)</text>
            <rect x="236" y="76" width="14" height="12" fill="#ffffff" stroke="#D62728" stroke-width="3"/>\
            <text x="254" y="86">cannot be linearized</text>
            <rect x="392" y="76" width="14" height="12" fill="#ffffff" stroke="#FF7F0E" stroke-width="2"/>\
            <text x="410" y="86">concurrent with it</text>

            """
        for (i, p) in processes.enumerated() {
            let y = top + rowHeight * Double(i)
            svg += "<text x=\"12\" y=\"\(fmt(y + barHeight * 0.7))\">process \(escape(p))</text>\n"
            svg += "<line x1=\"\(fmt(left))\" y1=\"\(fmt(y + barHeight / 2))\" x2=\"\(fmt(left + plotWidth))\" "
            svg += "y2=\"\(fmt(y + barHeight / 2))\" stroke=\"#eeeeee\"/>\n"
        }
        for op in ops {
            guard let r = row[op.process.description] else { continue }
            let y = top + rowHeight * Double(r)
            let x0 = x(op.invokePosition) - step * 0.4
            let open = op.completePosition == nil || op.completePosition! > end
            let x1 = open ? left + plotWidth : x(op.completePosition!) + step * 0.4
            let isFailing = op.id == failing?.id
            let fill = op.status == .ok ? "#B7E1A1" : op.status == .fail ? "#F8C0C8" : "#FBE7A1"
            var stroke = "stroke=\"#666\" stroke-width=\"1\""
            if isFailing {
                stroke = "stroke=\"#D62728\" stroke-width=\"3\""
            } else if concurrent.contains("\(op.process.description)/\(op.invokeLine)") {
                stroke = "stroke=\"#FF7F0E\" stroke-width=\"2\""
            }
            let dash = open ? " stroke-dasharray=\"4,3\"" : ""
            let label = describe(op)
            let title =
                "\(label) — process \(op.process), lines \(op.invokeLine)–\(op.completeLine.map(String.init) ?? "end")"
                + (op.invokeTime.map { ", invoked at \(fmt(Double($0) / 1e9)) s" } ?? "")
                + (op.completeTime.map { ", completed at \(fmt(Double($0) / 1e9)) s" } ?? "")
            svg += "<g><title>\(escape(title))</title>"
            svg += "<rect x=\"\(fmt(x0))\" y=\"\(fmt(y))\" width=\"\(fmt(max(4, x1 - x0)))\" "
            svg += "height=\"\(fmt(barHeight))\" rx=\"3\" fill=\"\(fill)\" \(stroke)\(dash)/>"
            let chars = Int((x1 - x0) / 7)
            if chars >= 3 {
                let text = label.count > chars ? String(label.prefix(chars - 1)) + "…" : label
                svg += "<text x=\"\(fmt(x0 + 4))\" y=\"\(fmt(y + barHeight * 0.68))\">\(escape(text))</text>"
            }
            svg += "</g>\n"
        }
        if let failing, let c = failing.completePosition {
            let xf = x(c) + step * 0.4
            let y1 = top + rowHeight * Double(processes.count)
            svg += "<line x1=\"\(fmt(xf))\" y1=\"\(fmt(top - 14))\" x2=\"\(fmt(xf))\" y2=\"\(fmt(y1))\" "
            svg += "stroke=\"#D62728\" stroke-width=\"2\"/>\n"
            svg += "<text x=\"\(fmt(xf - 4))\" y=\"\(fmt(top - 18))\" text-anchor=\"end\" fill=\"#D62728\">"
            svg += "line \(failing.completeLine ?? 0): no linearization explains this</text>\n"
        }
        // Labels in the bars are cut to fit: the operations that matter, in full.
        var y = top + rowHeight * Double(processes.count) + 24
        let o = anomaly.operation
        svg += "<text x=\"12\" y=\"\(fmt(y))\" fill=\"#D62728\" font-weight=\"bold\">Cannot be linearized: "
        svg += "process \(escape(o.process)): \(escape(o.description)) (lines \(o.invokeLine)–"
        svg += "\(o.completeLine.map(String.init) ?? "end"))</text>\n"
        if !anomaly.statesBefore.isEmpty {
            y += 18
            let states = anomaly.statesBefore.joined(separator: ", ")
            svg += "<text x=\"12\" y=\"\(fmt(y))\">States in which it could take effect: \(escape(states))</text>\n"
        }
        for c in anomaly.concurrent.prefix(listed) {
            y += 18
            svg += "<text x=\"24\" y=\"\(fmt(y))\" fill=\"#B35900\">concurrent: process \(escape(c.process)): "
            svg +=
                "\(escape(c.description)) (lines \(c.invokeLine)–\(c.completeLine.map(String.init) ?? "end"))</text>\n"
        }
        if anomaly.concurrent.count > listed {
            y += 18
            svg += "<text x=\"24\" y=\"\(fmt(y))\">… and \(anomaly.concurrent.count - listed) more</text>\n"
        }
        svg += "</svg>\n"
        return svg
    }

    static func fmt(_ v: Double) -> String {
        let r = (v * 10).rounded() / 10
        return r == r.rounded() ? String(Int(r)) : String(r)
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }
}
