import BlindspotAudit
import BlindspotDefenses
import Foundation

/// The study's two headline claims (Ye & Pandey 2025, arXiv 2512.06243, abstract and §5), checked
/// against a group's table: which our numbers support, which not, and why — the reasons being
/// what the table itself shows (FP32 baseline, not-evaluated audits, attack success, and what the
/// study's own quantization did).
enum StudyClaims {
    static let int8Claim = "INT8 takes every defense to 0% detection (the study: all five defenses 0% at INT8 while attack success stays above 99%)"
    static let int4Claim = "At INT4, Neural Cleanse still detects on GTSRB but not on CIFAR-10 (the study: attack success above 90%)"

    typealias Group = StudySummary.Group
    typealias Finding = StudySummary.Finding

    static func evaluate(_ g: Group) -> [StudySummary.Claim] {
        [.init(claim: int8Claim, findings: int8(g)), .init(claim: int4Claim, findings: int4(g))]
    }

    static func int8(_ g: Group) -> [Finding] {
        if let f = notBadNet(g) { return [f] }
        let ps = g.precisions.filter { ["int8", "int8-dynamic", "paper-int8"].contains($0) }
        guard !ps.isEmpty else { return [Finding(precision: nil, status: .notEvaluated, because: "the grid has no INT8 precision (int8, int8-dynamic or paper-int8)")] }
        return ps.map { p in
            let rows = g.defenses.compactMap { g.rate($0, p) }
            let detecting = rows.filter { $0.detection.k > 0 }, unevaluated = rows.filter { $0.detection.n == 0 }
            var why: [String] = []
            let status: StudySummary.Claim.Status
            if !detecting.isEmpty {
                status = .notSupported
                why.append(detecting.map { "\(name($0.defense)) detects \($0.detection.k) of \($0.detection.n)" }.joined(separator: ", ") + " at \(p)")
            } else if !unevaluated.isEmpty {
                status = .notEvaluated
                why.append("no backdoored model was evaluated by \(unevaluated.map { name($0.defense) }.joined(separator: ", ")) at \(p)")
            } else {
                status = .supported
                why.append("every defense run detects 0 of the backdoored models it evaluated at \(p)")
            }
            why += baseline(g, defenses: rows.filter { $0.detection.k == 0 && $0.detection.n > 0 }.map(\.defense), at: p)
            if p == "paper-int8" {
                var s = "paper-int8 is what the study's code ran: PyTorch's quantize_dynamic maps only Linear layers, so every convolution stays FP32 and the defenses audit almost the FP32 model"
                if rows.allSatisfy({ r in g.rate(r.defense, "fp32").map { $0.detection.k == r.detection.k && $0.detection.n == r.detection.n } ?? false }) {
                    s += " (here every defense's detection equals its FP32 detection)"
                }
                why.append(s)
            }
            why += common(g, rows: rows, at: p)
            return Finding(precision: p, status: status, because: why.joined(separator: "; "))
        }
    }

    static func int4(_ g: Group) -> [Finding] {
        if let f = notBadNet(g) { return [f] }
        let data = g.dataset.split(separator: "/").first.map(String.init) ?? g.dataset
        guard data == "gtsrb" || data == "cifar10" else {
            return [Finding(precision: nil, status: .notEvaluated, because: "not evaluated on this data: the claim concerns GTSRB and CIFAR-10, this grid ran on \(data)")]
        }
        guard g.defenses.contains("nc") else { return [Finding(precision: nil, status: .notEvaluated, because: "Neural Cleanse was not run (--defenses)")] }
        let ps = g.precisions.filter { ["int4", "paper-int4"].contains($0) }
        guard !ps.isEmpty else { return [Finding(precision: nil, status: .notEvaluated, because: "the grid has no INT4 precision (int4 or paper-int4)")] }
        return ps.map { p in
            let r = g.rate("nc", p)!
            var why: [String] = []
            let status: StudySummary.Claim.Status
            let observed = "Neural Cleanse detects \(r.detection.k) of \(r.detection.n) backdoored \(data == "gtsrb" ? "GTSRB" : "CIFAR-10") models at \(p)"
            if r.detection.n == 0 {
                status = .notEvaluated
                why.append("no backdoored model was evaluated by Neural Cleanse at \(p)")
            } else if data == "gtsrb" {
                status = r.detection.k > 0 ? .supported : .notSupported
                why.append(observed + " (the claim needs more than 0)")
            } else {
                status = r.detection.k == 0 ? .supported : .notSupported
                why.append(observed + " (the claim needs 0)")
            }
            if r.detection.k == 0 && r.detection.n > 0 { why += baseline(g, defenses: ["nc"], at: p) }
            if p == "paper-int4" {
                why.append("paper-int4 is the study's INT4: every weight tensor, BatchNorm γ included, rounded per tensor to 16 levels with FP32 activations (int4 is W4A8 with per-channel weights, as deployed)")
            }
            why += common(g, rows: [r], at: p)
            return Finding(precision: p, status: status, because: why.joined(separator: "; "))
        }
    }

    static func notBadNet(_ g: Group) -> Finding? {
        g.attack == "badnet" ? nil
            : Finding(precision: nil, status: .notEvaluated, because: "the study's claims concern BadNet models; this grid forged \(g.attack) models (see the table for how the defenses fare on them)")
    }

    /// Whether a 0% at `p` is a quantization effect: the same defense's FP32 detection.
    static func baseline(_ g: Group, defenses: [String], at p: String) -> [String] {
        var none: [String] = [], some: [String] = []
        for d in defenses {
            guard let f = g.rate(d, "fp32"), f.detection.n > 0 else { continue }
            if f.detection.k == 0 { none.append(name(d)) } else { some.append("\(name(d)) (\(f.detection.k) of \(f.detection.n))") }
        }
        var out: [String] = []
        if !none.isEmpty { out.append("\(none.joined(separator: ", ")) detect\(none.count == 1 ? "s" : "") nothing at FP32 either, so a 0% at \(p) is not caused by quantization") }
        if !some.isEmpty { out.append("detected at FP32 but not at \(p): \(some.joined(separator: ", ")) — a quantization blindspot") }
        return out
    }

    /// Not-evaluated audits and the attack's success at `p`.
    static func common(_ g: Group, rows: [StudySummary.RateRow], at p: String) -> [String] {
        var out: [String] = []
        let ne = rows.filter { $0.notEvaluatedBackdoored.k > 0 }
        if !ne.isEmpty {
            out.append("not evaluated at \(p): " + ne.map { "\(name($0.defense)) on \($0.notEvaluatedBackdoored.k) of \($0.notEvaluatedBackdoored.n)" }.joined(separator: ", ")
                       + " backdoored models (the study's code counted such failures as 'not detected')")
        }
        if let a = g.figures(p)?.attackSuccess, let mean = a.mean {
            let pct = Proportion.percent(mean)
            out.append(mean < 0.5 ? "attack success at \(p) averages \(pct): quantization itself weakened the backdoor, so missing it is no blindspot"
                                  : "attack success at \(p) averages \(pct)")
        }
        return out
    }

    static func name(_ d: String) -> String { DefenseKind(rawValue: d)?.displayName ?? (d == StudySummary.verdict ? "the weighed verdict" : d) }
}
