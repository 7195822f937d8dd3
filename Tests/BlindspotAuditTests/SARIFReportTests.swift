import BlindspotAudit
import BlindspotDefenses
import BlindspotTestSupport
import Foundation
import XCTest

/// `SARIFReport.render`: SARIF 2.1.0 that code-scanning dashboards accept, one result per
/// finding, stable identities, deterministic bytes.
final class SARIFReportTests: XCTestCase {
    let subset = try! SchemaValidator(schemaFile: ReportFixtures.root.appendingPathComponent("schemas/sarif-2.1.0-subset.schema.json"))

    func sarif(_ r: AuditReport) throws -> (log: [String: Any], run: [String: Any], results: [[String: Any]]) {
        let data = try SARIFReport.render(r)
        XCTAssertEqual(try subset.validate(data), [])
        let log = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let run = try XCTUnwrap((log["runs"] as? [[String: Any]])?.first)
        return (log, run, run["results"] as? [[String: Any]] ?? [])
    }

    func text(_ result: [String: Any]) -> String { (result["message"] as? [String: Any])?["text"] as? String ?? "" }
    func uri(_ result: [String: Any]) -> [String: Any]? {
        (((result["locations"] as? [[String: Any]])?.first?["physicalLocation"] as? [String: Any])?["artifactLocation"] as? [String: Any])
    }

    /// The required SARIF members, and every result's ruleId/ruleIndex naming one of the rules.
    func testEveryReportIsWellFormedSARIF() throws {
        for r in [ReportFixtures.blindspot, ReportFixtures.backdoor, ReportFixtures.clean, ReportFixtures.inconclusive, ReportFixtures.targetBlindspot] {
            let (log, run, results) = try sarif(r)
            XCTAssertEqual(log["version"] as? String, "2.1.0")
            XCTAssertEqual(log["$schema"] as? String, "https://json.schemastore.org/sarif-2.1.0.json")
            XCTAssertEqual((log["runs"] as? [Any])?.count, 1)
            let driver = try XCTUnwrap((run["tool"] as? [String: Any])?["driver"] as? [String: Any])
            XCTAssertEqual(driver["name"] as? String, "blindspot")
            XCTAssertEqual(driver["version"] as? String, "0.1.0")
            let rules = try XCTUnwrap(driver["rules"] as? [[String: Any]])
            XCTAssertEqual(rules.map { $0["id"] as? String }, ["BS001", "BS002", "BS003"])
            XCTAssertEqual(rules.map { $0["name"] as? String }, ["backdoor-detected", "quantization-blindspot", "defense-not-evaluated"])
            XCTAssertEqual(rules.map { ($0["defaultConfiguration"] as? [String: Any])?["level"] as? String }, ["error", "error", "note"])
            for rule in rules {
                XCTAssertFalse(((rule["shortDescription"] as? [String: Any])?["text"] as? String ?? "").isEmpty)
                XCTAssertFalse(((rule["fullDescription"] as? [String: Any])?["text"] as? String ?? "").isEmpty)
            }
            for res in results {
                let id = try XCTUnwrap(res["ruleId"] as? String), index = try XCTUnwrap(res["ruleIndex"] as? Int)
                XCTAssertTrue(rules.indices.contains(index), id)
                XCTAssertEqual(rules[index]["id"] as? String, id)
                // The weighed verdict and the notes carry the rule's level; single defenses' findings are warnings.
                let weighed = (res["properties"] as? [String: Any])?["defense"] as? String == "weighed"
                XCTAssertEqual(res["level"] as? String, weighed || id == "BS003" ? (rules[index]["defaultConfiguration"] as? [String: Any])?["level"] as? String : "warning")
                XCTAssertFalse(text(res).isEmpty)
                XCTAssertEqual(uri(res)?["uri"] as? String, "samples/badnet.h5")
                XCTAssertEqual(uri(res)?["uriBaseId"] as? String, "%SRCROOT%")
                XCTAssertEqual(uri(res)?["index"] as? Int, 0)
                XCTAssertEqual((res["partialFingerprints"] as? [String: String])?.count, 1)
                XCTAssertNotNil((res["properties"] as? [String: Any])?["defense"])
            }
            let invocation = try XCTUnwrap((run["invocations"] as? [[String: Any]])?.first)
            XCTAssertEqual(invocation["executionSuccessful"] as? Bool, true)
            XCTAssertEqual(invocation["exitCode"] as? Int, Int(r.overall.exitCode))
            XCTAssertEqual(invocation["commandLine"] as? String, r.commandLine)
            let artifact = try XCTUnwrap((run["artifacts"] as? [[String: Any]])?.first)
            XCTAssertEqual((artifact["hashes"] as? [String: String])?["sha-256"], ReportFixtures.sha)
            XCTAssertEqual((artifact["location"] as? [String: Any])?["uri"] as? String, "samples/badnet.h5")
            XCTAssertEqual(((run["properties"] as? [String: Any])?["overall"] as? [String: Any])?["kind"] as? String, r.overall.kind.rawValue)
        }
    }

    func testBlindspotsAreBS002ErrorsNamingDefenseVerdictsScoresAndScheme() throws {
        let results = try sarif(ReportFixtures.blindspot).results
        let blind = results.filter { $0["ruleId"] as? String == "BS002" }
        XCTAssertEqual(blind.count, 3)  // the weighed verdict, NC blindspot, STRIP reverse blindspot
        let weighed = try XCTUnwrap(blind.first)
        XCTAssertEqual((weighed["properties"] as? [String: Any])?["defense"] as? String, "weighed")
        XCTAssertEqual(weighed["level"] as? String, "error")
        XCTAssertEqual(text(weighed), ReportFixtures.blindspot.overall.line)
        let nc = try XCTUnwrap(blind.first { ($0["properties"] as? [String: Any])?["defense"] as? String == "nc" })
        XCTAssertEqual(nc["level"] as? String, "warning")
        XCTAssertTrue(text(nc).contains("Neural Cleanse flags class 0 at FP32 (anomalyIndex 4.10 > 2) but not at int8 (1.30)"), text(nc))
        XCTAssertTrue(text(nc).contains("FP32 detected, target 0; int8 notDetected"), text(nc))
        let p = try XCTUnwrap(nc["properties"] as? [String: Any])
        XCTAssertEqual(p["outcome"] as? String, "blindspot")
        XCTAssertEqual(p["target"] as? Int, 0)
        XCTAssertEqual(p["precisions"] as? [String], ["fp32", "int8"])
        XCTAssertEqual((p["scores"] as? [String: Double])?["fp32"], 4.1)
        XCTAssertEqual((p["scores"] as? [String: Double])?["deployed"], 1.3)
        let strip = try XCTUnwrap(blind.first { ($0["properties"] as? [String: Any])?["defense"] as? String == "strip" })
        XCTAssertTrue(text(strip).contains("STRIP flags class 1 only at int8"), text(strip))
        XCTAssertTrue(text(strip).contains("reverseBlindspot"), text(strip))
        let target = try sarif(ReportFixtures.targetBlindspot).results
        XCTAssertEqual(target.map { $0["ruleId"] as? String }, ["BS002", "BS002"])
        XCTAssertTrue(text(target[1]).contains("Activation Clustering flags class 0 at FP32 (anomalyIndex 30.20) but class 1 at int8 (13.40)"), text(target[0]))
    }

    /// The weighed backdoor verdict is the one BS001 error; each defense that detects the same
    /// target at both precisions adds a BS001 warning (AC in the blindspot report too).
    func testConsistentDetectionsAreBS001() throws {
        let backdoor = try sarif(ReportFixtures.backdoor).results
        XCTAssertEqual(backdoor.filter { $0["level"] as? String == "error" }.map { $0["ruleId"] as? String }, ["BS001"])
        XCTAssertEqual((backdoor[0]["properties"] as? [String: Any])?["defense"] as? String, "weighed")
        XCTAssertEqual(backdoor[1]["level"] as? String, "warning")
        XCTAssertTrue(text(backdoor[1]).contains("Neural Cleanse flags class 0 at FP32 (anomalyIndex 4.10 > 2) and at int8 (1.30)"), text(backdoor[0]))
        let blind = try sarif(ReportFixtures.blindspot).results
        XCTAssertEqual(blind.filter { $0["ruleId"] as? String == "BS001" && $0["level"] as? String == "warning" }.compactMap { ($0["properties"] as? [String: Any])?["defense"] as? String }, ["ac"])
    }

    func testCleanAndInconclusiveReportsHaveNoErrors() throws {
        for r in [ReportFixtures.clean, ReportFixtures.inconclusive] {
            let (_, run, results) = try sarif(r)
            XCTAssertEqual(results.filter { $0["level"] as? String != "note" }.count, 0, r.overall.line)
            XCTAssertEqual(((run["invocations"] as? [[String: Any]])?.first?["exitCode"] as? Int), 0)
        }
        XCTAssertTrue(try sarif(ReportFixtures.clean).results.isEmpty)
    }

    /// One note per defense × precision that was not evaluated, with its reason.
    func testNotEvaluatedResultsAreNotesWithTheirReason() throws {
        let notes = try sarif(ReportFixtures.inconclusive).results
        XCTAssertEqual(notes.count, 3)  // SS at both precisions, FP at FP32
        XCTAssertTrue(notes.allSatisfy { $0["ruleId"] as? String == "BS003" && $0["level"] as? String == "note" })
        let fp = try XCTUnwrap(notes.first { ($0["properties"] as? [String: Any])?["defense"] as? String == "fp" })
        XCTAssertTrue(text(fp).contains("Fine-Pruning was not evaluated at FP32: noProbe"), text(fp))
        XCTAssertEqual((fp["properties"] as? [String: Any])?["precision"] as? String, "fp32")
        XCTAssertEqual((fp["properties"] as? [String: Any])?["reasonCode"] as? String, "noProbe")
        XCTAssertEqual((fp["properties"] as? [String: Any])?["defenseName"] as? String, "Fine-Pruning")
        XCTAssertEqual((fp["properties"] as? [String: Any])?["defenseId"] as? String, "fine-pruning")
        let backdoor = try sarif(ReportFixtures.backdoor).results.filter { $0["ruleId"] as? String == "BS003" }
        XCTAssertEqual(backdoor.count, 1)
        XCTAssertTrue(text(backdoor[0]).contains("STRIP was not evaluated at FP32: failed: out of memory"), text(backdoor[0]))
        // Both SS notes (same defense, two precisions) keep distinct identities.
        let ss = notes.filter { ($0["properties"] as? [String: Any])?["defense"] as? String == "ss" }.map { $0["partialFingerprints"] as? [String: String] }
        XCTAssertEqual(ss.count, 2)
        XCTAssertNotEqual(ss[0], ss[1])
    }

    func testOutputIsDeterministicAndFingerprintsAreStable() throws {
        let a = ReportFixtures.blindspot
        XCTAssertEqual(try SARIFReport.render(a), try SARIFReport.render(a))
        let rendered = String(decoding: try SARIFReport.render(a), as: UTF8.self)
        XCTAssertTrue(rendered.hasPrefix("{\n  \"$schema\""), String(rendered.prefix(40)))  // pretty, sorted keys
        func prints(_ r: AuditReport) throws -> [String] {
            try sarif(r).results.map { ($0["partialFingerprints"] as? [String: String])?[SARIFReport.fingerprintKey] ?? "" }
        }
        // Another run with other scores and timings: the same findings keep their fingerprints.
        var b = a
        b.seconds = 99
        b.comparisons[0].fp32Score = 5.5
        b.results[0].scores["anomalyIndex"] = 5.5
        XCTAssertEqual(try prints(a), try prints(b))
        XCTAssertEqual(Set(try prints(a)).count, try prints(a).count)
        // Another file: new identities.
        var c = a
        c.input.sha256 = String(repeating: "0", count: 64)
        XCTAssertTrue(Set(try prints(a)).isDisjoint(with: try prints(c)))
    }

    func testArtifactLocations() throws {
        let relative = try sarif(ReportFixtures.report([], file: "models/my model#1.h5")).run
        let loc = try XCTUnwrap(((relative["artifacts"] as? [[String: Any]])?.first?["location"]) as? [String: Any])
        XCTAssertEqual(loc["uri"] as? String, "models/my%20model%231.h5")
        XCTAssertEqual(loc["uriBaseId"] as? String, "%SRCROOT%")
        let absolute = try sarif(ReportFixtures.report([ReportFixtures.Pair(kind: .nc, fp32: ReportFixtures.det0, deployed: ReportFixtures.notDet)],
                                                       file: "/work/runs/gtsrb-cnn6-s1.h5")).results
        XCTAssertEqual(uri(absolute[0])?["uri"] as? String, "file:///work/runs/gtsrb-cnn6-s1.h5")
        XCTAssertNil(uri(absolute[0])?["uriBaseId"])
        // A report whose file could not be hashed has no hash rather than an empty one.
        var r = ReportFixtures.clean
        r.input.sha256 = ""
        XCTAssertNil((try sarif(r).run["artifacts"] as? [[String: Any]])?.first?["hashes"])
    }

    /// Negative control: the subset schema rejects a misspelt member and a result without a message.
    func testSubsetSchemaRejectsMalformedSARIF() throws {
        var log = try XCTUnwrap(JSONSerialization.jsonObject(with: SARIFReport.render(ReportFixtures.blindspot)) as? [String: Any])
        var runs = log["runs"] as! [[String: Any]]
        var results = runs[0]["results"] as! [[String: Any]]
        results[0]["partialFingerPrints"] = results[0]["partialFingerprints"]
        results[1]["message"] = nil
        runs[0]["results"] = results
        log["runs"] = runs
        log["version"] = "2.0.0"
        let v = try subset.validate(JSONSerialization.data(withJSONObject: log))
        XCTAssertTrue(v.contains { $0.contains("unexpected property partialFingerPrints") }, "\(v)")
        XCTAssertTrue(v.contains { $0.contains("missing message") }, "\(v)")
        XCTAssertTrue(v.contains { $0.contains("$.version") }, "\(v)")
    }
}
