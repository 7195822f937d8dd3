@testable import BlindspotStudy
import BlindspotAudit
import BlindspotCore
import BlindspotDefenses
import BlindspotTestSupport
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest

/// Wilson intervals, the summary's counting rules, the claims and results.jsonl's crash rules,
/// on hand-made result lines.
final class StudySummaryTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func testWilsonHandWorked() throws {
        func check(_ k: Int, _ n: Int, _ lo: Double, _ hi: Double) {
            let w = Wilson.interval(k, n)!
            XCTAssertEqual(w.low, lo, accuracy: 0.005, "\(k)/\(n)")
            XCTAssertEqual(w.high, hi, accuracy: 0.005, "\(k)/\(n)")
        }
        check(3, 3, 0.44, 1.00)
        check(0, 3, 0.00, 0.56)
        check(5, 10, 0.24, 0.76)
        XCTAssertEqual(Wilson.interval(5, 10)!.low, 0.2366, accuracy: 0.0001)
        XCTAssertNil(Wilson.interval(0, 0))
        XCTAssertEqual(Proportion(3, 3).text, "100% (44–100%) 3/3")
        XCTAssertEqual(Proportion(0, 0).text, "– (n = 0)")
    }

    /// A result line as the study writes it.
    static func line(seed: UInt64, model: StudyModel, precision: String, defense: String, status: Verdict.Status, target: Int? = nil,
                     dataset: String = "synthetic", attack: String = "badnet", verdict: PrecisionVerdict.Kind = .inconclusive,
                     asr: Double = 0.97, exitCode: Int32 = 0) -> StudyResultLine {
        let grid = "data=\(dataset);arch=cnn6;attack=\(attack);poisonRate=0.1;epochs=1;budget=quick;defenses=nc,ss"
        let truth = StudyResultLine.Truth(backdoored: model == .backdoored, target: 3, trigger: "white:3@5,5", activeAt: nil)
        var l = StudyResultLine(key: grid + ";seed=\(seed);precision=\(precision);model=\(model.rawValue);defense=\(defense)", grid: grid,
                                dataset: dataset, architecture: "cnn6", seed: seed, model: model, attack: attack, precision: precision,
                                audit: precision == "fp32" ? "int8" : precision, defense: defense, status: status, target: target,
                                reason: status == .notEvaluated ? "noSuspectData" : nil, keyScore: status == .notEvaluated ? nil : 1.5,
                                keyScoreName: "anomalyIndex", groundTruth: truth, correct: nil, cleanAccuracy: 0.9,
                                attackSuccessRate: model == .backdoored ? asr : nil,
                                verdict: .init(kind: verdict, target: verdict == .backdoor ? 3 : nil),
                                overall: .init(kind: .inconclusive, line: "INCONCLUSIVE: <test> & \"quotes\"", exitCode: exitCode),
                                seconds: 1, auditSeconds: 2, reportPath: "audits/seed-\(seed)/m-int8.json")
        l.correct = status == .notEvaluated ? nil : model == .backdoored ? l.detectedRightTarget : status == .notDetected
        return l
    }

    /// Detection counts the right target among evaluated models; false positives any flag on
    /// twins; not-evaluated leaves the denominator; blindspots pair FP32 with deployed.
    func testCountingRules() throws {
        let L = Self.L
        let lines = [
            L(1, .backdoored, "fp32", "nc", .detected, 3), L(1, .backdoored, "int8", "nc", .notDetected, nil),
            L(2, .backdoored, "fp32", "nc", .detected, 5), L(2, .backdoored, "int8", "nc", .notEvaluated, nil),
            L(3, .backdoored, "fp32", "nc", .detected, 3), L(3, .backdoored, "int8", "nc", .detected, 3),
            L(1, .twin, "fp32", "nc", .detected, 7), L(1, .twin, "int8", "nc", .notDetected, nil),
            L(2, .twin, "fp32", "nc", .notDetected, nil), L(2, .twin, "int8", "nc", .notEvaluated, nil),
        ].map { $0 }
        let s = StudySummary(lines.shuffled())
        XCTAssertEqual(s.groups.count, 1)
        let g = s.groups[0]
        let fp = g.rate("nc", "fp32")!, q = g.rate("nc", "int8")!
        XCTAssertEqual([fp.detection.k, fp.detection.n, fp.wrongTarget], [2, 3, 1])
        XCTAssertEqual([fp.falsePositive.k, fp.falsePositive.n], [1, 2])
        XCTAssertEqual([q.detection.k, q.detection.n, q.notEvaluatedBackdoored.k, q.notEvaluatedBackdoored.n], [1, 2, 1, 3])
        XCTAssertEqual([q.falsePositive.k, q.falsePositive.n, q.notEvaluatedTwin.k], [0, 1, 1])
        let b = g.blindspots.first { $0.defense == "nc" && $0.precision == "int8" }!
        XCTAssertEqual([b.pairs, b.fp32Detected, b.lost, b.gained], [2, 2, 1, 0])
        // Not a function of the order the lines come in.
        XCTAssertEqual(SummaryMarkdown.render(s), SummaryMarkdown.render(StudySummary(lines.reversed())))
    }

    /// A BadNet whose trigger fails at a precision leaves that row's detection denominator (it
    /// has no backdoor there to find) and is counted; a conditioned grid's dormancy is exempt.
    func testModelsWhoseAttackDoesNotWorkLeaveTheDetectionDenominator() throws {
        let lines = [
            Self.line(seed: 1, model: .backdoored, precision: "fp32", defense: "nc", status: .detected, target: 3),
            Self.line(seed: 2, model: .backdoored, precision: "fp32", defense: "nc", status: .notDetected, asr: 0.16),
            Self.line(seed: 3, model: .backdoored, precision: "fp32", defense: "nc", status: .notDetected, asr: 0.5),
        ]
        let r = StudySummary(lines).groups[0].rate("nc", "fp32")!
        XCTAssertEqual([r.detection.k, r.detection.n, r.attackNotLive], [1, 2, 1])
        XCTAssertTrue(SummaryMarkdown.render(StudySummary(lines)).contains("1 left out (attack success < 50%)"))
        let conditioned = lines.map { l -> StudyResultLine in var l = l; l.groundTruth.activeAt = ["int4"]; return l }
        let c = StudySummary(conditioned).groups[0].rate("nc", "fp32")!
        XCTAssertEqual([c.detection.k, c.detection.n, c.attackNotLive], [1, 3, 0])
    }

    /// The weighed verdict's blindspot: backdoor at FP32, inconclusive as deployed (exit 4) counts;
    /// a defense that could not run as deployed does not.
    func testAnInconclusiveDeployedVerdictAfterAnFP32BackdoorIsABlindspot() throws {
        let lines = [
            Self.line(seed: 1, model: .backdoored, precision: "fp32", defense: "nc", status: .detected, target: 3, verdict: .backdoor),
            Self.line(seed: 1, model: .backdoored, precision: "int8", defense: "nc", status: .notEvaluated, verdict: .inconclusive),
        ]
        let g = StudySummary(lines).groups[0]
        let v = g.blindspots.first { $0.defense == StudySummary.verdict && $0.precision == "int8" }!
        XCTAssertEqual([v.pairs, v.fp32Detected, v.lost], [1, 1, 1])
        let nc = g.blindspots.first { $0.defense == "nc" && $0.precision == "int8" }!
        XCTAssertEqual([nc.pairs, nc.lost], [0, 0])
    }

    func testInt8ClaimSupportedOnlyWhenEveryDefenseIsAtZero() throws {
        func lines(_ int8Status: Verdict.Status, ssAtFP32: Verdict.Status) -> [StudyResultLine] {
            (1...3).flatMap { seed -> [StudyResultLine] in
                [Self.line(seed: seed, model: .backdoored, precision: "fp32", defense: "nc", status: .detected, target: 3),
                 Self.line(seed: seed, model: .backdoored, precision: "fp32", defense: "ss", status: ssAtFP32, target: ssAtFP32 == .detected ? 3 : nil),
                 Self.line(seed: seed, model: .backdoored, precision: "int8", defense: "nc", status: int8Status, target: int8Status == .detected ? 3 : nil),
                 Self.line(seed: seed, model: .backdoored, precision: "int8", defense: "ss", status: .notDetected),
                 Self.line(seed: seed, model: .backdoored, precision: "paper-int8", defense: "nc", status: .detected, target: 3),
                 Self.line(seed: seed, model: .backdoored, precision: "paper-int8", defense: "ss", status: ssAtFP32, target: ssAtFP32 == .detected ? 3 : nil)]
            }
        }
        let zero = StudySummary(lines(.notDetected, ssAtFP32: .notDetected)).groups[0].claims[0].findings
        XCTAssertEqual(zero.map(\.precision), ["int8", "paper-int8"])
        XCTAssertEqual(zero[0].status, .supported)
        XCTAssertTrue(zero[0].because.contains("Spectral Signatures detects nothing at FP32 either"), zero[0].because)
        XCTAssertTrue(zero[0].because.contains("Neural Cleanse (3 of 3) — a quantization blindspot"), zero[0].because)
        XCTAssertEqual(zero[1].status, .notSupported)
        XCTAssertTrue(zero[1].because.contains("only Linear layers"), zero[1].because)
        XCTAssertTrue(zero[1].because.contains("equals its FP32 detection"), zero[1].because)
        let detected = StudySummary(lines(.detected, ssAtFP32: .notDetected)).groups[0].claims[0].findings
        XCTAssertEqual(detected[0].status, .notSupported)
        XCTAssertTrue(detected[0].because.hasPrefix("Neural Cleanse detects 3 of 3 at int8"), detected[0].because)
        let unevaluated = StudySummary(lines(.notEvaluated, ssAtFP32: .notDetected)).groups[0].claims[0].findings
        XCTAssertEqual(unevaluated[0].status, .notEvaluated)
        XCTAssertTrue(unevaluated[0].because.contains("counted such failures as 'not detected'"), unevaluated[0].because)
    }

    func testInt4ClaimOnlyOnGTSRBAndCIFAR10() throws {
        func claim(_ data: String, _ status: Verdict.Status) -> StudySummary.Finding {
            let lines = (1...2).flatMap { seed in
                [Self.line(seed: seed, model: .backdoored, precision: "fp32", defense: "nc", status: .detected, target: 3, dataset: data),
                 Self.line(seed: seed, model: .backdoored, precision: "int4", defense: "nc", status: status, target: status == .detected ? 3 : nil, dataset: data)]
            }
            return StudySummary(lines).groups[0].claims[1].findings[0]
        }
        XCTAssertEqual(claim("gtsrb", .detected).status, .supported)
        XCTAssertEqual(claim("gtsrb", .notDetected).status, .notSupported)
        XCTAssertEqual(claim("cifar10", .notDetected).status, .supported)
        XCTAssertEqual(claim("cifar10", .detected).status, .notSupported)
        let synthetic = claim("synthetic/600/300", .detected)
        XCTAssertEqual(synthetic.status, .notEvaluated)
        XCTAssertTrue(synthetic.because.contains("not evaluated on this data"), synthetic.because)
    }

    /// Results lines validate against schemas/study-results.schema.json; the schema rejects a
    /// line without a key or with an unknown status.
    func testResultLinesValidateAgainstTheSchema() throws {
        let validator = try SchemaValidator(schemaFile: Self.root.appendingPathComponent("schemas/study-results.schema.json"))
        for l in [Self.line(seed: 1, model: .backdoored, precision: "int8", defense: "nc", status: .detected, target: 3),
                  Self.line(seed: 1, model: .twin, precision: "fp32", defense: "ss", status: .notEvaluated)] {
            XCTAssertEqual(try validator.validate(l.jsonLine()), [])
        }
        var obj = try JSONSerialization.jsonObject(with: Self.line(seed: 1, model: .twin, precision: "fp32", defense: "ss", status: .notDetected).jsonLine()) as! [String: Any]
        XCTAssertTrue(obj.keys.contains("target") && obj["target"] is NSNull, "optional fields are written as null")
        obj["status"] = "maybe"
        XCTAssertFalse(try validator.validate(JSONSerialization.data(withJSONObject: obj)).isEmpty)
        obj.removeValue(forKey: "key")
        XCTAssertFalse(try validator.validate(JSONSerialization.data(withJSONObject: obj)).isEmpty)
    }

    /// A crash mid-write leaves a last line without its newline: reading leaves it out, a
    /// resuming run cuts it off before appending; a broken complete line is an error (65).
    func testTruncatedLastLineIsSkippedAndRepaired() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("study-results-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("results.jsonl").path
        let a = Self.line(seed: 1, model: .backdoored, precision: "fp32", defense: "nc", status: .detected, target: 3)
        let b = Self.line(seed: 2, model: .backdoored, precision: "fp32", defense: "nc", status: .notDetected)
        try ResultsFile.append([a], to: path)
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        data.append(try b.jsonLine().prefix(40))
        try data.write(to: URL(fileURLWithPath: path))
        let c = try ResultsFile.read(path)
        XCTAssertEqual(c.lines, [a])
        XCTAssertEqual(c.truncatedTail, 40)
        XCTAssertEqual(try ResultsFile.readRepairing(path, progress: ProgressReporter(quiet: true)), [a])
        try ResultsFile.append([b], to: path)
        XCTAssertEqual(try ResultsFile.read(path).lines, [a, b])
        XCTAssertEqual(try ResultsFile.read(path).truncatedTail, 0)

        try Data("{\"key\": 1}\n".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try ResultsFile.read(path)) { e in
            XCTAssertEqual((e as? BlindspotError)?.exitCode, 65)
            XCTAssertTrue((e as? BlindspotError)?.description.contains("line 1 is not a study result") == true, "\(e)")
        }
    }

    /// The HTML page escapes what it shows and carries no script.
    func testHTMLIsSelfContainedAndEscaped() throws {
        var l = Self.line(seed: 1, model: .backdoored, precision: "int8", defense: "nc", status: .detected, target: 3)
        l.grid += ";defenses=<script>"
        l.dataset = "<b>data</b>"
        let page = SummaryHTML.render(StudySummary([l]))
        XCTAssertFalse(page.contains("<script"))
        XCTAssertFalse(page.contains("<b>data</b>"))
        XCTAssertTrue(page.contains("&lt;b&gt;data&lt;/b&gt;"))
        let parser = XMLParser(data: Data(page.replacingOccurrences(of: "<!DOCTYPE html>", with: "").utf8))
        XCTAssertTrue(parser.parse(), "well-formed: \(parser.parserError.map { "\($0)" } ?? "")")
    }
}

extension StudySummaryTests {
    /// Positional shorthand for `line` in tables of lines.
    static func L(_ seed: UInt64, _ model: StudyModel, _ precision: String, _ defense: String, _ status: Verdict.Status, _ target: Int?) -> StudyResultLine {
        line(seed: seed, model: model, precision: precision, defense: defense, status: status, target: target)
    }
}
