#!/usr/bin/env python3
"""Writes the hostile and broken checkpoint corpus of Tests/Fixtures/hostile (issue 9).

An audit tool opens files it must not trust. Every file written here is refused by
`blindspot inspect FILE` with the exit code and message fragment that manifest.json records for it
(65 for malformed, truncated or hostile content, 66 for something that is not a readable file), and
never crashes, hangs or allocates gigabytes. A few `control-*` entries are the unmodified sources the
hostile files are cut from: they must load (exit 0), so a hostile file fails because of its one
defect and not because its source was already unreadable.

    python3 scripts/make-hostile-fixtures.py        # from the package root; Python 3 standard library only

Sources: Tests/BlindspotCheckpointTests/Fixtures/keras/{seq_cnn.h5,functional_res.keras} and
torch/tiny_resnet.npz (see their README), plus a tiny native blindspot NPZ built here. HDF5 files
are edited at the byte level (offsets were read once with h5py and are asserted against the bytes
they replace), zip archives are rebuilt with `zipfile` using fixed timestamps, so the output is the
same on every run. Every file is small (< 100 KB); the zip bombs are small on disk by design.

The manifest's `message` is a fragment of the one stderr line, after `blindspot: FILE: `. Two tests
read the manifest: HostileCorpusTests (BlindspotCheckpointTests: `CheckpointLoader.load` throws that
BlindspotError, never traps) and CLITests.testInspectRefusesEveryHostileFileWithOneLineAndItsExitCode
(BlindspotCLITests: the built binary's exit code and single stderr line). Re-run this script after
changing a message, and commit its output.
"""
import io
import json
import os
import random
import shutil
import struct
import zipfile
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "Tests", "Fixtures", "hostile")
SRC = os.path.join(ROOT, "Tests", "BlindspotCheckpointTests", "Fixtures")
SEQ_H5 = os.path.join(SRC, "keras", "seq_cnn.h5")
RES_KERAS = os.path.join(SRC, "keras", "functional_res.keras")
TINY_NPZ = os.path.join(SRC, "torch", "tiny_resnet.npz")
FIXED_TIME = (1980, 1, 1, 0, 0, 0)

manifest = []


def emit(name, data, exit_code, message, why):
    """Writes one fixture and records what blindspot must answer for it."""
    assert len(data) < 100_000, f"{name} is {len(data)} bytes; fixtures must stay small"
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    manifest.append({"file": name, "exit": exit_code, "message": message, "why": why})


def read(path):
    with open(path, "rb") as f:
        return f.read()


def patch(data, offset, old, new):
    """Replaces `old` at `offset` with `new` (same length), checking the source still has `old`."""
    assert len(old) == len(new)
    assert data[offset:offset + len(old)] == old, f"unexpected bytes at {offset}: the source fixture changed"
    return data[:offset] + new + data[offset + len(old):]


# MARK: .npy / .npz helpers

def npy(descr, shape, payload, header_length=None, version=(1, 0)):
    """An .npy image; `header_length` overrides the declared header length (to lie about it)."""
    shape_text = "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}".encode()
    prefix = 10 if version == (1, 0) else 12
    header += b" " * ((64 - (prefix + len(header) + 1) % 64) % 64) + b"\n"
    declared = len(header) if header_length is None else header_length
    length = struct.pack("<H", declared) if version == (1, 0) else struct.pack("<I", declared)
    return b"\x93NUMPY" + bytes(version) + length + header + payload


def f32(values):
    return struct.pack(f"<{len(values)}f", *values)


def zip_archive(members, compress=False):
    """A zip of (name, bytes) members with fixed timestamps; names are written exactly as given."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
            z.writestr(info, data, compresslevel=9 if compress else None)
    return buf.getvalue()


def zip_members(path):
    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


# MARK: native blindspot NPZ (a flatten + linear model on 1×4×4 inputs)

def native_npz(nodes=None, weight=None, header_extra=None, header_text=None):
    """A blindspot NPZ: `__blindspot__.npy` (the JSON header as uint8) and the tensors."""
    if nodes is None:
        nodes = [{"name": "flatten", "op": "flatten", "inputs": ["input"], "attributes": {}},
                 {"name": "fc", "op": "linear", "inputs": ["flatten"],
                  "attributes": {"inFeatures": 16, "outFeatures": 2, "bias": True}}]
    header = {"format": "blindspot-checkpoint", "version": 1, "metadata": {},
              "model": {"format": "blindspot-model", "version": 1, "name": "tiny", "inputShape": [1, 4, 4], "nodes": nodes}}
    header.update(header_extra or {})
    text = header_text if header_text is not None else json.dumps(header, sort_keys=True).encode()
    w = weight if weight is not None else [((i * 7) % 11 - 5) / 10 for i in range(32)]
    return zip_archive([("__blindspot__.npy", npy("|u1", (len(text),), text)),
                        ("fc.weight.npy", npy("<f4", (2, 16), f32(w))),
                        ("fc.bias.npy", npy("<f4", (2,), f32([0.5, -0.5])))])


def deployed_npz(scheme="int8", q=None, scales=(0.05, 0.025), scale_member="fc.weight_scale", declared=True):
    """A deployed blindspot NPZ (header version 2) of the same model: `fc.weight` stored as int8 codes
    with its per-output-channel float32 scales in `fc.weight_scale`, as `blindspot quantize` writes it."""
    codes = q if q is not None else [(i * 5) % 15 - 7 for i in range(32)]
    record = {"scheme": scheme, "weightScales": {}, "activations": {}}
    extra = {"version": 2, "quantization": record}
    if declared:
        extra["integerWeights"] = {"fc.weight": "fc.weight_scale"}
    header = {"format": "blindspot-checkpoint", "metadata": {},
              "model": {"format": "blindspot-model", "version": 1, "name": "tiny", "inputShape": [1, 4, 4],
                        "nodes": [{"name": "flatten", "op": "flatten", "inputs": ["input"], "attributes": {}},
                                  {"name": "fc", "op": "linear", "inputs": ["flatten"],
                                   "attributes": {"inFeatures": 16, "outFeatures": 2, "bias": True}}]}}
    header.update(extra)
    text = json.dumps(header, sort_keys=True).encode()
    members = [("__blindspot__.npy", npy("|u1", (len(text),), text)),
               ("fc.weight.npy", npy("|i1", (2, 16), struct.pack("<32b", *codes)))]
    if scale_member is not None:
        members.append((scale_member + ".npy", npy("<f4", (len(scales),), f32(list(scales)))))
    members.append(("fc.bias.npy", npy("<f4", (2,), f32([0.5, -0.5]))))
    return zip_archive(members)


def pytorch_npz(drop=(), replace=None):
    """A PyTorch quantized export in blindspot's convention (one linear module `fc`, 2x16), as
    scripts/make-pytorch-quantized-fixtures.py's export_quantized writes it; `drop` removes members,
    `replace` swaps some for other .npy images."""
    members = {
        "fc.weight": npy("|i1", (2, 16), struct.pack("<32b", *[(i * 5) % 15 - 7 for i in range(32)])),
        "fc.weight.scales": npy("<f4", (2,), f32([0.05, 0.025])),
        "fc.weight.zero_points": npy("<i8", (2,), struct.pack("<2q", 0, 0)),
        "fc.bias": npy("<f4", (2,), f32([0.5, -0.5])),
        "fc.input_scale": npy("<f4", (), f32([0.02])),
        "fc.input_zero_point": npy("<i8", (), struct.pack("<q", 3)),
        "fc.scale": npy("<f4", (), f32([0.1])),
        "fc.zero_point": npy("<i8", (), struct.pack("<q", 64)),
    }
    members.update(replace or {})
    return zip_archive([(k + ".npy", v) for k, v in members.items() if k not in drop])


def deep_json(depth):
    return b"[" * depth + b"]" * depth


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    seq = read(SEQ_H5)
    keras_members = zip_members(RES_KERAS)
    keras_config = json.loads(dict(keras_members)["config.json"])

    # Controls: the sources load.
    for source, what in [(SEQ_H5, "h5-*"), (RES_KERAS, "keras-*"), (TINY_NPZ, "statedict-nan.npz and npz-truncated.npz")]:
        manifest.append({"file": os.path.relpath(source, OUT), "exit": 0, "message": "",
                         "why": f"control: the unmodified source of the {what} files"})
    emit("control-native.npz", native_npz(), 0, "", "control: the unmodified source of the native-* files")

    hdf5(seq)
    keras(keras_members, keras_config)
    npz_files()
    native_files()
    pytorch_files()
    misc()

    os.makedirs(os.path.join(OUT, "directory.h5"))
    with open(os.path.join(OUT, "directory.h5", ".gitkeep"), "w") as f:
        f.write("")
    manifest.append({"file": "directory.h5", "exit": 66, "message": "is a directory",
                     "why": "a directory where a checkpoint file is expected"})

    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump({"about": "Generated by scripts/make-hostile-fixtures.py; see its docstring.", "files": manifest}, f, indent=1)
        f.write("\n")


# MARK: HDF5 (Keras legacy .h5 cut from seq_cnn.h5)

def hdf5(seq):
    # Truncations: inside the signature's superblock, inside the root group, among the weights,
    # one byte short. HDF5 records the end-of-file address, so every cut is detectable.
    for cut in [8, 48, 512, 2048, 16384, 30000, len(seq) - 1]:
        emit(f"h5-truncated-{cut}.h5", seq[:cut], 65, "HDF5 file cannot be opened", f"seq_cnn.h5 cut to {cut} bytes")
    # Superblock v0: version at byte 8, size of offsets at byte 13, root group object header address at 64.
    emit("h5-superblock-version.h5", patch(seq, 8, b"\x00", b"\x09"), 65, "HDF5 file cannot be opened",
         "superblock version 9 (does not exist)")
    emit("h5-superblock-offset-size.h5", patch(seq, 13, b"\x08", b"\x03"), 65, "HDF5 file cannot be opened",
         "superblock says file addresses are 3 bytes wide")
    emit("h5-root-beyond-eof.h5", patch(seq, 64, struct.pack("<Q", 0x60), struct.pack("<Q", 0x7FFF_FFFF_FF00)), 65,
         "HDF5 file cannot be opened", "the root group's object header lies far beyond the end of the file")
    # conv1/kernel's dataspace (dims and max dims, (3, 3, 3, 8) as 8-byte integers) at 20400 and 20432.
    dims = struct.pack("<4Q", 3, 3, 3, 8)
    absurd = struct.pack("<4Q", 3, 3, 3, 1 << 40)
    emit("h5-absurd-dims.h5", patch(patch(seq, 20400, dims, absurd), 20432, dims, absurd), 65, "more than the 4 GiB blindspot reads",
         "conv1's kernel declares 3×3×3×2⁴⁰ float32 (108 TiB) in a 53 KB file")
    past_eof = struct.pack("<4Q", 3, 3, 3, 1 << 24)
    emit("h5-dims-past-eof.h5", patch(patch(seq, 20400, dims, past_eof), 20432, dims, past_eof), 65, "from 864 stored bytes",
         "conv1's kernel declares 3×3×3×2²⁴ float32 (1.7 GiB, under the 4 GiB cap) in a 53 KB file")
    # ...and its contiguous layout (address 14768, 864 bytes, at 20522) claiming the same 1.7 GiB.
    lying_layout = patch(patch(patch(seq, 20400, dims, past_eof), 20432, dims, past_eof),
                         20522, struct.pack("<QQ", 14768, 864), struct.pack("<QQ", 14768, 27 * 4 << 24))
    emit("h5-layout-past-eof.h5", lying_layout, 65, "stored bytes in a file of",
         "conv1's kernel and its storage layout both claim 1.7 GiB in a 53 KB file")
    huge = struct.pack("<4Q", *([1 << 62] * 4))
    emit("h5-dims-overflow.h5", patch(patch(seq, 20400, dims, huge), 20432, dims, huge), 65, "more than the 4 GiB blindspot reads",
         "conv1's kernel declares (2⁶²)⁴ elements: the product overflows 64 bits")
    # Weight data: conv1/kernel starts at 14768, fc2/bias at 16368 (contiguous float32).
    emit("h5-nan-weight.h5", patch(seq, 14768, f32([-0.05298523232340813]), struct.pack("<I", 0x7FC00000)), 65,
         "NaN or infinite", "conv1's kernel holds a NaN")
    emit("h5-inf-weight.h5", patch(seq, 16368, f32([0.039447933435440063]), f32([float("inf")])), 65,
         "NaN or infinite", "fc2's bias holds +inf")
    # model_config is a variable-length string in the global heap; replacing it by text of the same
    # length keeps the file valid. JSON may be padded with spaces.
    start = seq.index(b'{"class_name": "Sequential"')
    end = json_end(seq, start)
    length = end - start
    depth = length // 2
    emit("h5-deep-json.h5", seq[:start] + deep_json(depth) + b" " * (length - 2 * depth) + seq[end:], 65, "nested more than 100 deep",
         f"model_config replaced by arrays nested {depth} deep")
    config = json.loads(seq[start:end])
    dropout = next(l for l in config["config"]["layers"] if l["class_name"] == "Dropout")
    dropout["class_name"] = "Lambda"   # Keras' layer that carries marshalled Python bytecode
    text = json.dumps(config).encode()
    assert len(text) <= length
    emit("h5-lambda-layer.h5", seq[:start] + text + b" " * (length - len(text)) + seq[end:], 65,
         "unsupported type Lambda", "a Lambda layer (marshalled Python code) in model_config")


def json_end(data, start):
    """The offset after the JSON object that starts at `start`."""
    depth, k, in_string, escaped = 0, start, False, False
    while True:
        c = data[k]
        if in_string:
            if escaped:
                escaped = False
            elif c == 0x5C:
                escaped = True
            elif c == 0x22:
                in_string = False
        elif c == 0x22:
            in_string = True
        elif c == 0x7B:
            depth += 1
        elif c == 0x7D:
            depth -= 1
            if depth == 0:
                return k + 1
        k += 1


# MARK: Keras 3 .keras (cut from functional_res.keras)

def keras(members, config):
    def rebuilt(new_config=None, drop=(), replace=None):
        out = []
        for name, data in members:
            if name in drop:
                continue
            if name == "config.json" and new_config is not None:
                data = new_config if isinstance(new_config, bytes) else json.dumps(new_config).encode()
            if replace and name in replace:
                data = replace[name]
            out.append((name, data))
        return zip_archive(out)

    def layer(c, name):
        return next(l for l in c["config"]["layers"] if l["name"] == name)

    def edited(change):
        c = json.loads(json.dumps(config))
        change(c)
        return c

    emit("keras-no-config.keras", rebuilt(drop=("config.json",)), 65, "no config.json",
         "a .keras archive without its config.json")
    emit("keras-no-weights.keras", rebuilt(drop=("model.weights.h5",)), 65, "no model.weights.h5",
         "a .keras archive without its weights")

    def cycle(c):
        # res_conv reads res_relu, which depends on res_conv: res_conv → res_bn → res_add → res_relu → res_conv.
        layer(c, "res_conv")["inbound_nodes"][0]["args"][0]["config"]["keras_history"][0] = "res_relu"
    emit("keras-cycle.keras", rebuilt(edited(cycle)), 65, "cycle", "a cycle in the functional graph")

    def self_loop(c):
        layer(c, "bn1")["inbound_nodes"][0]["args"][0]["config"]["keras_history"][0] = "bn1"
    emit("keras-self-loop.keras", rebuilt(edited(self_loop)), 65, "cycle", "a layer that reads its own output")

    def out_of_order(c):
        layers = c["config"]["layers"]
        relu = layers.pop(layers.index(layer(c, "res_relu")))
        layers.insert(layers.index(layer(c, "res_add")), relu)
    emit("keras-out-of-order.keras", rebuilt(edited(out_of_order)), 65, "which comes later in the config",
         "res_relu listed before res_add, which it reads (no cycle, but not in topological order)")

    def unknown(c):
        layer(c, "res_relu")["class_name"] = "Lambda"
        layer(c, "res_relu")["config"]["function"] = {"class_name": "__lambda__", "config": {"code": "4wEAAAAAAAAA"}}
    emit("keras-lambda-layer.keras", rebuilt(edited(unknown)), 65, "unsupported type Lambda",
         "a Lambda layer (marshalled Python code), which blindspot never runs")

    def unknown_class(c):
        layer(c, "gap")["class_name"] = "NoSuchLayer"
    emit("keras-unknown-layer.keras", rebuilt(edited(unknown_class)), 65, "unsupported type NoSuchLayer",
         "a layer class blindspot does not know")

    emit("keras-deep-json.keras", rebuilt(deep_json(10_000)), 65, "nested more than 100 deep",
         "config.json: arrays nested 10,000 deep")
    emit("keras-huge-config.keras", huge_config_keras(members, config), 65, "more than the 16 MiB allowed",
         "config.json of 17 MiB (valid JSON padded with whitespace), deflated to a few KB")
    emit("keras-not-json.keras", rebuilt(b"\xff\xfe{not json"), 65, "not a JSON object", "config.json is not JSON")

    def stride_zero(c):
        layer(c, "conv1")["config"]["strides"] = [0, 0]
    emit("keras-stride-zero.keras", rebuilt(edited(stride_zero)), 65, "strides 0×0 is out of range", "Conv2D strides 0 (a division by zero)")

    def pool_zero(c):
        g = layer(c, "gap")
        g["class_name"] = "MaxPooling2D"
        g["config"].update({"pool_size": [0, 0], "strides": [0, 0], "padding": "valid"})
    emit("keras-pool-zero.keras", rebuilt(edited(pool_zero)), 65, "pool size 0×0 is out of range", "MaxPooling2D with pool size and strides 0")

    def negative_kernel(c):
        layer(c, "conv1")["config"]["kernel_size"] = [-3, -3]
    emit("keras-negative-kernel.keras", rebuilt(edited(negative_kernel)), 65, "kernel size -3×-3 is out of range", "Conv2D kernel size -3")

    def giant_layer(c):
        layer(c, "conv1")["config"].update({"filters": 1 << 20, "kernel_size": [64, 64], "padding": "same"})
    emit("keras-giant-layer.keras", rebuilt(edited(giant_layer)), 65, "past the 4 GiB of parameters",
         "Conv2D with 2²⁰ filters of 64×64: 48 GiB of parameters declared in a 40 KB file")

    def input_zero(c):
        layer(c, "image")["config"]["batch_shape"] = [None, 0, 16, 3]
    emit("keras-input-zero.keras", rebuilt(edited(input_zero)), 65, "input shape", "input images of height 0")

    def huge_input(c):
        layer(c, "image")["config"]["batch_shape"] = [None, 1 << 40, 1 << 40, 3]
    emit("keras-input-huge.keras", rebuilt(edited(huge_input)), 65, "input shape", "input images of 2⁴⁰×2⁴⁰ pixels")

    def rescaling_count(c):
        layer(c, "rescaling")["config"]["scale"] = [2.0, 2.0]
    emit("keras-rescaling-channels.keras", rebuilt(edited(rescaling_count)), 65, "scale has 2 values for 3 input channels",
         "Rescaling with 2 scales for 3 channels")

    def rescaling_zero(c):
        layer(c, "rescaling")["config"]["scale"] = 0
    emit("keras-rescaling-zero.keras", rebuilt(edited(rescaling_zero)), 65, "Rescaling by 0",
         "Rescaling by 0 (the preprocessing cannot be inverted)")

    weights = dict(members)["model.weights.h5"]
    emit("keras-weights-truncated.keras", rebuilt(replace={"model.weights.h5": weights[:len(weights) // 2]}), 65,
         "HDF5 image cannot be opened", "model.weights.h5 cut in half")
    emit("keras-weights-not-hdf5.keras", rebuilt(replace={"model.weights.h5": b"these are not the weights\n"}), 65,
         "not an HDF5 file", "model.weights.h5 is text")


def huge_config_keras(members, config):
    """config.json = the real config followed by 17 MiB of spaces with a newline every ~2 KB at
    seeded random places, so deflate's ratio stays under the zip reader's 1000:1 limit (the file is
    refused for its size, not as a zip bomb). The weights member is a stub (the config is refused
    before the weights are opened), which keeps the file small."""
    rng = random.Random(9)
    size = 17 << 20
    pad = bytearray(b" " * size)
    for _ in range(size // 2000):
        pad[rng.randrange(size)] = 0x0A
    text = json.dumps(config).encode() + bytes(pad)
    out = []
    for name, data in members:
        out.append((name, text if name == "config.json" else b"stub" if name == "model.weights.h5" else data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in out:
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED if name == "config.json" else zipfile.ZIP_STORED
            z.writestr(info, data, compresslevel=9)
    packed = buf.getvalue()
    info = zipfile.ZipFile(io.BytesIO(packed)).getinfo("config.json")
    assert info.file_size < 1000 * info.compress_size, f"huge config must not look like a zip bomb ({info.compress_size})"
    return packed


# MARK: NPZ archives (numpy / state_dict)

def npz_files():
    good = npy("<f4", (2,), f32([1.0, 2.0]))
    obj = pickle_payload()
    emit("npz-object-dtype.npz", zip_archive([("w.npy", npy("|O", (1,), obj))]), 65, "object arrays are refused",
         "an object (pickled) array: loading it would unpickle")
    emit("npz-header-past-end.npz", zip_archive([("w.npy", npy("<f4", (2,), b"", header_length=60_000))]), 65,
         "truncated .npy header", "an .npy header that declares 60,000 bytes in a 128-byte member")
    emit("npz-header-absurd.npz", zip_archive([("w.npy", npy("<f4", (2,), f32([1, 2]), header_length=0xFFFF_FFF0, version=(2, 0)))]),
         65, "more than the 65536 allowed", "an .npy v2 header that declares 4 GiB")
    emit("npz-shape-overflow.npz", zip_archive([("w.npy", npy("<f4", (1 << 40, 1 << 40, 1 << 40), f32([1, 2])))]), 65,
         "more elements than can be represented", "an .npy shape whose element count overflows 64 bits")
    emit("npz-shape-past-data.npz", zip_archive([("w.npy", npy("<f4", (1 << 30,), f32([1, 2])))]), 65,
         "truncated or corrupt", "an .npy that declares 4 GiB of float32 and holds 8 bytes")
    emit("npz-negative-dim.npz", zip_archive([("w.npy", npy("<f4", (-2,), f32([1, 2])))]), 65,
         "negative dimension", "an .npy shape with a negative dimension")
    emit("npz-bad-dtype.npz", zip_archive([("w.npy", npy("<c8", (1,), b"\0" * 8))]), 65,
         "complex arrays are not supported", "a complex array")
    emit("npz-path-traversal.npz", zip_archive([("../x.npy", good)]), 65, "outside the archive",
         "a member named ../x.npy (path traversal)")
    emit("npz-absolute-path.npz", zip_archive([("/tmp/x.npy", good)]), 65, "outside the archive",
         "a member with an absolute path")
    emit("npz-duplicate-member.npz", duplicate_member(good), 65, "two members with this name",
         "two members with the same name (which one is the weight?)")
    emit("npz-zip-bomb.npz", zip_bomb(), 65, "zip bomb", "48 MiB of zeros deflated to 48 KB (ratio above 1000:1)")
    emit("npz-zip-bomb-lying.npz", lying_zip_bomb(), 65, "inflates to more than its declared",
         "a member that declares 1 MiB and inflates to 40 MiB")
    emit("npz-too-many-members.npz", too_many_members(), 65, "members, more than",
         "a ZIP64 directory that declares 200,000 members")
    emit("npz-truncated.npz", read(TINY_NPZ)[:20_000], 65, "no zip end-of-central-directory record", "a state_dict NPZ cut short")
    emit("npz-pickled-torch.npz", zip_archive([("archive/data.pkl", pickle_payload())]), 65, "pickled PyTorch",
         "a torch.save zip (data.pkl) renamed .npz")
    emit("statedict-nan.npz", statedict_nan(), 65, "NaN or infinite", "tiny_resnet.npz with one NaN weight")
    # ResNet recognition reads layer1.0.bn1.weight[0]: a 0-d array there.
    scalar_bn = [("conv1.weight", npy("<f4", (4, 3, 3, 3), f32([0.1] * 108))), ("bn1.weight", npy("<f4", (4,), f32([1] * 4))),
                 ("layer1.0.conv1.weight", npy("<f4", (4, 4, 3, 3), f32([0.1] * 144))),
                 ("layer1.0.bn1.weight", npy("<f4", (), f32([1]))), ("layer1.0.bn2.weight", npy("<f4", (4,), f32([1] * 4))),
                 ("linear.weight", npy("<f4", (2, 4), f32([0.1] * 8)))]
    emit("statedict-scalar-tensor.npz", zip_archive([(n + ".npy", d) for n, d in scalar_bn]), 65, "not recognised",
         "a state_dict whose BatchNorm weight is a 0-d array")
    # An empty uint8 tensor may declare any dimension (0 bytes): 2⁶¹ output channels.
    overflow = [("features.0.weight", npy("|u1", (4, 1, 1, 1), b"\1" * 4)),
                ("features.2.weight", npy("|u1", (1 << 61, 3, 1, 0), b"")),
                ("classifier.0.weight", npy("<f4", (2, 8), f32([0.1] * 16)))]
    emit("statedict-huge-dim.npz", zip_archive([(n + ".npy", d) for n, d in overflow]), 65, "a dimension above 16777216",
         "an empty tensor of shape (2⁶¹, 3, 1, 0): shape arithmetic would overflow")


def pickle_payload():
    """Protocol-2 pickle bytes of a harmless list, written out by hand (never loaded by anything)."""
    return b"\x80\x02]q\x00(K\x01K\x02e."


def duplicate_member(good):
    data = zip_archive([("w.npy", good), ("v.npy", good)])
    # Rename v.npy to w.npy in the local header and the central directory (same length).
    return data.replace(b"v.npy", b"w.npy")


def zip_bomb():
    return zip_archive([("w.npy", npy("<f4", (12 << 20,), bytes(48 << 20)))], compress=True)


def lying_zip_bomb():
    """40 MiB of zeros, deflated; both headers then claim 1 MiB uncompressed (ratio ~25:1, which
    passes the directory's ratio check). Inflating must stop at the declared size."""
    real = 40 << 20
    data = bytearray(zip_archive([("w.npy", npy("<f4", (10 << 20,), bytes(real)))], compress=True))
    true_size = struct.pack("<I", real + 128)
    lie = struct.pack("<I", 1 << 20)
    for sig, offset in [(b"PK\x03\x04", 22), (b"PK\x01\x02", 24)]:
        at = data.index(sig)
        assert data[at + offset:at + offset + 4] == true_size
        data[at + offset:at + offset + 4] = lie
    return bytes(data)


def too_many_members():
    """Just the end records: a ZIP64 end-of-central-directory record declaring 200,000 members."""
    entries = 200_000
    cd_size = entries * 46
    record = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, entries, entries, cd_size, 0)
    locator = struct.pack("<IIQI", 0x07064B50, 0, 0, 1)
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return record + locator + eocd


def statedict_nan():
    members = zip_members(TINY_NPZ)
    out = []
    done = False
    for name, data in members:
        if not done and name.endswith(".weight.npy") and b"'<f4'" in data[:128]:
            header_end = data.index(b"\n") + 1
            data = data[:header_end] + struct.pack("<I", 0x7FC00000) + data[header_end + 4:]
            done = True
        out.append((name, data))
    assert done
    return zip_archive(out)


# MARK: native blindspot NPZ

def native_files():
    conv = {"name": "conv", "op": "conv2d", "inputs": ["input"],
            "attributes": {"inChannels": 65536, "outChannels": 65536, "kernel": [64, 64], "stride": [1, 1], "padding": [32, 32, 32, 32]}}
    emit("native-giant-conv.npz", native_npz(nodes=[conv]), 65, "past the 4 GiB of parameters",
         "a model spec with a 65536→65536 64×64 convolution (64 TiB of parameters)")
    orphan = [{"name": "flatten", "op": "flatten", "inputs": [], "attributes": {}},
              {"name": "fc", "op": "linear", "inputs": ["flatten"], "attributes": {"inFeatures": 16, "outFeatures": 2}}]
    emit("native-node-without-input.npz", native_npz(nodes=orphan), 65, "flatten reads 0 inputs", "a flatten node that reads nothing")
    twice = [{"name": "flatten", "op": "flatten", "inputs": ["input", "input"], "attributes": {}},
             {"name": "fc", "op": "linear", "inputs": ["flatten"], "attributes": {"inFeatures": 16, "outFeatures": 2}}]
    emit("native-node-two-inputs.npz", native_npz(nodes=twice), 65, "flatten reads 2 inputs", "a flatten node that reads two tensors")
    weight = [0.1] * 32
    weight[5] = float("-inf")
    emit("native-inf-weight.npz", native_npz(weight=weight), 65, "NaN or infinite", "fc.weight holds -inf")
    emit("native-deep-header.npz", native_npz(header_text=deep_json(10_000)), 65, "nested more than 100 deep",
         "the blindspot header is arrays nested 10,000 deep")
    pre = {"preprocessing": {"mean": [0.5, 0.5], "std": [0.25, 0.25], "channelOrder": "rgb", "source": "file", "description": "x"}}
    emit("native-preprocessing-channels.npz", native_npz(header_extra=pre), 65, "2 means and 2 stds for a model with 1 input channels",
         "preprocessing for 2 channels on a 1-channel model")
    pre0 = {"preprocessing": {"mean": [0.5], "std": [0], "channelOrder": "rgb", "source": "file", "description": "x"}}
    emit("native-preprocessing-zero-std.npz", native_npz(header_extra=pre0), 65, "a std is 0",
         "preprocessing that divides by a standard deviation of 0")
    # Deployed checkpoints with int8 weights (issue 4): the weight's scales are its own tensor.
    emit("control-native-int8.npz", deployed_npz(), 0, "", "control: the unmodified source of the native-int8-* files")
    emit("native-int8-no-scale.npz", deployed_npz(scale_member=None), 65, "has no scale tensor 'fc.weight_scale'",
         "an int8 weight whose scale tensor is missing")
    emit("native-int8-scale-length.npz", deployed_npz(scales=(0.05, 0.025, 0.1)), 65, "needs [2]",
         "3 scales for a weight with 2 output channels")
    emit("native-int8-scale-zero.npz", deployed_npz(scales=(0.05, 0.0)), 65, "not finite and > 0", "a scale of 0")
    emit("native-int8-scale-nan.npz", deployed_npz(scales=(float("nan"), 0.025)), 65, "not finite and > 0", "a NaN scale")
    emit("native-int8-scale-negative.npz", deployed_npz(scales=(0.05, -0.025)), 65, "not finite and > 0", "a negative scale")
    emit("native-int4-out-of-range.npz", deployed_npz(scheme="int4", q=[9] + [1] * 31), 65, "holds 9, outside -8…7 for 4-bit weights",
         "an int4-scheme weight with the code 9")
    emit("native-int8-undeclared.npz", deployed_npz(declared=False), 65, "stored as int8 but the header gives no scales",
         "an int8 weight the header does not list as integer (its scales unknown)")
    emit("native-int8-paper-int4.npz", deployed_npz(scheme="paper-int4"), 65, "not deployed at an integer-weight scheme",
         "int8 weights in a paper-int4 file, whose weights are not integers × scale")
    names = {"classNames": ["only one"]}
    emit("native-class-names.npz", native_npz(header_extra=names), 65, "class names",
         "1 class name for a 2-class model")


# MARK: PyTorch quantized exports (issue 4)

def pytorch_files():
    control = os.path.join(ROOT, "Tests", "BlindspotTrainingTests", "Fixtures", "pytorch-quantized", "cnn6-narrow.int8.npz")
    manifest.append({"file": os.path.relpath(control, OUT), "exit": 0, "message": "",
                     "why": "control: a PyTorch quantized export in blindspot's convention (made by scripts/make-pytorch-quantized-fixtures.py)"})
    emit("pytorch-q-no-scales.npz", pytorch_npz(drop=("fc.weight.scales",)), 65, "int8 weight 'fc.weight' has no scales",
         "an int8 weight without its scales")
    emit("pytorch-q-zero-points.npz", pytorch_npz(replace={"fc.weight.zero_points": npy("<i8", (2,), struct.pack("<2q", 0, 3))}), 65,
         "weight zero points of 'fc' are not 0", "asymmetric int8 weights (zero point 3)")
    emit("pytorch-q-scale-count.npz", pytorch_npz(replace={"fc.weight.scales": npy("<f4", (3,), f32([0.05, 0.025, 0.1]))}), 65,
         "expected 2 float values", "3 per-channel scales for 2 output channels")
    emit("pytorch-q-scale-inf.npz", pytorch_npz(replace={"fc.weight.scales": npy("<f4", (2,), f32([0.05, float("inf")]))}), 65,
         "not all finite and > 0", "an infinite weight scale")
    emit("pytorch-q-no-input-scale.npz", pytorch_npz(drop=("fc.input_scale",)), 65, "lacks 'fc.input_scale'",
         "a quantized module without the quantization of its input")
    emit("pytorch-q-input-zero-point.npz", pytorch_npz(replace={"fc.input_zero_point": npy("<i8", (), struct.pack("<q", -5))}), 65,
         "must be one integer in 0…255", "an input zero point outside quint8 (qint8 activations)")


# MARK: not checkpoints at all

def misc():
    emit("empty.h5", b"", 65, "empty", "an empty file")
    emit("three-bytes.npz", b"PK\x03", 65, "truncated", "a 3-byte file")
    emit("unknown-format.bin", bytes(random.Random(7).randrange(256) for _ in range(4096)), 65,
         "unknown checkpoint format", "4 KB of random bytes")
    emit("pickle.pt", b"\x80\x02}q\x00.", 65, "pickled PyTorch", "a pickle stream (torch.save before 1.6)")
    emit("single-array.npy", npy("<f4", (2,), f32([1, 2])), 65, "single .npy array", "one .npy array, not a checkpoint")


if __name__ == "__main__":
    main()
