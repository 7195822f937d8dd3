import BlindspotCore
import Foundation

/// numpy's `.npy` format (versions 1.0, 2.0 and 3.0): the magic `\x93NUMPY`, a version, a header
/// length, a Python-literal header dict padded with spaces to a 64-byte boundary and ended by `\n`,
/// then the raw elements. Reading never evaluates or unpickles anything: object, structured, string,
/// complex and datetime arrays are refused with a message saying how to re-save them.
public enum NPY {
    /// Largest header accepted. numpy's own `np.load` stops at 10,000 bytes by default.
    public static let maxHeaderSize = 65_536

    /// Reads a `.npy` file.
    public static func read(path: String) throws -> NPYArray {
        let bytes = try ZipFileIO.readAll(path: path)
        return try parse(bytes, file: path)
    }

    public static func parse(_ bytes: [UInt8], file: String) throws -> NPYArray {
        try bytes.withUnsafeBytes { try parse($0, file: file) }
    }

    /// Parses one `.npy` image; `file` names it in errors (e.g. `model.npz:conv1.weight.npy`).
    /// The result is C order, little endian; the element bytes are copied once.
    public static func parse(_ raw: UnsafeRawBufferPointer, file: String) throws -> NPYArray {
        func bad(_ problem: String) -> BlindspotError { .badInput(file: file, problem: problem) }
        let magic: [UInt8] = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]  // \x93NUMPY
        guard raw.count >= 6, raw.prefix(6).elementsEqual(magic) else {
            if raw.first == 0x80 { throw bad(NPZ.pickledPyTorchProblem) }
            if raw.starts(with: [0x50, 0x4b]) { throw bad("is a zip archive (.npz), not a single .npy array (read it as an .npz)") }
            throw bad("not a .npy file (no \\x93NUMPY magic; save arrays with np.save or np.savez)")
        }
        guard raw.count >= 10 else { throw bad("truncated .npy header (\(raw.count) bytes; re-save the array with np.save)") }
        let major = raw[6], minor = raw[7]
        let lengthBytes: Int
        switch (major, minor) {
        case (1, 0): lengthBytes = 2
        case (2, 0), (3, 0): lengthBytes = 4
        default: throw bad("unsupported .npy format version \(major).\(minor) (blindspot reads 1.0, 2.0 and 3.0; re-save with np.save)")
        }
        guard raw.count >= 8 + lengthBytes else { throw bad("truncated .npy header (re-save the array with np.save)") }
        var headerLength = 0
        for i in 0 ..< lengthBytes { headerLength |= Int(raw[8 + i]) << (8 * i) }
        let headerStart = 8 + lengthBytes
        guard headerLength <= maxHeaderSize else {
            throw bad(".npy header declares \(headerLength) bytes, more than the \(maxHeaderSize) allowed (corrupt or hostile file)")
        }
        guard headerLength <= raw.count - headerStart else {
            throw bad("truncated .npy header (\(raw.count - headerStart) of \(headerLength) bytes; re-save the array with np.save)")
        }
        let header = try NPYHeaderParser.parse(UnsafeRawBufferPointer(rebasing: raw[headerStart ..< headerStart + headerLength]), file: file)
        let payload = UnsafeRawBufferPointer(rebasing: raw[(headerStart + headerLength)...])
        return try array(header, payload, file: file)
    }

    /// Checks the element count against the bytes present, then converts to little-endian C order.
    private static func array(_ h: NPYHeader, _ payload: UnsafeRawBufferPointer, file: String) throws -> NPYArray {
        let shapeText = "(" + h.shape.map(String.init).joined(separator: ", ") + (h.shape.count == 1 ? ",)" : ")")
        guard let byteCount = NPYArray.byteCount(shape: h.shape, itemSize: h.dtype.itemSize) else {
            throw BlindspotError.badInput(file: file, problem: "shape \(shapeText) has more elements than can be represented (corrupt or hostile file)")
        }
        guard payload.count == byteCount else {
            let elements = byteCount / h.dtype.itemSize
            throw BlindspotError.badInput(file: file, problem: "shape \(shapeText) of \(h.dtype.numpyName) declares \(elements) elements but holds \(payload.count) bytes (\(byteCount) expected; truncated or corrupt, re-save with np.save)")
        }
        var data = [UInt8](payload)
        if h.bigEndian && h.dtype.itemSize > 1 { byteSwap(&data, itemSize: h.dtype.itemSize) }
        if h.fortranOrder && h.shape.count > 1 && byteCount > 0 {
            data = fortranToC(data, shape: h.shape, itemSize: h.dtype.itemSize)
        }
        return NPYArray(dtype: h.dtype, shape: h.shape, data: data)
    }

    /// Reverses the bytes of every element in place.
    static func byteSwap(_ data: inout [UInt8], itemSize: Int) {
        func swap<T: FixedWidthInteger>(_: T.Type, _ buf: UnsafeMutableRawBufferPointer) {
            for i in stride(from: 0, to: buf.count, by: MemoryLayout<T>.size) {
                buf.storeBytes(of: buf.loadUnaligned(fromByteOffset: i, as: T.self).byteSwapped, toByteOffset: i, as: T.self)
            }
        }
        data.withUnsafeMutableBytes { buf in
            switch itemSize {
            case 2: swap(UInt16.self, buf)
            case 4: swap(UInt32.self, buf)
            case 8: swap(UInt64.self, buf)
            default: preconditionFailure("NPY.byteSwap: item size \(itemSize)")
            }
        }
    }

    /// Reorders column-major (Fortran) elements into row-major (C) order. In Fortran order the
    /// first index varies fastest: element (i₀, …, iₖ) sits at Σ iⱼ·sⱼ with s₀ = 1, sⱼ = sⱼ₋₁·dⱼ₋₁.
    static func fortranToC(_ src: [UInt8], shape: [Int], itemSize: Int) -> [UInt8] {
        let rank = shape.count
        var stride = [Int](repeating: 1, count: rank)
        for j in 1 ..< rank { stride[j] = stride[j - 1] * shape[j - 1] }
        let inner = shape[rank - 1], innerStride = stride[rank - 1]
        var index = [Int](repeating: 0, count: rank)
        return src.withUnsafeBytes { s in
            [UInt8](unsafeUninitializedCapacity: src.count) { out, initialized in
                let o = UnsafeMutableRawPointer(out.baseAddress!)
                var written = 0, from = 0
                while written < src.count {
                    for t in 0 ..< inner {
                        memcpy(o + written + t * itemSize, s.baseAddress! + (from + t * innerStride) * itemSize, itemSize)
                    }
                    written += inner * itemSize
                    var j = rank - 2  // odometer over the outer dimensions, last fastest
                    while j >= 0 {
                        index[j] += 1
                        from += stride[j]
                        if index[j] < shape[j] { break }
                        from -= stride[j] * shape[j]
                        index[j] = 0
                        j -= 1
                    }
                }
                initialized = src.count
            }
        }
    }

    /// A `.npy` image numpy reads: version 1.0 (2.0 if the header needs it), little-endian descr,
    /// `fortran_order: False`, header padded with spaces so the data starts at a multiple of 64.
    public static func serialize(_ array: NPYArray) -> [UInt8] {
        header(array) + array.data
    }

    /// Everything before the elements.
    static func header(_ array: NPYArray) -> [UInt8] {
        let order = array.dtype.itemSize == 1 ? "|" : "<"
        let shape = "(" + array.shape.map(String.init).joined(separator: ", ") + (array.shape.count == 1 ? ",)" : ")")
        var dict = Array("{'descr': '\(order)\(array.dtype.rawValue)', 'fortran_order': False, 'shape': \(shape), }".utf8)
        let version: UInt8 = 10 + dict.count + 1 > 65_535 ? 2 : 1
        let prefix = version == 1 ? 10 : 12
        let padding = (64 - (prefix + dict.count + 1) % 64) % 64
        dict += [UInt8](repeating: 0x20, count: padding) + [0x0a]
        var out: [UInt8] = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]
        for i in 0 ..< (prefix - 8) { out.append(UInt8(truncatingIfNeeded: dict.count >> (8 * i))) }
        return out + dict
    }
}
