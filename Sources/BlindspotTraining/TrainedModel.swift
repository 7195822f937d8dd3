import BlindspotCheckpoint
import BlindspotData
import BlindspotEngine
import Foundation

/// A model trained by blindspot as a native checkpoint: the normalisation it was trained with
/// becomes its recorded preprocessing, with the class names and the training record.
public enum TrainedModel {
    public static func checkpoint(_ model: Model, split: DataSplit, dataset: String, recipe: TrainingRecipe, seed: UInt64,
                                  testAccuracy: Double, groundTruth: GroundTruth? = nil) -> Checkpoint {
        let n = split.normalization
        let recipeJSON = (try? JSONEncoder().encode(recipe)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return Checkpoint(path: "", model: model, format: .nativeH5, architectureSource: "blindspot built-in \(model.name)",
                          preprocessing: Preprocessing(mean: n.mean, std: n.std, source: .file,
                                                       description: "per-channel normalisation of the \(dataset) training set"),
                          classNames: split.train.classNames,
                          metadata: ["dataset": dataset, "seed": String(seed), "recipe": recipeJSON,
                                     "test_accuracy": String(format: "%.4f", testAccuracy), "trained_by": "blindspot 0.1.0"],
                          groundTruth: groundTruth)
    }
}
