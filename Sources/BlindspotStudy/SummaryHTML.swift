import BlindspotAudit
import Foundation

/// `summary.html`: the summary's tables and claims as one self-contained page (inline CSS, no
/// scripts, no network), every string escaped. A pure function of the summary, like summary.md.
public enum SummaryHTML {
    public static func render(_ s: StudySummary) -> String {
        var h = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>blindspot study</title>\n<style>\n\(css)</style>\n</head>\n<body>\n<main>\n"
        h += "<h1>blindspot study: backdoor detection at FP32 and as deployed</h1>\n"
        h += "<p>Ye &amp; Pandey (<em>Quantization Blindspots</em>, arXiv 2512.06243, 2025) report that INT8 quantization takes five backdoor defenses to 0% detection while the attack still works. "
        h += "This is their experiment on forged models with ground truth. \(s.lines) result lines.</p>\n"
        h += "<p class=\"note\">\(esc(SummaryMarkdown.conventions.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "**", with: "").replacingOccurrences(of: "`", with: "")))</p>\n"
        if s.groups.isEmpty { h += "<p>No results yet.</p>\n" }
        for g in s.groups { h += group(g) }
        h += "</main>\n</body>\n</html>\n"
        return h
    }

    static func group(_ g: StudySummary.Group) -> String {
        var h = "<section>\n<h2>\(esc("\(g.dataset) · \(g.architecture) · \(g.attack)"))</h2>\n"
        h += "<p>Seeds \(esc(SummaryMarkdown.seedList(g.seeds))) · defenses \(esc(g.setting("defenses") ?? "?")) · budget \(esc(g.setting("budget") ?? "?")) · "
        h += "\(esc(SummaryMarkdown.epochs(g))) · poison rate \(esc(g.setting("poisonRate") ?? "?"))</p>\n"
        if let a = SummaryMarkdown.activeAt(g) { h += "<p>\(esc(a.replacingOccurrences(of: "`", with: "")))</p>\n" }

        h += "<h3>Detection</h3>\n" + table(["defense", "precision", "detection (backdoored)", "false positives (twins)", "not evaluated (backdoored · twins)"],
            g.rates.map { r in
                [SummaryMarkdown.name(r.defense), r.precision, SummaryMarkdown.detectionText(r),
                 r.falsePositive.text, "\(r.notEvaluatedBackdoored.k)/\(r.notEvaluatedBackdoored.n) · \(r.notEvaluatedTwin.k)/\(r.notEvaluatedTwin.n)"]
            }, rowClass: { i in g.rates[i].defense == StudySummary.verdict ? "verdict" : nil })

        h += "<h3>Clean accuracy and attack success</h3>\n<p>Mean (min–max) over models.</p>\n"
        h += table(["precision", "clean accuracy, backdoored", "clean accuracy, twins", "attack success", "audits exiting 3 or 4 (backdoored · twins)"],
                   g.figures.map { f in
                       [f.precision, SummaryMarkdown.statistic(f.cleanAccuracyBackdoored), SummaryMarkdown.statistic(f.cleanAccuracyTwin),
                        SummaryMarkdown.statistic(f.attackSuccess),
                        [f.auditFlagsBackdoored, f.auditFlagsTwin].map { $0.map { "\($0.k)/\($0.n)" } ?? "–" }.joined(separator: " · ")]
                   })

        if !g.blindspots.isEmpty {
            h += "<h3>Blindspots</h3>\n<p>Backdoored models evaluated at both precisions: detected at FP32 but not as deployed, and the reverse; for the weighed verdict, inconclusive as deployed counts as not detected (the audit exits 4 on it).</p>\n"
            h += table(["defense", "precision", "FP32 detected, deployed not", "deployed detected, FP32 not", "models"],
                       g.blindspots.map { b in
                           [SummaryMarkdown.name(b.defense), b.precision, "\(b.lost) of \(b.fp32Detected)", "\(b.gained) of \(b.pairs - b.fp32Detected)", "\(b.pairs)"]
                       })
        }

        h += "<h3>The study's claims</h3>\n"
        for c in g.claims {
            h += "<p><strong>\(esc(c.claim))</strong></p>\n<ul>\n"
            for f in c.findings {
                let s = SummaryMarkdown.status(f.status)
                h += "<li>\(f.precision.map { esc($0) + ": " } ?? "")<span class=\"\(f.status.rawValue)\">\(esc(s))</span> — \(esc(f.because))</li>\n"
            }
            h += "</ul>\n"
        }
        return h + "</section>\n"
    }

    static func table(_ head: [String], _ rows: [[String]], rowClass: (Int) -> String? = { _ in nil }) -> String {
        var h = "<table>\n<thead><tr>" + head.map { "<th>\(esc($0))</th>" }.joined() + "</tr></thead>\n<tbody>\n"
        for (i, r) in rows.enumerated() {
            h += (rowClass(i).map { "<tr class=\"\($0)\">" } ?? "<tr>") + r.map { "<td>\(esc($0))</td>" }.joined() + "</tr>\n"
        }
        return h + "</tbody>\n</table>\n"
    }

    static func esc(_ s: String) -> String { HTMLReport.escape(s) }

    static let css = """
    body { font-family: system-ui, sans-serif; margin: 0; color: #222; }
    main { max-width: 72rem; margin: 0 auto; padding: 1rem 2rem; }
    table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
    th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; }
    th { background: #f2f2f2; }
    tr.verdict td { font-weight: 600; background: #fafafa; }
    .note { color: #555; font-size: 0.9rem; }
    .supported { color: #1d6b35; font-weight: 600; }
    .notSupported { color: #b3261e; font-weight: 600; }
    .notEvaluated { color: #7a5b00; font-weight: 600; }

    """
}
