#!/usr/bin/env python3
"""Writes the small .npy/.npz fixtures of Tests/BlindspotCheckpointTests (NPYTests, NPZTests).

Dev-only (needs numpy); the outputs are committed so the Swift tests never need Python.
    python3 scripts/make-npz-fixtures.py
writes Tests/BlindspotCheckpointTests/Fixtures/npz/*.npy|*.npz and expected.json, which records
for every readable array its dtype code, shape, C-order little-endian bytes (hex), the float32 bit
patterns of the values and, for integer/bool arrays, the values as int64.
Files listed under "refused" must be refused (BlindspotError.badInput) with a message containing
the given text.
"""
import io
import json
import os
import zipfile

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "BlindspotCheckpointTests", "Fixtures", "npz")


def arrays():
    half = np.array([0.0, -0.0, 1.0, -2.5, 65504.0, np.inf, -np.inf, np.nan, 6e-8, 1e-5, 0.1, 6.1e-5], dtype=np.float16)
    return {
        "f32": np.array([[1.5, -2.25, 3.0], [1e-30, 3.4e38, -0.0]], dtype=np.float32),
        "f16": half,
        "f64": np.array([np.pi, -1e300, 1e-310], dtype=np.float64),
        "i64": np.array([0, -1, 2**40, -(2**62), 7], dtype=np.int64),
        "i32": np.array([[-2**31, 2**31 - 1], [5, -5]], dtype=np.int32),
        "i16": np.array([-32768, 32767, 1], dtype=np.int16),
        "i8": np.array([-128, 127, 0, -1], dtype=np.int8),
        "u8": np.arange(12, dtype=np.uint8).reshape(2, 2, 3) * 21,
        "flags": np.array([True, False, True, True, False]),
        "scalar": np.float32(2.5) * np.ones((), dtype=np.float32),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "fortran": np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4)),
        "fortran3": np.asfortranarray(np.arange(24, dtype=np.int16).reshape(2, 3, 4)),
        "big": (np.arange(4).reshape(2, 2) - 1.5).astype(">f8"),
        "bigint": np.array([1, -2, 300000]).astype(">i4"),
        "bigfortran": np.asfortranarray((np.arange(12).reshape(2, 3, 2) - 6).astype(">i2")),
        "conv1.weight": np.linspace(-1, 1, 2 * 3 * 3 * 3, dtype=np.float32).reshape(2, 3, 3, 3),
    }


def expected_entry(name, a):
    c = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<"))
    with np.errstate(over="ignore"):  # float64 beyond float32's range becomes ±inf, as in Swift
        f32 = c.astype(np.float32)
    e = {
        "name": name,
        "dtype": a.dtype.str[1:],
        "shape": list(a.shape),
        "data_hex": c.tobytes(order="C").hex(),
        "float_bits": f32.reshape(-1).view(np.uint32).tolist(),
    }
    if a.dtype.kind in "iub":
        e["int64"] = c.astype(np.int64).reshape(-1).tolist()
    return e


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    a = arrays()
    listing = [expected_entry(k, v) for k, v in a.items()]
    expected = {"npz": {}, "npy": {}, "refused": {}}

    np.savez(os.path.join(OUT, "savez.npz"), **a)
    expected["npz"]["savez.npz"] = listing
    np.savez_compressed(os.path.join(OUT, "savez_compressed.npz"), **a)
    expected["npz"]["savez_compressed.npz"] = listing
    np.savez(os.path.join(OUT, "empty.npz"))
    expected["npz"]["empty.npz"] = []

    for key in ["f32", "fortran", "big", "bigfortran", "scalar", "empty", "f16", "flags"]:
        np.save(os.path.join(OUT, key + ".npy"), a[key])
        expected["npy"][key + ".npy"] = expected_entry(key, a[key])
    for version in [(2, 0), (3, 0)]:
        name = "v%d.npy" % version[0]
        with open(os.path.join(OUT, name), "wb") as f:
            np.lib.format.write_array(f, a["i32"], version=version)
        expected["npy"][name] = expected_entry("i32", a["i32"])

    np.save(os.path.join(OUT, "object.npy"), {"weights": [1, 2, 3]}, allow_pickle=True)
    expected["refused"]["object.npy"] = "object arrays are refused"
    np.savez(os.path.join(OUT, "object.npz"), ok=a["f32"], obj=np.array([{"a": 1}, None], dtype=object))
    expected["refused"]["object.npz"] = "object arrays are refused"
    np.save(os.path.join(OUT, "structured.npy"), np.zeros(2, dtype=[("x", "<f4"), ("y", "<i4")]))
    expected["refused"]["structured.npy"] = "structured"
    np.save(os.path.join(OUT, "complex.npy"), np.array([1 + 2j], dtype=np.complex64))
    expected["refused"]["complex.npy"] = "complex"
    np.save(os.path.join(OUT, "strings.npy"), np.array(["conv1", "fc"]))
    expected["refused"]["strings.npy"] = "string"
    np.save(os.path.join(OUT, "uint32.npy"), np.array([1, 2], dtype=np.uint32))
    expected["refused"]["uint32.npy"] = "u4"

    # A torch.save-style zip (no pickle is ever run: data.pkl holds a placeholder opcode stream).
    with zipfile.ZipFile(os.path.join(OUT, "torch-style.pt"), "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        z.writestr("archive/version", b"3\n")
    expected["refused"]["torch-style.pt"] = "pickled PyTorch"
    with open(os.path.join(OUT, "legacy.pt"), "wb") as f:
        f.write(b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.")
    expected["refused"]["legacy.pt"] = "pickled PyTorch"

    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, sort_keys=True, separators=(",", ":"))
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print("wrote %d files, %d bytes, to %s" % (len(os.listdir(OUT)), total, os.path.normpath(OUT)))


if __name__ == "__main__":
    main()
