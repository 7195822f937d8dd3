@testable import BlindspotStudy
import BlindspotAudit
import BlindspotCore
import BlindspotDefenses
import BlindspotTestSupport
import Foundation
import XCTest

/// The study end to end on a tiny grid, in-process: synthetic data (600 training images, the
/// fewest at which Spectral Signatures has its 50 per class; 200 test images), 1 epoch, 2 seeds,
/// int8, Spectral Signatures and STRIP on the quick budget (about 25 s a run on 2 busy cores).
/// Two shards collected give the same summary as one run; a rerun does nothing; the lines and
/// the audit reports validate against their schemas.
final class StudyRunTests: XCTestCase {
    static let grid = StudyGrid(dataset: .synthetic, trainImages: 600, testImages: 200, architecture: .cnn6, seeds: 2,
                                precisions: [.fp32, .deployed(.int8)], defenses: [.ss, .strip], epochs: 1, budget: .quick)

    func temporaryDirectory(_ name: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("study-\(name)-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir.path
    }

    func testTwoShardsCollectToTheSummaryOfOneRun() throws {
        let quiet = ProgressReporter(quiet: true)
        let t0 = monotonicSeconds()
        let one = StudyPlan(grid: Self.grid, layout: StudyLayout(root: try temporaryDirectory("one")))
        let whole = try Study.run(one, progress: quiet)
        XCTAssertEqual([whole.jobs, whole.ran], [6, 6])
        let t1 = monotonicSeconds()

        var shardDirs: [String] = []
        for i in 0..<2 {
            let p = StudyPlan(grid: Self.grid, layout: StudyLayout(root: try temporaryDirectory("shard\(i)")))
            let o = try Study.run(p, shard: Shard(index: i, count: 2), progress: quiet)
            XCTAssertEqual(o.jobs, 3)
            shardDirs.append(p.layout.root)
        }
        let merged = try temporaryDirectory("merged")
        let collected = try Study.collect(shardDirs, out: merged, progress: quiet)
        let t2 = monotonicSeconds()

        let expected = try String(contentsOfFile: one.layout.summaryMarkdown, encoding: .utf8)
        XCTAssertEqual(collected.markdown, expected)
        XCTAssertEqual(try String(contentsOfFile: merged + "/summary.md", encoding: .utf8), expected)
        XCTAssertEqual(try String(contentsOfFile: merged + "/summary.html", encoding: .utf8),
                       try String(contentsOfFile: one.layout.summaryHTML, encoding: .utf8))
        XCTAssertEqual(collected.summary, whole.summary)

        // 2 seeds × 2 models × 2 precisions × 2 defenses.
        let lines = try ResultsFile.read(one.layout.results).lines
        XCTAssertEqual(lines.count, 16)
        XCTAssertEqual(Set(lines.map(\.key)).count, 16)
        let validator = try SchemaValidator(schemaFile: StudySummaryTests.root.appendingPathComponent("schemas/study-results.schema.json"))
        for l in lines { XCTAssertEqual(try validator.validate(l.jsonLine()), [], l.key) }
        let audit = try SchemaValidator(schemaFile: StudySummaryTests.root.appendingPathComponent("schemas/audit-report.schema.json"))
        for report in Set(lines.map(\.report)) {
            XCTAssertEqual(try audit.validate(Data(contentsOf: URL(fileURLWithPath: one.layout.root + "/" + report))), [], report)
        }
        // Twins carry no attack success; backdoored models carry the trigger's, and their ground truth.
        XCTAssertTrue(lines.filter { $0.model == .twin }.allSatisfy { $0.attackSuccessRate == nil && !$0.groundTruth.backdoored })
        XCTAssertTrue(lines.filter { $0.model == .backdoored }.allSatisfy { $0.attackSuccessRate != nil && $0.groundTruth.target != nil })
        XCTAssertTrue(lines.allSatisfy { ($0.correct == nil) == ($0.status == .notEvaluated) })
        XCTAssertTrue(lines.contains { $0.defense == "ss" && $0.status != .notEvaluated }, "the summaries compare real verdicts, not only 'not evaluated'")
        XCTAssertTrue(expected.contains("| Spectral Signatures | int8 |"), expected)
        XCTAssertFalse(expected.contains(one.layout.root), "no paths in the summary")

        // A rerun skips every job and leaves the same summary; the plan says every job is done.
        let again = try Study.run(one, progress: quiet)
        XCTAssertEqual(again.ran, 0)
        XCTAssertEqual(again.markdown, expected)
        XCTAssertEqual(try ResultsFile.read(one.layout.results).lines.count, 16)
        let plan = try Study.writePlan(one)
        XCTAssertEqual(plan.count, 6)
        XCTAssertTrue(plan.allSatisfy(\.done))
        XCTAssertEqual(try String(contentsOfFile: one.layout.plan, encoding: .utf8).split(separator: "\n").count, 6)

        // A lost line (an interrupted append) is redone from the audit's JSON report, not rerun.
        let path = one.layout.results
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        let cut = data.count - 100
        data = data.prefix(cut)
        try data.write(to: URL(fileURLWithPath: path))
        let repaired = try Study.run(one, progress: quiet)
        XCTAssertEqual(repaired.ran, 1)
        XCTAssertEqual(repaired.markdown, expected)
        print("study test timings: one run \(String(format: "%.1f", t1 - t0)) s, two shards + collect \(String(format: "%.1f", t2 - t1)) s, resume \(String(format: "%.1f", monotonicSeconds() - t2)) s")
        print(expected)
    }
}
