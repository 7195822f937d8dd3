import XCTest
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import BlindspotAudit
import BlindspotDefenses

/// The HTML report (issue 7): self-contained, escaped, no NaN, every chart when its data is
/// there and "not evaluated — reason" when it is not, real PNGs, well-formed XHTML.
final class HTMLReportTests: XCTestCase {
    static let hostile = "<script>alert(1)</script>&\"'"

    /// The fixture below with real PNGs in the reversed-trigger slots.
    func report() throws -> AuditReport {
        var r = try JSONDecoder().decode(AuditReport.self, from: Data(Self.fixture.utf8))
        let png = PNG.encode(width: 2, height: 2, color: .gray, pixels: [0, 255, 255, 0]).base64EncodedString()
        for i in r.reversedTriggers.indices {
            (r.reversedTriggers[i].maskPNG, r.reversedTriggers[i].patternPNG, r.reversedTriggers[i].triggerPNG) = (png, png, png)
        }
        return r
    }

    func index(_ r: AuditReport, _ defense: String, fp32: Bool) -> Int {
        r.results.firstIndex { $0.defense == defense && (($0.precision == .fp32) == fp32) }!
    }

    func testHostileStringsAppearOnlyEscaped() throws {
        var r = try report()
        r.input.file = Self.hostile
        r.input.architecture = Self.hostile
        r.commandLine = "blindspot audit '\(Self.hostile)'"
        r.overall.line = Self.hostile
        r.deployment.drift[0].node = Self.hostile
        let nc = index(r, "neural-cleanse", fp32: false)
        r.results[nc].verdict = .notEvaluated(.failed, Self.hostile)
        r.results[nc].conventions["side"] = Self.hostile
        r.comparisons[0].deployed = r.results[nc].verdict
        let html = HTMLReport.render(r)
        XCTAssertFalse(html.contains(Self.hostile))
        XCTAssertFalse(html.lowercased().contains("<script"), "a script element or an unescaped hostile string")
        XCTAssertFalse(html.contains("alert(1)</"))
        XCTAssertTrue(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;&#39;"))
        XCTAssertNoThrow(try parse(html))
    }

    func testSelfContainedNoScriptsNoNetwork() throws {
        let html = HTMLReport.render(try report())
        XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>"))
        XCTAssertFalse(html.lowercased().contains("<script"))
        XCTAssertFalse(html.contains("http://"))
        XCTAssertFalse(html.contains("https://"))
        XCTAssertFalse(html.contains("@import"))
        XCTAssertFalse(html.contains("url("))
        // Every src is a data URI, every href a fragment.
        let refs = matches(#"(?:src|href)="([^"]*)""#, in: html)
        XCTAssertFalse(refs.isEmpty)
        for ref in refs { XCTAssertTrue(ref.hasPrefix("data:image/png;base64,") || ref.hasPrefix("#"), ref) }
        // Pure and deterministic.
        XCTAssertEqual(html, HTMLReport.render(try report()))
    }

    func testNonFiniteNumbersNeverReachTheMarkup() throws {
        var r = try report()
        r.deployment.cleanAccuracyFP32 = .nan
        r.deployment.drift[1].relativeL2 = .infinity
        r.deployment.drift[2].topChannels[0].relativeL2 = -.infinity
        r.comparisons[0].fp32Score = .nan
        let nc = index(r, "neural-cleanse", fp32: true)
        r.results[nc].scores["anomalyIndex"] = .nan
        r.results[nc].details["anomalyIndices"] = .list([.number(.nan), .number(.infinity), .number(1), .null, .number(-.infinity)])
        let fp = index(r, "fine-pruning", fp32: true)
        r.results[fp].details["asrCurve"] = .list([.number(0.9), .number(.nan), .number(0.5)])
        r.results[fp].scores["channelsPruned"] = .nan
        let strip = index(r, "strip", fp32: false)
        r.results[strip].scores["boundary"] = .infinity
        r.results[strip].details["cleanEntropyHistogram"] = .table(["binWidthBits": .number(.nan), "counts": .ints([0, 3, 1])])
        r.reversedTriggers[0].maskL1 = .nan
        let html = HTMLReport.render(r)
        XCTAssertFalse(html.contains("NaN"))
        XCTAssertTrue(matches(#"(?i)\b(nan|inf|infinity)\b"#, in: html).isEmpty, "a non-finite number printed")
        // Every numeric SVG attribute is a plain decimal.
        for v in matches(#"\b(?:x|y|x1|y1|x2|y2|width|height)="([^"]*)""#, in: html) {
            XCTAssertNotNil(v.range(of: #"^-?[0-9]+(\.[0-9]+)?$"#, options: .regularExpression), "attribute value \(v)")
        }
        XCTAssertTrue(html.contains("FP32 –"), "the NaN accuracy shows as a dash")
        XCTAssertNoThrow(try parse(html))
    }

    func testEveryChartAppearsWhenItsDataIsPresent() throws {
        let html = HTMLReport.render(try report())
        for title in ["Neural Cleanse anomaly index per label", "STRIP entropy at FP32", "STRIP entropy at int8",
                      "Fine-Pruning at FP32", "Fine-Pruning at int8", "Activation Clustering MAD index per class",
                      "Spectral Signatures MAD index per class", "Per-layer drift FP32 → int8"] {
            XCTAssertTrue(html.contains("<title>\(title)</title>"), title)
        }
        XCTAssertEqual(html.components(separatedBy: "<svg").count - 1, 8)
        XCTAssertFalse(html.contains("not evaluated —"))
        XCTAssertFalse(html.contains("was not run"))
        // The verdict banner is coloured by the overall kind and shows the exit code.
        XCTAssertTrue(html.contains("class=\"verdict v-blindspot\""))
        XCTAssertTrue(html.contains("exit code 4"))
        XCTAssertTrue(html.contains("9 of 10 verdicts right</strong>; wrong: neural-cleanse @ int8"))
        // The flagged label is marked, the threshold line drawn, the worst layer's channels listed.
        XCTAssertTrue(html.contains("class=\"threshold\""))
        XCTAssertTrue(html.contains("(flagged)</title>"))
        XCTAssertTrue(html.contains("7: 0.2000"))
        // NC flags only small norms: a label whose norm is above the median points down.
        XCTAssertTrue(html.contains("FP32 · 3: -0.900</title>"))
        XCTAssertTrue(html.contains("FP32 · 1: 0.300</title>"))
        // STRIP's boundary and Fine-Pruning's stopping point are drawn.
        XCTAssertTrue(html.contains(">boundary 0.400</text>"))
        XCTAssertTrue(html.contains(">stop: 7 pruned</text>"))
        XCTAssertTrue(html.contains("<details>"))
    }

    func testMissingDataSaysNotEvaluatedWithTheReason() throws {
        var r = try report()
        let ncQ = index(r, "neural-cleanse", fp32: false)
        r.results[ncQ] = DefenseResult(defense: "neural-cleanse", precision: .deployed("int8"),
                                       verdict: .notEvaluated(.surrogateMismatch, "surrogate agrees on 80.0%"))
        r.reversedTriggers.removeAll { $0.precision != .fp32 }
        let fp = index(r, "fine-pruning", fp32: true)
        r.results[fp] = DefenseResult(defense: "fine-pruning", precision: .fp32, verdict: .notEvaluated(.noProbe))
        r.results.removeAll { $0.defense == "strip" }
        r.comparisons.removeAll { $0.defense == .strip }
        r.results.removeAll { $0.defense == "activation-clustering" || $0.defense == "spectral-signatures" }
        r.comparisons.removeAll { $0.defense == .ac || $0.defense == .ss }
        r.deployment.drift = []
        let html = HTMLReport.render(r)
        XCTAssertTrue(html.contains("not evaluated — surrogateMismatch: surrogate agrees on 80.0%"))
        XCTAssertTrue(html.contains("not evaluated — noProbe"))
        XCTAssertTrue(html.contains("STRIP was not run"))
        XCTAssertTrue(html.contains("Activation Clustering was not run"))
        XCTAssertTrue(html.contains("Not run in this audit: Activation Clustering, Spectral Signatures, STRIP"))
        XCTAssertTrue(html.contains("No per-layer drift"))
        XCTAssertTrue(html.contains("<title>Fine-Pruning at int8</title>"))
        XCTAssertFalse(html.contains("<title>Fine-Pruning at FP32</title>"))
        XCTAssertFalse(html.contains("<title>STRIP entropy"))
        XCTAssertTrue(html.contains("<title>Neural Cleanse anomaly index per label</title>"), "FP32 indices alone still chart")
        XCTAssertNoThrow(try parse(html))

        // Nothing at all from NC: no chart, the reason instead.
        r.results.removeAll { $0.defense == "neural-cleanse" }
        r.comparisons.removeAll { $0.defense == .nc }
        r.reversedTriggers = []
        let bare = HTMLReport.render(r)
        XCTAssertTrue(bare.contains("Neural Cleanse was not run"))
        XCTAssertFalse(bare.contains("anomaly index per label</title>"))
        XCTAssertNoThrow(try parse(bare))
    }

    func testEmbeddedPNGsDecode() throws {
        let r = try report()
        let html = HTMLReport.render(r)
        let images = matches(#"src="data:image/png;base64,([^"]*)""#, in: html)
        XCTAssertEqual(images.count, 3 * r.reversedTriggers.count)
        for b64 in images {
            let data = try XCTUnwrap(Data(base64Encoded: b64), "not base64")
            XCTAssertEqual(Array(data.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        }
    }

    func testFortyThreeLabelsAreAllLabelled() throws {
        var r = try report()
        let nc = index(r, "neural-cleanse", fp32: true)
        r.results[nc].details["anomalyIndices"] = .numbers((0..<43).map { Double($0 % 5) * 0.7 })
        r.results[nc].details["flagged"] = .ints([42])
        let html = HTMLReport.render(r)
        for k in [0, 1, 21, 41, 42] { XCTAssertTrue(html.contains(">\(k)</text>"), "label \(k)") }
        XCTAssertTrue(html.contains("FP32 · 42: 1.400 (flagged)"))
        XCTAssertNoThrow(try parse(html))
    }

    func testDocumentIsWellFormedXML() throws {
        XCTAssertNoThrow(try parse(HTMLReport.render(try report())))
    }

    func testRendersQuickly() throws {
        let r = try report()
        let t0 = Date()
        for _ in 0..<5 { _ = HTMLReport.render(r) }
        XCTAssertLessThan(Date().timeIntervalSince(t0), 2)
    }

    // MARK: helpers

    /// Parses the document as XML (the doctype stripped); throws with the parser's message.
    func parse(_ html: String) throws {
        let body = html.replacingOccurrences(of: "<!DOCTYPE html>", with: "")
        let parser = XMLParser(data: Data(body.utf8))
        if !parser.parse() {
            throw NSError(domain: "XML", code: 1, userInfo: [NSLocalizedDescriptionKey:
                "line \(parser.lineNumber), column \(parser.columnNumber): \(parser.parserError.map { "\($0)" } ?? "?")"])
        }
    }

    /// First capture group of every match.
    func matches(_ pattern: String, in s: String) -> [String] {
        let re = try! NSRegularExpression(pattern: pattern)
        return re.matches(in: s, range: NSRange(s.startIndex..., in: s)).compactMap { m in
            let g = m.numberOfRanges > 1 ? m.range(at: 1) : m.range
            return Range(g, in: s).map { String(s[$0]) }
        }
    }

    /// A small synthetic audit (5 classes, all five defenses at FP32 and int8), shaped like a
    /// real report; PNG slots are filled in `report()`.
    static let fixture = #"""
{
  "attack": {"deployed": 0.98, "fp32": 0.99, "probe": "white:3@28,28", "source": "ground-truth", "target": 0},
  "budget": "default",
  "defenseAgreement": "QUANTIZATION BLINDSPOT: Neural Cleanse flags class 0 at FP32 but not at int8",
  "evidence": [
    {"target": 0, "pointedAtBy": ["nc@fp32 (smallest mask)", "strip@fp32"],
     "fp32": {"ncAnomalyIndex": 4.2, "ncMaskL1": 7.5, "ncNormRatio": 0.09, "reversalASR": 0.99, "stripDetectionRate": 0.97, "stripDetected": true,
              "probe": "white:3@28,28", "items": [{"source": "Neural Cleanse", "weight": 2, "detail": "anomaly index 4.20 > 2.0"},
              {"source": "STRIP", "weight": 2, "detail": "detection rate 0.97"}], "points": 4},
     "deployed": {"ncAnomalyIndex": 1.2, "reversalASR": 0.4, "fp32ReversalASR": 0.95, "items": [], "points": 0}}
  ],
  "precisionVerdicts": [
    {"precision": "fp32", "kind": "backdoor", "target": 0, "confidence": "medium", "points": 4, "missing": [], "summary": "class 0, 4 points", "because": ["Neural Cleanse +2", "STRIP +2"]},
    {"precision": "int8", "kind": "inconclusive", "target": 0, "points": 0, "missing": ["a suspect training set (--train-data)"], "summary": "only 2 of the defenses evaluated", "because": []}
  ],
  "verdictRule": {"backdoorPoints": "3"},
  "commandLine": "blindspot audit model.h5 --data synthetic --html out.html",
  "comparisons": [
    {
      "defense": "nc",
      "deployed": {"status": "notDetected"},
      "deployedScore": 1.2,
      "fp32": {"reason": "class 0: anomaly", "status": "detected", "target": 0},
      "fp32Score": 4.2,
      "outcome": "blindspot"
    },
    {
      "defense": "strip",
      "deployed": {"reason": "class 0: anomaly", "status": "detected", "target": 0},
      "deployedScore": 0.97,
      "fp32": {"reason": "class 0: anomaly", "status": "detected", "target": 0},
      "fp32Score": 0.97,
      "outcome": "consistent"
    },
    {
      "defense": "fp",
      "deployed": {"reason": "class 0: anomaly", "status": "detected", "target": 0},
      "deployedScore": 0.1,
      "fp32": {"reason": "class 0: anomaly", "status": "detected", "target": 0},
      "fp32Score": 0.1,
      "outcome": "consistent"
    },
    {
      "defense": "ac",
      "deployed": {"reason": "class 0: anomaly", "status": "detected", "target": 0},
      "deployedScore": 4.0,
      "fp32": {"reason": "class 0: anomaly", "status": "detected", "target": 0},
      "fp32Score": 5.0,
      "outcome": "consistent"
    },
    {
      "defense": "ss",
      "deployed": {"reason": "class 0: anomaly", "status": "detected", "target": 0},
      "deployedScore": 2.5,
      "fp32": {"reason": "class 0: anomaly", "status": "detected", "target": 0},
      "fp32Score": 3.0,
      "outcome": "consistent"
    }
  ],
  "deployment": {
    "calibrationImages": 512,
    "cleanAccuracyDeployed": 0.948,
    "cleanAccuracyFP32": 0.95,
    "drift": [
      {"node": "relu1", "relativeL2": 0.01, "topChannels": [{"channel": 5, "relativeL2": 0.03}]},
      {"node": "pool1", "relativeL2": 0.02, "topChannels": [{"channel": 2, "relativeL2": 0.05}, {"channel": 1, "relativeL2": 0.04}]},
      {"node": "relu_fc1", "relativeL2": 0.04, "topChannels": [{"channel": 7, "relativeL2": 0.2}]},
      {"node": "fc2", "relativeL2": 0.03, "topChannels": []}
    ],
    "layers": [
      {
        "inputQuantizer": "conv1.input_quant",
        "kind": "conv2d",
        "name": "conv1",
        "roundingError": 0.005,
        "weightBits": 8,
        "weightScales": [0.01, 0.02]
      }
    ],
    "surrogateAgreement": 0.998
  },
  "environment": {"blasCore": "Haswell", "cpu": "AVX2", "threads": 2},
  "groundTruth": {"attack": "badnet", "backdoored": true, "dataset": "synthetic", "target": 0, "trigger": "white:3@28,28"},
  "groundTruthChecks": [
    {"defense": "neural-cleanse", "expected": "detected (target 0)", "precision": "fp32", "right": true},
    {"defense": "neural-cleanse", "expected": "detected (target 0)", "precision": "int8", "right": false},
    {"defense": "strip", "expected": "detected (target 0)", "precision": "fp32", "right": true},
    {"defense": "strip", "expected": "detected (target 0)", "precision": "int8", "right": true},
    {"defense": "fine-pruning", "expected": "detected (target 0)", "precision": "fp32", "right": true},
    {"defense": "fine-pruning", "expected": "detected (target 0)", "precision": "int8", "right": true},
    {"defense": "activation-clustering", "expected": "detected (target 0)", "precision": "fp32", "right": true},
    {"defense": "activation-clustering", "expected": "detected (target 0)", "precision": "int8", "right": true},
    {"defense": "spectral-signatures", "expected": "detected (target 0)", "precision": "fp32", "right": true},
    {"defense": "spectral-signatures", "expected": "detected (target 0)", "precision": "int8", "right": true}
  ],
  "input": {
    "architecture": "model spec in the file",
    "classes": 5,
    "cleanImages": 500,
    "dataset": "synthetic",
    "file": "/data/model.h5",
    "format": "blindspot HDF5",
    "preprocessing": {
      "channelOrder": "rgb",
      "description": "per-channel normalisation of the gtsrb training set",
      "mean": [0.3589984, 0.31778488, 0.33576468],
      "source": "file",
      "std": [0.27103364, 0.25387725, 0.26336575]
    },
    "sha256": "abababababababababababababababababababababababababababababababab",
    "suspectHasPoisonFlags": true,
    "suspectImages": 2000,
    "trainImages": 2000
  },
  "overall": {
    "exitCode": 4,
    "kind": "blindspot",
    "line": "QUANTIZATION BLINDSPOT: Neural Cleanse flags class 0 at FP32 (anomalyIndex 4.20 > 2) but not at int8 (1.20)",
    "target": 0
  },
  "precision": {"inferred": true, "reason": "FP32 weights; deploying as int8, the realistic default", "scheme": "int8"},
  "probe": "ground truth white:3@28,28 → 0",
  "results": [
    {
      "conventions": {"budget": "default", "madThreshold": "2.0", "side": "low"},
      "defense": "neural-cleanse",
      "details": {
        "anomalyIndices": [4.2, 0.3, 0.1, 0.9, 0.5],
        "flagged": [0],
        "labels": [
          {"l1": 3.0, "label": 0, "reachedThreshold": true},
          {"l1": 30.0, "label": 1, "reachedThreshold": true},
          {"l1": 33.0, "label": 2, "reachedThreshold": true},
          {"l1": 35.0, "label": 3, "reachedThreshold": true},
          {"l1": 31.0, "label": 4, "reachedThreshold": true}
        ],
        "mad": 3.1,
        "median": 33.0
      },
      "precision": "fp32",
      "scores": {"anomalyIndex": 4.2, "mad": 3.1, "median": 33.0, "minL1": 3.0},
      "seconds": 41.5,
      "verdict": {"reason": "class 0: anomaly", "status": "detected", "target": 0}
    },
    {
      "conventions": {"budget": "default", "madThreshold": "2.0", "side": "low"},
      "defense": "neural-cleanse",
      "details": {
        "anomalyIndices": [1.2, 0.3, 0.1, 0.9, 0.5],
        "flagged": [],
        "labels": [
          {"l1": 25.0, "label": 0, "reachedThreshold": true},
          {"l1": 30.0, "label": 1, "reachedThreshold": true},
          {"l1": 33.0, "label": 2, "reachedThreshold": true},
          {"l1": 35.0, "label": 3, "reachedThreshold": true},
          {"l1": 31.0, "label": 4, "reachedThreshold": true}
        ],
        "mad": 3.1,
        "median": 33.0
      },
      "precision": "int8",
      "scores": {"anomalyIndex": 1.2, "mad": 3.1, "median": 33.0, "minL1": 25.0},
      "seconds": 41.5,
      "verdict": {"status": "notDetected"}
    },
    {
      "conventions": {"budget": "default", "falseRejectionRate": "0.01", "inputQuantizer": "none (FP32)"},
      "defense": "strip",
      "details": {
        "cleanEntropyHistogram": {"binWidthBits": 0.25, "counts": [0, 10, 40, 30, 15, 5, 0, 0]},
        "triggeredEntropyHistogram": {"binWidthBits": 0.25, "counts": [90, 8, 2, 0, 0, 0, 0, 0]}
      },
      "precision": "fp32",
      "scores": {"auroc": 0.99, "boundary": 0.4, "detectionRate": 0.97, "empiricalFRR": 0.01, "mu": 1.1, "probeASR": 0.98, "sigma": 0.3},
      "seconds": 80.2,
      "verdict": {"reason": "class 0: anomaly", "status": "detected", "target": 0}
    },
    {
      "conventions": {"budget": "default", "falseRejectionRate": "0.01", "inputQuantizer": "static"},
      "defense": "strip",
      "details": {
        "cleanEntropyHistogram": {"binWidthBits": 0.25, "counts": [0, 12, 38, 30, 15, 5, 0, 0]},
        "triggeredEntropyHistogram": {"binWidthBits": 0.25, "counts": [85, 10, 5, 0, 0, 0, 0, 0]}
      },
      "precision": "int8",
      "scores": {"auroc": 0.99, "boundary": 0.45, "detectionRate": 0.97, "empiricalFRR": 0.01, "mu": 1.1, "probeASR": 0.98, "sigma": 0.3},
      "seconds": 80.2,
      "verdict": {"reason": "class 0: anomaly", "status": "detected", "target": 0}
    },
    {
      "conventions": {"asrDropThreshold": "0.3", "budget": "default", "channels": "8", "fineTuning": "evaluated", "layer": "pool3"},
      "defense": "fine-pruning",
      "details": {
        "accuracyCurve": [0.95, 0.95, 0.95, 0.95, 0.94, 0.94, 0.93, 0.92, 0.91],
        "asrCurve": [0.99, 0.99, 0.98, 0.9, 0.6, 0.4, 0.2, 0.1, 0.05],
        "fineTuning": {"mitigated": true, "status": "evaluated"}
      },
      "precision": "fp32",
      "scores": {"acc0": 0.95, "accFineTuned": 0.93, "accPruned": 0.92, "asr0": 0.99, "asrFineTuned": 0.02, "asrPruned": 0.1, "channelsPruned": 7},
      "seconds": 25.0,
      "verdict": {"reason": "class 0: anomaly", "status": "detected", "target": 0}
    },
    {
      "conventions": {"asrDropThreshold": "0.3", "budget": "default", "channels": "8", "fineTuning": "evaluated", "layer": "pool3"},
      "defense": "fine-pruning",
      "details": {
        "accuracyCurve": [0.95, 0.95, 0.95, 0.95, 0.94, 0.94, 0.93, 0.92, 0.91],
        "asrCurve": [0.99, 0.99, 0.98, 0.9, 0.6, 0.4, 0.2, 0.1, 0.05],
        "fineTuning": {"mitigated": true, "status": "evaluated"}
      },
      "precision": "int8",
      "scores": {"acc0": 0.95, "accFineTuned": 0.93, "accPruned": 0.92, "asr0": 0.99, "asrFineTuned": 0.02, "asrPruned": 0.1, "channelsPruned": 7},
      "seconds": 25.0,
      "verdict": {"reason": "class 0: anomaly", "status": "detected", "target": 0}
    },
    {
      "conventions": {"budget": "default", "madThreshold": "2.0"},
      "defense": "activation-clustering",
      "details": {
        "classes": [
          {"evaluable": true, "label": 0, "madIndex": 5.0, "n": 800, "silhouette": 0.6, "suspicious": true},
          {"evaluable": true, "label": 1, "madIndex": 0.2, "n": 800, "silhouette": 0.12000000000000001, "suspicious": false},
          {"evaluable": true, "label": 2, "madIndex": 0.4, "n": 800, "silhouette": 0.14, "suspicious": false},
          {"evaluable": true, "label": 3, "madIndex": 1.0, "n": 800, "silhouette": 0.2, "suspicious": false},
          {"evaluable": false, "excluded": "fewer than 50 images", "label": 4, "n": 12}
        ],
        "headlineClass": 0,
        "layer": "relu_fc1"
      },
      "precision": "fp32",
      "scores": {"anomalyIndex": 5.0, "silhouette": 0.6},
      "seconds": 8.5,
      "verdict": {"reason": "class 0: anomaly", "status": "detected", "target": 0}
    },
    {
      "conventions": {"budget": "default", "madThreshold": "2.0"},
      "defense": "activation-clustering",
      "details": {
        "classes": [
          {"evaluable": true, "label": 0, "madIndex": 4.0, "n": 800, "silhouette": 0.5, "suspicious": true},
          {"evaluable": true, "label": 1, "madIndex": 0.2, "n": 800, "silhouette": 0.12000000000000001, "suspicious": false},
          {"evaluable": true, "label": 2, "madIndex": 0.4, "n": 800, "silhouette": 0.14, "suspicious": false},
          {"evaluable": true, "label": 3, "madIndex": 1.0, "n": 800, "silhouette": 0.2, "suspicious": false},
          {"evaluable": false, "excluded": "fewer than 50 images", "label": 4, "n": 12}
        ],
        "headlineClass": 0,
        "layer": "relu_fc1"
      },
      "precision": "int8",
      "scores": {"anomalyIndex": 4.0, "silhouette": 0.6},
      "seconds": 8.5,
      "verdict": {"reason": "class 0: anomaly", "status": "detected", "target": 0}
    },
    {
      "conventions": {"budget": "default", "madThreshold": "2.0"},
      "defense": "spectral-signatures",
      "details": {
        "classes": [
          {"evaluable": true, "label": 0, "madIndex": 3.0, "n": 800, "removed": [1, 2, 3], "rho": 0.6000000000000001},
          {"evaluable": true, "label": 1, "madIndex": 0.2, "n": 800, "removed": [1, 2, 3], "rho": 0.32},
          {"evaluable": true, "label": 2, "madIndex": 0.4, "n": 800, "removed": [1, 2, 3], "rho": 0.33999999999999997},
          {"evaluable": true, "label": 3, "madIndex": 1.0, "n": 800, "removed": [1, 2, 3], "rho": 0.4},
          {"evaluable": true, "label": 4, "madIndex": 0.1, "n": 800, "removed": [1, 2, 3], "rho": 0.31}
        ],
        "headlineClass": 0,
        "layer": "pool3"
      },
      "precision": "fp32",
      "scores": {"concentrationIndex": 3.0, "rho": 0.8},
      "seconds": 6.8,
      "verdict": {"reason": "class 0: anomaly", "status": "detected", "target": 0}
    },
    {
      "conventions": {"budget": "default", "madThreshold": "2.0"},
      "defense": "spectral-signatures",
      "details": {
        "classes": [
          {"evaluable": true, "label": 0, "madIndex": 2.5, "n": 800, "removed": [1, 2, 3], "rho": 0.55},
          {"evaluable": true, "label": 1, "madIndex": 0.2, "n": 800, "removed": [1, 2, 3], "rho": 0.32},
          {"evaluable": true, "label": 2, "madIndex": 0.4, "n": 800, "removed": [1, 2, 3], "rho": 0.33999999999999997},
          {"evaluable": true, "label": 3, "madIndex": 1.0, "n": 800, "removed": [1, 2, 3], "rho": 0.4},
          {"evaluable": true, "label": 4, "madIndex": 0.1, "n": 800, "removed": [1, 2, 3], "rho": 0.31}
        ],
        "headlineClass": 0,
        "layer": "pool3"
      },
      "precision": "int8",
      "scores": {"concentrationIndex": 2.5, "rho": 0.8},
      "seconds": 6.8,
      "verdict": {"reason": "class 0: anomaly", "status": "detected", "target": 0}
    }
  ],
  "reversedTriggers": [
    {
      "flagged": true,
      "label": 0,
      "maskL1": 3.0,
      "maskPNG": "",
      "patternPNG": "",
      "precision": "fp32",
      "reachedThreshold": true,
      "scale": 4,
      "triggerPNG": ""
    },
    {
      "flagged": false,
      "label": 1,
      "maskL1": 30.0,
      "maskPNG": "",
      "patternPNG": "",
      "precision": "fp32",
      "reachedThreshold": true,
      "scale": 4,
      "triggerPNG": ""
    },
    {
      "flagged": false,
      "label": 0,
      "maskL1": 25.0,
      "maskPNG": "",
      "patternPNG": "",
      "precision": "int8",
      "reachedThreshold": true,
      "scale": 4,
      "triggerPNG": ""
    }
  ],
  "seconds": 407.4,
  "seed": 1,
  "tool": "blindspot 0.1.0"
}
"""#
}
