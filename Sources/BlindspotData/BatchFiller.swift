import BlindspotCore

/// Turns uint8 images into normalised float NCHW batches, the one place pixels become model inputs.
public enum BatchFiller {
    /// Writes `set`'s images at `indices` into `out` (indices.count × C × H × W floats, NCHW),
    /// normalised by `normalization`; with `augmentation`, each image is randomly shifted (zero
    /// padding) and flipped using `rng` (draw order documented on `Augmentation`). `labels` becomes
    /// the matching labels (resized to indices.count).
    public static func fill(_ set: ImageSet, indices: ArraySlice<Int>, normalization: Normalization,
                            augmentation: Augmentation?, rng: inout SeededRNG,
                            into out: UnsafeMutablePointer<Float>, labels: inout [Int32]) {
        let c = set.channels, h = set.height, w = set.width, plane = h * w, size = set.imageSize
        let table = normalization.lookupTable(channels: c)
        labels.removeAll(keepingCapacity: true)
        labels.reserveCapacity(indices.count)
        set.images.withUnsafeBufferPointer { pixels in
            table.withUnsafeBufferPointer { lut in
                for (k, i) in indices.enumerated() {
                    precondition(i >= 0 && i < set.count, "batch index \(i) out of 0..<\(set.count) in \(set.name)")
                    labels.append(set.labels[i])
                    let src = pixels.baseAddress! + i * size
                    let dst = out + k * size
                    if let aug = augmentation {
                        let pad = aug.padding
                        let oy = rng.int(below: 2 * pad + 1) - pad
                        let ox = rng.int(below: 2 * pad + 1) - pad
                        let flip = aug.horizontalFlip && (rng.next() >> 63) == 1
                        for ch in 0..<c {
                            shifted(src + ch * plane, dst + ch * plane, h: h, w: w, dy: oy, dx: ox,
                                    flip: flip, lut: lut.baseAddress! + ch * 256)
                        }
                    } else {
                        for ch in 0..<c {
                            let s = src + ch * plane, d = dst + ch * plane, t = lut.baseAddress! + ch * 256
                            for p in 0..<plane { d[p] = t[Int(s[p])] }
                        }
                    }
                }
            }
        }
    }

    /// One channel: out[y][x] = in[y+dy][x'+dx] with x' = (flip ? w−1−x : x); outside → lut[0].
    @inline(__always)
    private static func shifted(_ src: UnsafePointer<UInt8>, _ dst: UnsafeMutablePointer<Float>,
                                h: Int, w: Int, dy: Int, dx: Int, flip: Bool, lut: UnsafePointer<Float>) {
        let zero = lut[0]
        for y in 0..<h {
            let row = dst + y * w
            let sy = y + dy
            guard sy >= 0 && sy < h else {
                row.update(repeating: zero, count: w)
                continue
            }
            let srow = src + sy * w
            for x in 0..<w {
                let sx = (flip ? w - 1 - x : x) + dx
                row[x] = (sx >= 0 && sx < w) ? lut[Int(srow[sx])] : zero
            }
        }
    }
}
