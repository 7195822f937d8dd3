import BlindspotCore
import Foundation

/// A dense array read from or written to `.npy`: its dtype, its shape, and its elements as bytes in
/// C order, little endian, `dtype.itemSize` bytes each. `NPY.parse` converts big-endian and
/// Fortran-order files into this form, so `data` never needs interpreting beyond dtype and shape.
/// A 0-d array (numpy scalar) has shape `[]` and one element.
public struct NPYArray: Sendable, Equatable {
    /// The numeric dtypes blindspot reads; the raw value is numpy's type code without byte order.
    public enum DType: String, Sendable, Codable, CaseIterable {
        case float16 = "f2", float32 = "f4", float64 = "f8"
        case int8 = "i1", uint8 = "u1", int16 = "i2", int32 = "i4", int64 = "i8"
        case bool = "b1"

        /// Bytes per element.
        public var itemSize: Int { Int(rawValue.dropFirst())! }
        public var isFloatingPoint: Bool { rawValue.hasPrefix("f") }
        /// numpy's name, for messages ("float32", "uint8", …).
        public var numpyName: String { self == .bool ? "bool" : "\(self)" }
    }

    public var dtype: DType
    public var shape: [Int]
    public var data: [UInt8]

    /// Number of elements: the product of `shape` (1 for a 0-d array).
    public var count: Int { shape.reduce(1, *) }

    /// `data` must hold exactly `count × dtype.itemSize` bytes (a programming error otherwise).
    public init(dtype: DType, shape: [Int], data: [UInt8]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "NPYArray: negative dimension in \(shape)")
        precondition(NPYArray.byteCount(shape: shape, itemSize: dtype.itemSize) == data.count,
                     "NPYArray: \(data.count) bytes do not fit shape \(shape) of \(dtype.numpyName)")
        self.dtype = dtype
        self.shape = shape
        self.data = data
    }

    public init(float32 values: [Float], shape: [Int]) {
        self.init(dtype: .float32, shape: shape, data: NPYArray.littleEndianBytes(values.map(\.bitPattern)))
    }

    public init(float64 values: [Double], shape: [Int]) {
        self.init(dtype: .float64, shape: shape, data: NPYArray.littleEndianBytes(values.map(\.bitPattern)))
    }

    public init(int64 values: [Int64], shape: [Int]) {
        self.init(dtype: .int64, shape: shape, data: NPYArray.littleEndianBytes(values))
    }

    public init(int32 values: [Int32], shape: [Int]) {
        self.init(dtype: .int32, shape: shape, data: NPYArray.littleEndianBytes(values))
    }

    public init(int8 values: [Int8], shape: [Int]) {
        self.init(dtype: .int8, shape: shape, data: values.map { UInt8(bitPattern: $0) })
    }

    public init(uint8 values: [UInt8], shape: [Int]) {
        self.init(dtype: .uint8, shape: shape, data: values)
    }

    /// Every element as Float: floats converted (float16 exactly, float64 rounded to nearest),
    /// integers converted (rounded to nearest above 2²⁴), bool as 0 or 1.
    public func floats() -> [Float] {
        switch dtype {
        case .float32: return elements(UInt32.self) { Float(bitPattern: $0) }
        case .float16: return elements(UInt16.self) { NPYFloat16.float(fromBits: $0) }
        case .float64: return elements(UInt64.self) { Float(Double(bitPattern: $0)) }
        case .int8: return data.map { Float(Int8(bitPattern: $0)) }
        case .uint8: return data.map { Float($0) }
        case .bool: return data.map { $0 == 0 ? 0 : 1 }
        case .int16: return elements(Int16.self) { Float($0) }
        case .int32: return elements(Int32.self) { Float($0) }
        case .int64: return elements(Int64.self) { Float($0) }
        }
    }

    /// Every element as Int64, for integer and bool dtypes (labels, indices, flags). Floating-point
    /// arrays are refused rather than truncated: a float array where integers belong is a malformed
    /// file, and `file` (e.g. `data.npz:labels.npy`) names it in the `badInput` error.
    public func int64s(file: String) throws -> [Int64] {
        switch dtype {
        case .int8: return data.map { Int64(Int8(bitPattern: $0)) }
        case .uint8: return data.map { Int64($0) }
        case .bool: return data.map { $0 == 0 ? 0 : 1 }
        case .int16: return elements(Int16.self) { Int64($0) }
        case .int32: return elements(Int32.self) { Int64($0) }
        case .int64: return elements(Int64.self) { $0 }
        case .float16, .float32, .float64:
            throw BlindspotError.badInput(file: file, problem: "holds \(dtype.numpyName) values where integers are expected (save it with an integer dtype, e.g. a.astype(np.int64))")
        }
    }

    /// The bytes of a uint8 or bool array (bool as 0/1), nil for any other dtype.
    public func uint8s() -> [UInt8]? {
        switch dtype {
        case .uint8: return data
        case .bool: return data.map { $0 == 0 ? 0 : 1 }
        default: return nil
        }
    }

    /// `shape`'s element count × `itemSize`, or nil if it overflows.
    static func byteCount(shape: [Int], itemSize: Int) -> Int? {
        var n = itemSize
        for d in shape {
            let (p, overflow) = n.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            n = p
        }
        return n
    }

    /// Decodes `data` as little-endian `T` and maps each element.
    private func elements<T: FixedWidthInteger, R>(_: T.Type, _ transform: (T) -> R) -> [R] {
        let n = data.count / MemoryLayout<T>.size
        return data.withUnsafeBytes { raw in
            [R](unsafeUninitializedCapacity: n) { out, initialized in
                for i in 0 ..< n {
                    out[i] = transform(T(littleEndian: raw.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self)))
                }
                initialized = n
            }
        }
    }

    private static func littleEndianBytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        let le = values.map(\.littleEndian)
        return le.withUnsafeBytes { Array($0) }
    }
}
