#!/usr/bin/env python3
"""Make the preprocessing-discovery fixtures for Tests/BlindspotTrainingTests (issue 9).

Many real checkpoints record no preprocessing (no Rescaling/Normalization layer): Neural Cleanse's
published Keras models were trained on raw 0-255 pixels. blindspot must notice instead of auditing a
model fed the wrong inputs. These fixtures are two small Keras models without any preprocessing
layer, trained so that the right preprocessing matters:

Tests/BlindspotTrainingTests/Fixtures/preprocessing/
  colors_test.npz   the clean test set both are checked on: 400 images 16x16x3 uint8 (NHWC, RGB),
                    `images` and `labels`; 4 classes by the colour of a 6x6 square on a noisy
                    background: red, green, blue, yellow. Colour decides the class, so a model fed
                    swapped channels confuses red with blue and yellow with cyan.
  raw255.h5         Keras legacy HDF5, trained on raw pixels in [0,255], RGB
  bgr.h5            Keras legacy HDF5, trained on pixels/255 in [0,1], channels in BGR order
  reference.json    per model, the accuracy Keras itself measures on colors_test.npz under each
                    candidate preprocessing blindspot tries ([0,1], [0,255], [-1,1], each in RGB
                    and BGR): the Swift test must measure the same accuracies and pick the
                    preprocessing the model was trained with.

Architecture: Conv 8 3x3 same -> BN -> ReLU -> MaxPool 2 -> Conv 16 3x3 same -> BN -> ReLU -> GlobalAveragePooling
-> Dense 4 softmax. BatchNorm, as in most real CNNs, is what makes the input range matter: a ReLU
network without it is nearly scale-invariant (a first version without BN scored 67% on [0,1] inputs
after training on [0,255]), and discovery then rightly refuses to guess. Seeded numpy data and Keras seed; training takes a few seconds on one core.

How to run (from the package root; the venv of scripts/requirements-fixtures.txt):
    .venv-fixtures/bin/python scripts/make-preprocessing-fixtures.py
"""

import json
import os
from pathlib import Path

os.environ["KERAS_BACKEND"] = "jax"
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402
import keras  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "Tests/BlindspotTrainingTests/Fixtures/preprocessing"
COLOURS = np.array([[200, 30, 30], [30, 200, 30], [30, 30, 200], [200, 200, 30]], dtype=np.float64)
RANGES = [(0.0, 1.0), (0.0, 255.0), (-1.0, 1.0)]


def make_set(rng, n):
    """n images 16x16x3 uint8 and labels: a jittered colour square on uniform noise in [0, 80]."""
    x = rng.uniform(0, 80, size=(n, 16, 16, 3))
    y = rng.integers(0, 4, size=n)
    for i in range(n):
        r, c = rng.integers(0, 11, size=2)
        colour = COLOURS[y[i]] + rng.uniform(-40, 40, size=3)
        x[i, r:r + 6, c:c + 6, :] = colour + rng.uniform(-15, 15, size=(6, 6, 3))
    return np.clip(np.rint(x), 0, 255).astype(np.uint8), y.astype(np.int64)


def inputs(images, lo, hi, bgr):
    x = lo + (hi - lo) * images.astype(np.float32) / 255.0
    return x[..., ::-1].copy() if bgr else x


def model(seed):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((16, 16, 3)),
        keras.layers.Conv2D(8, 3, padding="same"),
        keras.layers.BatchNormalization(),
        keras.layers.ReLU(),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(16, 3, padding="same"),
        keras.layers.BatchNormalization(),
        keras.layers.ReLU(),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(4, activation="softmax"),
    ])


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(9)
    train_x, train_y = make_set(rng, 2000)
    test_x, test_y = make_set(rng, 400)
    np.savez_compressed(OUT / "colors_test.npz", images=test_x, labels=test_y)
    reference = {"keras": keras.__version__, "numpy": np.__version__, "test_images": int(len(test_y)), "models": {}}
    for name, (lo, hi, bgr) in {"raw255": (0.0, 255.0, False), "bgr": (0.0, 1.0, True)}.items():
        m = model(1)
        m.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
        m.fit(inputs(train_x, lo, hi, bgr), train_y, epochs=15, batch_size=64, verbose=0, shuffle=True)
        m.save(OUT / f"{name}.h5")
        back = keras.models.load_model(OUT / f"{name}.h5")
        acc = {}
        for (a, b) in RANGES:
            for order in (False, True):
                p = back.predict(inputs(test_x, a, b, order), verbose=0).argmax(1)
                acc[f"[{a:g},{b:g}]{' BGR' if order else ''}"] = float((p == test_y).mean())
        trained = f"[{lo:g},{hi:g}]{' BGR' if bgr else ''}"
        assert acc[trained] >= 0.9, (name, acc)
        reference["models"][name] = {"trained_on": trained, "accuracy": acc}
        print(name, acc)
    (OUT / "reference.json").write_text(json.dumps(reference, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
