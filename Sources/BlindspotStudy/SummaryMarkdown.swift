import BlindspotAudit
import BlindspotDefenses
import Foundation

/// `summary.md`: a pure function of the summary (no paths, dates or timings, so summaries of the
/// same results are byte-identical however they were sharded).
public enum SummaryMarkdown {
    public static func render(_ s: StudySummary) -> String {
        var m = "# blindspot study: backdoor detection at FP32 and as deployed\n\n"
        m += "Ye & Pandey (*Quantization Blindspots*, arXiv 2512.06243, 2025) report that INT8 quantization takes five backdoor defenses to 0% detection while the attack still works. "
        m += "This is their experiment on forged models with ground truth: per seed a backdoored model and its clean twin, each audited at FP32 and at every deployed precision. \(s.lines) result lines.\n\n"
        m += conventions + "\n"
        if s.groups.isEmpty { m += "No results yet.\n" }
        for g in s.groups { m += group(g) }
        return m
    }

    /// The detection cell: the rate, then wrong targets and models whose attack did not work.
    static func detectionText(_ r: StudySummary.RateRow) -> String {
        var t = r.detection.text
        if r.wrongTarget > 0 { t += "; \(r.wrongTarget) flagged another class" }
        if r.attackNotLive > 0 { t += "; \(r.attackNotLive) left out (attack success < \(Int(StudySummary.liveASR * 100))%)" }
        return t
    }

    static let conventions = """
    How to read the tables: rates are k/n with a 95% Wilson interval. **Detection**: backdoored models flagged with the right target class, among those the defense evaluated. \
    A backdoored model whose trigger works on fewer than \(Int(StudySummary.liveASR * 100))% of images at a precision has no working backdoor there and is left out of that row (the cell says how many). \
    **False positives**: clean twins flagged (any class), among those evaluated. **Not evaluated**: share of all models on which the defense could not run — \
    the study's code counted those as "not detected"; here they leave the denominator. **Weighed verdict**: the audit's verdict at that precision \
    (backdoor / no backdoor / inconclusive counted as detected / not detected / not evaluated), which with the other precision's decides `blindspot audit`'s exit code. \
    FP32 rows come from each model's first audit (every audit runs FP32 beside its deployed precision).

    """

    static func group(_ g: StudySummary.Group) -> String {
        var m = "## \(g.dataset) · \(g.architecture) · \(g.attack)\n\n"
        let bd = g.figures.first?.cleanAccuracyBackdoored.n ?? 0, tw = g.figures.first?.cleanAccuracyTwin.n ?? 0
        m += "Seeds \(seedList(g.seeds)) (\(bd) backdoored model\(bd == 1 ? "" : "s"), \(tw) clean twin\(tw == 1 ? "" : "s")) · defenses \(g.setting("defenses") ?? "?") · "
        m += "budget \(g.setting("budget") ?? "?") · \(epochs(g)) · poison rate \(g.setting("poisonRate") ?? "?")\n\n"
        if let a = activeAt(g) { m += a + "\n\n" }

        m += "### Detection\n\n| defense | precision | detection (backdoored) | false positives (twins) | not evaluated (backdoored · twins) |\n|---|---|---|---|---|\n"
        for r in g.rates {
            m += "| \(name(r.defense)) | \(r.precision) | \(detectionText(r)) | \(r.falsePositive.text) | \(r.notEvaluatedBackdoored.k)/\(r.notEvaluatedBackdoored.n) · \(r.notEvaluatedTwin.k)/\(r.notEvaluatedTwin.n) |\n"
        }

        m += "\n### Clean accuracy and attack success\n\nMean (min–max) over models.\n\n"
        m += "| precision | clean accuracy, backdoored | clean accuracy, twins | attack success | audits exiting 3 or 4 (backdoored · twins) |\n|---|---|---|---|---|\n"
        for f in g.figures {
            let flags = [f.auditFlagsBackdoored, f.auditFlagsTwin].map { $0.map { "\($0.k)/\($0.n)" } ?? "–" }.joined(separator: " · ")
            m += "| \(f.precision) | \(statistic(f.cleanAccuracyBackdoored)) | \(statistic(f.cleanAccuracyTwin)) | \(statistic(f.attackSuccess)) | \(flags) |\n"
        }

        if !g.blindspots.isEmpty {
            m += "\n### Blindspots\n\nBackdoored models evaluated at FP32 and at the deployed precision: detected (right target) at FP32 but not as deployed — the blindspot — and the reverse; for the weighed verdict, *inconclusive* as deployed counts as not detected (the audit exits 4 on it).\n\n"
            m += "| defense | precision | FP32 detected, deployed not | deployed detected, FP32 not | models |\n|---|---|---|---|---|\n"
            for b in g.blindspots {
                m += "| \(name(b.defense)) | \(b.precision) | \(b.lost) of \(b.fp32Detected) | \(b.gained) of \(b.pairs - b.fp32Detected) | \(b.pairs) |\n"
            }
        }

        m += "\n### The study's claims\n\n"
        for c in g.claims {
            m += "**\(c.claim)**\n\n"
            for f in c.findings {
                m += "- \(f.precision.map { "\($0): " } ?? "")**\(status(f.status))** — \(f.because)\n"
            }
            m += "\n"
        }
        return m
    }

    /// A conditioned backdoor's precisions, where the table's detections mean something else.
    static func activeAt(_ g: StudySummary.Group) -> String? {
        g.activeAt.map { "The backdoors are quantization-conditioned: active only at \($0.joined(separator: ", ")). Elsewhere, FP32 included, the trigger is dormant and a detection with the target class finds a backdoor that does not fire there (each line's `correct` field counts such calls as wrong)." }
    }

    /// `1 epoch`, `4 epochs`.
    static func epochs(_ g: StudySummary.Group) -> String {
        let e = g.setting("epochs") ?? "?"
        return e == "1" ? "1 epoch" : "\(e) epochs"
    }

    static func name(_ d: String) -> String {
        DefenseKind(rawValue: d)?.displayName ?? (d == StudySummary.verdict ? "weighed verdict" : d)
    }

    static func status(_ s: StudySummary.Claim.Status) -> String {
        switch s {
        case .supported: return "supported"
        case .notSupported: return "not supported"
        case .notEvaluated: return "not evaluated"
        }
    }

    /// `91.2% (90.1–92.4%)`, or `–` without models.
    static func statistic(_ s: StudySummary.Statistic) -> String {
        guard let mean = s.mean, let lo = s.min, let hi = s.max else { return "–" }
        func p(_ x: Double) -> String { String(format: "%.1f", 100 * x) }
        return s.n == 1 ? "\(p(mean))%" : "\(p(mean))% (\(p(lo))–\(p(hi))%)"
    }

    /// `1–5` for a run of seeds, else `1, 3, 7`.
    static func seedList(_ seeds: [UInt64]) -> String {
        guard let first = seeds.first, let last = seeds.last else { return "none" }
        if seeds.count > 2, last - first + 1 == UInt64(seeds.count) { return "\(first)–\(last)" }
        return seeds.map(String.init).joined(separator: ", ")
    }
}
