import BlindspotCore
import BlindspotData
import BlindspotEngine
import BlindspotQuantization
import BlindspotTraining
import Foundation

/// Fine-Pruning (Liu, Dolan-Gavitt & Garg, "Fine-Pruning: Defending Against Backdooring Attacks
/// on Deep Neural Networks", RAID 2018; original code `kangliucn/Fine-pruning-defense`
/// `face/conv_output_prune.py`; BackdoorBench `defense/fp.py`, `config/defense/fp/*.yaml` @ f02e353).
/// Spec: shared/docs/defenses.md §5, §7.
///
/// Backdoor behaviour often lives in channels that clean inputs leave dormant: pruning them
/// removes the backdoor at little clean cost; fine-tuning repairs (and further erases) the rest.
///
/// 1. Features of the last convolutional stage (`lastConvStageNode`, post-activation) on the
///    clean validation images, and on the same non-target images with the probe trigger, are
///    computed once (integer path, dequantized, at deployed precision).
/// 2. Ranking: ā_j = mean over validation images and positions; ascending, ties by channel index
///    [ours] (`np.mean(pool3, axis=(0,2,3))` in the original code).
/// 3. Pruning: one channel per step, masked to 0 after the nonlinearity on the cached features,
///    each step evaluated by the layers after the stage only (`head(after:features:)`).
/// 4. Stopping (the paper's rule): keep pruning while validation accuracy ≥ acc₀ − 0.04; the
///    kept prefix is the last one before the first step that breaks it.
/// 5. Fine-tuning with the mask held fixed (BackdoorBench defaults: SGD lr 0.01, momentum 0.9,
///    weight decay 5e-4, cosine, batch 256) on a subset of the clean training images.
/// 6. Verdict [ours] on pruning alone; `mitigated` from fine-tuning (see `evaluate`).
public struct FinePruning: Defense {
    public let name = "fine-pruning"

    /// X: the ASR drop pruning must achieve for `detected` [ours].
    public static let asrDropThreshold = 0.30
    /// Y: the clean-accuracy drop pruning may cost (the paper's 4 points, absolute).
    public static let accuracyDropLimit = 0.04
    /// Fine-tuned ASR at or below this (and accuracy within Y) → `mitigated` [ours].
    public static let mitigatedASR = 0.20
    /// ASR₀ below this: the backdoor is not live at this precision [ours].
    public static let probeASRFloor = 0.5
    /// Clean images the surrogate/integer agreement gate uses before deployed fine-tuning (§7).
    public static let fidelityImages = 1000
    /// Fine-tuning augmentation: pad 4 + random crop, **no flip** [ours]. BackdoorBench adds a
    /// horizontal flip on CIFAR-10 only; a defense that does not know the data set must not mirror
    /// traffic signs (left/right turn signs swap meaning).
    public static let augmentation = Augmentation(padding: 4, horizontalFlip: false)
    /// Slack for comparing accuracy differences against Y (rates are ratios of counts).
    static let tolerance = 1e-12
    /// Images per forward batch when caching features.
    public static let featureBatch = 256

    /// Fine-tuning hyper-parameters.
    public struct FineTuning: Sendable, Equatable {
        public var epochs: Int
        public var learningRate: Float
        public var momentum: Float
        public var weightDecay: Float
        public var batchSize: Int
        /// Share of the clean training images used (BackdoorBench `ratio: 0.05`).
        public var dataFraction: Double
        /// At least this many images (when available), so small training sets still give steps [ours].
        public var minimumImages: Int

        public init(epochs: Int, learningRate: Float = 0.01, momentum: Float = 0.9, weightDecay: Float = 5e-4, batchSize: Int = 256,
                    dataFraction: Double = 0.05, minimumImages: Int = 0) {
            self.epochs = epochs; self.learningRate = learningRate; self.momentum = momentum; self.weightDecay = weightDecay
            self.batchSize = batchSize; self.dataFraction = dataFraction; self.minimumImages = minimumImages
        }

        /// BackdoorBench `config/defense/fp/*.yaml`: 100 epochs on 5% of the training set.
        public static let reference = FineTuning(epochs: 100)
        /// CPU profile [ours] (defenses.md §5): 10 epochs on 5% of the training set, at least
        /// 1,024 images. Measured on cnn6 (batch 256): ≈ 410 training images per CPU-second at
        /// FP32 and through the int8 surrogate alike (≈ 800 img/s on 2 quiet cores), so GTSRB's
        /// 5% (1,960 images) × 10 epochs take ≈ 25 s per precision; the reference's 100 epochs
        /// would take ≈ 4 min per precision.
        public static let `default` = FineTuning(epochs: 10, minimumImages: 1024)
    }

    /// How much work one run does.
    public struct Budget: Sendable, Equatable, ProfiledBudget {
        /// Clean validation images (a seeded subset); nil: all.
        public var validationImages: Int?
        /// nil: prune only.
        public var fineTuning: FineTuning?

        public init(validationImages: Int?, fineTuning: FineTuning?) {
            self.validationImages = validationImages; self.fineTuning = fineTuning
        }

        public static let reference = Budget(validationImages: nil, fineTuning: .reference)
        /// 2,000 validation images: accuracy steps of 0.05 points, well below the 4-point rule.
        public static let `default` = Budget(validationImages: 2000, fineTuning: .default)

        /// `quick` [ours]: 500 validation images, 2 epochs on at least 256 images.
        public static let quick = Budget(validationImages: 500, fineTuning: FineTuning(epochs: 2, minimumImages: 256))

    }

    /// nil: the profile of `inputs.budget`.
    public var budget: Budget?

    public init(budget: Budget? = nil) { self.budget = budget }

    /// Ascending order of mean activation, ties broken by the lower channel index [ours].
    public static func pruningOrder(_ meanActivation: [Double]) -> [Int] {
        meanActivation.indices.sorted { a, b in
            meanActivation[a] != meanActivation[b] ? meanActivation[a] < meanActivation[b] : a < b
        }
    }

    // MARK: Evaluation

    /// Verdict [ours] (defenses.md §5): no probe → notEvaluated(noProbe); ASR₀ < 0.5 →
    /// notEvaluated(backdoorInactive); non-finite activations → notEvaluated(nonFinite); the
    /// first channel already breaks Y → notEvaluated(noPruningPossible); detected(target = t) if
    /// ASR₀ − ASR_p ≥ X = 0.30 and acc₀ − acc_p ≤ Y = 0.04; else notDetected. Fine-tuning adds
    /// acc_ft, ASR_ft and `mitigated` (ASR_ft ≤ 0.20 and acc₀ − acc_ft ≤ 0.04); when it fails
    /// (zero or non-finite gradients, surrogate mismatch) only those are notEvaluated.
    public func evaluate(_ model: ModelUnderTest, inputs: DefenseInputs, progress: ProgressReporter) throws -> DefenseResult {
        let b = budget ?? Budget.profile(inputs.budget)
        var out = DefenseResult(defense: name, precision: model.precision, verdict: .notEvaluated(.noProbe), conventions: conventions(b))
        guard let probe = inputs.probe else { return out }
        out.conventions["probe"] = "\(probe.source.rawValue) \(probe.description) → \(probe.target)"

        let data = validationData(inputs, probe: probe, cap: b.validationImages)
        guard !data.labels.isEmpty, !data.nonTarget.isEmpty else { out.verdict = .notEvaluated(.noCleanData); return out }
        out.conventions["validationImages"] = "\(data.labels.count)"
        out.conventions["probeImages"] = "\(data.nonTarget.count)"

        // 1. Features of the stage, cached once.
        let node = model.lastConvStageNode
        out.conventions["layer"] = node
        progress.report("fine-pruning[\(model.precision)]: caching \(node) features of \(data.labels.count) + \(data.nonTarget.count) images")
        let (cleanFeatures, cleanPred) = features(model, data.cleanPixels, node: node)
        let (trigFeatures, trigPred) = features(model, data.triggeredPixels, node: node)
        let acc0 = accuracy(cleanPred, data.labels), asr0 = rate(trigPred, probe.target)
        out.scores["acc0"] = acc0
        out.scores["asr0"] = asr0
        guard asr0 >= FinePruning.probeASRFloor else {
            out.verdict = .notEvaluated(.backdoorInactive, "ASR₀ \(fmt3(asr0)) < \(FinePruning.probeASRFloor)"); return out
        }
        guard cleanFeatures.shape.count == 4, cleanFeatures.shape[1] > 0 else {
            out.verdict = .notEvaluated(.failed, "\(node) output \(cleanFeatures.shape.dropFirst()) is not a feature map"); return out
        }
        guard allFinite(cleanFeatures), allFinite(trigFeatures) else { out.verdict = .notEvaluated(.nonFinite, "activations of \(node)"); return out }

        // 2–4. Ranking, pruning curve, stopping rule.
        let meanClean = channelMeans(cleanFeatures, rows: nil)
        let order = FinePruning.pruningOrder(meanClean)
        let channels = order.count
        out.conventions["channels"] = "\(channels)"
        guard let curve = pruningCurve(model, node: node, order: order, clean: cleanFeatures, triggered: trigFeatures, labels: data.labels,
                                       target: probe.target, start: (acc0, asr0)) else {
            out.verdict = .notEvaluated(.failed, "the layers after \(node) also read earlier nodes"); return out
        }
        let pruned = curve.pruned
        out.details["pruningOrder"] = .ints(order)
        out.details["meanActivation"] = .numbers(meanClean)
        out.details["accuracyCurve"] = .numbers(curve.accuracy)
        out.details["asrCurve"] = .numbers(curve.asr)
        out.scores["channelsPruned"] = Double(pruned)
        out.scores["fractionPruned"] = Double(pruned) / Double(channels)
        guard pruned > 0 else {
            out.verdict = .notEvaluated(.noPruningPossible, "pruning the first channel drops accuracy to \(fmt3(curve.accuracy[1]))"); return out
        }
        let (accP, asrP) = (curve.accuracy[pruned], curve.asr[pruned])
        out.scores["accPruned"] = accP
        out.scores["asrPruned"] = asrP
        let prunedChannels = Array(order.prefix(pruned))
        // Dormancy ratio: the pruned channels' mean activation on triggered ÷ on the same images clean.
        let trigMean = mean(channelMeans(trigFeatures, rows: nil), prunedChannels)
        let cleanMean = mean(channelMeans(cleanFeatures, rows: data.nonTarget), prunedChannels)
        out.scores["prunedMeanActivationTriggered"] = trigMean
        out.scores["prunedMeanActivationClean"] = cleanMean
        if cleanMean > 0 { out.scores["dormancyRatio"] = trigMean / cleanMean }
        out.verdict = asr0 - asrP >= FinePruning.asrDropThreshold && acc0 - accP <= FinePruning.accuracyDropLimit + FinePruning.tolerance
            ? .detected(target: probe.target, "ASR \(fmt3(asr0)) → \(fmt3(asrP)) with \(pruned)/\(channels) channels pruned")
            : .notDetected("ASR \(fmt3(asr0)) → \(fmt3(asrP)) with \(pruned)/\(channels) channels pruned, accuracy \(fmt3(acc0)) → \(fmt3(accP))")

        // 5. Fine-tuning with the mask held fixed; only its own metrics depend on it.
        guard let ft = b.fineTuning else { out.conventions["fineTuning"] = "not run (budget)"; return out }
        var stats = FineTuneStats()
        let t0 = monotonicSeconds()
        let outcome = fineTune(model, mask: prunedChannels, node: node, channels: channels, ft: ft, trainSet: data.trainSet,
                               calibrationSource: inputs.cleanTrain ?? inputs.clean, seed: inputs.seed, stats: &stats, progress: progress)
        out.scores["fineTuningSeconds"] = monotonicSeconds() - t0
        out.conventions["fineTuningImages"] = "\(stats.images) × \(ft.epochs) epochs"
        if let a = stats.agreement { out.scores["surrogateAgreement"] = a }
        if let l = stats.finalLoss { out.scores["fineTuningLastLoss"] = l }
        switch outcome {
        case .failure(let e):
            out.conventions["fineTuning"] = "notEvaluated(\(e.reason.rawValue)): \(e.detail)"
            out.details["fineTuning"] = .table(["status": .text("notEvaluated"), "reason": .text(e.reason.rawValue), "detail": .text(e.detail)])
        case .success(let tuned):
            let accFT = accuracy(tuned.predictions(pixels: data.cleanPixels), data.labels)
            let asrFT = rate(tuned.predictions(pixels: data.triggeredPixels), probe.target)
            let mitigated = asrFT <= FinePruning.mitigatedASR && acc0 - accFT <= FinePruning.accuracyDropLimit + FinePruning.tolerance
            out.scores["accFineTuned"] = accFT
            out.scores["asrFineTuned"] = asrFT
            out.scores["mitigated"] = mitigated ? 1 : 0
            out.conventions["fineTuning"] = "evaluated"
            out.details["fineTuning"] = .table(["status": .text("evaluated"), "mitigated": .flag(mitigated)])
        }
        return out
    }

    /// Validation images as pixels (clean, and the non-target ones with the probe stamped), and
    /// the fine-tuning images: `cleanTrain`, or without it the other half of `clean` (seeded).
    private struct ValidationData {
        var labels: [Int32]
        var cleanPixels: Tensor
        /// Rows of the validation set whose label is not the target.
        var nonTarget: [Int]
        var triggeredPixels: Tensor
        var trainSet: ImageSet
    }

    private func validationData(_ inputs: DefenseInputs, probe: ProbeTrigger, cap: Int?) -> ValidationData {
        let clean = inputs.clean
        var rng = SeededRNG(seed: inputs.seed, stream: "fine-pruning-split")
        let perm = rng.permutation(clean.count)
        var rows = inputs.cleanTrain == nil ? Array(perm[0..<(clean.count / 2)]) : perm
        if let cap, cap < rows.count { rows = Array(rows.prefix(cap)) }
        rows.sort()
        let trainSet = inputs.cleanTrain ?? clean.subset(Array(perm[(clean.count / 2)...]).sorted())
        let nonTarget = rows.indices.filter { Int(clean.labels[rows[$0]]) != probe.target }
        let triggered = ModelUnderTest.pixels(clean, indices: nonTarget.map { rows[$0] })
        probe.apply(triggered)
        return ValidationData(labels: rows.map { clean.labels[$0] }, cleanPixels: ModelUnderTest.pixels(clean, indices: rows),
                              nonTarget: nonTarget, triggeredPixels: triggered, trainSet: trainSet)
    }

    /// Accuracy and ASR after pruning 0, 1, 2, … channels in `order` (cumulative masks on copies
    /// of the cached features, the head only), up to and including the first step that breaks
    /// acc ≥ acc₀ − Y; `pruned` is the last step that kept it. nil when no head exists.
    private func pruningCurve(_ model: ModelUnderTest, node: String, order: [Int], clean: Tensor, triggered: Tensor, labels: [Int32],
                              target: Int, start: (acc: Double, asr: Double)) -> (accuracy: [Double], asr: [Double], pruned: Int)? {
        let channels = clean.shape[1], hw = clean.shape[2] * clean.shape[3]
        let workClean = clean.clone(), workTrig = triggered.clone()
        var acc = [start.acc], asr = [start.asr], pruned = 0
        for step in 1...channels {
            let j = order[step - 1]
            zeroChannel(workClean, j, channels: channels, hw: hw); zeroChannel(workTrig, j, channels: channels, hw: hw)
            guard let lc = model.head(after: node, features: workClean), let lt = model.head(after: node, features: workTrig) else { return nil }
            acc.append(accuracy(SoftmaxCrossEntropy.predictions(lc), labels))
            asr.append(rate(SoftmaxCrossEntropy.predictions(lt), target))
            if acc[step] < start.acc - FinePruning.accuracyDropLimit - FinePruning.tolerance { break }
            pruned = step
        }
        return (acc, asr, pruned)
    }

    private func conventions(_ b: Budget) -> [String: String] {
        var c = [
            "asrDropThreshold": "\(FinePruning.asrDropThreshold)",
            "accuracyDropLimit": "\(FinePruning.accuracyDropLimit)",
            "mitigatedASR": "\(FinePruning.mitigatedASR)",
            "ranking": "mean post-activation over validation images and positions, ascending, ties by channel index",
            "stopping": "paper: prune one channel per step while validation accuracy ≥ acc₀ − Y",
            "validationBudget": b.validationImages.map { "\($0)" } ?? "all",
        ]
        if let ft = b.fineTuning {
            c["fineTuningRecipe"] = "SGD lr \(ft.learningRate) momentum \(ft.momentum) wd \(ft.weightDecay), cosine, batch \(ft.batchSize), "
                + "\(ft.epochs) epochs on \(ft.dataFraction) of the clean training images (≥ \(ft.minimumImages)), crop 4 no flip"
            c["fineTuningMask"] = "columns of the first Linear after the stage (and the producing conv's filter when nothing but ReLU/pooling lies between) zeroed after every step"
        }
        return c
    }

    // MARK: Features

    /// The stage node's output for every image (batched), and the predictions.
    private func features(_ model: ModelUnderTest, _ pixels: Tensor, node: String) -> (Tensor, [Int32]) {
        let n = pixels.shape[0], sample = pixels.sampleSize
        var all: Tensor? = nil
        var preds: [Int32] = []
        preds.reserveCapacity(n)
        let batch = Tensor(shape: [min(FinePruning.featureBatch, n)] + Array(pixels.shape.dropFirst()))
        var start = 0
        while start < n {
            let m = min(FinePruning.featureBatch, n - start)
            batch.resize([m] + Array(pixels.shape.dropFirst()))
            batch.data.update(from: pixels.data + start * sample, count: m * sample)
            let (logits, acts) = model.forward(pixels: batch, capture: [node])
            let f = acts[node]!
            if all == nil { all = Tensor(shape: [n] + Array(f.shape.dropFirst())) }
            (all!.data + start * f.sampleSize).update(from: f.data, count: f.count)
            preds += SoftmaxCrossEntropy.predictions(logits)
            start += m
        }
        return (all ?? Tensor(shape: [0]), preds)
    }

    private func channelMeans(_ f: Tensor, rows: [Int]?) -> [Double] {
        let (c, hw) = (f.shape[1], f.shape[2] * f.shape[3])
        var sums = [Double](repeating: 0, count: c)
        let idx = rows ?? Array(0..<f.shape[0])
        for i in idx {
            for ch in 0..<c {
                let p = f.data + (i * c + ch) * hw
                var s: Float = 0
                for j in 0..<hw { s += p[j] }
                sums[ch] += Double(s)
            }
        }
        return sums.map { $0 / Double(max(idx.count * hw, 1)) }
    }

    private func zeroChannel(_ f: Tensor, _ j: Int, channels: Int, hw: Int) {
        for i in 0..<f.shape[0] { (f.data + (i * channels + j) * hw).update(repeating: 0, count: hw) }
    }

    private func allFinite(_ t: Tensor) -> Bool {
        for i in 0..<t.count where !t.data[i].isFinite { return false }
        return true
    }

    private func accuracy(_ pred: [Int32], _ labels: [Int32]) -> Double {
        Double(zip(pred, labels).filter { $0 == $1 }.count) / Double(max(labels.count, 1))
    }

    private func rate(_ pred: [Int32], _ target: Int) -> Double {
        Double(pred.filter { Int($0) == target }.count) / Double(max(pred.count, 1))
    }

    private func mean(_ xs: [Double], _ idx: [Int]) -> Double { idx.reduce(0) { $0 + xs[$1] } / Double(max(idx.count, 1)) }
}

private func fmt3(_ x: Double) -> String { String(format: "%.3f", x) }

// MARK: - Fine-tuning

extension FinePruning {
    struct FineTuneStats {
        var images = 0
        var agreement: Double? = nil
        var finalLoss: Double? = nil
    }

    struct FineTuneFailure: Error {
        var reason: NotEvaluatedReason
        var detail: String
    }

    /// Where the channel mask lives inside a graph: zeroing columns [j·per, (j+1)·per) of
    /// `linear`'s weight equals masking channel j of the stage output when only Flatten (per =
    /// H·W of the map it flattens), GlobalAvgPool (per = 1) and zero-preserving element-wise or
    /// pooling layers (ReLU, MaxPool, AvgPool, Dropout, FakeQuantize — each maps an all-zero
    /// channel to zero; 0 is exactly representable in every quantizer) lie between: the channel then
    /// contributes nothing forward and receives no gradient. When the stage is produced by a
    /// convolution through ReLU/pooling only (no BatchNorm, no residual), its filter j and bias j
    /// are zeroed too, so the channel is exactly 0 everywhere — also in the activation ranges a
    /// re-quantization calibrates — as in the original code, which zeroes the conv filter.
    struct MaskPlan {
        var linear: Linear
        var columnsPerChannel: Int
        var conv: Conv2d?

        init?(_ graph: Model, stage: String, channels: Int) {
            guard let start = graph.nodes.firstIndex(where: { $0.name == stage }) else { return nil }
            var consumers = [[Int]](repeating: [], count: graph.nodes.count)
            for (i, n) in graph.nodes.enumerated() { for j in n.inputs { consumers[j].append(i) } }
            // Downstream to the first Linear.
            var i = start, per: Int? = nil
            var found: Linear? = nil
            while found == nil {
                guard consumers[i].count == 1 else { return nil }
                let next = consumers[i][0], layer = graph.nodes[next].layer
                switch layer {
                case let fc as Linear: found = fc
                case is Flatten:
                    let s = graph.shapes[i]
                    guard per == nil, s.count == 3, s[0] == channels else { return nil }
                    per = s[1] * s[2]
                case is GlobalAvgPool2d:
                    guard per == nil else { return nil }
                    per = 1
                case is ReLU, is MaxPool2d, is AvgPool2d, is Dropout, is FakeQuantize, is AccumulatorGrid: break
                default: return nil
                }
                i = next
            }
            guard let fc = found, let p = per, fc.inFeatures == channels * p else { return nil }
            linear = fc; columnsPerChannel = p
            // Upstream to the producing convolution, through zero-preserving single-consumer layers.
            var k = start, producer: Conv2d? = nil
            while true {
                let n = graph.nodes[k]
                if let c = n.layer as? Conv2d { producer = c.outChannels == channels && consumers[k].count == 1 ? c : nil; break }
                guard n.layer is ReLU || n.layer is MaxPool2d || n.layer is AvgPool2d || n.layer is FakeQuantize || n.layer is AccumulatorGrid,
                      n.inputs.count == 1, consumers[n.inputs[0]].count == 1 else { break }
                k = n.inputs[0]
            }
            conv = producer
        }

        /// Zeroes the masked channels' weights (and their gradients, so momentum stays zero).
        func apply(_ channels: [Int]) {
            let w = linear.weight, fi = linear.inFeatures, per = columnsPerChannel
            for o in 0..<linear.outFeatures {
                for j in channels {
                    (w.value.data + o * fi + j * per).update(repeating: 0, count: per)
                    (w.grad.data + o * fi + j * per).update(repeating: 0, count: per)
                }
            }
            guard let c = conv else { return }
            let size = c.weight.value.count / c.outChannels
            for j in channels {
                (c.weight.value.data + j * size).update(repeating: 0, count: size)
                (c.weight.grad.data + j * size).update(repeating: 0, count: size)
                if let bias = c.bias { bias.value[j] = 0; bias.grad[j] = 0 }
            }
        }
    }

    /// Fine-tunes a copy with the mask held fixed and returns it at this precision.
    /// - FP32: a copy of the model.
    /// - Deployed (§7 "Gradients"): after the surrogate fidelity gate, the deployed model is rebuilt
    ///   from its own weights and quantization record (identical scales), its fake-quant surrogate
    ///   is trained (latent float weights start at the dequantized deployed weights; activations are
    ///   fake-quantized with the deployed scales frozen, clipped straight-through estimator; the
    ///   surrogate does not fake-quantize weights), then re-quantized with the same PTQ recipe —
    ///   weights rounded anew onto the scheme's grid, activation ranges calibrated on the first
    ///   `calibrationImages` clean training images (the count and percentile the deployment
    ///   recorded; 512 when unknown) — and evaluated on the integer path.
    func fineTune(_ model: ModelUnderTest, mask: [Int], node: String, channels: Int, ft: FineTuning, trainSet: ImageSet,
                  calibrationSource: ImageSet, seed: UInt64, stats: inout FineTuneStats, progress: ProgressReporter) -> Result<ModelUnderTest, FineTuneFailure> {
        guard trainSet.count > 0, ft.epochs > 0 else { return .failure(.init(reason: .noCleanData, detail: "no clean training images")) }
        var deployed: DeployedModel? = nil
        let graph: Model
        do {
            if let d = model.deployed {
                let gate = ModelUnderTest.pixels(calibrationSource, indices: Array(0..<min(FinePruning.fidelityImages, calibrationSource.count)))
                let agreement = model.surrogateAgreement(pixels: gate)
                stats.agreement = agreement
                guard agreement >= ModelUnderTest.surrogateAgreementFloor else {
                    return .failure(.init(reason: .surrogateMismatch, detail: "surrogate/integer agreement \(fmt3(agreement)) < \(ModelUnderTest.surrogateAgreementFloor)"))
                }
                let trainee = try DeployedModel(restoring: try d.deployedBase(), record: d.record)
                deployed = trainee
                graph = trainee.surrogate
            } else {
                graph = try model.model.copy()
            }
        } catch {
            return .failure(.init(reason: .failed, detail: "\(error)"))
        }
        guard let plan = MaskPlan(graph, stage: node, channels: channels) else {
            return .failure(.init(reason: .failed, detail: "no Linear reads \(node) through Flatten/GlobalAvgPool only: the mask cannot be held in the graph"))
        }
        plan.apply(mask)

        // Data: a seeded subset of the clean training images.
        let wanted = min(trainSet.count, max(Int((ft.dataFraction * Double(trainSet.count)).rounded(.up)), ft.minimumImages))
        var rng = SeededRNG(seed: seed, stream: "fine-pruning-finetune-subset")
        let data = trainSet.subset(Array(rng.permutation(trainSet.count).prefix(wanted)).sorted())
        stats.images = data.count
        if let failure = train(graph, plan: plan, mask: mask, data: data, ft: ft, normalization: model.normalization, seed: seed, stats: &stats,
                               progress: { progress.report("fine-pruning[\(model.precision)]: \($0)", force: false) }) {
            return .failure(failure)
        }
        guard let trainee = deployed, let d = model.deployed else {
            return .success(ModelUnderTest(fp32: graph, normalization: model.normalization, classNames: model.classNames))
        }
        // Re-quantize with the same recipe and run on the integer path.
        do {
            let fresh = try DeployedModel(try trainee.deployedBase(), scheme: d.scheme)
            let count = min(d.calibrationImages ?? CheckpointEvaluation.defaultCalibrationImages, calibrationSource.count)
            let calibration = calibrationSource.subset(Array(0..<count))
            fresh.calibrate(Evaluation.batches(calibration, normalization: model.normalization), images: count, percentile: d.calibrationPercentile)
            return .success(ModelUnderTest(deployed: fresh, from: model.model, normalization: model.normalization, classNames: model.classNames))
        } catch {
            return .failure(.init(reason: .failed, detail: "re-quantization: \(error)"))
        }
    }

    /// SGD with momentum and weight decay, cosine schedule, pad-and-crop augmentation; the mask is
    /// re-applied after every backward pass and every step. Returns why it failed, if it did.
    private func train(_ graph: Model, plan: MaskPlan, mask: [Int], data: ImageSet, ft: FineTuning, normalization: Normalization,
                       seed: UInt64, stats: inout FineTuneStats, progress: (String) -> Void) -> FineTuneFailure? {
        let params = graph.parameters
        let sgd = SGD(parameters: params, learningRate: ft.learningRate, momentum: ft.momentum, weightDecay: ft.weightDecay)
        let loss = SoftmaxCrossEntropy()
        let schedule = LearningRateSchedule.cosine(minimum: 0, warmupEpochs: 0)
        let bs = ft.batchSize, steps = (data.count + bs - 1) / bs
        let input = Tensor(shape: [bs, data.channels, data.height, data.width])
        var labels: [Int32] = []
        var augmentRNG = SeededRNG(seed: seed, stream: "fine-pruning-augment")
        let t0 = monotonicSeconds()
        for epoch in 0..<ft.epochs {
            let order = epochOrder(count: data.count, seed: seed ^ 0x4650_4654, epoch: epoch)
            for step in 0..<steps {
                let idx = order[(step * bs)..<min((step + 1) * bs, data.count)]
                input.resize([idx.count, data.channels, data.height, data.width])
                BatchFiller.fill(data, indices: idx, normalization: normalization, augmentation: FinePruning.augmentation,
                                 rng: &augmentRNG, into: input.data, labels: &labels)
                sgd.learningRate = schedule.learningRate(base: ft.learningRate, epoch: epoch, step: step, stepsPerEpoch: steps, totalEpochs: ft.epochs)
                for p in params { p.grad.zero() }
                let l = loss.compute(logits: graph.forward(input, mode: .training), labels: labels)
                guard l.isFinite else { return FineTuneFailure(reason: .nonFinite, detail: "loss \(l) at epoch \(epoch + 1), step \(step + 1)") }
                graph.backward(loss.gradLogits)
                plan.apply(mask)
                var norm = 0.0
                for p in params { let g = p.grad.data; for i in 0..<p.grad.count { norm += Double(abs(g[i])) } }
                guard norm.isFinite else { return FineTuneFailure(reason: .nonFinite, detail: "gradients at epoch \(epoch + 1), step \(step + 1)") }
                guard norm > 0 || epoch > 0 || step > 0 else { return FineTuneFailure(reason: .zeroGradient, detail: "all gradients are exactly zero") }
                sgd.step()
                plan.apply(mask)
            }
            stats.finalLoss = Double(loss.losses.reduce(0, +)) / Double(max(loss.losses.count, 1))
            progress("fine-tuning epoch \(epoch + 1)/\(ft.epochs), \(formatDuration(monotonicSeconds() - t0))")
        }
        for p in params { for i in 0..<p.value.count where !p.value.data[i].isFinite {
            return FineTuneFailure(reason: .nonFinite, detail: "weights after fine-tuning")
        } }
        return nil
    }
}
