import Foundation
import Linearizability

/// Jepsen's latency-raw and rate plots as SVG: one series per function and outcome,
/// against seconds since the run started, with the fault windows shaded.
public enum RunPlots {
    static let width = 900.0, height = 420.0
    static let left = 70.0, right = 170.0, top = 34.0, bottom = 44.0
    /// A series' look: its colour says the outcome (as in the timeline: ok blue, info
    /// orange, fail red), its marker or dash the function.
    struct Style {
        var colour: String
        var function: Int
        static func of(_ series: RunFigures.Series, functions: [String]) -> Style {
            let colour =
                switch series.status {
                case .ok: "#1f77b4"
                case .info: "#ff7f0e"
                case .fail: "#d62728"
                }
            return Style(colour: colour, function: functions.firstIndex(of: series.f) ?? 0)
        }
        /// A marker at (x, y): circle, square, triangle, diamond by function.
        func marker(_ x: Double, _ y: Double, size r: Double = 2.2) -> String {
            let attrs = "fill=\"\(colour)\" fill-opacity=\"0.7\""
            switch function % 4 {
            case 0: return "<circle cx=\"\(fmt(x))\" cy=\"\(fmt(y))\" r=\"\(fmt(r))\" \(attrs)/>"
            case 1:
                return
                    "<rect x=\"\(fmt(x - r))\" y=\"\(fmt(y - r))\" width=\"\(fmt(2 * r))\" height=\"\(fmt(2 * r))\" \(attrs)/>"
            case 2:
                return
                    "<path d=\"M\(fmt(x)),\(fmt(y - r - 0.6)) L\(fmt(x + r + 0.6)),\(fmt(y + r)) L\(fmt(x - r - 0.6)),\(fmt(y + r)) Z\" \(attrs)/>"
            default:
                return
                    "<path d=\"M\(fmt(x)),\(fmt(y - r - 0.6)) L\(fmt(x + r + 0.6)),\(fmt(y)) L\(fmt(x)),\(fmt(y + r + 0.6)) L\(fmt(x - r - 0.6)),\(fmt(y)) Z\" \(attrs)/>"
            }
        }
        var dash: String { ["", "6,3", "2,2", "8,3,2,3"][function % 4] }
    }

    /// Every completed operation's latency (milliseconds, log scale) at its invocation.
    public static func latency(_ figures: RunFigures, title: String) -> String {
        let series = figures.series
        let points = series.map { s in
            s.operations.compactMap { op in op.latency.map { (op.start, max($0 * 1000, 0.1)) } }
        }
        let all = points.flatMap { $0 }.map(\.1)
        let lo = pow(10, floor(log10(all.min() ?? 1))), hi = pow(10, ceil(log10(max(all.max() ?? 10, lo * 10))))
        func y(_ ms: Double) -> Double { top + (1 - (log10(ms) - log10(lo)) / (log10(hi) - log10(lo))) * plotHeight }
        var ticks: [(Double, String)] = []
        var t = lo
        while t <= hi * 1.001 {
            ticks.append((y(t), t >= 1 ? "\(Int(t)) ms" : String(format: "%g ms", t)))
            t *= 10
        }
        let styles = series.map { Style.of($0, functions: figures.functions) }
        var marks: [String] = []
        for (style, pts) in zip(styles, points) {
            for (x, ms) in pts { marks.append(style.marker(xPosition(x, figures), y(ms))) }
        }
        return frame(
            figures, title: title, yLabel: "latency (ms, log)", yTicks: ticks, marks: marks,
            legend: zip(series, zip(styles, points)).map { ("\($0.name) (\($1.1.count))", $1.0, false) })
    }

    /// Completions per second, in one-second buckets, one line per series.
    public static func rate(_ figures: RunFigures, title: String) -> String {
        let buckets = max(Int(ceil(figures.duration)), 1)
        let all = figures.series
        let series = all.map { s -> [Int] in
            var counts = [Int](repeating: 0, count: buckets)
            for op in s.operations { if let e = op.end { counts[min(Int(e), buckets - 1)] += 1 } }
            return counts
        }
        let styles = all.map { Style.of($0, functions: figures.functions) }
        let peak = Double(max(series.flatMap { $0 }.max() ?? 1, 1))
        let step = niceStep(peak / 4)
        let niceTop = step * ceil(peak / step)
        func y(_ v: Double) -> Double { top + (1 - v / niceTop) * plotHeight }
        let ticks = stride(from: 0.0, through: niceTop + step / 2, by: step).map { v in
            (y(v), String(format: "%g", v))
        }
        var marks: [String] = []
        for (style, counts) in zip(styles, series) {
            let path = counts.enumerated().map { b, n in
                "\(b == 0 ? "M" : "L")\(fmt(xPosition(Double(b) + 0.5, figures))),\(fmt(y(Double(n))))"
            }.joined(separator: " ")
            marks.append(
                "<path d=\"\(path)\" fill=\"none\" stroke=\"\(style.colour)\" stroke-width=\"1.5\" "
                    + "stroke-dasharray=\"\(style.dash)\"/>")
        }
        return frame(
            figures, title: title, yLabel: "operations/s", yTicks: ticks, marks: marks,
            legend: zip(all, zip(styles, series)).map { ("\($0.name) (\($1.1.reduce(0, +)))", $1.0, true) })
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
        legend: [(text: String, style: Style, line: Bool)]
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
        for (i, entry) in legend.enumerated() {
            let y = top + 10 + Double(i) * 18
            let x = left + plotWidth + 14
            if entry.line {
                svg.append(
                    "<line x1=\"\(fmt(x - 2))\" x2=\"\(fmt(x + 12))\" y1=\"\(fmt(y - 3))\" y2=\"\(fmt(y - 3))\" "
                        + "stroke=\"\(entry.style.colour)\" stroke-width=\"2\" stroke-dasharray=\"\(entry.style.dash)\"/>"
                )
            } else {
                svg.append(entry.style.marker(x + 5, y - 3, size: 4))
            }
            svg.append("<text x=\"\(fmt(x + 16))\" y=\"\(fmt(y + 1))\">\(TimelinePage.escape(entry.text))</text>")
        }
        svg.append("</svg>")
        return svg.joined(separator: "\n") + "\n"
    }
}
