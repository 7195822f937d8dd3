import Foundation

/// Hand-written inline SVG charts for the HTML report: grouped bars with a threshold line,
/// horizontal bars, lines, and a pair of histograms. Output is deterministic (fixed number
/// formatting, no randomness, no dictionaries iterated) and well-formed XML, so the report is
/// reproducible byte for byte and can be checked with an XML parser. Every string that reaches
/// the markup goes through `esc`; every coordinate goes through `SVG.n`, which never prints NaN.
enum SVGChart {
    struct BarSeries {
        var name: String
        /// One value per category; nil or non-finite draws no bar.
        var values: [Double?]
        var color: String
        /// Categories drawn with a red outline and a marker (flagged labels).
        var flagged: Set<Int> = []
    }

    struct LineSeries {
        var name: String
        var points: [(x: Double, y: Double)]
        var color: String
        var dashed = false
    }

    struct Threshold {
        var value: Double
        var label: String
    }

    static let flagColor = "#b3261e"

    // MARK: Grouped bars

    /// Bars per category (one per series), y from 0 (or the smallest value) to the largest value
    /// or threshold. Categories are labelled every k-th when there are too many to label all.
    static func groupedBars(title: String, categories: [String], series: [BarSeries], threshold: Threshold?,
                            xLabel: String, yLabel: String) -> String {
        let n = max(categories.count, 1), s = max(series.count, 1)
        let barW: Double = n * s > 60 ? 6 : (n * s > 30 ? 9 : 14)
        let groupW = Double(s) * barW + (n > 30 ? 4 : 8)
        let plotW = max(380, Double(n) * groupW), plotH = 190.0
        let ml = 52.0, mr = 70.0, mt = 34.0, mb = 46.0
        let w = ml + plotW + mr, h = mt + plotH + mb
        let all = series.flatMap { $0.values.compactMap { $0 }.filter(\.isFinite) } + (threshold.map { [$0.value] } ?? [])
        let ticks = SVG.ticks(lo: min(0, all.min() ?? 0), hi: max(all.max() ?? 1, 1e-9) * 1.05)
        let y = SVG.scale(ticks.lo, ticks.hi, mt + plotH, mt)
        let cw = plotW / Double(n)
        var out = SVG.open(w, h, title: title)
        out += SVG.yAxis(ticks, y: y, x0: ml, x1: ml + plotW, label: yLabel, midY: mt + plotH / 2)
        let every = max(1, Int((16 / cw).rounded(.up)))
        for (i, c) in categories.enumerated() {
            let x0 = ml + Double(i) * cw + (cw - Double(s) * barW) / 2
            let anyFlag = series.contains { $0.flagged.contains(i) }
            if i % every == 0 || anyFlag {
                out += "<text \(SVG.t(anyFlag ? "tick flag" : "tick")) x=\"\(SVG.n(ml + (Double(i) + 0.5) * cw))\" y=\"\(SVG.n(mt + plotH + 14))\" text-anchor=\"middle\">\(esc(c))</text>\n"
            }
            for (j, ser) in series.enumerated() {
                guard i < ser.values.count, let v = ser.values[i], v.isFinite else { continue }
                let bx = x0 + Double(j) * barW
                let top = y(max(v, 0)), bottom = y(min(v, 0))
                let flagged = ser.flagged.contains(i)
                out += "<rect x=\"\(SVG.n(bx))\" y=\"\(SVG.n(top))\" width=\"\(SVG.n(barW - 1))\" height=\"\(SVG.n(max(bottom - top, 0.5)))\" fill=\"\(ser.color)\""
                out += flagged ? " stroke=\"\(flagColor)\" stroke-width=\"1.5\">" : ">"
                out += "<title>\(esc(ser.name)) · \(esc(c)): \(SVG.num(v, 3))\(flagged ? " (flagged)" : "")</title></rect>\n"
                if flagged {
                    let cx = bx + (barW - 1) / 2, ty = top - 3
                    out += "<path d=\"M\(SVG.n(cx - 4)) \(SVG.n(ty - 7))L\(SVG.n(cx + 4)) \(SVG.n(ty - 7))L\(SVG.n(cx)) \(SVG.n(ty))Z\" fill=\"\(flagColor)\"/>\n"
                }
            }
        }
        out += SVG.line(ml, y(0), ml + plotW, y(0), cls: "axis")
        if let t = threshold, t.value.isFinite {
            let ty = y(t.value)
            out += SVG.line(ml, ty, ml + plotW, ty, cls: "threshold")
            out += "<text \(SVG.t("thr")) x=\"\(SVG.n(ml + plotW + 4))\" y=\"\(SVG.n(ty + 4))\">\(esc(t.label))</text>\n"
        }
        out += "<text \(SVG.t("axis-title")) x=\"\(SVG.n(ml + plotW / 2))\" y=\"\(SVG.n(h - 8))\" text-anchor=\"middle\">\(esc(xLabel))</text>\n"
        var legend = series.map { ($0.name, $0.color, false) }
        if series.contains(where: { !$0.flagged.isEmpty }) { legend.append(("flagged", flagColor, true)) }
        out += SVG.legend(legend, x: ml, y: 14)
        return out + "</svg>\n"
    }

    // MARK: Horizontal bars

    /// One bar per row (rows keep their order), value labels at the bar ends.
    static func horizontalBars(title: String, rows: [String], values: [Double?], color: String, highlight: Set<Int>,
                               xLabel: String) -> String {
        let rowH = 17.0, labelW = min(190, max(60, Double(rows.map(\.count).max() ?? 4) * 6.6 + 10))
        let plotW = 480.0, mt = 28.0, mb = 38.0, mr = 56.0
        let w = labelW + plotW + mr, h = mt + Double(max(rows.count, 1)) * rowH + mb
        let finite = values.compactMap { $0 }.filter(\.isFinite)
        let ticks = SVG.ticks(lo: min(0, finite.min() ?? 0), hi: max(finite.max() ?? 1, 1e-9) * 1.02)
        let x = SVG.scale(ticks.lo, ticks.hi, labelW, labelW + plotW)
        let plotBottom = mt + Double(rows.count) * rowH
        var out = SVG.open(w, h, title: title)
        for t in ticks.values {
            out += SVG.line(x(t), mt - 4, x(t), plotBottom, cls: "grid")
            out += "<text \(SVG.t("tick")) x=\"\(SVG.n(x(t)))\" y=\"\(SVG.n(mt - 8))\" text-anchor=\"middle\">\(SVG.tick(t, ticks.step))</text>\n"
        }
        for (i, name) in rows.enumerated() {
            let top = mt + Double(i) * rowH, hot = highlight.contains(i)
            let shown = name.count > 28 ? String(name.prefix(27)) + "…" : name
            out += "<text \(SVG.t(hot ? "tick flag" : "tick")) x=\"\(SVG.n(labelW - 6))\" y=\"\(SVG.n(top + rowH * 0.7))\" text-anchor=\"end\"><title>\(esc(name))</title>\(esc(shown))</text>\n"
            guard i < values.count, let v = values[i], v.isFinite else {
                out += "<text \(SVG.t("tick")) x=\"\(SVG.n(x(0) + 4))\" y=\"\(SVG.n(top + rowH * 0.7))\">–</text>\n"
                continue
            }
            let a = x(min(v, 0)), b = x(max(v, 0))
            out += "<rect x=\"\(SVG.n(a))\" y=\"\(SVG.n(top + 2))\" width=\"\(SVG.n(max(b - a, 0.5)))\" height=\"\(SVG.n(rowH - 4))\" fill=\"\(hot ? flagColor : color)\"><title>\(esc(name)): \(SVG.num(v, 4))</title></rect>\n"
            out += "<text \(SVG.t("val")) x=\"\(SVG.n(b + 4))\" y=\"\(SVG.n(top + rowH * 0.7))\">\(SVG.num(v, 4))</text>\n"
        }
        out += SVG.line(x(0), mt - 4, x(0), plotBottom, cls: "axis")
        out += "<text \(SVG.t("axis-title")) x=\"\(SVG.n(labelW + plotW / 2))\" y=\"\(SVG.n(h - 10))\" text-anchor=\"middle\">\(esc(xLabel))</text>\n"
        return out + "</svg>\n"
    }

    // MARK: Lines

    /// Several series over a numeric x; non-finite points break a line. Vertical markers
    /// (e.g. where pruning stopped) are dashed.
    static func lines(title: String, series: [LineSeries], xLabel: String, yLabel: String, xMax: Double? = nil, yRange: ClosedRange<Double>?,
                      markers: [(x: Double, label: String)] = []) -> String {
        let plotW = 400.0, plotH = 190.0, ml = 52.0, mr = 18.0, mt = 34.0, mb = 46.0
        let w = ml + plotW + mr, h = mt + plotH + mb
        let pts = series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite }
        let xt = SVG.ticks(lo: min(0, pts.map(\.x).min() ?? 0), hi: max(pts.map(\.x).max() ?? 1, xMax.flatMap { $0.isFinite ? $0 : nil } ?? 1, 1))
        let yt = yRange.map { SVG.ticks(lo: $0.lowerBound, hi: $0.upperBound) }
            ?? SVG.ticks(lo: min(0, pts.map(\.y).min() ?? 0), hi: max(pts.map(\.y).max() ?? 1, 1e-9))
        let x = SVG.scale(xt.lo, xt.hi, ml, ml + plotW), y = SVG.scale(yt.lo, yt.hi, mt + plotH, mt)
        var out = SVG.open(w, h, title: title)
        out += SVG.yAxis(yt, y: y, x0: ml, x1: ml + plotW, label: yLabel, midY: mt + plotH / 2)
        out += SVG.xAxis(xt, x: x, y0: mt + plotH, label: xLabel, midX: ml + plotW / 2, h: h)
        for m in markers where m.x.isFinite {
            out += SVG.line(x(m.x), mt, x(m.x), mt + plotH, cls: "marker")
            let anchor = x(m.x) > ml + plotW * 0.6 ? "end" : "start"
            out += "<text \(SVG.t("thr")) x=\"\(SVG.n(x(m.x)))\" y=\"\(SVG.n(mt - 5))\" text-anchor=\"\(anchor)\">\(esc(m.label))</text>\n"
        }
        for s in series {
            var runs: [[(Double, Double)]] = [[]]
            for p in s.points {
                if p.x.isFinite && p.y.isFinite { runs[runs.count - 1].append((p.x, p.y)) } else if !runs[runs.count - 1].isEmpty { runs.append([]) }
            }
            for r in runs where !r.isEmpty {
                let d = r.map { "\(SVG.n(x($0.0))),\(SVG.n(y($0.1)))" }.joined(separator: " ")
                out += "<polyline points=\"\(d)\" fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"6 3\"" : "")><title>\(esc(s.name))</title></polyline>\n"
            }
        }
        var cx = ml
        for s in series {
            out += "<line x1=\"\(SVG.n(cx))\" y1=\"10\" x2=\"\(SVG.n(cx + 18))\" y2=\"10\" stroke=\"\(s.color)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"6 3\"" : "")/>\n"
            out += "<text \(SVG.t("legend")) x=\"\(SVG.n(cx + 22))\" y=\"14\">\(esc(s.name))</text>\n"
            cx += 36 + Double(s.name.count) * 6.4
        }
        return out + "</svg>\n"
    }

    // MARK: Histogram pair

    /// Two histograms over the same bins, as shares of their inputs, side by side in each bin;
    /// an optional vertical boundary (drawn at the left edge with a note when below the axis).
    static func histogramPair(title: String, binWidth: Double, minBins: Int = 5, a: (name: String, counts: [Int], color: String),
                              b: (name: String, counts: [Int], color: String), boundary: Double?, xLabel: String) -> String {
        let plotW = 400.0, plotH = 190.0, ml = 52.0, mr = 18.0, mt = 34.0, mb = 46.0
        let w = ml + plotW + mr, h = mt + plotH + mb
        let bw = binWidth.isFinite && binWidth > 0 ? binWidth : 1
        let last = max(a.counts.lastIndex { $0 > 0 } ?? 0, b.counts.lastIndex { $0 > 0 } ?? 0)
        var bins = max(last + 2, minBins, 5)
        if let bd = boundary, bd.isFinite, bd > 0 { bins = max(bins, Int((bd / bw).rounded(.up)) + 1) }
        bins = min(bins, max(a.counts.count, b.counts.count, 5))
        let ta = max(a.counts.reduce(0, +), 1), tb = max(b.counts.reduce(0, +), 1)
        let fa = a.counts.map { Double($0) / Double(ta) }, fb = b.counts.map { Double($0) / Double(tb) }
        let yt = SVG.ticks(lo: 0, hi: max((fa + fb).max() ?? 1, 0.05))
        let xt = SVG.ticks(lo: 0, hi: Double(bins) * bw)
        let x = SVG.scale(0, xt.hi, ml, ml + plotW), y = SVG.scale(yt.lo, yt.hi, mt + plotH, mt)
        var out = SVG.open(w, h, title: title)
        out += SVG.yAxis(yt, y: y, x0: ml, x1: ml + plotW, label: "share of inputs", midY: mt + plotH / 2)
        out += SVG.xAxis(xt, x: x, y0: mt + plotH, label: xLabel, midX: ml + plotW / 2, h: h)
        let pw = x(bw) - x(0)
        for i in 0..<bins {
            for (k, (f, c, name, counts)) in [(fa, a.color, a.name, a.counts), (fb, b.color, b.name, b.counts)].enumerated() {
                guard i < f.count, f[i] > 0 else { continue }
                let bx = x(Double(i) * bw) + Double(k) * pw / 2 + 0.5
                out += "<rect x=\"\(SVG.n(bx))\" y=\"\(SVG.n(y(f[i])))\" width=\"\(SVG.n(max(pw / 2 - 1, 0.5)))\" height=\"\(SVG.n(max(y(0) - y(f[i]), 0.5)))\" fill=\"\(c)\">"
                out += "<title>\(esc(name)): \(counts[i]) inputs in \(SVG.num(Double(i) * bw, 2))–\(SVG.num(Double(i + 1) * bw, 2)) bits</title></rect>\n"
            }
        }
        out += SVG.line(ml, y(0), ml + plotW, y(0), cls: "axis")
        if let bd = boundary, bd.isFinite {
            let bx = x(min(max(bd, 0), xt.hi))
            out += SVG.line(bx, mt, bx, mt + plotH, cls: "threshold")
            let text = bd < 0 ? "boundary \(SVG.num(bd, 3)) (below 0)" : "boundary \(SVG.num(bd, 3))"
            let anchor = bx > ml + plotW * 0.6 ? "end" : "start"
            out += "<text \(SVG.t("thr")) x=\"\(SVG.n(bx))\" y=\"\(SVG.n(mt - 5))\" text-anchor=\"\(anchor)\">\(esc(text))</text>\n"
        }
        out += SVG.legend([(a.name, a.color, false), (b.name, b.color, false)], x: ml, y: 14)
        return out + "</svg>\n"
    }
}

/// Low-level SVG pieces and number formatting shared by the charts.
enum SVG {
    /// A coordinate with one decimal; non-finite becomes 0 so no attribute ever says NaN.
    static func n(_ v: Double) -> String {
        guard v.isFinite else { return "0" }
        let s = String(format: "%.1f", v)
        return s == "-0.0" ? "0.0" : s
    }

    /// A value for people: fixed decimals, "–" when not finite.
    static func num(_ v: Double?, _ digits: Int) -> String {
        guard let v, v.isFinite else { return "–" }
        let s = String(format: "%.\(digits)f", v)
        return s.hasPrefix("-") && s.dropFirst().allSatisfy({ $0 == "0" || $0 == "." }) ? String(s.dropFirst()) : s
    }

    struct Ticks { var lo: Double; var hi: Double; var step: Double; var values: [Double] }

    /// "Nice" ticks (1, 2, 5 × 10^k) covering lo…hi.
    static func ticks(lo: Double, hi: Double, count: Int = 5) -> Ticks {
        var lo = lo.isFinite ? lo : 0, hi = hi.isFinite ? hi : 1
        if hi <= lo { hi = lo + 1 }
        let raw = (hi - lo) / Double(count)
        let mag = pow(10, (log10(raw)).rounded(.down)), norm = raw / mag
        let step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag
        lo = (lo / step).rounded(.down) * step
        hi = (hi / step - 1e-9).rounded(.up) * step
        let k = Int(((hi - lo) / step).rounded())
        return Ticks(lo: lo, hi: hi, step: step, values: (0...max(k, 1)).map { lo + Double($0) * step })
    }

    static func tick(_ v: Double, _ step: Double) -> String {
        num(v, max(0, Int(-(log10(step) + 1e-9).rounded(.down))))
    }

    /// Maps a..b onto c..d.
    static func scale(_ a: Double, _ b: Double, _ c: Double, _ d: Double) -> (Double) -> Double {
        let k = b == a ? 0 : (d - c) / (b - a)
        return { c + ($0 - a) * k }
    }

    static func open(_ w: Double, _ h: Double, title: String) -> String {
        "<svg class=\"chart\" viewBox=\"0 0 \(n(w)) \(n(h))\" width=\"\(n(w))\" height=\"\(n(h))\" font-family=\"system-ui, -apple-system, Segoe UI, Roboto, Arial, sans-serif\" role=\"img\" aria-label=\"\(esc(title))\"><title>\(esc(title))</title>\n"
    }

    static func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, cls: String) -> String {
        "<line \(stroke(cls)) x1=\"\(n(x1))\" y1=\"\(n(y1))\" x2=\"\(n(x2))\" y2=\"\(n(y2))\"/>\n"
    }

    /// Presentation attributes rather than CSS, so charts look the same in any renderer (and
    /// when an SVG is copied out of the page).
    static func stroke(_ cls: String) -> String {
        switch cls {
        case "axis": return "class=\"axis\" stroke=\"#555\" stroke-width=\"1\""
        case "threshold": return "class=\"threshold\" stroke=\"#b3261e\" stroke-width=\"1.5\" stroke-dasharray=\"5 3\""
        case "marker": return "class=\"marker\" stroke=\"#666\" stroke-width=\"1.2\" stroke-dasharray=\"3 3\""
        default: return "class=\"grid\" stroke=\"#e3e7eb\" stroke-width=\"1\""
        }
    }

    static func t(_ cls: String) -> String {
        switch cls {
        case "tick flag": return "class=\"tick flag\" font-size=\"10\" fill=\"#b3261e\" font-weight=\"700\""
        case "val": return "class=\"val\" font-size=\"9.5\" fill=\"#555\""
        case "legend": return "class=\"legend\" font-size=\"11\" fill=\"#333\""
        case "axis-title": return "class=\"axis-title\" font-size=\"11\" fill=\"#444\""
        case "thr": return "class=\"thr\" font-size=\"10.5\" fill=\"#b3261e\" font-weight=\"600\""
        default: return "class=\"tick\" font-size=\"10\" fill=\"#555\""
        }
    }

    static func yAxis(_ t: Ticks, y: (Double) -> Double, x0: Double, x1: Double, label: String, midY: Double) -> String {
        var out = ""
        for v in t.values {
            out += line(x0, y(v), x1, y(v), cls: "grid")
            out += "<text \(SVG.t("tick")) x=\"\(n(x0 - 5))\" y=\"\(n(y(v) + 4))\" text-anchor=\"end\">\(tick(v, t.step))</text>\n"
        }
        out += line(x0, y(t.lo), x0, y(t.hi), cls: "axis")
        out += "<text \(SVG.t("axis-title")) transform=\"translate(\(n(13)) \(n(midY))) rotate(-90)\" text-anchor=\"middle\">\(esc(label))</text>\n"
        return out
    }

    static func xAxis(_ t: Ticks, x: (Double) -> Double, y0: Double, label: String, midX: Double, h: Double) -> String {
        var out = line(x(t.lo), y0, x(t.hi), y0, cls: "axis")
        for v in t.values {
            out += line(x(v), y0, x(v), y0 + 4, cls: "axis")
            out += "<text \(SVG.t("tick")) x=\"\(n(x(v)))\" y=\"\(n(y0 + 16))\" text-anchor=\"middle\">\(tick(v, t.step))</text>\n"
        }
        out += "<text \(SVG.t("axis-title")) x=\"\(n(midX))\" y=\"\(n(h - 8))\" text-anchor=\"middle\">\(esc(label))</text>\n"
        return out
    }

    /// A row of swatches; `marker` entries are drawn as the flag triangle.
    static func legend(_ items: [(String, String, Bool)], x: Double, y: Double) -> String {
        var out = "", cx = x
        for (name, color, marker) in items {
            if marker {
                out += "<path d=\"M\(n(cx)) \(n(y - 8))L\(n(cx + 10)) \(n(y - 8))L\(n(cx + 5)) \(n(y + 1))Z\" fill=\"\(color)\"/>\n"
            } else {
                out += "<rect x=\"\(n(cx))\" y=\"\(n(y - 9))\" width=\"10\" height=\"10\" fill=\"\(color)\"/>\n"
            }
            out += "<text \(SVG.t("legend")) x=\"\(n(cx + 14))\" y=\"\(n(y))\">\(esc(name))</text>\n"
            cx += 28 + Double(name.count) * 6.4
        }
        return out
    }
}

/// Escapes text and attribute values for HTML and XML: & < > " '.
func esc(_ s: String) -> String {
    var out = ""
    out.reserveCapacity(s.utf8.count)
    for c in s.unicodeScalars {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default:
            // Control characters other than tab/newline are not allowed in XML 1.0.
            if c.value < 0x20 && c != "\n" && c != "\t" && c != "\r" { out += "\u{FFFD}" } else { out.unicodeScalars.append(c) }
        }
    }
    return out
}
