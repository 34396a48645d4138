import Foundation
import Linearizability

/// Jepsen's latency-raw and rate plots as SVG: one series per function and outcome,
/// against seconds since the run started, with the fault windows shaded.
public enum RunPlots {
    static let width = 900.0, height = 420.0
    static let left = 70.0, right = 170.0, top = 34.0, bottom = 44.0
    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]

    /// Every completed operation's latency (milliseconds, log scale) at its invocation.
    public static func latency(_ figures: RunFigures, title: String) -> String {
        let points = figures.series.map { s in
            (s.name, s.operations.compactMap { op in op.latency.map { (op.start, max($0 * 1000, 0.1)) } })
        }
        let all = points.flatMap(\.1).map(\.1)
        let lo = pow(10, floor(log10(all.min() ?? 1))), hi = pow(10, ceil(log10(max(all.max() ?? 10, lo * 10))))
        func y(_ ms: Double) -> Double { top + (1 - (log10(ms) - log10(lo)) / (log10(hi) - log10(lo))) * plotHeight }
        var ticks: [(Double, String)] = []
        var t = lo
        while t <= hi * 1.001 {
            ticks.append((y(t), t >= 1 ? "\(Int(t)) ms" : String(format: "%g ms", t)))
            t *= 10
        }
        var marks: [String] = []
        for (i, (_, pts)) in points.enumerated() {
            let c = palette[i % palette.count]
            for (x, ms) in pts {
                marks.append(
                    "<circle cx=\"\(fmt(xPosition(x, figures)))\" cy=\"\(fmt(y(ms)))\" r=\"1.8\" fill=\"\(c)\" fill-opacity=\"0.7\"/>"
                )
            }
        }
        return frame(
            figures, title: title, yLabel: "latency (ms, log)", yTicks: ticks, marks: marks,
            legend: points.map { "\($0.0) (\($0.1.count))" })
    }

    /// Completions per second, in one-second buckets, one line per series.
    public static func rate(_ figures: RunFigures, title: String) -> String {
        let buckets = max(Int(ceil(figures.duration)), 1)
        let series = figures.series.map { s -> (String, [Int]) in
            var counts = [Int](repeating: 0, count: buckets)
            for op in s.operations { if let e = op.end { counts[min(Int(e), buckets - 1)] += 1 } }
            return (s.name, counts)
        }
        let peak = Double(max(series.flatMap(\.1).max() ?? 1, 1))
        let step = niceStep(peak / 4)
        let niceTop = step * ceil(peak / step)
        func y(_ v: Double) -> Double { top + (1 - v / niceTop) * plotHeight }
        let ticks = stride(from: 0.0, through: niceTop + step / 2, by: step).map { v in
            (y(v), String(format: "%g", v))
        }
        var marks: [String] = []
        for (i, (_, counts)) in series.enumerated() {
            let c = palette[i % palette.count]
            let path = counts.enumerated().map { b, n in
                "\(b == 0 ? "M" : "L")\(fmt(xPosition(Double(b) + 0.5, figures))),\(fmt(y(Double(n))))"
            }.joined(separator: " ")
            marks.append("<path d=\"\(path)\" fill=\"none\" stroke=\"\(c)\" stroke-width=\"1.5\"/>")
        }
        return frame(
            figures, title: title, yLabel: "operations/s", yTicks: ticks, marks: marks,
            legend: series.map { "\($0.0) (\($0.1.reduce(0, +)))" })
    }

    static var plotWidth: Double { width - left - right }
    static var plotHeight: Double { height - top - bottom }

    static func xPosition(_ t: Double, _ figures: RunFigures) -> Double {
        left + t / max(figures.duration, 1) * plotWidth
    }

    /// The smallest of 1, 2 and 5 times a power of ten at least `v`: a step for axis ticks.
    static func niceStep(_ v: Double) -> Double {
        let magnitude = pow(10, floor(log10(max(v, 1e-9))))
        for m in [1.0, 2, 5] where m * magnitude >= v { return m * magnitude }
        return 10 * magnitude
    }

    static func fmt(_ v: Double) -> String { String(format: "%.1f", v) }

    /// Axes, grid, fault windows, legend, and `marks` drawn over them.
    static func frame(
        _ figures: RunFigures, title: String, yLabel: String, yTicks: [(Double, String)], marks: [String],
        legend: [String]
    ) -> String {
        var svg: [String] = [
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" "
                + "font-family=\"sans-serif\" font-size=\"11\">",
            "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>",
            "<text x=\"\(fmt(left))\" y=\"20\" font-size=\"14\" font-weight=\"bold\">\(TimelinePage.escape(title))</text>",
        ]
        for w in figures.faults {
            let x0 = xPosition(w.start, figures), x1 = xPosition(w.end ?? figures.duration, figures)
            svg.append(
                "<rect x=\"\(fmt(x0))\" y=\"\(fmt(top))\" width=\"\(fmt(max(x1 - x0, 1)))\" height=\"\(fmt(plotHeight))\" "
                    + "fill=\"#e63c3c\" fill-opacity=\"0.12\"/>")
            svg.append(
                "<text x=\"\(fmt(x0 + 3))\" y=\"\(fmt(top + 12))\" fill=\"#a22\">\(TimelinePage.escape(w.label))</text>"
            )
        }
        for (y, label) in yTicks {
            svg.append(
                "<line x1=\"\(fmt(left))\" x2=\"\(fmt(left + plotWidth))\" y1=\"\(fmt(y))\" y2=\"\(fmt(y))\" stroke=\"#eee\"/>"
            )
            svg.append("<text x=\"\(fmt(left - 6))\" y=\"\(fmt(y + 4))\" text-anchor=\"end\">\(label)</text>")
        }
        let step = figures.duration > 120 ? 30.0 : figures.duration > 30 ? 10.0 : 5.0
        var t = 0.0
        while t <= figures.duration + 0.001 {
            let x = xPosition(t, figures)
            svg.append(
                "<line x1=\"\(fmt(x))\" x2=\"\(fmt(x))\" y1=\"\(fmt(top + plotHeight))\" y2=\"\(fmt(top + plotHeight + 4))\" stroke=\"#333\"/>"
            )
            svg.append(
                "<text x=\"\(fmt(x))\" y=\"\(fmt(top + plotHeight + 16))\" text-anchor=\"middle\">\(Int(t))</text>")
            t += step
        }
        svg.append(
            "<text x=\"\(fmt(left + plotWidth / 2))\" y=\"\(fmt(height - 8))\" text-anchor=\"middle\">seconds</text>")
        svg.append(
            "<text transform=\"translate(16,\(fmt(top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\">\(yLabel)</text>"
        )
        svg.append(contentsOf: marks)
        svg.append(
            "<rect x=\"\(fmt(left))\" y=\"\(fmt(top))\" width=\"\(fmt(plotWidth))\" height=\"\(fmt(plotHeight))\" "
                + "fill=\"none\" stroke=\"#333\"/>")
        for (i, name) in legend.enumerated() {
            let y = top + 10 + Double(i) * 18
            svg.append(
                "<rect x=\"\(fmt(left + plotWidth + 14))\" y=\"\(fmt(y - 8))\" width=\"10\" height=\"10\" fill=\"\(palette[i % palette.count])\"/>"
            )
            svg.append(
                "<text x=\"\(fmt(left + plotWidth + 30))\" y=\"\(fmt(y + 1))\">\(TimelinePage.escape(name))</text>")
        }
        svg.append("</svg>")
        return svg.joined(separator: "\n") + "\n"
    }
}
