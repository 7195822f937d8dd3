import BlindspotDefenses
import BlindspotQuantization
import Foundation

/// The terminal report: a compact table (defense × precision: status, target, key score vs
/// threshold), the drift summary and the verdict line. A pure function of the report.
public enum TextReport {
    public static func render(_ r: AuditReport) -> String {
        var s = "\(r.input.file) (\(r.input.format), \(r.input.architecture), \(r.input.classes) classes)\n"
        s += "data: \(r.input.dataset), \(r.input.cleanImages) clean held-out images"
        if let n = r.input.suspectImages { s += "; suspect training set \(n) images\(r.input.suspectHasPoisonFlags ? " (with poison flags)" : "")" }
        s += "\n"
        // Where the inputs' scaling came from: an audit fed the wrong range is worthless (issue 9).
        s += "preprocessing (\(r.input.preprocessing.source.rawValue)): \(r.input.preprocessing.description)\n"
        s += "deployed precision: \(r.precision.scheme) (\(r.precision.reason))\n"
        let d = r.deployment
        s += String(format: "clean accuracy: FP32 %.2f%%, %@ %.2f%%; surrogate agrees with the integer path on %.2f%%\n",
                    100 * d.cleanAccuracyFP32, r.precision.scheme, 100 * d.cleanAccuracyDeployed, 100 * d.surrogateAgreement)
        if let a = r.attack {
            s += String(format: "probe %@ → class %d (%@): attack success FP32 %.2f%%, %@ %.2f%%\n", a.probe, a.target, a.source, 100 * a.fp32, r.precision.scheme, 100 * a.deployed)
        } else {
            s += "probe for STRIP and Fine-Pruning: \(r.probe)\n"
        }
        s += "\n"
        let header = ["defense", "FP32", r.precision.scheme, "score (threshold)", "outcome"]
        var rows: [[String]] = []
        for c in r.comparisons {
            let h = c.defense.headline
            let sc = "\(h.score) \(fmt(c.fp32Score)) / \(fmt(c.deployedScore)) (\(h.threshold))"
            rows.append([c.defense.displayName, verdict(c.fp32), verdict(c.deployed), sc, c.outcome.rawValue])
        }
        s += table(header, rows)
        let reasons = r.results.filter { $0.verdict.status == .notEvaluated }
        for x in reasons { s += "  \(x.defense) at \(x.precision): not evaluated — \(x.verdict.reason ?? "")\n" }
        if !r.deployment.drift.isEmpty {
            let worst = r.deployment.drift.sorted { $0.relativeL2 > $1.relativeL2 }.prefix(3)
            s += "\ndrift FP32 → \(r.precision.scheme) (relative L2 on clean images), largest: "
                + worst.map { String(format: "%@ %.3f", $0.node, $0.relativeL2) }.joined(separator: ", ") + "\n"
        }
        for rp in r.deployment.roundingPositions ?? [] {
            s += "weights at \(rp.grid) rounding-interval edges: " + rp.summary + "\n"
        }
        if !r.groundTruthChecks.isEmpty, let t = r.groundTruth {
            let right = r.groundTruthChecks.filter { $0.right == true }.count
            let wrong = r.groundTruthChecks.filter { $0.right == false }
            s += "\nground truth in the file: \(t.backdoored ? "backdoored, target \(t.target ?? -1), trigger \(t.trigger ?? "?")" + (t.activeAt.map { ", active only at \($0.joined(separator: "/"))" } ?? "") : "clean twin"); "
            s += "\(right) of \(r.groundTruthChecks.count) verdicts right"
            if !wrong.isEmpty { s += "; wrong: " + wrong.map { "\($0.defense)@\($0.precision)" }.joined(separator: ", ") }
            let ne = r.groundTruthChecks.filter { $0.right == nil }.count
            if ne > 0 { s += "; \(ne) not evaluated" }
            s += "\n"
        }
        if !r.evidence.isEmpty {
            s += "\nevidence per candidate label (points at FP32 / \(r.precision.scheme); backdoor needs \(VerdictRule.backdoorPoints) with a strong item):\n"
            var rows: [[String]] = []
            for e in r.evidence {
                func items(_ c: EvidenceColumn) -> String { c.items.isEmpty ? "–" : c.items.map { "\($0.source) +\($0.weight)" }.joined(separator: ", ") }
                rows.append(["class \(e.target)", "\(e.fp32.points) / \(e.deployed.points)", items(e.fp32), items(e.deployed)])
            }
            s += table(["label", "points", "FP32", r.precision.scheme], rows)
            for v in r.precisionVerdicts {
                s += "  \(v.precision): \(v.kind.rawValue)\(v.confidence.map { " (\($0) confidence)" } ?? "") — \(v.summary)\n"
            }
            s += "  each defense alone: \(r.defenseAgreement)\n"
        }
        s += "\n\(r.overall.line)\n"
        return s
    }

    static func verdict(_ v: Verdict) -> String {
        switch v.status {
        case .detected: return "detected" + (v.target.map { " → \($0)" } ?? "")
        case .notDetected: return "not detected"
        case .notEvaluated: return "not evaluated"
        }
    }

    static func fmt(_ x: Double?) -> String { x.map { String(format: "%.2f", $0) } ?? "–" }

    static func table(_ header: [String], _ rows: [[String]]) -> String {
        let widths = header.indices.map { i in ([header] + rows).map { $0[i].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ") + "\n"
        }
        return line(header) + line(widths.map { String(repeating: "-", count: $0) }) + rows.map(line).joined()
    }
}
