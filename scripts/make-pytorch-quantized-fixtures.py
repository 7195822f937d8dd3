#!/usr/bin/env python3
"""Make the PyTorch quantized-export fixture for Tests/BlindspotTrainingTests (issue 4, "From a file").

Users of torch.ao.quantization who want to audit the model they deploy save its quantized state as
NPZ in the convention blindspot reads (README, "Deployed checkpoints and PyTorch quantized exports";
`export_quantized` below is the whole recipe). This script builds blindspot's cnn6 layer pattern in
PyTorch (per stage: conv 3x3 'same' + ReLU, conv 3x3 'valid' + ReLU, max-pool 2; three stages; then
flatten, linear + ReLU, dropout, linear), narrowed to widths 8/16/32 and a 64-unit hidden layer so the
fixture stays small, on 3x24x24 inputs (the smallest size the three 'valid' stages leave 1x1 of) with
4 classes. It trains it for a few epochs on a seeded synthetic task (the colour of a square on
noise), runs FX static post-training quantization with the x86 engine's default qconfig (per-channel
symmetric qint8 weights, quint8 affine activations with reduce_range, HistogramObserver) calibrated on
training batches, and writes:

Tests/BlindspotTrainingTests/Fixtures/pytorch-quantized/
  cnn6-narrow.int8.npz   the quantized model in blindspot's convention (int8 weights, scales, biases,
                         input/output quantization per module), as `export_quantized` writes it
  cnn6-narrow.json       the architecture as a blindspot model spec (`--arch cnn6-narrow.json`),
                         node names as in blindspot's cnn6 (conv1…conv6, fc1, fc2)
  test.npz               the test images the Swift test runs: `images` uint8 N×3×24×24 (NCHW, RGB;
                         the model reads pixel/255), `labels` int64
  reference.json         per test image PyTorch's quantized logits (as quint8 codes of the last layer's
                         output scale and zero point, which is what the quantized model returns before
                         dequantizing), their argmax, and the FP32 model's logits

The Swift test (PyTorchQuantizedExportTests) loads the NPZ with blindspot, checks the recognised scheme
and per-layer scales against the file, runs blindspot's integer path and compares its predictions and
logits with PyTorch's.

How to run (from the package root; torch 2.13 CPU, numpy):
    /work/main/.venv-fixtures/bin/python scripts/make-pytorch-quantized-fixtures.py
Deterministic: seeded numpy data, torch.manual_seed, one thread.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

warnings.filterwarnings("ignore")
OUT = Path(__file__).resolve().parent.parent / "Tests/BlindspotTrainingTests/Fixtures/pytorch-quantized"
SIDE, CLASSES, WIDTHS, HIDDEN = 24, 4, (8, 16, 32), 64
COLOURS = np.array([[200, 30, 30], [30, 200, 30], [30, 30, 200], [200, 200, 30]], dtype=np.float64)


class CNN6(nn.Module):
    """blindspot's cnn6 pattern with narrow widths (scripts/bench-pytorch has the full-width one)."""

    def __init__(self):
        super().__init__()
        layers, c = [], 3
        for w in WIDTHS:
            layers += [nn.Conv2d(c, w, 3, padding=1), nn.ReLU(), nn.Conv2d(w, w, 3), nn.ReLU(), nn.MaxPool2d(2)]
            c = w
        self.features = nn.Sequential(*layers)
        side = SIDE
        for _ in WIDTHS:
            side = (side - 2) // 2
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(c * side * side, HIDDEN), nn.ReLU(), nn.Dropout(0.5),
                                        nn.Linear(HIDDEN, CLASSES))

    def forward(self, x):
        return self.classifier(self.features(x))


def export_quantized(qmodel, example, path):
    """blindspot's convention for a converted (quantized) PyTorch model, one entry per quantized
    conv/linear module P: P.weight int8, P.weight.scales + P.weight.zero_points (per channel) or
    P.weight.scale + P.weight.zero_point (per tensor), P.bias float32, P.input_scale/P.input_zero_point
    (the quint8 parameters of the tensor the module reads, recorded by running `example`), and
    P.scale/P.zero_point (its output's)."""
    import torch.ao.nn.quantized as nnq
    inputs, hooks = {}, []

    def record(name):
        def hook(module, args):
            inputs[name] = (args[0].q_scale(), args[0].q_zero_point())
        return hook
    for name, m in qmodel.named_modules():
        if isinstance(m, (nnq.Conv2d, nnq.Linear)):
            hooks.append(m.register_forward_pre_hook(record(name)))
    qmodel(example)
    for h in hooks:
        h.remove()
    out = {}
    for name, m in qmodel.named_modules():
        if name not in inputs:
            continue
        w = m.weight()
        out[f"{name}.weight"] = w.int_repr().numpy()
        if w.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
            out[f"{name}.weight.scales"] = w.q_per_channel_scales().numpy().astype(np.float32)
            out[f"{name}.weight.zero_points"] = w.q_per_channel_zero_points().numpy()
        else:
            out[f"{name}.weight.scale"] = np.float32(w.q_scale())
            out[f"{name}.weight.zero_point"] = np.int64(w.q_zero_point())
        if m.bias() is not None:
            out[f"{name}.bias"] = m.bias().detach().numpy().astype(np.float32)
        out[f"{name}.input_scale"], out[f"{name}.input_zero_point"] = np.float32(inputs[name][0]), np.int64(inputs[name][1])
        out[f"{name}.scale"], out[f"{name}.zero_point"] = np.float32(m.scale), np.int64(m.zero_point)
    np.savez(path, **out)
    return out


def make_set(rng, n):
    """n images 3x24x24 uint8 (NCHW) and labels: a jittered colour square on uniform noise."""
    x = rng.uniform(0, 80, size=(n, SIDE, SIDE, 3))
    y = rng.integers(0, CLASSES, size=n)
    for i in range(n):
        r, c = rng.integers(0, SIDE - 8, size=2)
        x[i, r:r + 8, c:c + 8, :] = COLOURS[y[i]] + rng.uniform(-40, 40, size=3) + rng.uniform(-15, 15, size=(8, 8, 3))
    return np.clip(np.rint(x), 0, 255).astype(np.uint8).transpose(0, 3, 1, 2).copy(), y.astype(np.int64)


def spec():
    """The model as a blindspot model spec, node names as in blindspot's cnn6."""
    nodes, x, c, i, side = [], "input", 3, 0, SIDE
    for s, w in enumerate(WIDTHS, start=1):
        for pad in (1, 0):
            i += 1
            nodes.append({"name": f"conv{i}", "op": "conv2d", "inputs": [x],
                          "attributes": {"inChannels": c, "outChannels": w, "kernel": [3, 3], "stride": [1, 1], "padding": [pad] * 4, "bias": True}})
            nodes.append({"name": f"relu{i}", "op": "relu", "inputs": [f"conv{i}"], "attributes": {}})
            x, c = f"relu{i}", w
        nodes.append({"name": f"pool{s}", "op": "maxpool2d", "inputs": [x], "attributes": {"kernel": [2, 2], "stride": [2, 2]}})
        x, side = f"pool{s}", (side - 2) // 2
    nodes.append({"name": "flatten", "op": "flatten", "inputs": [x], "attributes": {}})
    nodes.append({"name": "fc1", "op": "linear", "inputs": ["flatten"], "attributes": {"inFeatures": c * side * side, "outFeatures": HIDDEN, "bias": True}})
    nodes.append({"name": "relu_fc1", "op": "relu", "inputs": ["fc1"], "attributes": {}})
    nodes.append({"name": "dropout", "op": "dropout", "inputs": ["relu_fc1"], "attributes": {"probability": 0.5}})
    nodes.append({"name": "fc2", "op": "linear", "inputs": ["dropout"], "attributes": {"inFeatures": HIDDEN, "outFeatures": CLASSES, "bias": True}})
    return {"format": "blindspot-model", "version": 1, "name": "cnn6-narrow", "inputShape": [3, SIDE, SIDE], "nodes": nodes}


def main():
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.backends.quantized.engine = "x86"
    rng = np.random.default_rng(4)
    train_x, train_y = make_set(rng, 1200)
    test_x, test_y = make_set(rng, 200)
    as_input = lambda images: torch.from_numpy(images.astype(np.float32) / 255.0)

    model = CNN6()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(6):
        model.train()
        order = torch.from_numpy(np.random.default_rng(10 + epoch).permutation(len(train_x)))
        for b in range(0, len(order), 50):
            idx = order[b:b + 50]
            loss = nn.functional.cross_entropy(model(as_input(train_x[idx.numpy()])), torch.from_numpy(train_y[idx.numpy()]), label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        fp32 = model(as_input(test_x))

    example = as_input(train_x[:8])
    prepared = prepare_fx(model, get_default_qconfig_mapping("x86"), example_inputs=(example,))
    with torch.no_grad():
        for b in range(0, 256, 32):
            prepared(as_input(train_x[b:b + 32]))
    quantized = convert_fx(prepared)

    OUT.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        tensors = export_quantized(quantized, example, OUT / "cnn6-narrow.int8.npz")
        # The last module's quint8 output, before the final dequantize.
        captured = {}
        last = [n for n in tensors if n.endswith(".input_scale")][-1][: -len(".input_scale")]
        dict(quantized.named_modules())[last].register_forward_hook(lambda m, a, out: captured.update(y=out))
        int8 = quantized(as_input(test_x))
    codes = captured["y"].int_repr().numpy().astype(int)
    scale, zero = float(captured["y"].q_scale()), int(captured["y"].q_zero_point())
    assert np.allclose((codes - zero) * scale, int8.numpy(), atol=1e-6)
    np.savez_compressed(OUT / "test.npz", images=test_x, labels=test_y)
    with open(OUT / "cnn6-narrow.json", "w") as f:
        json.dump(spec(), f, indent=1)
        f.write("\n")
    reference = {
        "torch": torch.__version__, "engine": torch.backends.quantized.engine, "qconfig": "get_default_qconfig_mapping('x86')",
        "outputScale": scale, "outputZeroPoint": zero,
        "int8LogitCodes": codes.tolist(),
        "int8Argmax": int8.argmax(1).tolist(),
        "fp32Logits": [[round(float(v), 6) for v in row] for row in fp32],
        "fp32Accuracy": float((fp32.argmax(1).numpy() == test_y).mean()),
        "int8Accuracy": float((int8.argmax(1).numpy() == test_y).mean()),
        "int8Fp32Top1Agreement": float((int8.argmax(1) == fp32.argmax(1)).float().mean()),
    }
    with open(OUT / "reference.json", "w") as f:
        json.dump(reference, f, indent=1)
        f.write("\n")
    print({k: v for k, v in reference.items() if not isinstance(v, list)})


if __name__ == "__main__":
    main()
