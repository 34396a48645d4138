import Foundation
import Linearizability

/// Jepsen's timeline.html for a history: one column per process, time running down,
/// each operation a box from its invocation to its completion coloured by outcome
/// (its details on hover), and the nemesis' fault windows shaded across every column.
public enum TimelinePage {
    /// Jepsen's colours: ok blue, info orange, fail pink.
    static func colour(_ status: HistoryOperation.Status) -> String {
        switch status {
        case .ok: "#6DB6FE"
        case .info: "#FFAA26"
        case .fail: "#FEB5DA"
        }
    }

    public static func render(_ figures: RunFigures, title: String) -> String {
        let processes = Array(Set(figures.operations.map(\.process))).sorted {
            (Int($0) ?? Int.max, $0) < (Int($1) ?? Int.max, $1)
        }
        let column = Dictionary(uniqueKeysWithValues: processes.enumerated().map { ($1, $0) })
        let width = 64, gap = 4, axis = 56, header = 24
        // Long runs are squeezed so the page stays a few screens tall.
        let scale = min(120, max(8, 6000 / max(figures.duration, 1)))
        let height = Int((figures.duration + 1) * scale) + header
        let total = axis + processes.count * (width + gap)
        func y(_ t: Double) -> Int { header + Int(t * scale) }
        var body: [String] = []
        for w in figures.faults {
            let end = w.end ?? figures.duration
            body.append(
                "<div class=\"fault\" style=\"top:\(y(w.start))px;height:\(max(Int((end - w.start) * scale), 2))px;"
                    + "width:\(total - axis)px\" title=\"\(escape(w.label))\"><span>\(escape(w.label))"
                    + "\(w.end == nil ? " (never healed)" : "")</span></div>")
        }
        for (i, p) in processes.enumerated() {
            body.append(
                "<div class=\"head\" style=\"left:\(axis + i * (width + gap))px;width:\(width)px\">\(escape(p))</div>")
        }
        var tick = 0.0
        let step = figures.duration > 120 ? 10.0 : figures.duration > 30 ? 5.0 : 1.0
        while tick <= figures.duration + step / 2 {
            body.append("<div class=\"tick\" style=\"top:\(y(tick))px;width:\(total)px\">\(Int(tick)) s</div>")
            tick += step
        }
        for op in figures.operations {
            guard let c = column[op.process] else { continue }
            let end = op.end ?? figures.duration
            let latency = op.latency.map { String(format: "%.1f ms", $0 * 1000) } ?? "never completed"
            // A read's input is nil: what it read is what matters.
            let input = op.input == "nil" ? "" : " \(op.input)"
            let text = "\(op.f)\(op.key.isEmpty ? "" : " key \(op.key)")\(input)"
            let result = op.status == .ok && op.input == "nil" ? " → \(op.output)" : ""
            let tip =
                "process \(op.process): \(text)\(result), \(op.status.rawValue), "
                + "invoked at \(String(format: "%.3f", op.start)) s, \(latency)"
            body.append(
                "<div class=\"op\" style=\"left:\(axis + c * (width + gap))px;top:\(y(op.start))px;"
                    + "height:\(max(Int((end - op.start) * scale), 2))px;width:\(width)px;"
                    + "background:\(colour(op.status))\" title=\"\(escape(tip))\">\(escape(text + result))</div>")
        }
        let counts = Dictionary(grouping: figures.operations) { "\($0.f) \($0.status.rawValue)" }
            .map { "\($0.key): \($0.value.count)" }.sorted().joined(separator: " · ")
        return """
            <!DOCTYPE html>
            <html><head><meta charset="utf-8"><title>\(escape(title))</title>
            <style>
            body { font: 12px sans-serif; margin: 16px; }
            h1 { font-size: 16px; margin: 0 0 4px; }
            .legend span { display: inline-block; padding: 1px 6px; margin-right: 6px; }
            .plot { position: relative; height: \(height)px; width: \(total)px; margin-top: 12px; }
            .op { position: absolute; overflow: hidden; font-size: 10px; line-height: 11px; border-radius: 2px;
                  box-sizing: border-box; border: 1px solid rgba(0,0,0,.15); white-space: nowrap; }
            .head { position: absolute; top: 0; text-align: center; font-weight: bold; }
            .tick { position: absolute; left: 0; border-top: 1px solid #eee; color: #888; font-size: 10px; }
            .fault { position: absolute; left: \(axis)px; background: rgba(230,60,60,.12);
                     border-top: 1px dashed #c33; border-bottom: 1px dashed #c33; }
            .fault span { position: relative; z-index: 2; color: #a22; font-size: 11px; padding: 0 4px;
                          background: rgba(255,255,255,.8); }
            </style></head><body>
            <h1>\(escape(title))</h1>
            <div>\(figures.operations.count) operations, \(processes.count) processes, \
            \(String(format: "%.1f", figures.duration)) s. \(escape(counts))</div>
            <div>Faults: \(figures.faults.isEmpty ? "none" : figures.faults.map { w in
                escape("\(w.label) \(String(format: "%.1f", w.start))–\(w.end.map { String(format: "%.1f s", $0) } ?? "never healed")")
            }.joined(separator: "; "))</div>
            <div class="legend"><span style="background:\(colour(.ok))">ok</span>\
            <span style="background:\(colour(.info))">info (outcome unknown)</span>\
            <span style="background:\(colour(.fail))">fail</span>\
            <span style="background:rgba(230,60,60,.12)">fault window</span></div>
            <div class="plot">
            \(body.joined(separator: "\n"))
            </div></body></html>

            """
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
