#!/usr/bin/env python3
"""Make the committed checkpoint fixtures for Tests/BlindspotCheckpointTests.

What it makes
-------------
Small checkpoints in the formats users hand to blindspot, each with a reference JSON holding a
fixed input batch and the outputs the framework itself computes for it, so the Swift loaders can be
checked to reproduce Keras and PyTorch exactly.

Tests/BlindspotCheckpointTests/Fixtures/keras/   (Keras 3, JAX backend, channels_last)
  seq_cnn.h5             legacy HDF5 (`model.save("seq_cnn.h5")`) of a Sequential CNN on 32x32x3:
                         Normalization (adapted, per channel) -> Conv 8 'same' + bias -> BN -> ReLU
                         -> MaxPool 2 -> Conv 8 stride 2 'same' no bias (asymmetric padding) -> ReLU
                         -> AvgPool 2 -> Flatten (HWC order!) -> Dense 16 relu -> Dropout
                         -> Dense 10 softmax
  seq_cnn.json           its reference
  functional_res.h5      legacy HDF5 of a Functional model on 16x16x3: Rescaling(2, -1) -> Conv 4
                         'same' -> BN -> ReLU -> residual block (Conv 4 'same' -> BN -> Add with the
                         block input -> ReLU) -> GlobalAveragePooling -> Dense 5 (logits) -> Softmax
  functional_res.keras   the same model (same weights) in the Keras 3 `.keras` zip format
  functional_res.json    the reference for both functional_res files

Tests/BlindspotCheckpointTests/Fixtures/torch/   (PyTorch state_dicts exported to NPZ as users do:
                         np.savez(p, **{k: v.detach().numpy() for k, v in sd.items()}))
  tiny_resnet.npz        CIFAR-style ResNet, kuangliu/BackdoorBench naming, BasicBlocks,
                         option-B (1x1 conv + BN) projection shortcut, input 3x16x16
  tiny_resnet_fp16.npz   the same state_dict with float tensors cast to float16
  tiny_preact.npz        PreAct ResNet (BackdoorBench PreActBlock naming, final `bn`), input 3x16x16
  cnn6_like.npz          plain CNN, `features.N` / `classifier.N` naming, cnn6 pattern, 3x32x32
  <name>.json            the reference for each

Each reference JSON holds `input_nchw` (2 images in pixel space [0,1], seeded uniform on a 1/1000
grid, flattened in NCHW order even for the channels_last Keras models), `input_shape_nchw`,
`logits` (pre-softmax outputs), `num_classes`, framework version and a description; the Keras ones
also hold `probabilities`. Every float in a JSON is written as the shortest decimal that reads back
to the same float32 (parse it as Double and round to Float, or parse as Float: both give the value).

Weights are random (seeded numpy Generator, not the frameworks' initialisers, so the values do not
depend on the framework version), BatchNorm gamma/beta/moving mean/moving variance included, so
that a BatchNorm conversion error shows in the outputs. Before it finishes, the script reloads
every saved file in its own framework (keras.models.load_model, np.load + load_state_dict),
recomputes the outputs and asserts they equal the JSON to 1e-6; it also writes README.md in each
folder with the versions used.

With the pinned versions a re-run rewrites every file byte for byte, except `functional_res.keras`
(its zip member timestamps and the `date_saved` in its metadata.json change; its contents do not).

Layouts a loader must expect (as written by these versions): in seq_cnn.h5 the Sequential's weights
sit at `model_weights/<layer>/seq_cnn/<layer>/<var>` and in functional_res.h5 at
`model_weights/<layer>/<layer>/<var>` (follow each group's `weight_names` attribute); the adapted
Normalization's `count` is an int32 scalar; inside the .keras zip the weights are at
`layers/<snake_case class name>[_N]/vars/<i>` (conv2d, conv2d_1, batch_normalization, dense, ...),
not under the layer names given in config.json.

How to run (from the package root, /work/main; takes well under a minute on 1 core)
----------
    python3 -m venv .venv-fixtures
    .venv-fixtures/bin/pip install -r scripts/requirements-fixtures.txt
    .venv-fixtures/bin/python scripts/make-checkpoint-fixtures.py
"""

import json
import logging
import os
import platform
import sys
from pathlib import Path

os.environ["KERAS_BACKEND"] = "jax"
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import warnings  # noqa: E402

import numpy as np  # noqa: E402

# Expected and harmless: Keras' "HDF5 is legacy" notice and its input-structure notice when a
# Functional model with a named Input is called on a bare array.
warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")
logging.getLogger("absl").setLevel(logging.ERROR)

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "Tests" / "BlindspotCheckpointTests" / "Fixtures"
KERAS_DIR = FIXTURES / "keras"
TORCH_DIR = FIXTURES / "torch"
TOL = 1e-6


# ---------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------

def f32_list(a):
    """Flatten to a list of Python floats whose JSON text is the shortest float32 round-trip
    decimal (numpy's Dragon4 `str`), checked to read back bit-exactly through Double."""
    flat = np.ascontiguousarray(a, dtype=np.float32).ravel()
    out = []
    for v in flat:
        d = float(str(v))
        if np.float32(d) != v or np.float32(d).tobytes() != v.tobytes():
            d = float(v)  # exact double of the float32: always reads back
        out.append(d)
    return out


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
        f.write("\n")


def pixel_batch(seed, shape_nchw):
    """2 images in pixel space [0,1], seeded uniform, float32, NCHW. Drawn on a 1/1000 grid
    (uniform, then rounded to 3 decimals) so each value prints as at most 5 characters in the
    JSON: this halves the size of the reference files."""
    u = np.random.default_rng(seed).uniform(0.0, 1.0, size=shape_nchw)
    return np.round(u, 3).astype(np.float32)


def softmax(z):
    z = z.astype(np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def check_close(name, what, got, ref):
    got = np.asarray(got, dtype=np.float32).ravel()
    ref = np.asarray(ref, dtype=np.float32).ravel()
    assert got.shape == ref.shape, f"{name}: {what}: shape {got.shape} != {ref.shape}"
    err = float(np.max(np.abs(got - ref))) if got.size else 0.0
    assert err <= TOL, f"{name}: {what}: max |diff| {err} > {TOL}"
    return err


def describe_outputs(name, logits):
    z = np.asarray(logits).reshape(2, -1)
    print(f"  {name}: logits range [{z.min():.3f}, {z.max():.3f}], std {z.std():.3f}, "
          f"argmax {z.argmax(axis=1).tolist()}")
    assert z.std() > 0.05, f"{name}: degenerate outputs"
    assert not np.allclose(z[0], z[1]), f"{name}: both images give the same output"


# ---------------------------------------------------------------------------------------------
# Keras
# ---------------------------------------------------------------------------------------------

def keras_fixtures():
    import keras
    from keras import layers

    keras.config.set_image_data_format("channels_last")
    keras.utils.set_random_seed(1234)  # only for anything Keras draws itself; weights come below
    assert keras.backend.backend() == "jax"
    rng = np.random.default_rng(20250101)

    def he(shape, fan_in, gain=2.0):
        return (rng.standard_normal(shape) * np.sqrt(gain / fan_in)).astype(np.float32)

    def set_conv(layer):
        w = layer.get_weights()
        kh, kw, cin, cout = w[0].shape
        new = [he(w[0].shape, kh * kw * cin)]
        if len(w) > 1:
            new.append(rng.uniform(-0.2, 0.2, size=w[1].shape).astype(np.float32))
        layer.set_weights(new)

    def set_dense(layer, gain=2.0):
        w = layer.get_weights()
        layer.set_weights([he(w[0].shape, w[0].shape[0], gain),
                           rng.uniform(-0.2, 0.2, size=w[1].shape).astype(np.float32)])

    def set_bn(layer):
        c = layer.get_weights()[0].shape[0]
        layer.set_weights([
            rng.uniform(0.5, 1.5, c).astype(np.float32),    # gamma
            rng.uniform(-0.3, 0.3, c).astype(np.float32),   # beta
            rng.uniform(-0.3, 0.3, c).astype(np.float32),   # moving_mean
            rng.uniform(0.1, 2.0, c).astype(np.float32),    # moving_variance (small ones: eps shows)
        ])

    def penultimate_model(model, layer_name):
        return keras.Model(model.inputs, model.get_layer(layer_name).output)

    # ---- 1. seq_cnn.h5 --------------------------------------------------------------------
    seq = keras.Sequential([
        keras.Input((32, 32, 3)),
        layers.Normalization(axis=-1, name="normalization"),
        layers.Conv2D(8, 3, padding="same", use_bias=True, name="conv1"),
        layers.BatchNormalization(epsilon=1e-3, name="bn1"),
        layers.Activation("relu", name="relu1"),
        layers.MaxPooling2D(2, name="pool1"),
        layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="conv2"),
        layers.ReLU(name="relu2"),
        layers.AveragePooling2D(2, name="pool2"),
        layers.Flatten(name="flatten"),
        layers.Dense(16, activation="relu", name="fc1"),
        layers.Dropout(0.5, name="dropout"),
        layers.Dense(10, activation="softmax", name="fc2"),
    ], name="seq_cnn")
    # Adapt the Normalization on seeded data with CIFAR-like per-channel statistics: the file then
    # stores mean, variance (shape (3,)) and count as weights.
    chan_mean = np.array([0.49, 0.48, 0.45], np.float32)
    chan_std = np.array([0.25, 0.24, 0.26], np.float32)
    adapt_data = np.clip(rng.standard_normal((64, 32, 32, 3)) * chan_std + chan_mean, 0, 1)
    seq.get_layer("normalization").adapt(adapt_data.astype(np.float32))
    set_conv(seq.get_layer("conv1"))
    set_bn(seq.get_layer("bn1"))
    set_conv(seq.get_layer("conv2"))
    set_dense(seq.get_layer("fc1"))
    set_dense(seq.get_layer("fc2"), gain=1.0)

    def seq_outputs(model, x_nhwc):
        probs = np.asarray(model(x_nhwc, training=False))
        feat = np.asarray(penultimate_model(model, "dropout")(x_nhwc, training=False))
        w, b = model.get_layer("fc2").get_weights()
        logits = (feat @ w + b).astype(np.float32)  # fc2's pre-activation
        return logits, probs

    x_seq = pixel_batch(101, (2, 3, 32, 32))
    seq_logits, seq_probs = seq_outputs(seq, x_seq.transpose(0, 2, 3, 1))
    assert np.max(np.abs(softmax(seq_logits) - seq_probs)) < 1e-6
    describe_outputs("seq_cnn", seq_logits)
    seq.save(str(KERAS_DIR / "seq_cnn.h5"))
    norm = seq.get_layer("normalization")
    write_json(KERAS_DIR / "seq_cnn.json", {
        "model_file": "seq_cnn.h5",
        "format": "keras legacy HDF5 (model.save('seq_cnn.h5'))",
        "input_nchw": f32_list(x_seq),
        "input_shape_nchw": list(x_seq.shape),
        "logits": f32_list(seq_logits),
        "probabilities": f32_list(seq_probs),
        "num_classes": 10,
        "keras_version": keras.__version__,
        "backend": keras.backend.backend(),
        "notes": (
            "Sequential, channels_last, input 32x32x3 given in pixel space [0,1]. Layers: "
            "Normalization(axis=-1, adapted: weights mean/variance shape (3,), count; computes "
            "(x - mean) / max(sqrt(variance), 1e-7)) -> Conv2D(8,3,'same',bias) -> "
            "BatchNormalization(eps=1e-3) -> Activation('relu') -> MaxPooling2D(2) -> "
            "Conv2D(8,3,strides=2,'same',no bias; 16x16 -> 8x8, pad 0 top/left and 1 bottom/right) "
            "-> ReLU -> AveragePooling2D(2) -> Flatten (HWC order: 4x4x8=128) -> Dense(16,relu) -> "
            "Dropout(0.5) (identity at inference) -> Dense(10,softmax). 'logits' are fc2's "
            "pre-softmax values x.W+b computed from the Dropout output; 'probabilities' are the "
            "model's outputs. Both arrays are [2,10] row-major. Normalization stats: mean "
            f"{f32_list(norm.get_weights()[0])}, variance {f32_list(norm.get_weights()[1])}."
        ),
    })

    # ---- 2./3. functional_res.h5 and functional_res.keras ----------------------------------
    inp = keras.Input((16, 16, 3), name="image")
    x = layers.Rescaling(scale=2.0, offset=-1.0, name="rescaling")(inp)
    x = layers.Conv2D(4, 3, padding="same", name="conv1")(x)
    x = layers.BatchNormalization(name="bn1")(x)
    block_in = layers.ReLU(name="relu1")(x)
    y = layers.Conv2D(4, 3, padding="same", name="res_conv")(block_in)
    y = layers.BatchNormalization(name="res_bn")(y)
    y = layers.Add(name="res_add")([y, block_in])
    y = layers.ReLU(name="res_relu")(y)
    y = layers.GlobalAveragePooling2D(name="gap")(y)
    logits_t = layers.Dense(5, name="logits")(y)
    out = layers.Softmax(name="softmax")(logits_t)
    fun = keras.Model(inp, out, name="functional_res")
    set_conv(fun.get_layer("conv1"))
    set_bn(fun.get_layer("bn1"))
    set_conv(fun.get_layer("res_conv"))
    set_bn(fun.get_layer("res_bn"))
    set_dense(fun.get_layer("logits"), gain=2.0)

    def fun_outputs(model, x_nhwc):
        probs = np.asarray(model(x_nhwc, training=False))
        logits = np.asarray(penultimate_model(model, "logits")(x_nhwc, training=False))
        return logits, probs

    x_fun = pixel_batch(102, (2, 3, 16, 16))
    fun_logits, fun_probs = fun_outputs(fun, x_fun.transpose(0, 2, 3, 1))
    assert np.max(np.abs(softmax(fun_logits) - fun_probs)) < 1e-6
    describe_outputs("functional_res", fun_logits)
    fun.save(str(KERAS_DIR / "functional_res.h5"))
    fun.save(str(KERAS_DIR / "functional_res.keras"))
    write_json(KERAS_DIR / "functional_res.json", {
        "model_files": ["functional_res.h5", "functional_res.keras"],
        "format": "keras legacy HDF5 and Keras 3 .keras zip (config.json + model.weights.h5); "
                  "same model, same weights",
        "input_nchw": f32_list(x_fun),
        "input_shape_nchw": list(x_fun.shape),
        "logits": f32_list(fun_logits),
        "probabilities": f32_list(fun_probs),
        "num_classes": 5,
        "keras_version": keras.__version__,
        "backend": keras.backend.backend(),
        "notes": (
            "Functional, channels_last, Input(16,16,3) given in pixel space [0,1]. "
            "Rescaling(scale=2.0, offset=-1.0) -> Conv2D(4,3,'same',bias) 'conv1' -> "
            "BatchNormalization(eps=1e-3) 'bn1' -> ReLU 'relu1' -> residual block: "
            "Conv2D(4,3,'same',bias) 'res_conv' -> BatchNormalization 'res_bn' -> "
            "Add 'res_add' [res_bn, relu1] -> ReLU 'res_relu' -> GlobalAveragePooling2D 'gap' -> "
            "Dense(5, linear) 'logits' -> Softmax 'softmax' (a separate layer). 'logits' are the "
            "Dense layer's outputs, 'probabilities' the model's; both [2,5] row-major."
        ),
    })

    # ---- verify: reload each file and recompute --------------------------------------------
    refs = {p: json.loads((KERAS_DIR / p).read_text()) for p in ["seq_cnn.json", "functional_res.json"]}
    report = []
    for file, ref_name, fn in [("seq_cnn.h5", "seq_cnn.json", seq_outputs),
                               ("functional_res.h5", "functional_res.json", fun_outputs),
                               ("functional_res.keras", "functional_res.json", fun_outputs)]:
        ref = refs[ref_name]
        xin = np.array(ref["input_nchw"], dtype=np.float32).reshape(ref["input_shape_nchw"])
        src = x_seq if ref_name == "seq_cnn.json" else x_fun
        assert xin.tobytes() == src.tobytes(), f"{ref_name}: input does not read back bit-exactly"
        m = keras.models.load_model(str(KERAS_DIR / file), compile=False)
        lg, pr = fn(m, xin.transpose(0, 2, 3, 1))
        e1 = check_close(file, "logits", lg, ref["logits"])
        e2 = check_close(file, "probabilities", pr, ref["probabilities"])
        report.append(f"  verified {file}: reload max |diff| logits {e1:.2g}, probabilities {e2:.2g}")
    print("\n".join(report))
    return {"keras": keras.__version__, "backend": keras.backend.backend()}


# ---------------------------------------------------------------------------------------------
# PyTorch
# ---------------------------------------------------------------------------------------------

def torch_fixtures():
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    # -- architectures (kuangliu/pytorch-cifar and BackdoorBench naming) --
    class BasicBlock(nn.Module):
        expansion = 1

        def __init__(self, in_planes, planes, stride=1):
            super().__init__()
            self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.shortcut = nn.Sequential()
            if stride != 1 or in_planes != planes:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                    nn.BatchNorm2d(planes))

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            out = out + self.shortcut(x)
            return F.relu(out)

    class TinyResNet(nn.Module):
        def __init__(self, num_classes=10):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 3, stride=1, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(8)
            self.layer1 = nn.Sequential(BasicBlock(8, 8, 1))
            self.layer2 = nn.Sequential(BasicBlock(8, 16, 2))
            self.linear = nn.Linear(16, num_classes)

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.layer2(self.layer1(out))
            out = F.adaptive_avg_pool2d(out, 1).flatten(1)
            return self.linear(out)

    class PreActBlock(nn.Module):
        expansion = 1

        def __init__(self, in_planes, planes, stride=1):
            super().__init__()
            self.bn1 = nn.BatchNorm2d(in_planes)
            self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
            if stride != 1 or in_planes != planes:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False))

        def forward(self, x):
            out = F.relu(self.bn1(x))
            shortcut = self.shortcut(out) if hasattr(self, "shortcut") else x
            out = self.conv1(out)
            out = self.conv2(F.relu(self.bn2(out)))
            return out + shortcut

    class TinyPreAct(nn.Module):
        def __init__(self, num_classes=10):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 3, stride=1, padding=1, bias=False)
            self.layer1 = nn.Sequential(PreActBlock(8, 8, 1))
            self.layer2 = nn.Sequential(PreActBlock(8, 16, 2))
            self.bn = nn.BatchNorm2d(16)
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.linear = nn.Linear(16, num_classes)

        def forward(self, x):
            out = self.conv1(x)
            out = self.layer2(self.layer1(out))
            out = F.relu(self.bn(out))
            out = self.avgpool(out).flatten(1)
            return self.linear(out)

    class CNN6Like(nn.Module):
        def __init__(self, num_classes=10):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(inplace=True),   # 0, 1
                nn.Conv2d(4, 4, 3), nn.ReLU(inplace=True),              # 2, 3
                nn.MaxPool2d(2),                                        # 4
                nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(inplace=True),   # 5, 6
                nn.Conv2d(8, 8, 3), nn.ReLU(inplace=True),              # 7, 8
                nn.MaxPool2d(2),                                        # 9
            )
            self.classifier = nn.Sequential(
                nn.Linear(8 * 6 * 6, 16), nn.ReLU(inplace=True),        # 0, 1
                nn.Dropout(0.5),                                        # 2
                nn.Linear(16, num_classes),                             # 3
            )

        def forward(self, x):
            x = self.features(x)
            x = torch.flatten(x, 1)  # NCHW flatten (C-major)
            return self.classifier(x)

    def randomize(model, seed, gain_last=2.0):
        """Seeded numpy weights: He-normal convs/linears, small biases, BatchNorm gamma, beta,
        running mean and running variance all random and away from their defaults."""
        rng = np.random.default_rng(seed)
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    fan_in = int(np.prod(m.weight.shape[1:]))
                    gain = gain_last if m is linears[-1] else 2.0
                    w = rng.standard_normal(tuple(m.weight.shape)) * np.sqrt(gain / fan_in)
                    m.weight.copy_(torch.from_numpy(w.astype(np.float32)))
                    if m.bias is not None:
                        m.bias.copy_(torch.from_numpy(
                            rng.uniform(-0.2, 0.2, tuple(m.bias.shape)).astype(np.float32)))
                elif isinstance(m, nn.BatchNorm2d):
                    c = m.num_features
                    m.weight.copy_(torch.from_numpy(rng.uniform(0.5, 1.5, c).astype(np.float32)))
                    m.bias.copy_(torch.from_numpy(rng.uniform(-0.3, 0.3, c).astype(np.float32)))
                    m.running_mean.copy_(torch.from_numpy(rng.uniform(-0.3, 0.3, c).astype(np.float32)))
                    m.running_var.copy_(torch.from_numpy(rng.uniform(0.1, 2.0, c).astype(np.float32)))
                    m.num_batches_tracked.fill_(int(rng.integers(100, 10000)))
        return model.eval()

    def export_npz(path, state_dict):
        # Exactly as users do it.
        np.savez(path, **{k: v.detach().numpy() for k, v in state_dict.items()})

    def run(model, x):
        with torch.no_grad():
            return model.eval()(torch.from_numpy(x)).numpy().astype(np.float32)

    def n_params(model):
        return int(sum(p.numel() for p in model.parameters()))

    specs = [
        ("tiny_resnet", TinyResNet, 201, (2, 3, 16, 16), 4.0,
         "CIFAR-style ResNet (kuangliu/pytorch-cifar, BackdoorBench naming), input 3x16x16 in pixel "
         "space [0,1], no normalisation. conv1 3x3 3->8 s1 p1 no bias; bn1; relu. layer1.0: "
         "BasicBlock 8->8 s1 (conv1 3x3 p1 no bias, bn1, relu, conv2 3x3 p1 no bias, bn2, + identity, "
         "relu). layer2.0: BasicBlock 8->16 stride 2 (conv1 3x3 s2 p1, bn1, relu, conv2 3x3 s1 p1, "
         "bn2) + projection shortcut (option B: shortcut.0 = 1x1 conv s2 no bias, shortcut.1 = BN), "
         "relu. F.adaptive_avg_pool2d(., 1) -> flatten -> linear 16->10. All BN eps=1e-5."),
        ("tiny_preact", TinyPreAct, 202, (2, 3, 16, 16), 4.0,
         "PreAct ResNet (BackdoorBench models/preact_resnet.py naming), input 3x16x16 in pixel space "
         "[0,1]. conv1 3x3 3->8 s1 p1 no bias (no BN after it). layer1.0: PreActBlock 8->8 s1: "
         "out = relu(bn1(x)); conv1 3x3 p1; relu(bn2(.)); conv2 3x3 p1; + x (identity). layer2.0: "
         "PreActBlock 8->16 stride 2: a = relu(bn1(x)); shortcut = shortcut.0(a) (1x1 conv s2 no "
         "bias, no BN, applied to relu(bn1(x)) not x); conv1 3x3 s2 p1 on a; relu(bn2(.)); conv2 "
         "3x3 p1; + shortcut (no relu after the add). Final bn (16) + relu, adaptive avg pool 1x1, "
         "flatten, linear 16->10. All BN eps=1e-5."),
        ("cnn6_like", CNN6Like, 203, (2, 3, 32, 32), 4.0,
         "Plain CNN with the cnn6 layer pattern at small widths, nn.Sequential naming, input "
         "3x32x32 in pixel space [0,1]. features.0 Conv2d(3,4,3,padding=1)+bias, features.1 ReLU, "
         "features.2 Conv2d(4,4,3,padding=0), features.3 ReLU, features.4 MaxPool2d(2) (30->15), "
         "features.5 Conv2d(4,8,3,padding=1), features.6 ReLU, features.7 Conv2d(8,8,3,padding=0), "
         "features.8 ReLU, features.9 MaxPool2d(2) (13->6, floor). torch.flatten(x,1) in forward "
         "(NCHW order, 8*6*6=288), then classifier.0 Linear(288,16), classifier.1 ReLU, "
         "classifier.2 Dropout(0.5) (identity in eval), classifier.3 Linear(16,10)."),
    ]

    report = []
    built = {}
    for name, cls, seed, shape, gain_last, desc in specs:
        model = randomize(cls(), seed, gain_last)
        x = pixel_batch(seed + 1000, shape)
        logits = run(model, x)
        describe_outputs(name, logits)
        export_npz(TORCH_DIR / f"{name}.npz", model.state_dict())
        write_json(TORCH_DIR / f"{name}.json", {
            "model_file": f"{name}.npz",
            "format": "PyTorch state_dict exported with np.savez (float32; num_batches_tracked int64)",
            "input_nchw": f32_list(x),
            "input_shape_nchw": list(shape),
            "logits": f32_list(logits),
            "num_classes": 10,
            "num_parameters": n_params(model),
            "architecture_description": desc,
            "torch_version": torch.__version__,
        })
        built[name] = (cls, x, model)

    # tiny_resnet_fp16: float tensors cast to float16; the reference is the float32 model
    # carrying the fp16-rounded values (what an fp16 -> fp32 loader must reproduce).
    cls, x, model32 = built["tiny_resnet"]
    sd16 = {k: (v.half() if v.is_floating_point() else v) for k, v in model32.state_dict().items()}
    export_npz(TORCH_DIR / "tiny_resnet_fp16.npz", sd16)
    model16 = cls()
    model16.load_state_dict({k: (v.float() if v.is_floating_point() else v) for k, v in sd16.items()})
    logits16 = run(model16, x)
    shift = float(np.max(np.abs(logits16 - run(model32, x))))
    assert shift > 1e-5, "fp16 rounding does not move the outputs: reference would not test it"
    describe_outputs("tiny_resnet_fp16", logits16)
    write_json(TORCH_DIR / "tiny_resnet_fp16.json", {
        "model_file": "tiny_resnet_fp16.npz",
        "format": "PyTorch state_dict exported with np.savez after .half() of every float tensor "
                  "(weights, biases, BN running stats are float16; num_batches_tracked int64)",
        "input_nchw": f32_list(x),
        "input_shape_nchw": list(x.shape),
        "logits": f32_list(logits16),
        "num_classes": 10,
        "num_parameters": n_params(model16),
        "architecture_description": specs[0][5],
        "torch_version": torch.__version__,
        "notes": ("Same model and input as tiny_resnet.json. Reference computed in float32 by the "
                  "model loaded with the float16 values widened exactly to float32. Max |logit "
                  f"difference| to the unrounded float32 model: {shift:.3g}."),
    })

    # ---- verify: reload each NPZ into a fresh model and recompute -----------------------------
    for name, cls in [("tiny_resnet", TinyResNet), ("tiny_resnet_fp16", TinyResNet),
                      ("tiny_preact", TinyPreAct), ("cnn6_like", CNN6Like)]:
        ref = json.loads((TORCH_DIR / f"{name}.json").read_text())
        xin = np.array(ref["input_nchw"], dtype=np.float32).reshape(ref["input_shape_nchw"])
        assert xin.tobytes() == built[name.replace("_fp16", "")][1].tobytes(), \
            f"{name}: input does not read back bit-exactly"
        fresh = cls()
        with np.load(TORCH_DIR / f"{name}.npz", allow_pickle=False) as z:
            expected = set(fresh.state_dict().keys())
            assert set(z.files) == expected, f"{name}: keys {sorted(set(z.files) ^ expected)}"
            dtypes = {str(z[k].dtype) for k in z.files}
            sd = {k: torch.from_numpy(z[k].copy()) for k in z.files}
        sd = {k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()}
        fresh.load_state_dict(sd, strict=True)
        err = check_close(name, "logits", run(fresh, xin), ref["logits"])
        report.append(f"  verified {name}.npz ({', '.join(sorted(dtypes))}): "
                      f"reload max |diff| {err:.2g}")
    print("\n".join(report))
    return {"torch": torch.__version__}


# ---------------------------------------------------------------------------------------------
# READMEs
# ---------------------------------------------------------------------------------------------

def file_table(folder):
    rows = ["| file | bytes |", "|---|---|"]
    for p in sorted(folder.iterdir()):
        if p.name != "README.md":
            rows.append(f"| `{p.name}` | {p.stat().st_size:,} |")
    return "\n".join(rows)


def write_readmes(versions):
    import h5py
    common = (
        f"Generated by `scripts/make-checkpoint-fixtures.py` (see its docstring; run it from the "
        f"package root with `.venv-fixtures/bin/python scripts/make-checkpoint-fixtures.py` after "
        f"`python3 -m venv .venv-fixtures && .venv-fixtures/bin/pip install -r "
        f"scripts/requirements-fixtures.txt`). Do not edit by hand: re-run the script.\n\n"
        f"Versions: Python {platform.python_version()}, numpy {np.__version__}, "
        f"h5py {h5py.__version__} (HDF5 {h5py.version.hdf5_version}), "
        f"Keras {versions['keras']} ({versions['backend']} backend), torch {versions['torch']}.\n\n"
        "Every reference JSON: `input_nchw` = 2 images in pixel space [0,1] (seeded uniform, "
        "rounded to 3 decimals), "
        "flattened NCHW (also for the channels_last Keras models: transpose to NHWC before "
        "feeding Keras), `input_shape_nchw`, `logits` (pre-softmax, [2, num_classes] row-major), "
        "`num_classes`. Floats are the shortest decimals that read back to the exact float32. "
        "The script reloads every file in its own framework and asserts the recomputed outputs "
        "equal the JSON to 1e-6 (they are bit-identical).\n"
    )
    (KERAS_DIR / "README.md").write_text(
        "# Keras checkpoint fixtures\n\n" + common + "\n"
        "Keras 3, JAX backend, `channels_last`. Weights are seeded random; BatchNorm gamma, beta, "
        "moving mean and moving variance are random non-default values (variances 0.1–2, so an "
        "epsilon mix-up shows). These JSONs also have `probabilities` (the model's softmax "
        "outputs) and `notes` with the exact layer list.\n\n"
        "- `seq_cnn.h5` (+ `seq_cnn.json`): legacy HDF5 from `model.save(\"seq_cnn.h5\")`. "
        "Sequential on 32×32×3: Normalization (adapted; weights mean/variance/count), Conv2D 8 "
        "'same' + bias, BatchNormalization(eps 1e-3), Activation relu, MaxPooling2D 2, Conv2D 8 "
        "stride 2 'same' no bias (16→8: TF 'same' pads 0 before, 1 after), ReLU, "
        "AveragePooling2D 2, Flatten (HWC order — a loader flattening NCHW must permute Dense "
        "rows), Dense 16 relu, Dropout 0.5, Dense 10 softmax. `logits` = the last Dense's "
        "pre-activation.\n"
        "- `functional_res.h5`, `functional_res.keras` (+ `functional_res.json`, shared): the same "
        "Functional model in legacy HDF5 and in the Keras 3 `.keras` zip (config.json + "
        "model.weights.h5). Input 16×16×3, Rescaling(scale 2, offset -1), Conv2D 4 'same', BN, "
        "ReLU, residual block (Conv2D 4 'same' → BN → Add with the block input → ReLU), "
        "GlobalAveragePooling2D, Dense 5 (linear, named `logits`), separate Softmax layer.\n\n"
        + file_table(KERAS_DIR) + "\n")
    (TORCH_DIR / "README.md").write_text(
        "# PyTorch state_dict (NPZ) fixtures\n\n" + common + "\n"
        "Each `.npz` is `np.savez(p, **{k: v.detach().numpy() for k, v in model.state_dict()"
        ".items()})` (stored, ZIP64 extras; `num_batches_tracked` int64). Weights are seeded "
        "random; BatchNorm weight, bias, running_mean, running_var are random non-default values "
        "(variances 0.1–2). BN eps 1e-5. The JSONs also carry `architecture_description`, "
        "`num_parameters`, `torch_version`.\n\n"
        "- `tiny_resnet.npz`: CIFAR ResNet, kuangliu/BackdoorBench naming (`conv1`, `bn1`, "
        "`layer1.0.{conv1,bn1,conv2,bn2}`, `layer2.0.shortcut.{0,1}` = 1×1 conv s2 + BN "
        "(option B), `linear`), stem 8, layer1 one BasicBlock 8, layer2 one BasicBlock 16 "
        "stride 2, adaptive average pool, linear 10; input 3×16×16.\n"
        "- `tiny_resnet_fp16.npz`: the same state_dict with every float tensor `.half()`; its "
        "reference is the float32 model loaded with the fp16-rounded values.\n"
        "- `tiny_preact.npz`: PreAct ResNet, BackdoorBench PreActBlock naming "
        "(`layer1.0.{bn1,conv1,bn2,conv2}`, `layer2.0.shortcut.0` = 1×1 conv s2 on relu(bn1(x)), "
        "final `bn`, `linear`); stem conv 8 (no BN), blocks 8 and 16 (stride 2); input 3×16×16.\n"
        "- `cnn6_like.npz`: cnn6 pattern at widths 4/8/16: `features.{0,2,5,7}` convs (0 and 5 "
        "padding 1, 2 and 7 no padding), max pools at `features.4` and `features.9`, "
        "`torch.flatten` (NCHW) in forward, `classifier.0` Linear 288→16, `classifier.3` Linear "
        "16→10 (ReLU at classifier.1, Dropout at classifier.2); input 3×32×32.\n\n"
        + file_table(TORCH_DIR) + "\n")


def main():
    KERAS_DIR.mkdir(parents=True, exist_ok=True)
    TORCH_DIR.mkdir(parents=True, exist_ok=True)
    print("Keras fixtures ->", KERAS_DIR.relative_to(ROOT))
    versions = keras_fixtures()
    print("PyTorch fixtures ->", TORCH_DIR.relative_to(ROOT))
    versions.update(torch_fixtures())
    write_readmes(versions)
    total = 0
    for d in (KERAS_DIR, TORCH_DIR):
        for p in sorted(d.iterdir()):
            total += p.stat().st_size
            print(f"  {p.relative_to(FIXTURES)}: {p.stat().st_size:,} bytes")
    print(f"total {total:,} bytes")
    assert total < 500_000, "fixtures too large"
    return 0


if __name__ == "__main__":
    sys.exit(main())
