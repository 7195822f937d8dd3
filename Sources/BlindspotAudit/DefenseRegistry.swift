import BlindspotCore
import BlindspotDefenses

/// The defense behind each command-line name, and Neural Cleanse's reversed trigger as a probe.
enum DefenseRegistry {
    static func defense(_ kind: DefenseKind) -> any Defense {
        switch kind {
        case .nc: return NeuralCleanse()
        case .ac: return ActivationClustering()
        case .ss: return SpectralSignatures()
        case .strip: return Strip()
        case .fp: return FinePruning()
        }
    }

    /// Runs NC and returns, when it flagged a label, that label's reversed trigger as a probe
    /// (defenses.md §1 "Its reversed triggers … serve as probes for STRIP and Fine-Pruning").
    /// Also returns every label's reversed trigger and the ones worth showing in reports.
    static func runNeuralCleanse(_ m: ModelUnderTest, inputs: DefenseInputs, progress: ProgressReporter)
        -> (DefenseResult, [NeuralCleanse.ReversedTrigger], [ReversedTriggerImage]) {
        let nc = NeuralCleanse()
        let t0 = monotonicSeconds()
        do {
            var (r, triggers) = try nc.analyze(m, inputs: inputs, progress: progress)
            r.seconds = monotonicSeconds() - t0
            r.conventions["budget"] = r.conventions["budget"] ?? inputs.budget.rawValue
            r.dropNonFiniteScores()
            var flagged: [Int] = []
            if case .list(let l)? = r.details["flagged"] { flagged = l.compactMap { if case .number(let x) = $0 { return Int(x) }; return nil } }
            let c = inputs.clean
            let images = ReversedTriggerImage.selection(triggers, flagged: flagged, precision: m.precision,
                                                        channels: c.channels, height: c.height, width: c.width)
            return (r, triggers, images)
        } catch {
            return (nc.run(m, inputs: inputs, progress: progress), [], [])
        }
    }
}
