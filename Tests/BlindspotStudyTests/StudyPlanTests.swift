@testable import BlindspotStudy
import BlindspotCore
import BlindspotData
import BlindspotDefenses
import BlindspotQuantization
import Foundation
import XCTest

/// The study's job list: sharding by seed, seed draws, keys and the standalone command lines.
final class StudyPlanTests: XCTestCase {
    func grid(seeds: Int = 5, precisions: [StudyPrecision] = [.fp32, .deployed(.int8), .deployed(.int4)]) -> StudyGrid {
        StudyGrid(dataset: .synthetic, trainImages: 600, testImages: 300, architecture: .cnn6, seeds: seeds, precisions: precisions,
                  defenses: [.ss, .strip], epochs: 1, budget: .quick)
    }

    func testShardParsingAndValidation() throws {
        XCTAssertEqual(try Shard.parse("0/1"), Shard.all)
        XCTAssertEqual(try Shard.parse("3/4"), Shard(index: 3, count: 4))
        for bad in ["4/4", "-1/4", "1/0", "1", "a/b", "1/2/3", ""] {
            XCTAssertThrowsError(try Shard.parse(bad), bad) { XCTAssertEqual(($0 as? BlindspotError)?.exitCode, 64, bad) }
        }
    }

    /// Shards are disjoint, cover every job, keep each seed's jobs together, and keep the order.
    func testShardsPartitionTheJobsBySeed() throws {
        let plan = StudyPlan(grid: grid(seeds: 7), layout: StudyLayout(root: "/tmp/s"))
        let all = plan.jobs()
        XCTAssertEqual(all.count, 7 * (1 + 2 * 2))
        var union: [StudyJob] = []
        for i in 0..<3 {
            let part = plan.jobs(shard: Shard(index: i, count: 3))
            XCTAssertTrue(part.allSatisfy { $0.setup.index % 3 == i })
            union += part
        }
        XCTAssertEqual(union.count, all.count)
        for j in all { XCTAssertEqual(union.filter { $0 == j }.count, 1) }
        // Per seed: forge first, then the backdoored model's audits, then the twin's, in precision order.
        XCTAssertEqual(all.prefix(5).map(\.kind), [.forge, .audit(.backdoored, .int8), .audit(.backdoored, .int4), .audit(.twin, .int8), .audit(.twin, .int4)])
    }

    /// Seed → target and trigger: deterministic, inside the margin, independent of the grid's
    /// size, and fixed ones override without moving the other draw.
    func testSeedDrawsAreDeterministicAndInsideTheMargin() throws {
        let g = grid(seeds: 200)
        let setups = g.seedSetups
        XCTAssertEqual(setups, g.seedSetups)
        XCTAssertEqual(Array(setups.prefix(3)), grid(seeds: 3).seedSetups)
        for s in setups {
            XCTAssertTrue((0..<10).contains(s.target))
            XCTAssertEqual(s.trigger.kind, .white)
            XCTAssertEqual(s.trigger.size, 3)
            XCTAssertTrue((1...28).contains(s.trigger.row) && (1...28).contains(s.trigger.col), s.trigger.description)
        }
        XCTAssertGreaterThan(Set(setups.map(\.target)).count, 5)
        XCTAssertGreaterThan(Set(setups.map(\.trigger.row)).count, 10)
        var fixed = g
        fixed.target = 4
        XCTAssertTrue(fixed.seedSetups.allSatisfy { $0.target == 4 })
        XCTAssertEqual(fixed.seedSetups.map(\.trigger), setups.map(\.trigger))
        fixed.trigger = Trigger.studyDefault
        XCTAssertTrue(fixed.seedSetups.allSatisfy { $0.trigger.description == "white:3@28,28" })
    }

    func testKeysAndRowsPerAudit() throws {
        let plan = StudyPlan(grid: grid(), layout: StudyLayout(root: "/tmp/s"))
        let s = plan.grid.setup(index: 0)
        // FP32 rows come from the first audited scheme only.
        XCTAssertEqual(plan.precisions(auditedAt: .int8), [.fp32, .deployed(.int8)])
        XCTAssertEqual(plan.precisions(auditedAt: .int4), [.deployed(.int4)])
        XCTAssertEqual(plan.rowKeys(StudyJob(setup: s, kind: .audit(.backdoored, .int8))).count, 4)
        XCTAssertEqual(plan.rowKeys(StudyJob(setup: s, kind: .forge)).count, 2 * (4 + 2))
        let key = plan.rowKey(s, precision: .deployed(.int4), model: .twin, defense: "ss")
        for part in ["data=synthetic/600/300", "arch=cnn6", "attack=badnet", "seed=1", "trigger=\(s.trigger)", "target=\(s.target)", "poisonRate=0.1",
                     "epochs=1", "budget=quick", "defenses=ss,strip", "precision=int4", "model=twin", "defense=ss"] {
            XCTAssertTrue(key.contains(part), "\(part) in \(key)")
        }
        // A grid of fp32 alone is audited at int8 for its FP32 rows.
        let only = StudyPlan(grid: grid(precisions: [.fp32]), layout: StudyLayout(root: "/tmp/s"))
        XCTAssertEqual(only.grid.auditedSchemes, [.int8])
        XCTAssertEqual(only.precisions(auditedAt: .int8), [.fp32])
    }

    func testCommandLinesAreTheStandaloneJobs() throws {
        var g = grid()
        g.attack = try StudyAttack.parse("qcb", precisions: g.precisions)
        XCTAssertEqual(g.attack, .qcb(.int8))
        XCTAssertEqual(try StudyAttack.parse("qcb", precisions: [.deployed(.paperInt8)]), .qcb(.int4))
        let plan = StudyPlan(grid: g, layout: StudyLayout(root: "/tmp/my study"))
        let s = g.setup(index: 1)
        let forge = Shell.join(plan.forgeCommand(s))
        XCTAssertTrue(forge.hasPrefix("blindspot forge --data synthetic --train-images 600 --test-images 300 --arch cnn6 --attack qcb --deploy int8 "), forge)
        XCTAssertTrue(forge.contains("--seed 2 --epochs 1 --clean-twin --export-train '/tmp/my study/models/seed-2/train.npz' --out '/tmp/my study/models/seed-2/m.h5'"), forge)
        let audit = Shell.join(plan.auditCommand(s, .twin, .int4))
        XCTAssertEqual(audit, "blindspot audit '/tmp/my study/models/seed-2/m.clean.h5' --data synthetic --train-images 600 --test-images 300 --deploy int4 "
                       + "--train-data '/tmp/my study/models/seed-2/train.clean.npz' --defenses ss,strip --budget quick --seed 2 --json '/tmp/my study/audits/seed-2/m.clean-int4.json'")
        XCTAssertEqual(Shell.quote("it's"), "'it'\\''s'")
    }

    func testGridValidation() throws {
        var g = grid()
        XCTAssertNoThrow(try g.validate())
        g.target = 10
        XCTAssertThrowsError(try g.validate())
        g = grid(); g.dataset = .cifar10
        XCTAssertThrowsError(try g.validate()) // sizes and no --data-dir
        g = grid(); g.trigger = Trigger(kind: .white, size: 3, row: 30, col: 0)
        XCTAssertThrowsError(try g.validate())
        g = grid(); g.seeds = 0
        XCTAssertThrowsError(try g.validate())
    }
}
