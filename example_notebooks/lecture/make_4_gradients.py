"""Write ``4_gradients.ipynb`` (without outputs) from the cells below:
``python example_notebooks/lecture/make_4_gradients.py`` (``--execute`` also runs it once)."""

from __future__ import annotations

import sys

import nbformat
from lecture_source import LECTURE, SETTINGS, assemble, code, figure, generate, markdown

NOTEBOOK = LECTURE / "4_gradients.ipynb"

INTRO = """\
# Lecture notebook 4 — gradient-based visualisation

Pick a scalar the network computes — a class score, a neuron, a whole layer's activity: the *pseudo-loss* — and
send its gradient back to the pixels. The plain gradient (Simonyan et al. 2014), DeconvNet (Zeiler & Fergus
2014) and guided backpropagation (Springenberg et al. 2015) differ only in what they do at a ReLU on the way
back. One `nbs.Session` keeps the forward pass, so each map below costs one backward pass. On the demo model."""

LOAD = """\
import matplotlib.pyplot as plt
import torch
from torch import nn

import nbsaliency as nbs
from nbsaliency import demo

model = demo.load_model()
names = demo.CLASS_NAMES
batch = demo.images(4, seed=2)
session = nbs.Session(model, batch.images)
print("predicted:", [names[c] for c in session.predicted], "true:", [names[c] for c in batch.labels])


def show(ax, picture, title, **options):
    ax.imshow(picture, **options)
    ax.set_title(title, fontsize=8)
    ax.set_axis_off()"""

SALIENCY_TEXT = """\
## Class saliency (Simonyan, Vedaldi & Zisserman 2014)

*Deep Inside Convolutional Networks*, Sec. 3: the gradient of the unnormalised class score `S_c` with respect to
the image says which pixels would change the score most; the saliency map is the maximum over colour channels of
its absolute value. Top row: each image with the map of its true class. Bottom row: one image, the map of every
class (seven targets in one batched backward pass). **Look for** maps that trace the object's outline, and
class maps that differ where the classes' shapes differ (a star's points, a cross's arms)."""

SALIENCY = """\
maps = nbs.saliency_map(session.attribute(nbs.Logit(batch.labels), "gradient"))  # (N, H, W)
per_class = nbs.saliency_map(nbs.Session(model, batch.images[0]).attribute(
    [nbs.Logit(c) for c in range(len(names))], "gradient"))  # (classes, H, W)
fig, axes = plt.subplots(2, 8, figsize=(16, 4.4), layout="constrained")
for i in range(4):
    show(axes[0, 2 * i], batch.images[i].permute(1, 2, 0), names[batch.labels[i]])
    show(axes[0, 2 * i + 1], nbs.clip_percentile(maps[i]), "saliency", cmap="gray")
show(axes[1, 0], batch.images[0].permute(1, 2, 0), f"image 0 ({names[batch.labels[0]]})")
for c in range(len(names)):
    show(axes[1, c + 1], nbs.clip_percentile(per_class[c]), f"class {names[c]}", cmap="gray")
plt.show()"""

RELU_TEXT = """\
## The ReLU table of Springenberg et al. (2015), reproduced with the engine

*Striving for Simplicity: The All Convolutional Net*, Fig. 1: a ReLU's forward input `f`, the signal `R`
arriving from the layer above, and what each method sends further back — the gradient `1[f > 0]·R`, DeconvNet
`1[R > 0]·R` (the forward pass is ignored), guided backpropagation `1[f > 0]·1[R > 0]·R`. Here the numbers come
from the engine itself: a one-layer "model" (a ReLU, then a layer whose gradient is `R`) is explained with each
method. **Look for** the three results equal to the paper's."""

RELU = """\
f = torch.tensor([[1.0, -1, 5], [2, -5, -7], [-3, 2, 4]])
R = torch.tensor([[-2.0, 3, -1], [6, -3, 1], [2, -1, 3]])


class SignalFromAbove(nn.Module):
    \"\"\"The layer above the ReLU: its output is sum(R * h), so the signal arriving at the ReLU's output is R.\"\"\"

    def __init__(self, signal):
        super().__init__()
        self.register_buffer("signal", signal)

    def forward(self, h):
        return (h * self.signal).sum(dim=(1, 2, 3))[:, None]  # (N, 1): one "class score"


relu_model = nn.Sequential(nn.ReLU(), SignalFromAbove(R))
relu_session = nbs.Session(relu_model, f[None, None])
relu_table = {method: relu_session.attribute(nbs.Logit(0), method)[0, 0]
              for method in ("gradient", "deconvnet", "guided")}
paper = {"gradient": [[-2, 0, -1], [6, 0, 0], [0, -1, 3]],
         "deconvnet": [[0, 3, 0], [6, 0, 1], [2, 0, 3]],
         "guided": [[0, 0, 0], [6, 0, 0], [0, 0, 3]]}
for method, result in relu_table.items():
    print(f"{method:10s} {result.int().tolist()}  equals the paper's: {result.tolist() == paper[method]}")

fig, axes = plt.subplots(1, 5, figsize=(12, 2.6), layout="constrained")
for ax, (title, grid) in zip(axes, [("forward input f", f), ("signal from above R", R),
                                    *[(m, relu_table[m]) for m in relu_table]], strict=True):
    show(ax, grid, title, cmap="RdBu_r", vmin=-7, vmax=7)
    for y in range(3):
        for x in range(3):
            ax.text(x, y, f"{grid[y, x]:g}", ha="center", va="center", fontsize=11)
plt.show()"""

METHODS_TEXT = """\
## Gradient, DeconvNet and guided backpropagation side by side

The same images and targets (the true class's logit), the three rules, shown as signed RGB (grey = 0), the way
Springenberg et al. (Fig. 3) and Zeiler & Fergus show reconstructions. **Look for**: the gradient is noisy and
spread over the background; DeconvNet ignores the forward pass, so it draws edges that are not specific to the
image's object alone; guided backpropagation is the sharpest, because it keeps only signal that is positive
*and* passed by the forward pass."""

METHODS = """\
methods = ("gradient", "deconvnet", "guided")
fig, axes = plt.subplots(4, 4, figsize=(8, 8.4), layout="constrained")
for i in range(4):
    show(axes[i, 0], batch.images[i].permute(1, 2, 0), names[batch.labels[i]])
for j, method in enumerate(methods):
    attributions = session.attribute(nbs.Logit(batch.labels), method)
    for i in range(4):
        show(axes[i, j + 1], nbs.signed_rgb(attributions[i]).permute(1, 2, 0), method)
plt.show()"""

TARGETS_TEXT = """\
## The choice of pseudo-loss

The lecture: "the pseudo-loss can be the activation of any neuron or layer, or a class score". For one image and
guided backpropagation, five choices: the strongest **neuron** of the block-3 channel that responds most; that
whole **channel** (`reduce="max"`: its strongest unit alone, Zeiler & Fergus); the whole **layer**
(`LayerNorm`: squared L2 norm of block 3's output, the DeepDream objective); the class **logit**; and the
**softmax** probability, which also pushes the other classes down. **Look for**: the neuron sees a small region
(its receptive field), the layer everything that excites block 3, the logit the object, and softmax a mix of
evidence *for* this class and *against* the others. Each map is scaled to its own range; the printed norms show
how small the softmax's gradient is when the probability is saturated near 1."""

TARGETS = """\
image, label = batch.images[1], int(batch.labels[1])
one = nbs.Session(model, image)
block = one.activations("block3.relu2")[0]  # (C, H, W)
channel = int(block.amax(dim=(1, 2)).argmax())
y, x = divmod(int(block[channel].argmax()), block.shape[2])
targets = {
    f"neuron ({channel}, {y}, {x})": nbs.Neuron("block3.relu2", channel, y, x),
    f"channel {channel}": nbs.Channel("block3.relu2", channel),
    "layer block3": nbs.LayerNorm("block3"),
    f"logit {names[label]}": nbs.Logit(label),
    f"softmax {names[label]}": nbs.Probability(label),
}
guided = one.attribute(list(targets.values()), "guided")  # five targets, one batched backward pass
print("norm of each map:", {title: f"{a.norm():.3g}" for title, a in zip(targets, guided, strict=True)})
fig, axes = plt.subplots(1, 6, figsize=(13, 2.6), layout="constrained")
show(axes[0], image.permute(1, 2, 0), names[label])
for ax, (title, attribution) in zip(axes[1:], zip(targets, guided, strict=True), strict=True):
    show(ax, nbs.signed_rgb(attribution).permute(1, 2, 0), title)
plt.show()"""


def build() -> nbformat.NotebookNode:
    cells = [
        markdown(INTRO),
        code(SETTINGS),
        code(LOAD),
        markdown(SALIENCY_TEXT),
        figure(SALIENCY),
        markdown(RELU_TEXT),
        figure(RELU),
        markdown(METHODS_TEXT),
        figure(METHODS),
        markdown(TARGETS_TEXT),
        figure(TARGETS),
    ]
    return assemble(cells, "lecture-4")


if __name__ == "__main__":
    sys.exit(generate(build, NOTEBOOK, __doc__))
