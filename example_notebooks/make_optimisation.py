"""Write ``optimisation.ipynb`` (without outputs) from the cells below:
``python example_notebooks/make_optimisation.py`` (``--execute`` also runs it once; on a busy machine set
``OMP_NUM_THREADS=1``; see ``notebook_source.py``)."""

from __future__ import annotations

import sys

import nbformat
from notebook_source import HERE, assemble, code, generate, markdown

NOTEBOOK = HERE / "optimisation.ipynb"

INTRO = """\
# Optimisation-based visualisation

Attribution maps explain one image. The methods here *make* images instead, by gradient ascent on something
the model computes - a class score, a channel, a neuron, a layer's activation - with the model's weights fixed:

| function | what it optimises | paper |
|---|---|---|
| `class_model` | the unnormalised class score minus λ‖I‖², from the zero image | Simonyan et al. 2014 [1] |
| `activation_maximisation` | any neuron, channel or composed objective; presets `"lucid"`, `"yosinski"` | [2], [3] |
| `deepdream` | a layer's squared activation norm, from a photo, over octaves | Mordvintsev et al. 2015 [4] |
| `invert` | ‖φ(x) − φ(x₀)‖² / ‖φ(x₀)‖² + total variation + α-norm | Mahendran & Vedaldi 2015 [5] |

1. Simonyan, Vedaldi & Zisserman, *Deep Inside Convolutional Networks*, 2014.
2. Olah, Mordvintsev & Schubert, *Feature Visualization*, Distill 2017: a Fourier-parameterised image in
   decorrelated colour, randomly padded, jittered, scaled and rotated before each step (Lucid's defaults).
3. Yosinski et al., *Understanding Neural Networks Through Deep Visualization*, 2015: decay, blur and
   clipping of the pixels after each step.
4. Mordvintsev, Olah & Tyka, *Inceptionism: Going Deeper into Neural Networks*, 2015.
5. Mahendran & Vedaldi, *Understanding Deep Image Representations by Inverting Them*, 2015.

Every function returns an `OptimisationResult`: the final image batch `(N, C, H, W)`, the objective's
`history` per step and the `settings` that produced it. Runs are reproducible per `seed`, never change the
model, stream to a `callback(step, image, value)` and stop when a `threading.Event` passed as `cancel` is set.
The model is the small CNN shipped with the package (64 × 64 images of shapes)."""

LOAD = """\
import threading

import matplotlib.pyplot as plt
import torch

import nbsaliency as nbs
import nbsaliency.demo as demo
from nbsaliency import optimize as opt

model = demo.load_model()
batch = demo.images(4, seed=1)
names = demo.CLASS_NAMES


def show(images, titles=(), size=1.6):
    \"\"\"One row of images (N, 3, H, W) in [0, 1].\"\"\"
    fig, axes = plt.subplots(1, len(images), figsize=(size * len(images), size * 1.15), layout="constrained",
                             squeeze=False)
    for i, (ax, image) in enumerate(zip(axes[0], images, strict=True)):
        ax.imshow(image.permute(1, 2, 0).clamp(0, 1).numpy())
        ax.set_title(titles[i] if i < len(titles) else "", fontsize=8)
        ax.set_axis_off()
    plt.show()"""

CLASS_TEXT = """\
## Class models

One image per class, all in one batch: `class_model` maximises `Logit(c) - l2 * L2(grey)` on clipped pixels.
The plain method (no transforms) finds high-frequency patterns the classifier responds to strongly; the same
objective with Lucid's parameterisation and transforms gives smoother, more readable images."""

CLASS_MODELS = """\
plain = opt.class_model(model, range(len(names)), size=64, steps=100)
scores = opt.evaluate(model, nbs.Logit(torch.arange(len(names))), plain.image)
show(plain.image, [f"{n}\\n{s:.0f}" for n, s in zip(names, scores, strict=True)])

robust = opt.activation_maximisation(model, opt.PerImage([nbs.Logit(c) for c in range(len(names))]),
                                     batch=len(names), size=64, steps=64)
show(robust.image, names)"""

CHANNEL_TEXT = """\
## Activation maximisation

Four channels of the last convolution of each block, one image per channel (`PerImage` gives image *i*
objective *i*). Objectives compose like lucent's: a channel minus a small L1 penalty towards grey."""

CHANNELS = """\
for block in (1, 2, 3):
    layer = f"block{block}.conv2"
    objective = opt.PerImage([nbs.Channel(layer, c, reduce="mean") for c in range(4)]) - 1e-2 * opt.L1(0.5)
    result = opt.activation_maximisation(model, objective, batch=4, size=64, steps=64, seed=block)
    show(result.image, [f"{layer} #{c}" for c in range(4)])"""

YOSINSKI_TEXT = """\
Yosinski et al.'s regularisers instead edit the pixels after each step; each row of their Table 1 is a style:"""

YOSINSKI = """\
channel = nbs.Channel("block3.conv2", 2, reduce="mean")
rows = sorted(opt.YOSINSKI_TABLE_1)
images = [opt.activation_maximisation(model, channel, preset="yosinski", table_row=row, size=64, steps=60).image[0]
          for row in rows]
show(images, [f"Table 1 ({row})" for row in rows])"""

DREAM_TEXT = """\
## DeepDream

Normalised gradient steps on a layer's squared activation norm, with random circular shifts, over octaves.
The callback streams intermediate images (the widget uses the same hook); `cancel` would stop the run."""

DREAM = """\
frames = []
photo = batch.images[:1]
cancel = threading.Event()
dreams = [opt.deepdream(model, photo, layer, steps=10, octaves=3, every=10, cancel=cancel,
                        callback=lambda step, image, value: frames.append(image[0]))
          for layer in ("block1.relu2", "block2.relu2", "block3.relu2")]
show([photo[0]] + [d.image[0] for d in dreams], ["photo", "block1", "block2", "block3"], size=2.2)
print(len(frames), "streamed frames; history of the last run:", dreams[-1].history.shape)"""

INVERT_TEXT = """\
## Inversion: how much of the image does each layer keep?

Reconstruct two images from one layer's activation at a time. The first convolution is linear and keeps nearly
everything; after ReLUs and pooling, colours a ReLU ignores and exact positions are lost."""

INVERT = """\
layers = ["block1.conv1", "block1.relu1", "block1", "block2", "block3"]
photos = batch.images[:2]
results = {layer: opt.invert(model, photos, layer, steps=100) for layer in layers}
for i in range(len(photos)):
    show([photos[i]] + [results[layer].image[i] for layer in layers], ["original"] + layers)

errors = torch.stack([results[layer].metrics["image_error"] for layer in layers])  # (layers, images)
fig, ax = plt.subplots(figsize=(5, 2.6), layout="constrained")
for i in range(len(photos)):
    ax.plot(layers, errors[:, i], marker="o", label=f"image {i} ({names[batch.labels[i]]})")
ax.set_ylabel("relative error ||x - x0|| / ||x0||")
ax.set_title("reconstruction error per layer")
ax.legend(fontsize=8)
plt.show()"""


def build() -> nbformat.NotebookNode:
    cells = [
        markdown(INTRO),
        code(LOAD),
        markdown(CLASS_TEXT),
        code(CLASS_MODELS),
        markdown(CHANNEL_TEXT),
        code(CHANNELS),
        markdown(YOSINSKI_TEXT),
        code(YOSINSKI),
        markdown(DREAM_TEXT),
        code(DREAM),
        markdown(INVERT_TEXT),
        code(INVERT),
    ]
    return assemble(cells, "optimisation")


if __name__ == "__main__":
    sys.exit(generate(build, NOTEBOOK, __doc__))
