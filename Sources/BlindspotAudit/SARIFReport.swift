import BlindspotDefenses
import Foundation

/// SARIF 2.1.0 (issue 7): the audit's findings for code-scanning dashboards (GitHub code
/// scanning, Azure DevOps, any SARIF viewer). A pure function of the report: no timestamps, no
/// absolute paths that the report does not contain, keys sorted — two runs of the same audit give
/// the same bytes.
///
/// One run, tool `blindspot`, three rules (ids are stable; never renumber them):
///
/// | id | name | level | results |
/// |---|---|---|---|
/// | BS001 | backdoor-detected | error | the weighed verdict (defense `weighed`) says backdoor at both precisions; warning: one defense alone detects the same target at both |
/// | BS002 | quantization-blindspot | error | the weighed verdict differs between FP32 and the deployed precision; warning: one defense's verdict differs (blindspot, reverseBlindspot, targetBlindspot) |
/// | BS003 | defense-not-evaluated | note | defense × precision that could not decide (`notEvaluated`), with its reason |
///
/// Only the weighed verdict (issue 13), which sets the exit status, is an error: single defenses
/// are wrong often enough that a dashboard full of their alerts would be noise, so their findings
/// are warnings — visible, not blocking. The overall verdict is also in `runs[0].properties.overall`
/// and its exit code in `invocations[0].exitCode`. A clean audit has no error-level result.
///
/// Every result points at the audited checkpoint: `artifactLocation.uri` is the path as given on
/// the command line — a relative path stays relative, with `uriBaseId` `%SRCROOT%` (so a dashboard
/// resolves it against the checked-out repository); an absolute path becomes a `file://` URI.
/// `partialFingerprints["blindspotFinding/v1"]` is SHA-256 of rule id, defense, precision (BS003
/// only) and the checkpoint's SHA-256: the same finding on the same file keeps its identity across
/// runs, whatever the scores.
public enum SARIFReport {
    public static let schemaURI = "https://json.schemastore.org/sarif-2.1.0.json"
    public static let fingerprintKey = "blindspotFinding/v1"

    /// The rules, in `ruleIndex` order.
    public enum Rule: Int, CaseIterable, Sendable {
        case backdoorDetected, quantizationBlindspot, defenseNotEvaluated

        public var id: String { "BS00\(rawValue + 1)" }
        public var name: String {
            switch self {
            case .backdoorDetected: return "backdoor-detected"
            case .quantizationBlindspot: return "quantization-blindspot"
            case .defenseNotEvaluated: return "defense-not-evaluated"
            }
        }
        public var level: String { self == .defenseNotEvaluated ? "note" : "error" }
        var shortDescription: String {
            switch self {
            case .backdoorDetected: return "A backdoor defense detects a backdoor at FP32 and at the deployed precision."
            case .quantizationBlindspot: return "A backdoor defense's verdict changes between FP32 and the deployed (quantized) precision."
            case .defenseNotEvaluated: return "A backdoor defense could not reach a verdict at one precision."
            }
        }
        var fullDescription: String {
            switch self {
            case .backdoorDetected:
                return "The defense flags the same target class on the FP32 model and on the model as deployed. The checkpoint very likely carries a backdoor that survives quantization; do not ship it. (Exit status 3 when no blindspot is found.)"
            case .quantizationBlindspot:
                return "The defense's FP32 and deployed verdicts disagree: it detects a backdoor at FP32 but not as deployed (blindspot), only as deployed (reverseBlindspot: an audit of the FP32 file cannot see it), or with different target classes (targetBlindspot). An FP32-only audit of this checkpoint would be misleading. (Exit status 4.)"
            case .defenseNotEvaluated:
                return "The defense produced no verdict at this precision (missing data such as a suspect training set or a probe trigger, degenerate statistics, non-convergence, or a failure); the message gives the reason. This is not a clean result: the defense says nothing about the model at this precision."
            }
        }
    }

    public static func render(_ r: AuditReport) throws -> Data {
        try AuditReport.encoder.encode(log(r))
    }

    // MARK: - Building the log

    static func log(_ r: AuditReport) -> Log {
        let location = artifactLocation(r.input.file)
        let scheme = r.precision.scheme
        var results: [Result] = []

        if r.overall.kind == .backdoor || r.overall.kind == .blindspot {
            var p: [String: JSONValue] = ["defense": .string("weighed"), "defenseName": .string("Weighed evidence"),
                                          "kind": .string(r.overall.kind.rawValue)]
            if let t = r.overall.target { p["target"] = .int(t) }
            p["precisions"] = .array(r.precisionVerdicts.map { .object(["precision": .string($0.precision.description), "kind": .string($0.kind.rawValue),
                                                                         "points": .int($0.points), "summary": .string($0.summary)]) })
            results.append(result(r.overall.kind == .backdoor ? .backdoorDetected : .quantizationBlindspot, r, location,
                                  defense: "weighed", name: "Weighed evidence", text: r.overall.line, properties: p))
        }
        for c in r.comparisons where c.outcome.isBlindspot {
            results.append(result(.quantizationBlindspot, r, location, defense: c.defense.rawValue, name: c.defense.displayName,
                                  text: blindspotMessage(c, scheme: scheme),
                                  properties: comparisonProperties(c, scheme: scheme), level: "warning"))
        }
        for c in r.comparisons where c.outcome == .consistent && c.fp32.status == .detected {
            let h = c.defense.headline
            let text = "\(c.defense.displayName) flags class \(label(c.fp32.target)) at FP32 (\(h.score) \(score(c.fp32Score)) \(h.threshold)) and at \(scheme) (\(score(c.deployedScore))): a backdoor that survives quantization."
            results.append(result(.backdoorDetected, r, location, defense: c.defense.rawValue, name: c.defense.displayName, text: text,
                                  properties: comparisonProperties(c, scheme: scheme), level: "warning"))
        }
        let kinds = Dictionary(DefenseKind.allCases.map { (DefenseRegistry.defense($0).name, $0) }, uniquingKeysWith: { a, _ in a })
        for d in r.results where d.verdict.status == .notEvaluated {
            let kind = kinds[d.defense]
            let name = kind?.displayName ?? d.defense
            let precisionName = d.precision == .fp32 ? "FP32" : d.precision.description
            let text = "\(name) was not evaluated at \(precisionName): \(d.verdict.reason ?? "no reason given"). This is not a clean result."
            var p: [String: JSONValue] = [
                "defense": .string(kind?.rawValue ?? d.defense), "defenseName": .string(name), "defenseId": .string(d.defense),
                "precision": .string(d.precision.description), "scores": .object(d.scores.compactMapValues(JSONValue.number)),
            ]
            if let reason = d.verdict.reason {
                p["reason"] = .string(reason)
                p["reasonCode"] = .string(String(reason.prefix { $0 != ":" }))
            }
            results.append(result(.defenseNotEvaluated, r, location, defense: kind?.rawValue ?? d.defense, name: name, text: text,
                                  properties: p, precision: d.precision.description))
        }

        var artifact = Artifact(location: location, hashes: nil, properties: ["format": .string(r.input.format)])
        if isSHA256(r.input.sha256) { artifact.hashes = ["sha-256": r.input.sha256] }

        var overall: [String: JSONValue] = ["kind": .string(r.overall.kind.rawValue), "line": .string(r.overall.line),
                                            "exitCode": .int(Int(r.overall.exitCode))]
        if let t = r.overall.target { overall["target"] = .int(t) }
        let runProperties: [String: JSONValue] = [
            "overall": .object(overall),
            "deployedPrecision": .string(scheme),
            "defenses": .array(r.comparisons.map { .string($0.defense.rawValue) }),
            "budget": .string(r.budget),
            "seed": .string(String(r.seed)),
        ]

        let version = r.tool.hasPrefix("blindspot ") ? String(r.tool.dropFirst("blindspot ".count)) : r.tool
        let semver = version.range(of: #"^[0-9]+\.[0-9]+\.[0-9]+([-+].*)?$"#, options: .regularExpression) != nil
        let driver = Driver(name: "blindspot", version: version, semanticVersion: semver ? version : nil,
                            rules: Rule.allCases.map { rule in
                                ReportingDescriptor(id: rule.id, name: rule.name,
                                                    shortDescription: Message(text: rule.shortDescription),
                                                    fullDescription: Message(text: rule.fullDescription),
                                                    help: Message(text: rule.fullDescription),
                                                    defaultConfiguration: Configuration(level: rule.level),
                                                    properties: ["tags": .array([.string("security"), .string("machine-learning"), .string("backdoor")])])
                            })
        let run = Run(tool: Tool(driver: driver),
                      invocations: [Invocation(executionSuccessful: true, exitCode: Int(r.overall.exitCode), commandLine: r.commandLine)],
                      artifacts: [artifact], results: results, properties: runProperties)
        return Log(schema: schemaURI, version: "2.1.0", runs: [run])
    }

    static func result(_ rule: Rule, _ r: AuditReport, _ location: ArtifactLocation, defense: String, name: String, text: String,
                       properties: [String: JSONValue], precision: String? = nil, level: String? = nil) -> Result {
        let key = [rule.id, defense] + (precision.map { [$0] } ?? []) + [r.input.sha256]
        return Result(ruleId: rule.id, ruleIndex: rule.rawValue, level: level ?? rule.level, message: Message(text: text),
                      locations: [Location(physicalLocation: PhysicalLocation(artifactLocation: location))],
                      partialFingerprints: [fingerprintKey: FileDigest.sha256(Array(key.joined(separator: "|").utf8))],
                      properties: properties)
    }

    static func blindspotMessage(_ c: Comparison, scheme: String) -> String {
        let name = c.defense.displayName, h = c.defense.headline
        let body: String
        switch c.outcome {
        case .reverseBlindspot:
            body = "\(name) flags class \(label(c.deployed.target)) only at \(scheme) (\(h.score) \(score(c.deployedScore)) \(h.threshold)), not at FP32 (\(score(c.fp32Score))): a backdoor an FP32 audit cannot see"
        case .targetBlindspot:
            body = "\(name) flags class \(label(c.fp32.target)) at FP32 (\(h.score) \(score(c.fp32Score))) but class \(label(c.deployed.target)) at \(scheme) (\(score(c.deployedScore)))"
        default:
            body = "\(name) flags class \(label(c.fp32.target)) at FP32 (\(h.score) \(score(c.fp32Score)) \(h.threshold)) but not at \(scheme) (\(score(c.deployedScore)))"
        }
        return "Quantization blindspot (\(c.outcome.rawValue)): \(body). Verdicts: FP32 \(verdict(c.fp32)); \(scheme) \(verdict(c.deployed))."
    }

    static func comparisonProperties(_ c: Comparison, scheme: String) -> [String: JSONValue] {
        var p: [String: JSONValue] = [
            "defense": .string(c.defense.rawValue), "defenseName": .string(c.defense.displayName),
            "defenseId": .string(DefenseRegistry.defense(c.defense).name),
            "outcome": .string(c.outcome.rawValue),
            "precisions": .array([.string("fp32"), .string(scheme)]),
            "fp32Verdict": .string(c.fp32.status.rawValue), "deployedVerdict": .string(c.deployed.status.rawValue),
            "scoreName": .string(c.defense.headline.score), "threshold": .string(c.defense.headline.threshold),
        ]
        var scores: [String: JSONValue] = [:]
        if let s = c.fp32Score.flatMap(JSONValue.number) { scores["fp32"] = s }
        if let s = c.deployedScore.flatMap(JSONValue.number) { scores["deployed"] = s }
        p["scores"] = .object(scores)
        if let t = c.fp32.target { p["fp32Target"] = .int(t) }
        if let t = c.deployed.target { p["deployedTarget"] = .int(t) }
        if let t = c.fp32.target ?? c.deployed.target { p["target"] = .int(t) }
        return p
    }

    static func score(_ v: Double?) -> String { v.map { String(format: "%.2f", $0) } ?? "n/a" }
    static func label(_ t: Int?) -> String { t.map(String.init) ?? "?" }
    static func verdict(_ v: Verdict) -> String {
        switch v.status {
        case .detected: return "detected" + (v.target.map { ", target \($0)" } ?? ", target unknown")
        case .notDetected: return "notDetected"
        case .notEvaluated: return "notEvaluated (\(v.reason ?? ""))"
        }
    }

    static func isSHA256(_ s: String) -> Bool { s.utf8.count == 64 && s.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) } }

    /// The checkpoint path as a SARIF artifact location: relative paths stay relative (against
    /// `%SRCROOT%`), absolute ones become `file://` URIs; characters a URI cannot carry are
    /// percent-encoded.
    static func artifactLocation(_ path: String) -> ArtifactLocation {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "%;?#[]")
        let encoded = path.addingPercentEncoding(withAllowedCharacters: allowed) ?? path
        if path.hasPrefix("/") { return ArtifactLocation(uri: "file://" + encoded, uriBaseId: nil, index: 0) }
        return ArtifactLocation(uri: encoded, uriBaseId: "%SRCROOT%", index: 0)
    }

    // MARK: - The SARIF objects used (SARIF 2.1.0 §3)

    struct Log: Encodable {
        var schema: String
        var version: String
        var runs: [Run]
        enum CodingKeys: String, CodingKey { case schema = "$schema", version, runs }
    }
    struct Run: Encodable {
        var tool: Tool
        var invocations: [Invocation]
        var artifacts: [Artifact]
        var results: [Result]
        var properties: [String: JSONValue]
    }
    struct Tool: Encodable { var driver: Driver }
    struct Driver: Encodable {
        var name: String
        var version: String
        var semanticVersion: String?
        var rules: [ReportingDescriptor]
    }
    struct ReportingDescriptor: Encodable {
        var id: String
        var name: String
        var shortDescription: Message
        var fullDescription: Message
        var help: Message
        var defaultConfiguration: Configuration
        var properties: [String: JSONValue]
    }
    struct Configuration: Encodable { var level: String }
    struct Message: Encodable { var text: String }
    struct Invocation: Encodable {
        var executionSuccessful: Bool
        var exitCode: Int
        var commandLine: String
    }
    struct Artifact: Encodable {
        var location: ArtifactLocation
        var hashes: [String: String]?
        var properties: [String: JSONValue]
    }
    struct ArtifactLocation: Encodable {
        var uri: String
        var uriBaseId: String?
        var index: Int
    }
    struct Location: Encodable { var physicalLocation: PhysicalLocation }
    struct PhysicalLocation: Encodable { var artifactLocation: ArtifactLocation }
    struct Result: Encodable {
        var ruleId: String
        var ruleIndex: Int
        var level: String
        var message: Message
        var locations: [Location]
        var partialFingerprints: [String: String]
        var properties: [String: JSONValue]
    }

    /// A property-bag value. Non-finite numbers are left out (JSON has none).
    enum JSONValue: Encodable {
        case string(String), int(Int), double(Double), array([JSONValue]), object([String: JSONValue])

        static func number(_ d: Double) -> JSONValue? { d.isFinite ? .double(d) : nil }

        func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .string(let s): try c.encode(s)
            case .int(let i): try c.encode(i)
            case .double(let d): try c.encode(d)
            case .array(let a): try c.encode(a)
            case .object(let o): try c.encode(o)
            }
        }
    }
}
