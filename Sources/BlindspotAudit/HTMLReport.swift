import BlindspotQuantization
import BlindspotDefenses
import Foundation

/// The self-contained HTML report (issue 7): one HTML5 file with inline CSS and inline SVG
/// charts, images as data URIs, no scripts and no network references, so it can be mailed,
/// archived next to the JSON and opened offline. A pure function of the report. The markup is
/// XHTML-compatible (every element closed, attributes quoted, only XML entities) so tests can
/// check it with an XML parser; every string taken from the report is escaped.
public enum HTMLReport {
    public static func render(_ r: AuditReport) -> String {
        let v = View(r)
        var h = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
        h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n"
        h += "<title>blindspot audit · \(esc(fileName(r.input.file)))</title>\n<style>\n\(css)</style>\n</head>\n<body>\n<main>\n"
        h += v.verdict()
        h += v.toc()
        h += v.summary()
        h += v.evidence()
        h += v.table()
        h += v.neuralCleanse()
        h += v.strip()
        h += v.finePruning()
        h += v.clustering(.ac)
        h += v.clustering(.ss)
        h += v.drift()
        h += v.provenance()
        h += "</main>\n</body>\n</html>\n"
        return h
    }

    /// Escapes `& < > " '` for HTML text and attribute values.
    public static func escape(_ s: String) -> String { esc(s) }

    static func fileName(_ path: String) -> String { path.split(separator: "/").last.map(String.init) ?? path }

    static let fp32Color = "#3a6ea5", deployedColor = "#e07b24"
    static let cleanColor = "#4e8f5a", triggeredColor = "#b3261e"
}

/// The report with lookups the sections share.
private struct View {
    let r: AuditReport
    let scheme: String

    init(_ r: AuditReport) { self.r = r; scheme = r.precision.scheme }

    static let resultName: [DefenseKind: String] = [
        .nc: "neural-cleanse", .ac: "activation-clustering", .ss: "spectral-signatures", .strip: "strip", .fp: "fine-pruning",
    ]
    /// Sections in report order.
    static let order: [DefenseKind] = [.nc, .strip, .fp, .ac, .ss]

    /// The two precisions in column order: (heading, is FP32).
    var precisions: [(name: String, fp32: Bool)] { [("FP32", true), (scheme, false)] }

    func result(_ k: DefenseKind, fp32: Bool) -> DefenseResult? {
        r.results.first { $0.defense == Self.resultName[k] && (($0.precision == .fp32) == fp32) }
    }

    func ran(_ k: DefenseKind) -> Bool { result(k, fp32: true) != nil || result(k, fp32: false) != nil }

    // MARK: formatting

    func pct(_ x: Double?) -> String { SVG.num(x.map { 100 * $0 }, 2) + (x?.isFinite == true ? " %" : "") }
    func f(_ x: Double?, _ d: Int = 3) -> String { SVG.num(x, d) }

    func statusBadge(_ v: Verdict) -> String {
        switch v.status {
        case .detected: return "<span class=\"badge detected\">detected\(v.target.map { " → class \($0)" } ?? "")</span>"
        case .notDetected: return "<span class=\"badge clean\">not detected</span>"
        case .notEvaluated: return "<span class=\"badge ne\">not evaluated</span>"
        }
    }

    /// "FP32: detected → 3 — remark" or "int8: not evaluated — reason".
    func statusLine(_ k: DefenseKind, fp32: Bool, name: String) -> String {
        guard let x = result(k, fp32: fp32) else {
            return "<p class=\"status\"><strong>\(esc(name))</strong>: not run</p>\n"
        }
        let why = x.verdict.reason.map { " — \(esc($0))" } ?? ""
        if x.verdict.status == .notEvaluated {
            return "<p class=\"status ne-text\"><strong>\(esc(name))</strong>: not evaluated\(why)</p>\n"
        }
        return "<p class=\"status\"><strong>\(esc(name))</strong>: \(statusBadge(x.verdict))<span class=\"muted\">\(why)</span></p>\n"
    }

    func notRun(_ k: DefenseKind) -> String {
        "<p class=\"ne-text\">\(esc(k.displayName)) was not run in this audit (not among the requested defenses).</p>\n"
    }

    func section(_ id: String, _ title: String, _ body: String) -> String {
        "<section id=\"\(id)\">\n<h2>\(esc(title))</h2>\n\(body)</section>\n"
    }

    func figure(_ svg: String, caption: String) -> String {
        "<figure>\n\(svg)<figcaption>\(caption)</figcaption>\n</figure>\n"
    }

    /// A convention parsed as a number (`madThreshold: "2.0"`), from either precision.
    func conventionNumber(_ k: DefenseKind, _ key: String) -> Double? {
        for p in [true, false] {
            if let s = result(k, fp32: p)?.conventions[key], let d = Double(s.trimmingCharacters(in: .whitespaces)), d.isFinite { return d }
        }
        return nil
    }

    // MARK: 1. Verdict and summary

    func verdict() -> String {
        let cls: String
        switch r.overall.kind {
        case .blindspot: cls = "v-blindspot"
        case .backdoor: cls = "v-backdoor"
        case .noBackdoor: cls = "v-clean"
        case .inconclusive: cls = "v-inconclusive"
        }
        var h = "<header class=\"verdict \(cls)\">\n<p class=\"kicker\">blindspot audit of \(esc(HTMLReport.fileName(r.input.file)))</p>\n"
        h += "<h1>\(esc(r.overall.line))</h1>\n"
        h += "<p class=\"exit\">exit code \(r.overall.exitCode)"
        h += r.overall.target.map { " · suspected target class \($0)" } ?? ""
        h += "</p>\n</header>\n"
        return h
    }

    func toc() -> String {
        let items = [("summary", "Summary"), ("evidence", "Evidence"), ("verdicts", "Defenses"), ("nc", "Neural Cleanse"), ("strip", "STRIP"), ("fp", "Fine-Pruning"),
                     ("ac", "Activation Clustering"), ("ss", "Spectral Signatures"), ("drift", "Drift"), ("provenance", "Conventions and environment")]
        return "<nav class=\"toc\">" + items.map { "<a href=\"#\($0.0)\">\(esc($0.1))</a>" }.joined(separator: " ") + "</nav>\n"
    }

    func summary() -> String {
        let i = r.input, d = r.deployment
        var rows: [(String, String)] = [
            ("file", "<code>\(esc(i.file))</code>"),
            ("format", esc(i.format)),
            ("architecture", esc(i.architecture)),
            ("classes", "\(i.classes)"),
            ("sha256", "<code class=\"hash\">\(esc(i.sha256))</code>"),
            ("data", esc(i.dataset) + " · \(i.cleanImages) clean held-out images"
                + (i.suspectImages.map { " · suspect training set \($0) images\(i.suspectHasPoisonFlags ? " (with poison flags)" : "")" } ?? "")),
            ("deployed precision", "<strong>\(esc(scheme))</strong> — \(esc(r.precision.reason))"),
            ("clean accuracy", "FP32 \(pct(d.cleanAccuracyFP32)) · \(esc(scheme)) \(pct(d.cleanAccuracyDeployed))"),
            ("surrogate agreement", pct(d.surrogateAgreement) + " <span class=\"muted\">(float surrogate vs integer path, clean images)</span>"),
        ]
        if let a = r.attack {
            rows.append(("probe", "<code>\(esc(a.probe))</code> → class \(a.target) <span class=\"muted\">(\(esc(a.source)))</span>"))
            rows.append(("probe attack success", "FP32 \(pct(a.fp32)) · \(esc(scheme)) \(pct(a.deployed))"))
        } else {
            rows.append(("probe", esc(r.probe)))
        }
        if let t = r.groundTruth {
            let checks = r.groundTruthChecks
            let right = checks.filter { $0.right == true }.count
            var s = t.backdoored
                ? "backdoored\(t.target.map { ", target class \($0)" } ?? "")\(t.trigger.map { ", trigger <code>\(esc($0))</code>" } ?? "")"
                : "clean twin"
            if !checks.isEmpty {
                s += " — <strong>\(right) of \(checks.count) verdicts right</strong>"
                let wrong = checks.filter { $0.right == false }.map { "\($0.defense) @ \($0.precision)" }
                if !wrong.isEmpty { s += "; wrong: " + esc(wrong.joined(separator: ", ")) }
                let ne = checks.filter { $0.right == nil }.count
                if ne > 0 { s += "; \(ne) not evaluated" }
            }
            rows.append(("ground truth (from the file)", s))
        }
        var h = "<section id=\"summary\">\n<h2>Summary</h2>\n<dl class=\"summary\">\n"
        for (k, v) in rows { h += "<dt>\(esc(k))</dt><dd>\(v)</dd>\n" }
        return h + "</dl>\n</section>\n"
    }

    // MARK: 2. The weighed evidence (issue 13)

    func evidence() -> String {
        var h = "<p>The verdict weighs what every defense says about each candidate label, at each precision "
        h += "(rule and constants under “Conventions”). A backdoor needs \(VerdictRule.backdoorPoints) points including a strong item (weight ≥ 2).</p>\n"
        h += "<table class=\"verdicts\">\n<colgroup><col class=\"e-p\"/><col class=\"e-v\"/><col class=\"e-n\"/><col class=\"e-why\"/></colgroup>\n"
        h += "<thead><tr><th>precision</th><th>weighed verdict</th><th>points</th><th>why</th></tr></thead>\n<tbody>\n"
        for v in r.precisionVerdicts {
            let cls = v.kind == .backdoor ? "st-detected" : v.kind == .noBackdoor ? "st-notDetected" : "st-notEvaluated"
            let name = v.kind == .backdoor ? "backdoor → class \(v.target.map(String.init) ?? "?")" : v.kind == .noBackdoor ? "no backdoor found" : "inconclusive"
            h += "<tr><th scope=\"row\">\(esc(v.precision == .fp32 ? "FP32" : v.precision.description))</th>"
            h += "<td><span class=\"badge \(cls)\">\(esc(name))</span>\(v.confidence.map { "<div class=\"reason\">\(esc($0)) confidence</div>" } ?? "")</td>"
            h += "<td class=\"num\">\(v.points)</td><td>\(esc(v.summary))"
            if !v.missing.isEmpty { h += "<div class=\"reason ne-text\">missing: \(esc(v.missing.joined(separator: "; ")))</div>" }
            h += "</td></tr>\n"
        }
        h += "</tbody>\n</table>\n"
        if r.evidence.isEmpty {
            h += "<p class=\"muted\">No defense pointed at any label.</p>\n"
        } else {
            h += "<table class=\"verdicts\">\n<colgroup><col class=\"e-c\"/><col class=\"e-f\"/><col class=\"e-x\"/><col class=\"e-x\"/></colgroup>\n"
            h += "<thead><tr><th>candidate</th><th>figure</th><th>FP32</th><th>\(esc(scheme))</th></tr></thead>\n<tbody>\n"
            for e in r.evidence {
                let rows: [(String, (EvidenceColumn) -> String?)] = [
                    ("NC anomaly index", { $0.ncAnomalyIndex.map { f($0, 2) } }),
                    ("NC mask L1 (× median)", { c in c.ncMaskL1.map { f($0, 1) + (c.ncNormRatio.map { " (" + f($0, 2) + "×)" } ?? "") } }),
                    ("reversed trigger, held-out attack success", { $0.reversalASR.map { pct($0) } }),
                    ("FP32 reversed trigger on the deployed model", { $0.fp32ReversalASR.map { pct($0) } }),
                    ("given trigger attack success", { $0.givenTriggerASR.map { pct($0) } }),
                    ("STRIP detection rate", { c in c.stripDetectionRate.map { f($0, 2) + (c.stripDetected == true ? " (detected)" : "") } }),
                    ("Fine-Pruning dormancy ratio", { $0.fpDormancyRatio.map { f($0, 2) } }),
                    ("AC class index", { c in c.acIndex.map { f($0, 2) + (c.acDetected == true ? " (flagged)" : "") } }),
                    ("SS class index", { c in c.ssIndex.map { f($0, 2) + (c.ssDetected == true ? " (flagged)" : "") } }),
                ]
                let present = rows.filter { $0.1(e.fp32) != nil || $0.1(e.deployed) != nil }
                let span = present.count + 1
                h += "<tr><th scope=\"row\" rowspan=\"\(span)\">class \(e.target)<div class=\"reason\">\(esc(e.pointedAtBy.joined(separator: ", ")))</div></th>"
                h += "<td><strong>points</strong></td><td><strong>\(e.fp32.points)</strong><div class=\"reason\">\(esc(e.fp32.items.map { "\($0.source) +\($0.weight)" }.joined(separator: ", ")))</div></td>"
                h += "<td><strong>\(e.deployed.points)</strong><div class=\"reason\">\(esc(e.deployed.items.map { "\($0.source) +\($0.weight)" }.joined(separator: ", ")))</div></td></tr>\n"
                for (name, value) in present {
                    h += "<tr><td>\(esc(name))</td><td class=\"num\">\(esc(value(e.fp32) ?? "–"))</td><td class=\"num\">\(esc(value(e.deployed) ?? "–"))</td></tr>\n"
                }
            }
            h += "</tbody>\n</table>\n"
        }
        h += "<p class=\"muted\">Each defense alone: \(esc(r.defenseAgreement))</p>\n"
        return section("evidence", "Weighed evidence", h)
    }

    // MARK: 3. The table

    func table() -> String {
        var h = "<table class=\"verdicts\">\n<colgroup><col class=\"w-def\"/><col class=\"w-v\"/><col class=\"w-s\"/><col class=\"w-v\"/><col class=\"w-s\"/><col class=\"w-o\"/></colgroup>\n<thead><tr><th rowspan=\"2\">defense<div class=\"reason\">score and threshold</div></th><th colspan=\"2\">FP32</th><th colspan=\"2\">\(esc(scheme))</th>"
        h += "<th rowspan=\"2\">outcome</th></tr>\n"
        h += "<tr><th>verdict</th><th>score</th><th>verdict</th><th>score</th></tr></thead>\n<tbody>\n"
        for c in r.comparisons {
            let hd = c.defense.headline
            func cell(_ v: Verdict, _ score: Double?) -> String {
                var s = "<td>\(statusBadge(v))"
                if let why = v.reason { s += "<div class=\"\(v.status == .notEvaluated ? "reason ne-text" : "reason")\">\(esc(why))</div>" }
                s += "</td><td class=\"num\">"
                s += v.status == .notEvaluated ? "–" : f(score, 2)
                return s + "</td>"
            }
            h += "<tr><th scope=\"row\"><a href=\"#\(Self.anchor(c.defense))\">\(esc(c.defense.displayName))</a>"
            h += "<div class=\"reason\">\(esc(hd.score)) \(esc(hd.threshold))</div></th>"
            h += cell(c.fp32, c.fp32Score) + cell(c.deployed, c.deployedScore)
            let o = Self.outcomeText(c.outcome)
            h += "<td><span class=\"badge o-\(c.outcome.rawValue)\">\(esc(o.name))</span>\(o.note.map { "<div class=\"reason\">\(esc($0))</div>" } ?? "")</td></tr>\n"
        }
        h += "</tbody>\n</table>\n"
        let missing = DefenseKind.allCases.filter { k in !r.comparisons.contains { $0.defense == k } }
        if !missing.isEmpty {
            h += "<p class=\"muted\">Not run in this audit: \(esc(missing.map(\.displayName).joined(separator: ", "))).</p>\n"
        }
        return section("verdicts", "Defenses at FP32 and at \(scheme)", h)
    }

    static func anchor(_ k: DefenseKind) -> String {
        switch k {
        case .nc: return "nc"
        case .strip: return "strip"
        case .fp: return "fp"
        case .ac: return "ac"
        case .ss: return "ss"
        }
    }

    static func outcomeText(_ o: BlindspotOutcome) -> (name: String, note: String?) {
        switch o {
        case .consistent: return ("consistent", nil)
        case .blindspot: return ("blindspot", "detected at FP32, missed at deployed precision")
        case .reverseBlindspot: return ("reverse blindspot", "detected only at deployed precision")
        case .targetBlindspot: return ("target blindspot", "a different class at each precision")
        case .inconclusive: return ("inconclusive", "not evaluated at one precision or both")
        }
    }

    // MARK: 3. Neural Cleanse

    func neuralCleanse() -> String {
        let k = DefenseKind.nc
        guard ran(k) else { return section("nc", "Neural Cleanse", notRun(k)) }
        var h = precisions.map { statusLine(k, fp32: $0.fp32, name: $0.name) }.joined()

        // Reversed triggers, one column per precision.
        h += "<h3>Reversed triggers</h3>\n<div class=\"cols\">\n"
        for p in precisions {
            let images = r.reversedTriggers.filter { ($0.precision == .fp32) == p.fp32 }
            h += "<div class=\"col\">\n<h4>\(esc(p.name))</h4>\n"
            if images.isEmpty {
                if let x = result(k, fp32: p.fp32), x.verdict.status == .notEvaluated {
                    h += "<p class=\"ne-text\">not evaluated — \(esc(x.verdict.reason ?? "no reason given"))</p>\n"
                } else {
                    h += "<p class=\"muted\">No reversed-trigger images in this report.</p>\n"
                }
            }
            for t in images {
                h += "<div class=\"trigger\(t.flagged ? " flagged" : "")\">\n<p class=\"tlabel\">class \(t.label) · mask L1 \(f(t.maskL1, 1))"
                h += t.flagged ? " · <span class=\"badge detected\">flagged</span>" : " · smallest norm, not flagged"
                h += t.reachedThreshold ? "" : " · <span class=\"ne-text\">never reached the attack-success threshold</span>"
                h += "</p>\n<div class=\"imgs\">\n"
                for (name, png) in [("mask", t.maskPNG), ("pattern", t.patternPNG), ("trigger (mask × pattern)", t.triggerPNG)] {
                    h += "<figure class=\"img\"><img src=\"data:image/png;base64,\(esc(png))\" alt=\"\(esc(name)) for class \(t.label) at \(esc(p.name))\"/><figcaption>\(esc(name))</figcaption></figure>\n"
                }
                h += "</div>\n</div>\n"
            }
            h += "</div>\n"
        }
        h += "</div>\n"

        // Anomaly index per label.
        let indices = precisions.map { p in result(k, fp32: p.fp32)?.details["anomalyIndices"]?.numbers }
        if indices.contains(where: { $0 != nil }) {
            let n = indices.compactMap { $0?.count }.max() ?? 0
            let thr = conventionNumber(k, "madThreshold") ?? OutlierRule.threshold
            // NC flags only small norms, so labels whose norm is above the median point down: only
            // bars above the threshold line can be flagged.
            var signed = false
            let series = zip(precisions, indices).compactMap { p, idx -> SVGChart.BarSeries? in
                guard let idx, let x = result(k, fp32: p.fp32) else { return nil }
                let flagged = Set(x.details["flagged"]?.numbers?.compactMap { $0.flatMap { $0.isFinite ? Int($0) : nil } } ?? [])
                var values = idx
                let l1 = x.details["labels"]?.list?.compactMap(\.table).map { $0["l1"]?.number }
                if let median = x.details["median"]?.number, let l1, l1.count == idx.count {
                    signed = true
                    values = zip(idx, l1).map { v, l in v.map { v in (l ?? -.infinity) > median ? -abs(v) : abs(v) } }
                }
                return SVGChart.BarSeries(name: p.name, values: values, color: p.fp32 ? HTMLReport.fp32Color : HTMLReport.deployedColor, flagged: flagged)
            }
            h += "<h3>Anomaly index per label</h3>\n"
            h += figure(SVGChart.groupedBars(title: "Neural Cleanse anomaly index per label", categories: (0..<n).map(String.init), series: series,
                                             threshold: .init(value: thr, label: "> \(SVG.num(thr, 1))"), xLabel: "label",
                                             yLabel: signed ? "anomaly index (− : norm above median)" : "anomaly index"),
                        caption: "|L1 − median| / MAD of each label's reversed-trigger mask norm"
                            + (signed ? ", drawn downwards for labels whose norm is above the median (NC never flags those)" : "")
                            + ". A label is flagged (▼) when its index exceeds \(esc(SVG.num(thr, 1))) on the small-norm side."
                            + zip(precisions, indices).filter { $0.1 == nil }.map { " No indices at \(esc($0.0.name))." }.joined())
        } else {
            h += "<p class=\"ne-text\">No anomaly indices at either precision (the MAD rule did not run).</p>\n"
        }
        h += ncLabelTable()
        return section("nc", "Neural Cleanse", h)
    }

    /// Per-label norms in a collapsible table (43 labels do not fit a caption).
    func ncLabelTable() -> String {
        let tables = precisions.map { p in result(.nc, fp32: p.fp32)?.details["labels"]?.list?.compactMap(\.table) ?? [] }
        let n = tables.map(\.count).max() ?? 0
        guard n > 0 else { return "" }
        var h = "<details>\n<summary>Per-label mask norms</summary>\n<table class=\"compact\">\n<thead><tr><th>label</th>"
        for p in precisions { h += "<th>L1 \(esc(p.name))</th><th>reached \(esc(p.name))</th>" }
        h += "</tr></thead>\n<tbody>\n"
        for i in 0..<n {
            h += "<tr><td>\(tables.compactMap { i < $0.count ? $0[i]["label"]?.number.map { SVG.num($0, 0) } : nil }.first ?? "\(i)")</td>"
            for t in tables {
                let row = i < t.count ? t[i] : [:]
                h += "<td class=\"num\">\(f(row["l1"]?.number, 2))</td><td>\(row["reachedThreshold"]?.flag.map { $0 ? "yes" : "no" } ?? "–")</td>"
            }
            h += "</tr>\n"
        }
        return h + "</tbody>\n</table>\n</details>\n"
    }

    // MARK: 4. STRIP

    func strip() -> String {
        let k = DefenseKind.strip
        guard ran(k) else { return section("strip", "STRIP", notRun(k)) }
        var h = precisions.map { statusLine(k, fp32: $0.fp32, name: $0.name) }.joined()
        h += "<div class=\"cols\">\n"
        for p in precisions {
            h += "<div class=\"col\">\n<h4>\(esc(p.name))</h4>\n"
            guard let x = result(k, fp32: p.fp32) else { h += "<p class=\"ne-text\">not run</p>\n</div>\n"; continue }
            let clean = x.details["cleanEntropyHistogram"]?.table, trig = x.details["triggeredEntropyHistogram"]?.table
            if let clean, let counts = clean["counts"]?.ints {
                let bw = clean["binWidthBits"]?.number ?? trig?["binWidthBits"]?.number ?? 1
                let tc = trig?["counts"]?.ints ?? []
                let s = x.scores
                h += figure(SVGChart.histogramPair(title: "STRIP entropy at \(p.name)", binWidth: bw, minBins: stripBins(),
                                                   a: ("clean", counts, HTMLReport.cleanColor), b: ("triggered", tc, HTMLReport.triggeredColor),
                                                   boundary: s["boundary"], xLabel: "entropy of overlay predictions (bits)"),
                            caption: "Clean inputs \(counts.reduce(0, +)), triggered inputs \(tc.reduce(0, +))"
                                + (trig == nil ? " (no triggered histogram)" : "")
                                + ". Detection rate \(f(s["detectionRate"])), boundary \(f(s["boundary"])) bits (μ \(f(s["mu"])), σ \(f(s["sigma"]))), "
                                + "empirical FRR \(f(s["empiricalFRR"])), AUROC \(f(s["auroc"])), probe ASR \(f(s["probeASR"])).")
            } else {
                h += "<p class=\"ne-text\">not evaluated — \(esc(x.verdict.reason ?? "no entropy histograms in this report"))</p>\n"
            }
            h += "</div>\n"
        }
        return section("strip", "STRIP", h + "</div>\n")
    }

    /// Bins to show at both precisions (the last non-empty bin over both, plus one), so the two
    /// histograms share an x axis.
    func stripBins() -> Int {
        var last = 0
        for p in precisions {
            for key in ["cleanEntropyHistogram", "triggeredEntropyHistogram"] {
                if let c = result(.strip, fp32: p.fp32)?.details[key]?.table?["counts"]?.ints, let i = c.lastIndex(where: { $0 > 0 }) { last = max(last, i) }
            }
        }
        return last + 2
    }

    // MARK: 5. Fine-Pruning

    func finePruning() -> String {
        let k = DefenseKind.fp
        guard ran(k) else { return section("fp", "Fine-Pruning", notRun(k)) }
        var h = precisions.map { statusLine(k, fp32: $0.fp32, name: $0.name) }.joined()
        h += "<div class=\"cols\">\n"
        for p in precisions {
            h += "<div class=\"col\">\n<h4>\(esc(p.name))</h4>\n"
            guard let x = result(k, fp32: p.fp32) else { h += "<p class=\"ne-text\">not run</p>\n</div>\n"; continue }
            let acc = x.details["accuracyCurve"]?.numbers, asr = x.details["asrCurve"]?.numbers
            if acc != nil || asr != nil {
                func pts(_ v: [Double?]?) -> [(x: Double, y: Double)] {
                    (v ?? []).enumerated().map { (Double($0.offset), $0.element ?? .nan) }
                }
                var series: [SVGChart.LineSeries] = []
                if acc != nil { series.append(.init(name: "clean accuracy", points: pts(acc), color: HTMLReport.fp32Color)) }
                if asr != nil { series.append(.init(name: "attack success", points: pts(asr), color: HTMLReport.triggeredColor, dashed: true)) }
                let s = x.scores
                var markers: [(x: Double, label: String)] = []
                if let c = s["channelsPruned"], c.isFinite { markers.append((c, "stop: \(SVG.num(c, 0)) pruned")) }
                var cap = "Accuracy \(f(s["acc0"])) → \(f(s["accPruned"])), ASR \(f(s["asr0"])) → \(f(s["asrPruned"])) with \(f(s["channelsPruned"], 0)) of \(esc(x.conventions["channels"] ?? "?")) channels of \(esc(x.conventions["layer"] ?? "the last stage")) pruned."
                if let ft = x.details["fineTuning"]?.table {
                    if ft["status"]?.text == "evaluated" {
                        cap += " Fine-tuned: accuracy \(f(s["accFineTuned"])), ASR \(f(s["asrFineTuned"])), \(ft["mitigated"]?.flag == true ? "mitigated" : "not mitigated")."
                    } else {
                        cap += " Fine-tuning not evaluated — \(esc([ft["reason"]?.text, ft["detail"]?.text].compactMap { $0 }.joined(separator: ": ")))."
                    }
                } else if let c = x.conventions["fineTuning"] {
                    cap += " Fine-tuning: \(esc(c))."
                }
                h += figure(SVGChart.lines(title: "Fine-Pruning at \(p.name)", series: series, xLabel: "channels pruned", yLabel: "rate",
                                           xMax: x.conventions["channels"].flatMap(Double.init), yRange: 0...1, markers: markers), caption: cap)
            } else {
                h += "<p class=\"ne-text\">not evaluated — \(esc(x.verdict.reason ?? "no pruning curve in this report"))</p>\n"
            }
            h += "</div>\n"
        }
        return section("fp", "Fine-Pruning", h + "</div>\n")
    }

    // MARK: 6. Activation Clustering and Spectral Signatures

    func clustering(_ k: DefenseKind) -> String {
        let id = Self.anchor(k)
        guard ran(k) else { return section(id, k.displayName, notRun(k)) }
        var h = precisions.map { statusLine(k, fp32: $0.fp32, name: $0.name) }.joined()
        let classes = precisions.map { p in result(k, fp32: p.fp32)?.details["classes"]?.list?.compactMap(\.table) }
        let n = classes.compactMap { $0?.count }.max() ?? 0
        guard n > 0 else {
            return section(id, k.displayName, h + "<p class=\"ne-text\">No per-class statistics at either precision.</p>\n")
        }
        let thr = conventionNumber(k, "madThreshold") ?? OutlierRule.threshold
        let series = zip(precisions, classes).compactMap { p, cs -> SVGChart.BarSeries? in
            guard let cs else { return nil }
            var values = [Double?](repeating: nil, count: n)
            var flagged = Set<Int>()
            let v = result(k, fp32: p.fp32)?.verdict
            for (i, c) in cs.enumerated() {
                let label = c["label"]?.number.flatMap { $0.isFinite ? Int($0) : nil } ?? i
                guard label >= 0, label < n else { continue }
                values[label] = c["madIndex"]?.number
                if c["suspicious"]?.flag == true || (v?.status == .detected && v?.target == label) { flagged.insert(label) }
            }
            return SVGChart.BarSeries(name: p.name, values: values, color: p.fp32 ? HTMLReport.fp32Color : HTMLReport.deployedColor, flagged: flagged)
        }
        let stat = k == .ac ? "silhouette of the 2-means split" : "log spectral concentration ρ"
        let layer = precisions.compactMap { result(k, fp32: $0.fp32)?.details["layer"]?.text }.first
        var cap = "MAD index of each class's \(stat)\(layer.map { " at layer <code>\(esc($0))</code>" } ?? ""); the defense flags classes above \(esc(SVG.num(thr, 1))) on the high side (▼: flagged or suspicious)."
        // Classes left out of the statistic, once per class and reason (with the precision when
        // only one precision left it out).
        var reasons: [String] = [], at: [String: [String]] = [:]
        for (p, cs) in zip(precisions, classes) {
            guard let cs else { cap += " No per-class statistics at \(esc(p.name))."; continue }
            for c in cs where c["evaluable"]?.flag == false {
                let key = "class \(c["label"]?.number.map { SVG.num($0, 0) } ?? "?")\(c["excluded"]?.text.map { " (\($0))" } ?? "")"
                if at[key] == nil { reasons.append(key) }
                at[key, default: []].append(p.name)
            }
        }
        let both = classes.allSatisfy { $0 != nil }
        let excluded = reasons.map { k in both && at[k]!.count == 2 ? k : "\(k) at \(at[k]!.joined(separator: ", "))" }
        if !excluded.isEmpty {
            let shown = excluded.prefix(8)
            cap += " Excluded: \(esc(shown.joined(separator: ", ")))\(excluded.count > shown.count ? ", and \(excluded.count - shown.count) more" : "")."
        }
        if let pc = precisions.lazy.compactMap({ self.result(k, fp32: $0.fp32)?.details["poisonClass"]?.table }).first,
           let label = pc["label"]?.number {
            cap += " Poison flags of the training set: class \(SVG.num(label, 0)) holds the poisoned images"
                + (pc["poisoned"]?.number).map { " (\(SVG.num($0, 0)) of \(f(pc["size"]?.number, 0)))" }.orEmpty + "."
        }
        h += figure(SVGChart.groupedBars(title: "\(k.displayName) MAD index per class", categories: (0..<n).map(String.init), series: series,
                                         threshold: .init(value: thr, label: "> \(SVG.num(thr, 1))"), xLabel: "class (training label)", yLabel: "MAD index"),
                    caption: cap)
        h += clusteringTable(k, classes: classes)
        return section(id, k.displayName, h)
    }

    /// The per-class numbers behind the chart, collapsible.
    func clusteringTable(_ k: DefenseKind, classes: [[[String: DetailValue]]?]) -> String {
        let cols: [(key: String, head: String, digits: Int)] = k == .ac
            ? [("silhouette", "silhouette", 4), ("smallerFraction", "smaller", 3), ("madIndex", "MAD idx", 2), ("poisonedInSmallerCluster", "poisoned in smaller", 0)]
            : [("rho", "ρ", 4), ("madIndex", "MAD idx", 2), ("poisonedRemoved", "poisoned removed", 0)]
        let n = classes.compactMap { $0?.count }.max() ?? 0
        var h = "<details>\n<summary>Per-class statistics</summary>\n<table class=\"compact\">\n<thead><tr><th>class</th><th>images</th>"
        for p in precisions where classes[p.fp32 ? 0 : 1] != nil { for c in cols { h += "<th>\(esc(c.head)) \(esc(p.name))</th>" } }
        h += "</tr></thead>\n<tbody>\n"
        for i in 0..<n {
            let images = classes.lazy.compactMap { $0?.first { $0["label"]?.number == Double(i) }?["n"]?.number }.first
            h += "<tr><td>\(i)</td><td class=\"num\">\(f(images, 0))</td>"
            for cs in classes {
                guard let cs else { continue }
                let row = cs.first { $0["label"]?.number == Double(i) } ?? [:]
                for c in cols { h += "<td class=\"num\">\(f(row[c.key]?.number, c.digits))</td>" }
            }
            h += "</tr>\n"
        }
        return h + "</tbody>\n</table>\n</details>\n"
    }

    // MARK: 7. Drift

    func drift() -> String {
        let d = r.deployment.drift
        guard !d.isEmpty else { return section("drift", "Drift FP32 → \(scheme)", "<p class=\"muted\">No per-layer drift in this report.</p>\n") }
        let worst = d.indices.filter { d[$0].relativeL2.isFinite }.sorted { d[$0].relativeL2 > d[$1].relativeL2 }.prefix(3)
        var h = figure(SVGChart.horizontalBars(title: "Per-layer drift FP32 → \(scheme)", rows: d.map(\.node), values: d.map(\.relativeL2),
                                               color: HTMLReport.deployedColor, highlight: Set(worst), xLabel: "relative L2 ‖a_q − a_32‖ / ‖a_32‖ on clean images"),
                       caption: "Layers in network order; the three with the largest drift are red.")
        if !worst.isEmpty {
            h += "<table class=\"compact\">\n<thead><tr><th>layer</th><th>relative L2</th><th>channels drifting most (channel: relative L2)</th></tr></thead>\n<tbody>\n"
            for i in worst {
                let l = d[i]
                h += "<tr><td><code>\(esc(l.node))</code></td><td class=\"num\">\(f(l.relativeL2, 4))</td><td>"
                h += l.topChannels.map { "\($0.channel): \(f($0.relativeL2, 4))" }.joined(separator: " · ")
                h += "</td></tr>\n"
            }
            h += "</tbody>\n</table>\n"
        }
        for rp in r.deployment.roundingPositions ?? [] {
            let band = String(format: "%.0f%%", 100 * RoundingPositions.edgeBand)
            h += "<h3>Weights inside their \(esc(rp.grid)) rounding intervals</h3>\n<p>\(esc(rp.summary)). "
            h += "Ordinary training leaves weights spread smoothly across the rounding ties (the band within \(band) of a tie holds about as many "
            h += "as the next band inward, ratio ≈ 1); projected fine-tuning for a quantization-conditioned backdoor piles them against the edges. "
            h += "A layer stands out at a ratio ≥ \(f(RoundingPositions.flagRatio, 1)) with ≥ \(RoundingPositions.minimumWeights) weights.</p>\n"
            h += "<table class=\"compact\">\n<thead><tr><th>layer</th><th>weights</th><th>within \(band) of a tie</th><th>next band</th><th>ratio</th></tr></thead>\n<tbody>\n"
            for l in rp.layers {
                h += "<tr\(l.standsOut ? " class=\"flag\"" : "")><td><code>\(esc(l.layer))</code></td><td class=\"num\">\(l.weights)</td>"
                h += "<td class=\"num\">\(f(100 * l.edgeShare, 1))%</td><td class=\"num\">\(f(100 * l.innerShare, 1))%</td>"
                h += "<td class=\"num\">\(l.edgeRatio.map { f($0, 2) } ?? "–")\(l.standsOut ? " ⚑" : "")</td></tr>\n"
            }
            h += "</tbody>\n</table>\n"
        }
        let layers = r.deployment.layers
        if !layers.isEmpty {
            h += "<details>\n<summary>Quantized layers (\(layers.count))</summary>\n<table class=\"compact\">\n"
            h += "<thead><tr><th>layer</th><th>kind</th><th>weight bits</th><th>weight rounding error</th><th>input quantizer</th></tr></thead>\n<tbody>\n"
            for l in layers {
                h += "<tr><td><code>\(esc(l.name))</code></td><td>\(esc(l.kind))</td><td class=\"num\">\(l.weightBits)</td><td class=\"num\">\(f(l.roundingError, 4))</td><td>\(esc(l.inputQuantizer ?? "none (FP32 input)"))</td></tr>\n"
            }
            h += "</tbody>\n</table>\n</details>\n"
        }
        return section("drift", "Drift FP32 → \(scheme)", h)
    }

    // MARK: 8. Conventions, timings, environment

    func provenance() -> String {
        var h = "<h3>Conventions and scores</h3>\n"
        for k in Self.order where ran(k) {
            let a = result(k, fp32: true), b = result(k, fp32: false)
            let keys = Set((a?.conventions.keys.map { $0 } ?? []) + (b?.conventions.keys.map { $0 } ?? [])).sorted()
            h += "<details>\n<summary>\(esc(k.displayName)) — conventions</summary>\n<table class=\"compact conv\">\n"
            h += "<thead><tr><th>convention</th><th>FP32</th><th>\(esc(scheme))</th></tr></thead>\n<tbody>\n"
            for key in keys {
                let x = a?.conventions[key], y = b?.conventions[key]
                h += "<tr><td><code>\(esc(key))</code></td>"
                h += x == y ? "<td colspan=\"2\">\(esc(x ?? "–"))</td>" : "<td>\(esc(x ?? "–"))</td><td>\(esc(y ?? "–"))</td>"
                h += "</tr>\n"
            }
            h += "</tbody>\n</table>\n</details>\n"
            let scoreKeys = Set((a?.scores.keys.map { $0 } ?? []) + (b?.scores.keys.map { $0 } ?? [])).sorted()
            if !scoreKeys.isEmpty {
                h += "<details>\n<summary>\(esc(k.displayName)) — all scores</summary>\n<table class=\"compact\">\n"
                h += "<thead><tr><th>score</th><th>FP32</th><th>\(esc(scheme))</th></tr></thead>\n<tbody>\n"
                for key in scoreKeys {
                    h += "<tr><td><code>\(esc(key))</code></td><td class=\"num\">\(Self.figure(a?.scores[key]))</td><td class=\"num\">\(Self.figure(b?.scores[key]))</td></tr>\n"
                }
                h += "</tbody>\n</table>\n</details>\n"
            }
        }

        if !r.verdictRule.isEmpty {
            h += "<details>\n<summary>Weighed verdict — rule constants</summary>\n<table class=\"compact conv\">\n<tbody>\n"
            for (k, v) in r.verdictRule.sorted(by: { $0.key < $1.key }) { h += "<tr><td><code>\(esc(k))</code></td><td>\(esc(v))</td></tr>\n" }
            h += "</tbody>\n</table>\n</details>\n"
        }

        h += "<h3>Timings</h3>\n<table class=\"compact\">\n<thead><tr><th>defense</th><th>FP32</th><th>\(esc(scheme))</th></tr></thead>\n<tbody>\n"
        for k in Self.order where ran(k) {
            h += "<tr><td>\(esc(k.displayName))</td><td class=\"num\">\(secs(result(k, fp32: true)?.seconds))</td><td class=\"num\">\(secs(result(k, fp32: false)?.seconds))</td></tr>\n"
        }
        h += "<tr><th scope=\"row\">whole audit</th><td class=\"num\" colspan=\"2\">\(secs(r.seconds))</td></tr>\n</tbody>\n</table>\n"

        let e = r.environment, p = r.input.preprocessing
        let rows: [(String, String)] = [
            ("tool", esc(r.tool)),
            ("command line", "<pre><code>\(esc(r.commandLine))</code></pre>"),
            ("seed", "\(r.seed)"),
            ("budget", esc(r.budget)),
            ("probe for STRIP and Fine-Pruning", esc(r.probe)),
            ("preprocessing", esc(p.description) + " <span class=\"muted\">(\(esc(p.source.rawValue)), \(esc(p.channelOrder.rawValue)))</span>"),
            ("calibration", (r.deployment.calibrationImages.map { "\($0) images" } ?? "–")
                + (r.deployment.calibrationPercentile.map { ", percentile \(f($0, 3))" } ?? "")),
            ("environment", "\(esc(e.cpu)) · BLAS core \(esc(e.blasCore)) · \(e.threads) threads"),
        ]
        h += "<h3>Provenance</h3>\n<dl class=\"summary\">\n"
        for (k, v) in rows { h += "<dt>\(esc(k))</dt><dd>\(v)</dd>\n" }
        h += "</dl>\n"
        return section("provenance", "Conventions, timings and environment", h)
    }

    /// A score of any size: integers without decimals, tiny values in scientific notation.
    static func figure(_ x: Double?) -> String {
        guard let x, x.isFinite else { return "–" }
        if x == x.rounded(), abs(x) < 1e9 { return SVG.num(x, 0) }
        if x != 0, abs(x) < 1e-3 || abs(x) >= 1e6 { return String(format: "%.3e", x) }
        return SVG.num(x, 4)
    }

    func secs(_ s: Double?) -> String {
        guard let s, s.isFinite else { return "–" }
        return s >= 100 ? SVG.num(s, 0) + " s" : SVG.num(s, 1) + " s"
    }
}

// MARK: - Reading defense details

private extension Optional where Wrapped == String {
    var orEmpty: String { self ?? "" }
}

private extension DetailValue {
    var number: Double? { if case .number(let d) = self { return d }; return nil }
    var text: String? { if case .text(let s) = self { return s }; return nil }
    var flag: Bool? { if case .flag(let b) = self { return b }; return nil }
    var list: [DetailValue]? { if case .list(let l) = self { return l }; return nil }
    var table: [String: DetailValue]? { if case .table(let t) = self { return t }; return nil }
    /// A list of numbers, nil entries for JSON nulls (non-finite values are encoded as null).
    var numbers: [Double?]? { list?.map { $0.number } }
    var ints: [Int]? { list?.map { $0.number.flatMap { $0.isFinite ? Int($0) : nil } ?? 0 } }
}

private let css = """
:root { --ink: #1d2327; --muted: #5f6b73; --line: #d5dbe0; --bg: #ffffff; --soft: #f4f6f8;
  --red: #b3261e; --amber: #a05a00; --green: #2e6b3a; --grey: #5f6b73; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0; color: var(--ink); background: var(--bg);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 1.35rem; line-height: 1.35; margin: 0.2rem 0; }
h2 { font-size: 1.2rem; margin: 2.2rem 0 0.6rem; padding-bottom: 0.25rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.02rem; margin: 1.4rem 0 0.4rem; }
h4 { font-size: 0.95rem; margin: 0.6rem 0 0.3rem; color: var(--muted); }
code, pre { font-family: ui-monospace, "SF Mono", Menlo, Consolas, monospace; font-size: 0.86em; }
pre { background: var(--soft); padding: 8px 10px; border-radius: 4px; white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; }
a { color: inherit; }
.muted { color: var(--muted); }
.ne-text { color: var(--grey); font-style: italic; }
.verdict { border-left: 8px solid var(--grey); background: var(--soft); padding: 14px 18px; border-radius: 4px; }
.verdict .kicker { margin: 0; color: var(--muted); font-size: 0.85rem; text-transform: uppercase; letter-spacing: 0.04em; }
.verdict .exit { margin: 0.2rem 0 0; font-weight: 600; }
.v-blindspot { border-color: var(--red); background: #fbeceb; }
.v-blindspot h1 { color: var(--red); }
.v-backdoor { border-color: #d98a00; background: #fdf3e3; }
.v-backdoor h1 { color: var(--amber); }
.v-clean { border-color: var(--green); background: #e9f4eb; }
.v-clean h1 { color: var(--green); }
.v-inconclusive { border-color: var(--grey); background: #eef0f2; }
dl.summary { display: grid; grid-template-columns: max-content 1fr; gap: 4px 18px; margin: 0; }
dl.summary dt { color: var(--muted); }
dl.summary dd { margin: 0; overflow-wrap: anywhere; }
.hash { font-size: 0.8em; }
table { border-collapse: collapse; margin: 0.6rem 0; font-size: 0.9rem; }
th, td { border: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
thead th { background: var(--soft); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.flag td { background: #fdf6f5; }
table.verdicts { width: 100%; table-layout: fixed; }
col.w-def { width: 17%; } col.w-v { width: 25%; } col.w-s { width: 8%; } col.w-o { width: 17%; }
col.e-p { width: 12%; } col.e-v { width: 20%; } col.e-n { width: 8%; } col.e-why { width: 60%; }
col.e-c { width: 20%; } col.e-f { width: 30%; } col.e-x { width: 25%; }
table.verdicts .badge { white-space: normal; }
table.compact { font-size: 0.82rem; }
table.compact td, table.compact th { padding: 2px 7px; }
table.conv td { max-width: 560px; overflow-wrap: anywhere; }
table.compact td:first-child { white-space: nowrap; }
nav.toc { margin: 10px 0 0; font-size: 0.88rem; color: var(--muted); }
nav.toc a { margin-right: 14px; white-space: nowrap; }
.reason { font-size: 0.8rem; color: var(--muted); margin-top: 3px; max-width: 300px; overflow-wrap: anywhere; }
.badge { display: inline-block; padding: 1px 7px; border-radius: 10px; font-size: 0.8rem; font-weight: 600; white-space: nowrap;
  border: 1px solid transparent; }
.badge.detected { background: #fbeceb; color: var(--red); border-color: #f0b8b3; }
.badge.clean { background: #e9f4eb; color: var(--green); border-color: #b9dcc0; }
.badge.ne { background: #eef0f2; color: var(--grey); border-color: var(--line); }
.o-consistent { background: #eef0f2; color: var(--ink); }
.o-blindspot, .o-reverseBlindspot, .o-targetBlindspot { background: var(--red); color: #fff; }
.o-inconclusive { background: #eef0f2; color: var(--grey); }
p.status { margin: 0.25rem 0; }
.cols { display: flex; flex-wrap: wrap; gap: 10px 28px; }
.col { flex: 1 1 440px; min-width: 0; }
figure { margin: 0.6rem 0 1rem; break-inside: avoid; }
figcaption { font-size: 0.82rem; color: var(--muted); max-width: 760px; }
svg.chart { display: block; max-width: 100%; height: auto; }
.trigger { border: 1px solid var(--line); border-radius: 4px; padding: 6px 10px; margin: 0 0 10px; break-inside: avoid; }
.trigger.flagged { border-color: #e4a49e; background: #fdf6f5; }
.tlabel { margin: 0 0 4px; font-size: 0.88rem; }
.imgs { display: flex; flex-wrap: wrap; gap: 10px; }
figure.img { margin: 0; text-align: center; }
figure.img img { width: 128px; height: 128px; image-rendering: pixelated; image-rendering: crisp-edges; border: 1px solid var(--line); background: #000; }
details { margin: 0.3rem 0; }
summary { cursor: pointer; color: var(--ink); font-weight: 600; font-size: 0.92rem; }
@media print {
  body { font-size: 11pt; }
  main { max-width: none; padding: 0; }
  h2 { break-after: avoid; }
  section, table, .trigger { break-inside: auto; }
  figure, tr { break-inside: avoid; }
  a { text-decoration: none; }
  nav.toc { display: none; }
  .cols { display: block; }
  .imgs { display: block; }
  figure.img { display: inline-block; margin-right: 10px; }
  h3, h4, p.tlabel { break-after: avoid; }
}
@page { margin: 14mm; }

"""
