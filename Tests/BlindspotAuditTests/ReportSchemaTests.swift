import BlindspotAudit
import BlindspotDefenses
import BlindspotQuantization
import BlindspotTestSupport
import Foundation
import XCTest

/// `schemas/audit-report.schema.json` against reports built in code and encoded exactly as the
/// CLI writes them (`AuditReport.encoder`), and against reports the schema must reject.
final class ReportSchemaTests: XCTestCase {
    static let schemaURL = ReportFixtures.root.appendingPathComponent("schemas/audit-report.schema.json")
    let validator = try! SchemaValidator(schemaFile: ReportSchemaTests.schemaURL)

    func encoded(_ r: AuditReport) throws -> Data { try AuditReport.encoder.encode(r) }

    func json(_ r: AuditReport) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: encoded(r)) as! [String: Any]
    }

    func violations(_ object: [String: Any]) throws -> [String] {
        try validator.validate(JSONSerialization.data(withJSONObject: object))
    }

    /// Every overall kind, all optional fields present (blindspot) and absent (the others).
    func testReportsOfEveryKindValidate() throws {
        let reports: [(String, AuditReport, Overall.Kind, Int32)] = [
            ("blindspot", ReportFixtures.blindspot, .blindspot, 4), ("targetBlindspot", ReportFixtures.targetBlindspot, .blindspot, 4),
            ("backdoor", ReportFixtures.backdoor, .backdoor, 3), ("clean", ReportFixtures.clean, .noBackdoor, 0),
            ("inconclusive", ReportFixtures.inconclusive, .inconclusive, 0),
        ]
        for (name, r, kind, code) in reports {
            XCTAssertEqual(r.overall.kind, kind, name)
            XCTAssertEqual(r.overall.exitCode, code, name)
            XCTAssertEqual(try validator.validate(encoded(r)), [], name)
        }
    }

    /// The fixtures really cover what they claim: every optional field present in one report and
    /// absent in another, notEvaluated with a reason, reversed triggers, null details.
    func testFixturesCoverOptionalFields() throws {
        let full = try json(ReportFixtures.blindspot), bare = try json(ReportFixtures.inconclusive)
        for key in ["attack", "groundTruth"] {
            XCTAssertNotNil(full[key], key)
            XCTAssertNil(bare[key], key)
        }
        let (fi, bi) = (full["input"] as! [String: Any], bare["input"] as! [String: Any])
        XCTAssertNotNil(fi["suspectImages"]); XCTAssertNil(bi["suspectImages"])
        let (fd, bd) = (full["deployment"] as! [String: Any], bare["deployment"] as! [String: Any])
        for key in ["calibrationImages", "calibrationPercentile"] { XCTAssertNotNil(fd[key], key); XCTAssertNil(bd[key], key) }
        XCTAssertTrue((fd["layers"] as! [[String: Any]]).contains { $0["inputQuantizer"] != nil })
        XCTAssertTrue((bd["layers"] as! [[String: Any]]).allSatisfy { $0["inputQuantizer"] == nil })
        XCTAssertFalse((full["reversedTriggers"] as! [Any]).isEmpty)
        XCTAssertTrue((bare["reversedTriggers"] as! [Any]).isEmpty)
        let checks = full["groundTruthChecks"] as! [[String: Any]]
        XCTAssertTrue(checks.contains { $0["right"] == nil } && checks.contains { $0["right"] != nil })
        let ne = (bare["results"] as! [[String: Any]]).map { $0["verdict"] as! [String: Any] }.filter { $0["status"] as? String == "notEvaluated" }
        XCTAssertFalse(ne.isEmpty)
        XCTAssertTrue(ne.allSatisfy { ($0["reason"] as? String)?.isEmpty == false })
        let comparisons = bare["comparisons"] as! [[String: Any]]
        XCTAssertTrue(comparisons.contains { $0["fp32Score"] == nil })
        XCTAssertNil(bare["overall"].flatMap { ($0 as! [String: Any])["target"] })
        XCTAssertNotNil((full["overall"] as! [String: Any])["target"])
        // Non-finite detail numbers come out as null, which the schema allows.
        let details = (bare["results"] as! [[String: Any]])[0]["details"] as! [String: Any]
        XCTAssertTrue((details["table"] as! [String: Any])["nan"] is NSNull)
    }

    /// Every deployment scheme and every defense name the code has is in the schema's enums (a new
    /// scheme or defense fails here until the schema knows it).
    func testEverySchemeAndDefenseNameValidates() throws {
        for scheme in QuantizationScheme.allCases {
            var r = ReportFixtures.report(DefenseKind.allCases.map { ReportFixtures.Pair(kind: $0, fp32: ReportFixtures.det0, deployed: ReportFixtures.det0) },
                                          scheme: scheme.rawValue, allOptionals: true)
            r.groundTruthChecks = r.results.map { res in
                ReportFixtures.decoded(GroundTruthCheck.self, #"{"defense": "\#(res.defense)", "precision": "\#(res.precision)", "expected": "notDetected", "right": false}"#)
            }
            XCTAssertEqual(try validator.validate(encoded(r)), [], scheme.rawValue)
        }
    }

    /// Each object's schema declares exactly the properties the Swift type can write: walking the
    /// full report, every declared property of every closed object is seen at least once.
    func testSchemaDeclaresNoPropertyTheReportLacks() throws {
        let schema = try JSONSerialization.jsonObject(with: Data(contentsOf: ReportSchemaTests.schemaURL)) as! [String: Any]
        let defs = schema["$defs"] as! [String: Any]
        var declared: [String: Set<String>] = [:], seen: [String: Set<String>] = [:]
        func walk(_ v: Any, _ s: [String: Any], _ name: String) {
            if let ref = s["$ref"] as? String {
                let def = String(ref.dropFirst("#/$defs/".count))
                return walk(v, defs[def] as! [String: Any], def)
            }
            if let obj = v as? [String: Any], let props = s["properties"] as? [String: Any], (s["additionalProperties"] as? Bool) == false {
                declared[name, default: []].formUnion(props.keys)
                seen[name, default: []].formUnion(obj.keys)
                for (k, sub) in obj { if let ps = props[k] as? [String: Any] { walk(sub, ps, "\(name).\(k)") } }
            }
            if let arr = v as? [Any], let items = s["items"] as? [String: Any] { for e in arr { walk(e, items, name) } }
        }
        for r in [ReportFixtures.blindspot, ReportFixtures.inconclusive] { walk(try json(r), schema, "report") }
        XCTAssertFalse(declared.isEmpty)
        for (name, props) in declared { XCTAssertEqual(props.subtracting(seen[name] ?? []), [], "declared in \(name) but never written") }
    }

    // MARK: - Negative controls: the schema must reject these.

    func assertRejected(_ mutate: (inout [String: Any]) -> Void, expecting text: String, file: StaticString = #filePath, line: UInt = #line) throws {
        var j = try json(ReportFixtures.blindspot)
        mutate(&j)
        let v = try violations(j)
        XCTAssertFalse(v.isEmpty, "accepted", file: file, line: line)
        XCTAssertTrue(v.contains { $0.contains(text) }, "\(v)", file: file, line: line)
    }

    /// Edits a nested object in place: `path` of keys and array indices.
    func edit(_ j: inout [String: Any], _ path: [Any], _ f: (inout [String: Any]) -> Void) {
        func go(_ v: Any, _ rest: ArraySlice<Any>) -> Any {
            guard let head = rest.first else { var o = v as! [String: Any]; f(&o); return o }
            if let i = head as? Int { var a = v as! [Any]; a[i] = go(a[i], rest.dropFirst()); return a }
            var o = v as! [String: Any]; o[head as! String] = go(o[head as! String]!, rest.dropFirst()); return o
        }
        j = go(j, path[...]) as! [String: Any]
    }

    func testUnknownValuesAreRejected() throws {
        try assertRejected({ edit(&$0, ["results", 0, "verdict"]) { $0["status"] = "clean" } }, expecting: "results[0].verdict.status")
        try assertRejected({ edit(&$0, ["comparisons", 0]) { $0["outcome"] = "blindSpot" } }, expecting: "comparisons[0].outcome")
        try assertRejected({ edit(&$0, ["comparisons", 0]) { $0["defense"] = "neural-cleanse" } }, expecting: "comparisons[0].defense")
        try assertRejected({ edit(&$0, ["overall"]) { $0["kind"] = "clean" } }, expecting: "overall.kind")
        try assertRejected({ edit(&$0, ["results", 1]) { $0["precision"] = "fp16" } }, expecting: "results[1].precision")
        try assertRejected({ $0["budget"] = "fast" }, expecting: "$.budget")
    }

    func testMissingRequiredFieldsAreRejected() throws {
        try assertRejected({ $0["overall"] = nil }, expecting: "missing overall")
        try assertRejected({ edit(&$0, ["input"]) { $0["sha256"] = nil } }, expecting: "missing sha256")
        try assertRejected({ edit(&$0, ["results", 0]) { $0["verdict"] = nil } }, expecting: "missing verdict")
        try assertRejected({ edit(&$0, ["overall"]) { $0["exitCode"] = nil } }, expecting: "missing exitCode")
        // notEvaluated must say why.
        try assertRejected({ edit(&$0, ["comparisons", 2, "fp32"]) { XCTAssertEqual($0["status"] as? String, "notEvaluated"); $0["reason"] = nil } },
                           expecting: "comparisons[2].fp32: matches none of anyOf")
    }

    func testExtraPropertiesAreRejectedButMapsAreOpen() throws {
        try assertRejected({ $0["verdict"] = "backdoor" }, expecting: "unexpected property verdict")
        try assertRejected({ edit(&$0, ["deployment", "drift", 0, "topChannels", 0]) { $0["z"] = 1 } }, expecting: "unexpected property z")
        try assertRejected({ edit(&$0, ["results", 0, "verdict"]) { $0["score"] = 1 } }, expecting: "unexpected property score")
        // scores are numbers, conventions strings.
        try assertRejected({ edit(&$0, ["results", 0, "scores"]) { $0["anomalyIndex"] = "4.1" } }, expecting: "results[0].scores.anomalyIndex")
        try assertRejected({ edit(&$0, ["results", 0, "conventions"]) { $0["madThreshold"] = 2 } }, expecting: "results[0].conventions.madThreshold")
        // …but any name is allowed in scores, conventions and details, and details hold any JSON.
        var j = try json(ReportFixtures.blindspot)
        edit(&j, ["results", 0]) { r in
            var s = r["scores"] as! [String: Any]; s["newScore"] = 0.5; r["scores"] = s
            var c = r["conventions"] as! [String: Any]; c["newConvention"] = "x"; r["conventions"] = c
            var d = r["details"] as! [String: Any]; d["anything"] = [["a": NSNull(), "b": [1, "two", false]]]; r["details"] = d
        }
        XCTAssertEqual(try violations(j), [])
    }

    func testRangesAndPatternsAreEnforced() throws {
        try assertRejected({ edit(&$0, ["overall"]) { $0["exitCode"] = 1 } }, expecting: "overall.exitCode")
        // kind and exit code go together.
        try assertRejected({ edit(&$0, ["overall"]) { $0["exitCode"] = 3 } }, expecting: "overall: matches none of anyOf")
        try assertRejected({ edit(&$0, ["deployment"]) { $0["cleanAccuracyDeployed"] = 98.5 } }, expecting: "cleanAccuracyDeployed")
        try assertRejected({ edit(&$0, ["attack"]) { $0["fp32"] = -0.1 } }, expecting: "attack.fp32")
        try assertRejected({ edit(&$0, ["input"]) { $0["sha256"] = String(ReportFixtures.sha.uppercased()) } }, expecting: "input.sha256")
        try assertRejected({ edit(&$0, ["input"]) { $0["sha256"] = "" } }, expecting: "input.sha256")
        try assertRejected({ edit(&$0, ["reversedTriggers", 0]) { $0["maskPNG"] = "not a png" } }, expecting: "reversedTriggers[0].maskPNG")
        try assertRejected({ edit(&$0, ["comparisons", 0, "fp32"]) { $0["target"] = -1 } }, expecting: "comparisons[0].fp32.target")
    }
}
