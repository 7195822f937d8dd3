import BlindspotCore
import CHDF5
import Foundation

/// A thin, safe layer over libhdf5 for checkpoints: open (from disk or from memory), walk groups,
/// read string attributes and numeric datasets as Float/Int64/bytes, and write the same.
/// Every failure becomes `BlindspotError.badInput` naming the file and the object.
public final class HDF5File {
    let id: hid_t
    public let path: String
    /// Keeps a file image alive while HDF5 reads from it.
    private var image: UnsafeMutableRawPointer?

    /// Caps on what a dataset may claim, so a hostile file cannot make us allocate gigabytes: its
    /// bytes (in the file's type and as the Float32 we convert to) at most
    /// `InputLimits.maxTensorBytes`, its stored bytes no more than the file holds, and (for
    /// compressed data) at most `maxExpansion` bytes per stored byte — deflate's own limit is about
    /// 1032:1, so only pathological streams exceed it.
    static let maxExpansion = 1000

    private init(id: hid_t, path: String, image: UnsafeMutableRawPointer? = nil) {
        self.id = id
        self.path = path
        self.image = image
    }

    deinit {
        H5Fclose(id)
        image?.deallocate()
    }

    /// True when the file starts with the HDF5 signature (at offset 0; user blocks are not used by Keras).
    public static func hasSignature(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 8 && bytes[0..<8].elementsEqual([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a])
    }

    public static func open(path: String) throws -> HDF5File {
        bs_h5_silence_errors()
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw BlindspotError.missingInput(file: path, problem: "no such file or not readable")
        }
        guard H5Fis_hdf5(path) > 0 else {
            throw BlindspotError.badInput(file: path, problem: "not an HDF5 file (bad signature or truncated)")
        }
        let id = H5Fopen(path, bs_h5f_acc_rdonly(), bs_h5p_default())
        guard id >= 0 else { throw BlindspotError.badInput(file: path, problem: "HDF5 file cannot be opened (truncated or corrupt)") }
        return HDF5File(id: id, path: path)
    }

    /// Opens an HDF5 file held in memory (the `model.weights.h5` inside a `.keras` zip).
    public static func open(image bytes: [UInt8], name: String) throws -> HDF5File {
        bs_h5_silence_errors()
        guard hasSignature(bytes) else { throw BlindspotError.badInput(file: name, problem: "not an HDF5 file (bad signature)") }
        let buf = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 16)
        bytes.withUnsafeBytes { buf.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        // DONT_COPY + DONT_RELEASE: HDF5 reads our buffer, which we free after closing the file.
        let id = H5LTopen_file_image(buf, bytes.count, UInt32(H5LT_FILE_IMAGE_DONT_COPY | H5LT_FILE_IMAGE_DONT_RELEASE))
        guard id >= 0 else {
            buf.deallocate()
            throw BlindspotError.badInput(file: name, problem: "HDF5 image cannot be opened (truncated or corrupt)")
        }
        return HDF5File(id: id, path: name, image: buf)
    }

    public static func create(path: String) throws -> HDF5File {
        bs_h5_silence_errors()
        let id = H5Fcreate(path, bs_h5f_acc_trunc(), bs_h5p_default(), bs_h5p_default())
        guard id >= 0 else { throw BlindspotError.cannotCreate(file: path, problem: "cannot create HDF5 file") }
        return HDF5File(id: id, path: path)
    }

    public func flush() throws {
        guard H5Fflush(id, H5F_SCOPE_GLOBAL) >= 0 else { throw BlindspotError.io(file: path, problem: "HDF5 flush failed") }
    }

    // MARK: Reading

    public func exists(_ objectPath: String) -> Bool { bs_h5_exists(id, objectPath) != 0 }

    /// Names of the links inside a group, in name order.
    public func children(of group: String) throws -> [String] {
        let g = H5Gopen2(id, group, bs_h5p_default())
        guard g >= 0 else { throw BlindspotError.badInput(file: path, problem: "missing group '\(group)'") }
        defer { H5Gclose(g) }
        var buf: UnsafeMutablePointer<CChar>?
        var len = 0
        let n = bs_h5_list_group(g, &buf, &len)
        guard n >= 0 else { throw BlindspotError.badInput(file: path, problem: "cannot list group '\(group)'") }
        defer { bs_h5_free(buf) }
        return splitNUL(buf, len)
    }

    public func isGroup(_ objectPath: String) -> Bool {
        guard exists(objectPath) else { return false }
        var info = H5O_info_t()
        guard H5Oget_info_by_name1(id, objectPath, &info, bs_h5p_default()) >= 0 else { return false }
        return info.type == H5O_TYPE_GROUP
    }

    /// A string (or string-array) attribute of an object; nil when absent.
    public func stringAttribute(_ name: String, of object: String = "/") throws -> [String]? {
        let obj = H5Oopen(id, object, bs_h5p_default())
        guard obj >= 0 else { throw BlindspotError.badInput(file: path, problem: "missing object '\(object)'") }
        defer { H5Oclose(obj) }
        guard H5Aexists(obj, name) > 0 else { return nil }
        var buf: UnsafeMutablePointer<CChar>?
        var len = 0
        let n = bs_h5_read_string_attr(obj, name, &buf, &len, 64 << 20)
        guard n >= 0 else {
            // A numeric attribute where strings were expected: an empty `weight_names` is written
            // by Keras as a zero-length float64 array.
            if let count = try? attributeElementCount(obj, name), count == 0 { return [] }
            throw BlindspotError.badInput(file: path, problem: "attribute '\(name)' of '\(object)' is not a readable string")
        }
        defer { bs_h5_free(buf) }
        return splitNUL(buf, len)
    }

    private func attributeElementCount(_ obj: hid_t, _ name: String) throws -> Int {
        let a = H5Aopen(obj, name, bs_h5p_default())
        guard a >= 0 else { return -1 }
        defer { H5Aclose(a) }
        let s = H5Aget_space(a)
        defer { H5Sclose(s) }
        return Int(H5Sget_simple_extent_npoints(s))
    }

    /// Shape and element type of a dataset.
    struct DatasetInfo {
        var shape: [Int]
        var isFloat: Bool
        var isInteger: Bool
        var isSigned: Bool
        var elementSize: Int
        var count: Int { shape.reduce(1, *) }
    }

    func datasetInfo(_ dpath: String) throws -> DatasetInfo {
        let d = try openDataset(dpath)
        defer { H5Dclose(d) }
        return try info(d, dpath)
    }

    private func openDataset(_ dpath: String) throws -> hid_t {
        guard exists(dpath) else { throw BlindspotError.badInput(file: path, problem: "missing dataset '\(dpath)'") }
        let d = H5Dopen2(id, dpath, bs_h5p_default())
        guard d >= 0 else { throw BlindspotError.badInput(file: path, problem: "'\(dpath)' is not a readable dataset") }
        return d
    }

    private func info(_ d: hid_t, _ dpath: String) throws -> DatasetInfo {
        let space = H5Dget_space(d), type = H5Dget_type(d)
        defer { H5Sclose(space); H5Tclose(type) }
        let rank = Int(H5Sget_simple_extent_ndims(space))
        guard rank >= 0, rank <= 8 else { throw BlindspotError.badInput(file: path, problem: "dataset '\(dpath)' has rank \(rank)") }
        var dims = [hsize_t](repeating: 0, count: max(rank, 1))
        H5Sget_simple_extent_dims(space, &dims, nil)
        let shape = dims.prefix(rank).map { Int(clamping: $0) }
        let cls = H5Tget_class(type)
        let size = Int(clamping: H5Tget_size(type))
        // Bytes in the file's type and as Float32 (what readFloats allocates), overflow-checked.
        var bytes = max(size, MemoryLayout<Float>.size)
        for s in shape {
            let (p, o) = bytes.multipliedReportingOverflow(by: s)
            guard !o, p <= InputLimits.maxTensorBytes else {
                throw BlindspotError.badInput(file: path, problem: "dataset '\(dpath)' declares shape \(shape) of \(size)-byte elements, more than the \(InputLimits.describe(bytes: InputLimits.maxTensorBytes)) blindspot reads (corrupt or hostile file)")
            }
            bytes = p
        }
        let count = shape.reduce(1, *)
        let signed = cls == H5T_INTEGER ? H5Tget_sign(type) == H5T_SGN_2 : true
        // Stored bytes beyond the file's end cannot be real; a small file declaring a large
        // contiguous dataset would otherwise make us allocate it before the read fails.
        let stored = Int(clamping: H5Dget_storage_size(d))
        var fileSize: hsize_t = 0
        if H5Fget_filesize(id, &fileSize) >= 0, stored > Int(clamping: fileSize) {
            throw BlindspotError.badInput(file: path, problem: "dataset '\(dpath)' claims \(stored) stored bytes in a file of \(fileSize) (truncated, corrupt or hostile file)")
        }
        // Bound the expansion of compressed storage (an HDF5 "zip bomb").
        let (expansionLimit, huge) = max(stored, 1).multipliedReportingOverflow(by: HDF5File.maxExpansion)
        if !huge && bytes > expansionLimit && bytes > 1 << 20 {
            throw BlindspotError.badInput(file: path, problem: "dataset '\(dpath)' claims \(count * size) bytes from \(stored) stored bytes (corrupt or hostile file)")
        }
        return DatasetInfo(shape: shape, isFloat: cls == H5T_FLOAT, isInteger: cls == H5T_INTEGER, isSigned: signed, elementSize: size)
    }

    /// The element type of a numeric dataset as numpy names it ("float16", "float32", "int8", …).
    public func elementTypeName(_ dpath: String) throws -> String {
        let i = try datasetInfo(dpath)
        return i.isFloat ? "float\(8 * i.elementSize)" : i.isInteger ? "\(i.isSigned ? "int" : "uint")\(8 * i.elementSize)" : "other"
    }

    /// A numeric dataset converted to Float32 (HDF5 converts float16/64 and integers).
    public func readFloats(_ dpath: String) throws -> (shape: [Int], values: [Float]) {
        let d = try openDataset(dpath)
        defer { H5Dclose(d) }
        let i = try info(d, dpath)
        guard i.isFloat || i.isInteger else { throw BlindspotError.badInput(file: path, problem: "dataset '\(dpath)' is not numeric") }
        var values = [Float](repeating: 0, count: i.count)
        if i.count > 0 {
            let r = values.withUnsafeMutableBytes { H5Dread(d, bs_h5t_native_float(), bs_h5s_all(), bs_h5s_all(), bs_h5p_default(), $0.baseAddress) }
            guard r >= 0 else { throw BlindspotError.badInput(file: path, problem: "dataset '\(dpath)' cannot be read (truncated or corrupt)") }
        }
        return (i.shape, values)
    }

    /// An integer dataset as Int64.
    public func readInt64s(_ dpath: String) throws -> (shape: [Int], values: [Int64]) {
        let d = try openDataset(dpath)
        defer { H5Dclose(d) }
        let i = try info(d, dpath)
        guard i.isInteger else { throw BlindspotError.badInput(file: path, problem: "dataset '\(dpath)' is not an integer array") }
        var values = [Int64](repeating: 0, count: i.count)
        if i.count > 0 {
            let r = values.withUnsafeMutableBytes { H5Dread(d, bs_h5t_native_int64(), bs_h5s_all(), bs_h5s_all(), bs_h5p_default(), $0.baseAddress) }
            guard r >= 0 else { throw BlindspotError.badInput(file: path, problem: "dataset '\(dpath)' cannot be read (truncated or corrupt)") }
        }
        return (i.shape, values)
    }

    // MARK: Writing

    /// Creates every missing group along `groupPath`.
    public func createGroups(_ groupPath: String) throws {
        var cur = ""
        for part in groupPath.split(separator: "/") {
            cur += "/" + part
            if exists(cur) { continue }
            let g = H5Gcreate2(id, cur, bs_h5p_default(), bs_h5p_default(), bs_h5p_default())
            guard g >= 0 else { throw BlindspotError.cannotCreate(file: path, problem: "cannot create group '\(cur)'") }
            H5Gclose(g)
        }
    }

    public func writeString(_ value: String, attribute: String, of object: String = "/") throws {
        let obj = H5Oopen(id, object, bs_h5p_default())
        guard obj >= 0 else { throw BlindspotError.cannotCreate(file: path, problem: "missing object '\(object)'") }
        defer { H5Oclose(obj) }
        guard bs_h5_write_string_attr(obj, attribute, value) >= 0 else {
            throw BlindspotError.cannotCreate(file: path, problem: "cannot write attribute '\(attribute)'")
        }
    }

    public func writeStrings(_ values: [String], attribute: String, of object: String = "/") throws {
        let obj = H5Oopen(id, object, bs_h5p_default())
        guard obj >= 0 else { throw BlindspotError.cannotCreate(file: path, problem: "missing object '\(object)'") }
        defer { H5Oclose(obj) }
        var cstrings = values.map { strdup($0) }
        defer { cstrings.forEach { free($0) } }
        let r = cstrings.withUnsafeMutableBufferPointer { buf in
            buf.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: max(values.count, 1)) {
                bs_h5_write_string_array_attr(obj, attribute, $0, values.count)
            }
        }
        guard r >= 0 else { throw BlindspotError.cannotCreate(file: path, problem: "cannot write attribute '\(attribute)'") }
    }

    /// Writes a dataset of Float32, Int8, UInt8, Int32 or Int64 values (little-endian file types).
    public func write<T>(_ values: [T], shape: [Int], to dpath: String) throws {
        precondition(values.count == shape.reduce(1, *))
        let (fileType, memType): (hid_t, hid_t)
        switch T.self {
        case is Float.Type: (fileType, memType) = (bs_h5t_ieee_f32le(), bs_h5t_native_float())
        case is Int8.Type: (fileType, memType) = (bs_h5t_std_i8le(), bs_h5t_native_int8())
        case is UInt8.Type: (fileType, memType) = (bs_h5t_std_u8le(), bs_h5t_native_uint8())
        case is Int32.Type: (fileType, memType) = (bs_h5t_std_i32le(), bs_h5t_native_int32())
        case is Int64.Type: (fileType, memType) = (bs_h5t_std_i64le(), bs_h5t_native_int64())
        default: throw BlindspotError.internalError("HDF5 write of unsupported element type \(T.self)")
        }
        if let slash = dpath.lastIndex(of: "/"), slash != dpath.startIndex { try createGroups(String(dpath[..<slash])) }
        let dims = shape.map { hsize_t($0) }
        let space = dims.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(dims.count), dims, nil)
        defer { H5Sclose(space) }
        let d = H5Dcreate2(id, dpath, fileType, space, bs_h5p_default(), bs_h5p_default(), bs_h5p_default())
        guard d >= 0 else { throw BlindspotError.cannotCreate(file: path, problem: "cannot create dataset '\(dpath)'") }
        defer { H5Dclose(d) }
        let r = values.withUnsafeBytes { H5Dwrite(d, memType, bs_h5s_all(), bs_h5s_all(), bs_h5p_default(), $0.baseAddress) }
        guard r >= 0 else { throw BlindspotError.io(file: path, problem: "cannot write dataset '\(dpath)'") }
    }
}

private func splitNUL(_ buf: UnsafeMutablePointer<CChar>?, _ len: Int) -> [String] {
    guard let buf, len > 0 else { return [] }
    var out: [String] = []
    var start = 0
    for i in 0..<len where buf[i] == 0 {
        out.append(String(decoding: UnsafeRawBufferPointer(start: buf + start, count: i - start), as: UTF8.self))
        start = i + 1
    }
    return out
}
