import XCTest
import BlindspotCore
import BlindspotData
import BlindspotAttacks

/// BadNet poisoning: exact count, sources, labels, flags, trigger pixels, determinism.
final class BadNetTests: XCTestCase {
    /// A small random set: labels cycle 0…9, pixels random but never 255/0 so stamps show.
    func smallSet(count: Int = 200) -> ImageSet {
        var rng = SeededRNG(seed: 7)
        let images = (0..<(count * 3 * 32 * 32)).map { _ in UInt8(1 + rng.next() % 250) }
        return ImageSet(name: "t", images: images, labels: (0..<count).map { Int32($0 % 10) }, classNames: (0..<10).map { "c\($0)" })
    }

    func testPoisonCountSourcesLabelsAndFlags() throws {
        let set = smallSet()
        let p = try BadNet.poison(set, trigger: .studyDefault, target: 3, rate: 0.1, seed: 5)
        let idx = p.poisonedIndices
        XCTAssertEqual(idx.count, 20)
        for i in idx {
            XCTAssertNotEqual(set.labels[i], 3, "poison drawn from the target class")
            XCTAssertEqual(p.set.labels[i], 3)
            XCTAssertEqual(p.originalLabels?[i], set.labels[i])
        }
        for i in 0..<set.count where !(p.poisoned![i]) { XCTAssertEqual(p.set.labels[i], set.labels[i]) }
    }

    func testTriggerPixelsExactlyWhereTheSpecSays() throws {
        let set = smallSet()
        let trig = try Trigger.parse("white:3@28,28")
        let p = try BadNet.poison(set, trigger: trig, target: 0, rate: 0.25, seed: 1)
        let size = 3 * 32 * 32
        for i in 0..<set.count {
            for c in 0..<3 { for y in 0..<32 { for x in 0..<32 {
                let k = i * size + (c * 32 + y) * 32 + x
                let inPatch = (28...30).contains(y) && (28...30).contains(x)
                if p.poisoned![i] && inPatch { XCTAssertEqual(p.set.images[k], 255) }
                else { XCTAssertEqual(p.set.images[k], set.images[k]) }
            } } }
        }
    }

    func testDeterministicForASeedAndDifferentAcrossSeeds() throws {
        let set = smallSet()
        let a = try BadNet.poison(set, trigger: .studyDefault, target: 2, rate: 0.1, seed: 9)
        let b = try BadNet.poison(set, trigger: .studyDefault, target: 2, rate: 0.1, seed: 9)
        let c = try BadNet.poison(set, trigger: .studyDefault, target: 2, rate: 0.1, seed: 10)
        XCTAssertEqual(a.poisonedIndices, b.poisonedIndices)
        XCTAssertEqual(a.set.images, b.set.images)
        XCTAssertNotEqual(a.poisonedIndices, c.poisonedIndices)
    }

    func testBadOptionsAreUsageErrors() {
        let set = smallSet()
        XCTAssertThrowsError(try BadNet.poison(set, trigger: .studyDefault, target: 10, rate: 0.1, seed: 1))
        XCTAssertThrowsError(try BadNet.poison(set, trigger: .studyDefault, target: 1, rate: 0, seed: 1))
        XCTAssertThrowsError(try BadNet.poison(set, trigger: .studyDefault, target: 1, rate: 1, seed: 1))
        XCTAssertThrowsError(try BadNet.poison(set, trigger: Trigger(kind: .white, size: 4, row: 29, col: 29), target: 1, rate: 0.1, seed: 1))
    }
}

import BlindspotCheckpoint
import BlindspotTraining

/// A forge run is a pure function of its seed, and its file carries the truth.
final class ForgeTests: XCTestCase {
    func testForgeIsDeterministicAndRoundTripsItsGroundTruth() throws {
        let split = Datasets.synthetic(seed: 4, trainCount: 400, testCount: 100)
        var recipe = TrainingRecipe.defaults(for: .cnn6, dataset: .synthetic)
        recipe.epochs = 1
        let options = ForgeOptions(architecture: .cnn6, dataset: .synthetic, recipe: recipe, trigger: .studyDefault, target: 1, seed: 4)
        let quiet = ProgressReporter(quiet: true)
        let a = try Forge.train(options, split: split, backdoored: true, progress: quiet)
        let b = try Forge.train(options, split: split, backdoored: true, progress: quiet)
        XCTAssertEqual(a.checkpoint.model.stateDict.map { $0.tensor.toArray() }, b.checkpoint.model.stateDict.map { $0.tensor.toArray() })
        XCTAssertEqual(a.trainingSet.poisonedIndices.count, 40)

        let path = FileManager.default.temporaryDirectory.appendingPathComponent("forge-rt-\(getpid()).h5").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try CheckpointLoader.save(a.checkpoint, to: path)
        let back = try CheckpointLoader.load(path)
        XCTAssertEqual(back.groundTruth, a.checkpoint.groundTruth)
        XCTAssertEqual(back.groundTruth?.target, 1)
        XCTAssertEqual(back.groundTruth?.trigger, "white:3@28,28")
        XCTAssertEqual(back.groundTruth?.dataset, "synthetic")
        XCTAssertEqual(back.groundTruth?.epochs, 1)
        XCTAssertNotNil(back.metadata["metrics"])
        XCTAssertNotNil(back.metadata["training_log"])

        // The exported training set reads back with its flags.
        let npz = path + ".train.npz"
        defer { try? FileManager.default.removeItem(atPath: npz) }
        try TrainingSetFile.write(a.trainingSet, to: npz)
        let s = try TrainingSetFile.read(npz)
        XCTAssertEqual(s.set.images, a.trainingSet.set.images)
        XCTAssertEqual(s.set.labels, a.trainingSet.set.labels)
        XCTAssertEqual(s.poisoned, a.trainingSet.poisoned)
        XCTAssertEqual(s.originalLabels, split.train.labels)
        XCTAssertEqual(s.set.classNames, split.train.classNames)
    }
}
