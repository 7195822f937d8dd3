import BlindspotEngine
import _BlindspotKernels
import Foundation

/// A static-scheme deployed model compiled for the integer runtime: activations stay uint8 codes
/// in channels-last (HWC) buffers from one quantized layer to the next, and each conv/linear
/// requantizes inside its GEMM's output loop, as INT8 runtimes do (Jacob et al. 2018, §2.2–2.4;
/// FBGEMM/oneDNN fuse "requantize + ReLU" into the GEMM output pipeline).
///
/// It computes exactly what `DeployedModel`'s node-by-node reference path computes — the same
/// codes, the same floats, bit for bit — because every fusion it makes is exact:
/// - FakeQuantize's rounding q(v) = clamp(round(v/s) + z) is monotone, so it commutes with ReLU
///   (q(max(v, 0)) = max(q(v), z)) and with max-pooling (q(max vᵢ) = max q(vᵢ));
///   a conv → [ReLU | max-pool | flatten | dropout]* → FakeQuantize chain therefore becomes one
///   GEMM whose output loop writes q(v) (with max(·, z) for the ReLU), then pooling on codes;
/// - a flatten before a Linear reads HWC codes, so the Linear's weight columns are permuted once;
/// - every remaining float operation (a residual addition, global average pooling, the logits)
///   is the reference's own operation on the same values in the same order.
/// Graphs it cannot compile (dynamic activations, BatchNorm left unfolded, average pooling, a
/// flattened image read by anything but a quantized Linear) run on the reference path instead.
final class IntegerProgram: @unchecked Sendable {
    /// Images per step inside a worker: big enough for the Linear GEMMs, small enough that one
    /// image's activations stay in cache from one layer to the next.
    static let preferredChunk = 16
    /// A worker's buffers hold every value for `chunk` images; large inputs get fewer images per
    /// chunk so that they stay under this many bytes (one image at least).
    static let arenaBudget = 256 << 20
    /// Images per chunk for this program.
    private var chunk = IntegerProgram.preferredChunk

    enum Storage { case codes(QuantMath.Affine), float }

    /// One intermediate tensor per image: `count` elements in HWC order (`h·w·c`; 1-D tensors
    /// have h = w = 1). `flattened` marks a flatten of an image whose HWC order differs from the
    /// CHW order a Linear's weights expect.
    struct Value {
        var storage: Storage
        var c: Int, h: Int, w: Int
        var flattened: Bool = false
        var count: Int { c * h * w }
        var bytes: Int { if case .codes = storage { return count } else { return count * 4 } }
    }

    /// A quantized conv or linear layer with its integer weights and its requantization.
    struct Gemm {
        var weights: [Int8]          // [OUT × K], K in (ky, kx, c) order for convolutions
        var packed: [Int8]           // the same packed for the VNNI kernel (empty without VNNI)
        var offset: [Int32], mult: [Float]
        var outChannels: Int, k: Int
        // Convolution geometry (nil for Linear).
        /// Input padding is the input's zero-point code `pad`.
        var conv: (kh: Int, kw: Int, sh: Int, sw: Int, pt: Int, pl: Int, oh: Int, ow: Int, pad: UInt8)?
        var relu: Bool
        var outCodes: QuantMath.Affine?   // nil: float output
    }

    enum Step {
        case quantizeInput(out: Int, QuantMath.Affine)   // the CHW input tensor → codes
        case inputToHWC(out: Int)                        // the CHW input tensor → float HWC
        case gemm(input: Int, out: Int, Gemm)
        case quantize(input: Int, out: Int, QuantMath.Affine)
        case requantize(input: Int, out: Int, table: [UInt8])
        case dequantize(input: Int, out: Int)
        case reluCodes(input: Int, out: Int)
        case reluFloat(input: Int, out: Int)
        case maxPool(input: Int, out: Int, kernel: Int, stride: Int)
        case add(a: Int, b: Int, out: Int)
        /// Add → [ReLU] → FakeQuantize in one pass.
        case addRequantize(a: Int, b: Int, out: Int, relu: Bool)
        case globalAvgPool(input: Int, out: Int)
    }

    private(set) var values: [Value] = []
    private(set) var steps: [Step] = []
    /// Surrogate node index → the value holding its output.
    private var valueOf: [Int: Int] = [:]
    private var output = 0
    private var captures: [(node: Int, name: String, shape: [Int])] = []
    private var inputShape: [Int] = []
    private var outputShape: [Int] = []
    private var arenas: [Arena] = []
    private let lock = NSLock()

    /// Compiles `model` (a DeployedModel's surrogate) from node `start` (0 = the input) with the
    /// outputs of `capture` kept; nil when the graph has something the program does not run.
    init?(model: Model, start: Int, capture: Set<String>, weights: (String) -> (q: [Int8], hwc: [Int8]?, rowSums: [Int32], scales: [Float])?) {
        let nodes = model.nodes
        var consumers: [Int: [Int]] = [:]
        for (i, n) in nodes.enumerated() where i > start { for j in n.inputs { consumers[j, default: []].append(i) } }
        let captured = Set(nodes.indices.filter { capture.contains(nodes[$0].name) })
        inputShape = model.shapes[start]

        func addValue(_ v: Value) -> Int { values.append(v); return values.count - 1 }
        func shape(_ i: Int) -> (c: Int, h: Int, w: Int) {
            let s = model.shapes[i]
            return s.count == 3 ? (s[0], s[1], s[2]) : (s.reduce(1, *), 1, 1)
        }
        let vnni = String(cString: bs_int8_kernel_name()) == "avx512-vnni"

        // The start node's value is the caller's CHW tensor; materialised lazily.
        var inputHWC: Int?
        func inputValue() -> Int {
            if let v = inputHWC { return v }
            let (c, h, w) = shape(start)
            let v = addValue(Value(storage: .float, c: c, h: h, w: w))
            steps.append(.inputToHWC(out: v))
            inputHWC = v
            return v
        }
        func value(of node: Int) -> Int? { node == start ? inputValue() : valueOf[node] }
        /// The float version of a value (dequantizing codes into a new value).
        func floatValue(_ v: Int) -> Int {
            guard case .codes = values[v].storage else { return v }
            var f = values[v]; f.storage = .float
            let o = addValue(f)
            steps.append(.dequantize(input: v, out: o))
            return o
        }
        func single(_ i: Int) -> Int? { (consumers[i] ?? []).count == 1 ? consumers[i]![0] : nil }

        var fusedInto: Set<Int> = []   // chain nodes whose output a fused GEMM produced
        for i in (start + 1)..<nodes.count where !fusedInto.contains(i) {
            let node = nodes[i], layer = node.layer
            switch layer {
            case let fq as FakeQuantize:
                guard !fq.dynamic, let p = fq.params else { return nil }
                if node.inputs[0] == start {
                    let (c, h, w) = shape(start)
                    let v = addValue(Value(storage: .codes(p), c: c, h: h, w: w))
                    steps.append(.quantizeInput(out: v, p))
                    valueOf[i] = v
                    continue
                }
                guard let src = value(of: node.inputs[0]) else { return nil }
                var out = values[src]; out.storage = .codes(p)
                switch values[src].storage {
                case .float:
                    valueOf[i] = addValue(out)
                    steps.append(.quantize(input: src, out: valueOf[i]!, p))
                case .codes(let q) where q == p:
                    valueOf[i] = src
                case .codes(let q):
                    // Each input code's real value, rounded onto the new grid: a table of 256.
                    let table = (0...255).map { UInt8(clamping: p.quantize(Float(Int32($0) - q.zeroPoint) * q.scale)) }
                    valueOf[i] = addValue(out)
                    steps.append(.requantize(input: src, out: valueOf[i]!, table: table))
                }
            case is Conv2d, is Linear:
                // Quantized layers read their FakeQuantize's codes.
                guard let src = value(of: node.inputs[0]), case .codes(let p) = values[src].storage,
                      let (q, hwc, rowSums, scales) = weights(node.name) else { return nil }
                let (offset, mult) = DeployedModel.requantization(scales.count, p, rowSums, scales,
                                                                  (layer as? Conv2d)?.bias ?? (layer as? Linear)?.bias)
                var g = Gemm(weights: [], packed: [], offset: offset, mult: mult, outChannels: scales.count, k: 0, conv: nil, relu: false, outCodes: nil)
                if let conv = layer as? Conv2d {
                    guard !values[src].flattened, let hwc else { return nil }
                    let (_, oh, ow) = shape(i)
                    g.weights = hwc
                    g.k = conv.inChannels * conv.kernel.h * conv.kernel.w
                    g.conv = (conv.kernel.h, conv.kernel.w, conv.stride.h, conv.stride.w, conv.padding.top, conv.padding.left, oh, ow, UInt8(clamping: p.zeroPoint))
                } else {
                    let v = values[src]
                    g.k = v.count
                    g.weights = v.flattened && v.h * v.w > 1 ? IntegerProgram.columnsToHWC(q, rows: scales.count, c: v.c, h: v.h, w: v.w) : q
                }
                if vnni {
                    g.packed = [Int8](repeating: 0, count: bs_qgemm_packed_size(Int32(g.outChannels), Int32(g.k)))
                    bs_qgemm_pack(Int32(g.outChannels), Int32(g.k), g.weights, g.k, &g.packed)
                }
                // Fusion: a chain of single-consumer ReLU / max-pool / flatten / dropout nodes
                // (none captured) ending in a FakeQuantize becomes codes written by the GEMM.
                var chain: [Int] = [], j = i, fq: Int?
                if !captured.contains(i) {
                    while let next = single(j) {
                        let l = nodes[next].layer
                        if let f = l as? FakeQuantize, !f.dynamic, f.params != nil { fq = next; break }
                        guard l is ReLU || l is MaxPool2d || l is Flatten || l is Dropout, !captured.contains(next) else { break }
                        chain.append(next); j = next
                    }
                }
                let (oc, oh, ow) = shape(i)
                if let fq, let p = (nodes[fq].layer as? FakeQuantize)?.params {
                    g.relu = chain.contains { nodes[$0].layer is ReLU }
                    g.outCodes = p
                    var v = addValue(Value(storage: .codes(p), c: oc, h: oh, w: ow))
                    steps.append(.gemm(input: src, out: v, g))
                    for n in chain {
                        if let pool = nodes[n].layer as? MaxPool2d {
                            let (c, h, w) = shape(n)
                            let o = addValue(Value(storage: .codes(p), c: c, h: h, w: w))
                            steps.append(.maxPool(input: v, out: o, kernel: pool.kernel, stride: pool.stride))
                            v = o
                        } else if nodes[n].layer is Flatten, values[v].h * values[v].w > 1 {
                            values[v].flattened = true
                        }
                        fusedInto.insert(n)
                    }
                    fusedInto.insert(fq)
                    valueOf[fq] = v
                } else if !captured.contains(i), let r = single(i), nodes[r].layer is ReLU {
                    g.relu = true
                    valueOf[r] = addValue(Value(storage: .float, c: oc, h: oh, w: ow))
                    steps.append(.gemm(input: src, out: valueOf[r]!, g))
                    fusedInto.insert(r)
                } else {
                    valueOf[i] = addValue(Value(storage: .float, c: oc, h: oh, w: ow))
                    steps.append(.gemm(input: src, out: valueOf[i]!, g))
                }
            case is ReLU:
                guard let src = value(of: node.inputs[0]) else { return nil }
                valueOf[i] = addValue(values[src])
                if case .codes = values[src].storage { steps.append(.reluCodes(input: src, out: valueOf[i]!)) }
                else { steps.append(.reluFloat(input: src, out: valueOf[i]!)) }
            case let pool as MaxPool2d:
                guard let src = value(of: node.inputs[0]), !values[src].flattened else { return nil }
                var v = values[src]
                (v.c, v.h, v.w) = shape(i)
                valueOf[i] = addValue(v)
                steps.append(.maxPool(input: src, out: valueOf[i]!, kernel: pool.kernel, stride: pool.stride))
            case is Flatten, is Dropout:
                guard let src = value(of: node.inputs[0]) else { return nil }
                if layer is Flatten, values[src].h * values[src].w > 1 { values[src].flattened = true }
                valueOf[i] = src
            case is Add:
                guard let a = value(of: node.inputs[0]), let b = value(of: node.inputs[1]),
                      !values[a].flattened, !values[b].flattened else { return nil }
                // Add → [ReLU] → FakeQuantize, none of them but the last captured: one pass.
                var next = single(i), relu = false
                if let r = next, nodes[r].layer is ReLU, !captured.contains(r) { relu = true; next = single(r) }
                if !captured.contains(i), let f = next, let fq = nodes[f].layer as? FakeQuantize, !fq.dynamic, let p = fq.params {
                    var v = values[a]; v.storage = .codes(p)
                    valueOf[f] = addValue(v)
                    steps.append(.addRequantize(a: a, b: b, out: valueOf[f]!, relu: relu))
                    fusedInto.insert(f)
                    if relu { fusedInto.insert(single(i)!) }
                    continue
                }
                let (fa, fb) = (floatValue(a), floatValue(b))
                var v = values[fa]; v.storage = .float
                valueOf[i] = addValue(v)
                steps.append(.add(a: fa, b: fb, out: valueOf[i]!))
            case is GlobalAvgPool2d:
                guard let src = value(of: node.inputs[0]), !values[src].flattened else { return nil }
                let f = floatValue(src)
                valueOf[i] = addValue(Value(storage: .float, c: values[f].c, h: 1, w: 1))
                steps.append(.globalAvgPool(input: f, out: valueOf[i]!))
            default:
                return nil
            }
        }
        // A flattened image is only readable by a quantized Linear (whose columns were permuted).
        for (i, v) in valueOf where values[v].flattened {
            let readers = consumers[i] ?? []
            if i == nodes.count - 1 || captured.contains(i)
                || !readers.allSatisfy({ fusedInto.contains($0) || nodes[$0].layer is FakeQuantize || nodes[$0].layer is Dropout || nodes[$0].layer is Linear }) {
                return nil
            }
        }
        guard let out = valueOf[nodes.count - 1] else { return nil }
        output = out
        outputShape = model.outputShape
        var caps: [(Int, String, [Int])] = []
        for i in captured.sorted() where i > start {
            guard valueOf[i] != nil else { return nil }
            caps.append((i, nodes[i].name, model.shapes[i]))
        }
        captures = caps
        let perImage = values.reduce(0) { $0 + $1.bytes }
        chunk = max(1, min(IntegerProgram.preferredChunk, IntegerProgram.arenaBudget / max(1, perImage)))
    }

    /// Linear weights [rows × (c·h·w)] with columns in CHW order, reordered to HWC.
    static func columnsToHWC(_ q: [Int8], rows: Int, c: Int, h: Int, w: Int) -> [Int8] {
        let k = c * h * w
        var out = [Int8](repeating: 0, count: q.count)
        for r in 0..<rows {
            for ch in 0..<c { for y in 0..<h { for x in 0..<w {
                out[r * k + (y * w + x) * c + ch] = q[r * k + (ch * h + y) * w + x]
            } } }
        }
        return out
    }

    /// Per-worker buffers: one per value (chunk images each), plus scratch.
    final class Arena {
        var buffers: [UnsafeMutableRawPointer]
        var rows: UnsafeMutablePointer<UInt8>
        var acc: UnsafeMutablePointer<Int32>
        /// hw floats for global pooling, or one image of any value for `export`.
        var plane: UnsafeMutablePointer<Float>

        init(values: [Value], steps: [Step], chunk: Int) {
            buffers = values.map { UnsafeMutableRawPointer.allocate(byteCount: max(1, $0.bytes * chunk), alignment: 64) }
            var rowBytes = 1, accCount = 1, planeCount = values.map(\.count).max() ?? 1
            for s in steps {
                switch s {
                case .gemm(_, _, let g):
                    if let c = g.conv { rowBytes = max(rowBytes, c.oh * c.ow * g.k); accCount = max(accCount, c.oh * c.ow * g.outChannels) }
                    else { accCount = max(accCount, chunk * g.outChannels) }
                case .globalAvgPool(let input, _): planeCount = max(planeCount, values[input].h * values[input].w)
                default: break
                }
            }
            rows = .allocate(capacity: rowBytes)
            acc = .allocate(capacity: accCount)
            plane = .allocate(capacity: planeCount)
        }

        deinit {
            for b in buffers { b.deallocate() }
            rows.deallocate(); acc.deallocate(); plane.deallocate()
        }
    }

    /// Runs the program on x [N, …] (the start node's output, CHW): the last node's output and
    /// the captured nodes' outputs, as the reference path returns them (CHW, dequantized).
    func run(_ x: Tensor) -> (logits: Tensor, activations: [String: Tensor]) {
        lock.lock(); defer { lock.unlock() }
        let n = x.batch
        let logits = Tensor(shape: [n] + outputShape)
        var captured: [String: Tensor] = [:]
        for (_, name, shape) in captures { captured[name] = Tensor(shape: [n] + shape) }
        let workers = max(1, min(Parallel.workers, n))
        while arenas.count < workers { arenas.append(Arena(values: values, steps: steps, chunk: chunk)) }
        let capturedList = captures.map { ($0.node, captured[$0.name]!) }
        Parallel.forSlices(n) { worker, range in
            let arena = self.arenas[worker]
            var first = range.lowerBound
            while first < range.upperBound {
                let count = min(self.chunk, range.upperBound - first)
                self.execute(x, first: first, count: count, arena: arena)
                self.export(self.output, arena: arena, first: first, count: count, into: logits)
                for (node, t) in capturedList { self.export(self.valueOf[node]!, arena: arena, first: first, count: count, into: t) }
                first += count
            }
        }
        return (logits, captured)
    }

    /// Copies `count` images of value `v` into rows first… of `t` (CHW, floats).
    private func export(_ v: Int, arena: Arena, first: Int, count: Int, into t: Tensor) {
        let value = values[v], per = value.count, hw = value.h * value.w, scratch = arena.plane
        for img in 0..<count {
            let dst = t.data + (first + img) * per
            let src = arena.buffers[v] + img * value.bytes
            let floats: UnsafePointer<Float>
            if case .codes(let p) = value.storage {
                bs_q_dequantize(src.assumingMemoryBound(to: UInt8.self), per, p.scale, p.zeroPoint, scratch)
                floats = UnsafePointer(scratch)
            } else {
                floats = UnsafePointer(src.assumingMemoryBound(to: Float.self))
            }
            if hw == 1 { dst.update(from: floats, count: per) } else { bs_q_hwc_to_chw(floats, Int32(value.c), Int32(hw), dst) }
        }
    }

    private func execute(_ x: Tensor, first: Int, count: Int, arena: Arena) {
        let (ic, ih, iw) = inputShape.count == 3 ? (inputShape[0], inputShape[1], inputShape[2]) : (inputShape.reduce(1, *), 1, 1)
        let inPer = ic * ih * iw
        func codes(_ v: Int, _ img: Int) -> UnsafeMutablePointer<UInt8> {
            (arena.buffers[v] + img * values[v].bytes).assumingMemoryBound(to: UInt8.self)
        }
        func floats(_ v: Int, _ img: Int) -> UnsafeMutablePointer<Float> {
            (arena.buffers[v] + img * values[v].bytes).assumingMemoryBound(to: Float.self)
        }
        for step in steps {
            switch step {
            case .quantizeInput(let out, let p):
                for img in 0..<count {
                    bs_q_quantize_chw(x.data + (first + img) * inPer, Int32(ic), Int32(ih), Int32(iw), p.scale, p.zeroPoint, p.qmin, p.qmax, codes(out, img))
                }
            case .inputToHWC(let out):
                for img in 0..<count { bs_q_chw_to_hwc(x.data + (first + img) * inPer, Int32(ic), Int32(ih * iw), floats(out, img)) }
            case .gemm(let input, let out, let g):
                runGemm(g, input: input, out: out, count: count, arena: arena)
            case .quantize(let input, let out, let p):
                bs_q_quantize(floats(input, 0), count * values[input].count, p.scale, p.zeroPoint, p.qmin, p.qmax, codes(out, 0))
            case .requantize(let input, let out, let table):
                bs_q_lookup(codes(input, 0), count * values[input].count, table, codes(out, 0))
            case .dequantize(let input, let out):
                guard case .codes(let p) = values[input].storage else { continue }
                bs_q_dequantize(codes(input, 0), count * values[input].count, p.scale, p.zeroPoint, floats(out, 0))
            case .reluCodes(let input, let out):
                guard case .codes(let p) = values[input].storage else { continue }
                let n = count * values[input].count
                codes(out, 0).update(from: codes(input, 0), count: n)
                bs_q_relu_codes(codes(out, 0), n, UInt8(clamping: p.zeroPoint))
            case .reluFloat(let input, let out):
                let n = count * values[input].count
                floats(out, 0).update(from: floats(input, 0), count: n)
                bs_q_relu_float(floats(out, 0), n)
            case .maxPool(let input, let out, let kernel, let stride):
                let v = values[input]
                for img in 0..<count {
                    if case .codes = v.storage {
                        bs_q_maxpool_codes(codes(input, img), Int32(v.c), Int32(v.h), Int32(v.w), Int32(kernel), Int32(stride), codes(out, img))
                    } else {
                        bs_q_maxpool_float(floats(input, img), Int32(v.c), Int32(v.h), Int32(v.w), Int32(kernel), Int32(stride), floats(out, img))
                    }
                }
            case .add(let a, let b, let out):
                bs_q_add_float(floats(a, 0), floats(b, 0), count * values[a].count, floats(out, 0))
            case .addRequantize(let a, let b, let out, let relu):
                func operand(_ v: Int) -> (Int32, Float, Int32) {
                    if case .codes(let p) = values[v].storage { return (1, p.scale, p.zeroPoint) }
                    return (0, 1, 0)
                }
                guard case .codes(let p) = values[out].storage else { continue }
                let (ac, sa, za) = operand(a), (bc, sb, zb) = operand(b)
                bs_q_add_requant(arena.buffers[a], ac, sa, za, arena.buffers[b], bc, sb, zb, count * values[a].count, relu ? 1 : 0,
                                 p.scale, p.zeroPoint, p.qmin, p.qmax, codes(out, 0))
            case .globalAvgPool(let input, let out):
                let v = values[input]
                for img in 0..<count { bs_q_global_avgpool(floats(input, img), Int32(v.c), Int32(v.h * v.w), arena.plane, floats(out, img)) }
            }
        }
    }

    private func runGemm(_ g: Gemm, input: Int, out: Int, count: Int, arena: Arena) {
        let src = values[input], dst = values[out]
        // The epilogue holds pointers to the per-channel requantization; the weights go to the C
        // call as arrays (`packed` is empty without VNNI, where the kernel that reads it never runs).
        g.offset.withUnsafeBufferPointer { off in
            g.mult.withUnsafeBufferPointer { mult in
                var e = bs_qepilogue(offset: off.baseAddress, mult: mult.baseAddress, mode: Int32(BS_QOUT_FLOAT), relu: g.relu ? 1 : 0,
                                     out_scale: 1, out_zero_point: 0, out_qmin: 0, out_qmax: 255, out: nil, ldo: g.outChannels)
                if let p = g.outCodes {
                    (e.mode, e.out_scale, e.out_zero_point, e.out_qmin, e.out_qmax) = (Int32(BS_QOUT_CODES), p.scale, p.zeroPoint, p.qmin, p.qmax)
                }
                guard let c = g.conv else {
                    // Linear: one GEMM over the chunk's images.
                    e.out = arena.buffers[out]
                    bs_qgemm_fused(Int32(count), Int32(g.outChannels), Int32(g.k), arena.buffers[input].assumingMemoryBound(to: UInt8.self), g.k,
                                   g.weights, g.k, g.packed, arena.acc, &e)
                    return
                }
                let direct = c.kh == 1 && c.kw == 1 && c.sh == 1 && c.sw == 1 && c.pt == 0 && c.pl == 0
                for img in 0..<count {
                    let codes = (arena.buffers[input] + img * src.bytes).assumingMemoryBound(to: UInt8.self)
                    if !direct {
                        // Padding is the code z, i.e. real 0, as the reference path pads.
                        bs_im2row_hwc_u8(codes, Int32(src.c), Int32(src.h), Int32(src.w), Int32(c.kh), Int32(c.kw), Int32(c.sh), Int32(c.sw),
                                         Int32(c.pt), Int32(c.pl), Int32(c.oh), Int32(c.ow), c.pad, arena.rows)
                    }
                    e.out = arena.buffers[out] + img * dst.bytes
                    bs_qgemm_fused(Int32(c.oh * c.ow), Int32(g.outChannels), Int32(g.k), direct ? codes : arena.rows, g.k,
                                   g.weights, g.k, g.packed, arena.acc, &e)
                }
            }
        }
    }
}
