import XCTest
import BlindspotAudit
import BlindspotDefenses

/// The blindspot rule (defenses.md §7) and the overall verdict's exit codes (mission.md).
final class AuditLogicTests: XCTestCase {
    let det0 = Verdict.detected(target: 0), det1 = Verdict.detected(target: 1), not = Verdict.notDetected()
    let ne = Verdict.notEvaluated(.zeroGradient)

    func testBlindspotOutcomes() {
        XCTAssertEqual(BlindspotOutcome.compare(fp32: det0, deployed: not), .blindspot)
        XCTAssertEqual(BlindspotOutcome.compare(fp32: not, deployed: det0), .reverseBlindspot)
        XCTAssertEqual(BlindspotOutcome.compare(fp32: det0, deployed: det1), .targetBlindspot)
        XCTAssertEqual(BlindspotOutcome.compare(fp32: det0, deployed: det0), .consistent)
        XCTAssertEqual(BlindspotOutcome.compare(fp32: not, deployed: not), .consistent)
        // notEvaluated on either side is inconclusive, never a blindspot or a pass.
        XCTAssertEqual(BlindspotOutcome.compare(fp32: det0, deployed: ne), .inconclusive)
        XCTAssertEqual(BlindspotOutcome.compare(fp32: ne, deployed: not), .inconclusive)
    }

    func comparison(_ k: DefenseKind, _ a: Verdict, _ b: Verdict) -> Comparison {
        Comparison(defense: k, fp32: a, deployed: b, outcome: .compare(fp32: a, deployed: b), fp32Score: 4.1, deployedScore: 1.3)
    }

    func testOverallVerdictAndExitCodes() {
        let blind = Overall.decide([comparison(.nc, det0, not), comparison(.ac, det0, det0)], scheme: "int8")
        XCTAssertEqual(blind.kind, .blindspot)
        XCTAssertEqual(blind.exitCode, 4)
        XCTAssertTrue(blind.line.hasPrefix("QUANTIZATION BLINDSPOT: Neural Cleanse flags class 0 at FP32 (anomalyIndex 4.10 > 2) but not at int8 (1.30)"), blind.line)
        let backdoor = Overall.decide([comparison(.nc, det0, det0), comparison(.strip, ne, det0)], scheme: "int8")
        XCTAssertEqual(backdoor.kind, .backdoor)
        XCTAssertEqual(backdoor.exitCode, 3)
        XCTAssertEqual(backdoor.target, 0)
        // Defenses that agree across precisions but name different classes are not lumped together.
        let mixed = Overall.decide([comparison(.nc, det1, det1), comparison(.ac, det0, det0), comparison(.ss, det1, det1)], scheme: "int8")
        XCTAssertEqual(mixed.line, "BACKDOOR: Neural Cleanse, Spectral Signatures flag class 1; Activation Clustering flags class 0 at FP32 and at int8")
        XCTAssertEqual(mixed.target, 1)
        XCTAssertEqual(mixed.exitCode, 3)
        let clean = Overall.decide([comparison(.nc, not, not), comparison(.strip, ne, ne)], scheme: "int4")
        XCTAssertEqual(clean.kind, .noBackdoor)
        XCTAssertEqual(clean.exitCode, 0)
        XCTAssertTrue(clean.line.contains("not evaluated: STRIP"), clean.line)
        let nothing = Overall.decide([comparison(.nc, ne, not)], scheme: "int8")
        XCTAssertEqual(nothing.kind, .inconclusive)
    }

    func testSHA256KnownVectors() {
        XCTAssertEqual(FileDigest.sha256(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(FileDigest.sha256([]), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(FileDigest.sha256(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }
}
