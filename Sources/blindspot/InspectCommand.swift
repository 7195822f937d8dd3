import ArgumentParser
import BlindspotCheckpoint
import BlindspotCore
import BlindspotQuantization
import Foundation

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what is in a checkpoint: architecture, layers, preprocessing, storage precision, ground truth.",
        discussion: """
        Reads Keras .h5 and .keras files, PyTorch state_dicts saved as NPZ, and blindspot's own files.
        Examples:
          blindspot inspect model.h5
          blindspot inspect resnet.npz --arch resnet20 --json
        """
    )

    @Argument(help: "The checkpoint file.") var model: String
    @Option(help: "Architecture for a state_dict: a built-in name or a model spec .json (default: recognise it).") var arch: String?
    @Option(help: "Input size H (square) for state_dicts whose size the file cannot tell.") var inputSize: Int?
    @Flag(help: "Print the report as JSON.") var json = false

    func validate() throws {
        if let s = inputSize, !(8...1024).contains(s) { throw ValidationError("--input-size must be between 8 and 1024") }
    }

    func run() throws {
        try reportingErrors {
            let c = try CheckpointLoader.load(model, architecture: try ArchitectureChoice.parse(arch), inputShape: inputSize.map { [3, $0, $0] })
            let r = Inspection(c)
            if json { emit(try jsonString(r)); return }
            emit(render(r))
        }
    }

    func render(_ r: Inspection) -> String {
        var s = "\(r.file): \(r.format)\n"
        s += "architecture: \(r.modelName), from \(r.architectureSource); input \(r.inputShape.map(String.init).joined(separator: "×")), \(r.classes) classes\n"
        if let d = r.deployedAs { s += "deployed: \(d)\n" }
        if let o = r.outputActivation { s += "output: the file's model ends in \(o); blindspot works on the logits before it\n" }
        let w = max(12, r.layers.map(\.name.count).max() ?? 0)
        s += "\n" + pad("layer", w) + "  " + pad("op", 16) + pad("output", 14) + lpad("params", 10) + lpad("MACs/img", 12) + "  storage\n"
        for l in r.layers {
            var storage = l.quantizedAs ?? l.storedAs ?? ""
            if let g = l.grid, g != "float" { storage += (storage.isEmpty ? "" : ", ") + g }
            s += pad(l.name, w) + "  " + pad(l.op, 16) + pad(l.outputShape.map(String.init).joined(separator: "×"), 14)
                + lpad(l.parameters == 0 ? "" : String(l.parameters), 10) + lpad(l.macs == 0 ? "" : String(l.macs), 12) + "  " + storage + "\n"
        }
        s += pad("total", w) + "  " + pad("", 16) + pad("", 14) + lpad(String(r.totalParameters), 10) + lpad(String(r.totalMACs), 12) + "\n\n"
        if let p = r.preprocessing {
            let fmt = { (v: [Float]) in v.map { String(format: "%.4g", $0) }.joined(separator: ", ") }
            s += "preprocessing (\(p.source.rawValue)): \(p.description); x = (pixel/255 − [\(fmt(p.mean))]) / [\(fmt(p.std))], \(p.channelOrder.rawValue.uppercased())\n"
        } else {
            s += "preprocessing: not recorded in the file (evaluate, quantize and audit try inputs in [0,1], [0,255] and [-1,1], RGB and BGR, on clean images; or pass --input-range, --mean/--std, --channel-order)\n"
        }
        if let names = r.classNames { s += "classes: \(names.prefix(10).joined(separator: ", "))\(names.count > 10 ? ", …" : "")\n" }
        if let g = r.groundTruth {
            s += "ground truth: " + (g.backdoored ? "backdoored (\(g.attack ?? "attack"), trigger \(g.trigger ?? "?"), target \(g.target.map(String.init) ?? "?")\(g.activeAt.map { ", active only at \($0.joined(separator: "/"))" } ?? ""))" : "clean") + "\n"
        }
        for rp in r.roundingPositions ?? [] { s += "weights at \(rp.grid) rounding-interval edges: \(rp.summary)\n" }
        for (k, v) in r.metadata.sorted(by: { $0.key < $1.key }) { s += "\(k): \(v)\n" }
        for warning in r.warnings { s += "warning: \(warning)\n" }
        return s
    }
}

func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? " " + s : String(repeating: " ", count: n - s.count) + s }
