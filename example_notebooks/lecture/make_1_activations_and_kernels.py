"""Write ``1_activations_and_kernels.ipynb`` (without outputs) from the cells below:
``python example_notebooks/lecture/make_1_activations_and_kernels.py`` (``--execute`` also runs it once)."""

from __future__ import annotations

import sys

import nbformat
from lecture_source import LECTURE, SETTINGS, assemble, code, figure, generate, markdown

NOTEBOOK = LECTURE / "1_activations_and_kernels.ipynb"

INTRO = """\
# Lecture notebook 1 — direct visualisation: kernels and activations

The first thing to look at in a trained CNN is what is *directly* there: the first layer's filters (they live in
pixel space, so they can be shown as images) and the feature maps one image produces in every block. Everything
runs on the small VGG-style CNN shipped with nbsaliency (`nbsaliency.demo`: 64 × 64 images of seven shapes on
textured backgrounds), so no download is needed."""

LOAD = """\
import matplotlib.pyplot as plt
import torch

import nbsaliency as nbs
from nbsaliency import demo
from nbsaliency.plotting.mosaic import mosaic

model = demo.load_model()
names = demo.CLASS_NAMES
batch = demo.images(8, seed=4)
print([(name, shape) for name, shape in nbs.layers(model, batch.images[:1]) if name.startswith("block1")])"""

KERNELS_TEXT = """\
## First-layer kernels

Krizhevsky, Sutskever & Hinton (2012, *ImageNet Classification with Deep Convolutional Neural Networks*, Fig. 3)
show AlexNet's 96 first-layer filters as colour tiles: oriented edges, and colour blobs. `nbs.kernel_grid` maps
each filter to [0, 1] on its own scale, `0.5 + w / (2 max|w|)`: **grey is a zero weight**, a colour is what the
filter responds to, its complement what suppresses it. **Look for** edge and colour-opponent detectors; with
3 × 3 filters trained on simple shapes they are small, but colour pairs (red vs cyan, green vs magenta) show."""

KERNELS = """\
nbs.kernel_grid_figure(nbs.kernel_grid(model), columns=8)"""

DEEPER_TEXT = """\
Deeper filters weigh feature maps, not colours: `kernel_grid` shows them one tile per input channel (rows are
filters, columns the input channels; red positive, blue negative, white zero). **Look for** filters that read
only a few input channels — most of a row is pale — which is the sparse wiring the lecture mentions."""

DEEPER = """\
nbs.kernel_grid_figure(nbs.kernel_grid(model, "block2.conv1"), max_filters=16)"""

MAPS_TEXT = """\
## Activation maps of every block for one image

One image's feature maps after each block's second ReLU (before pooling), every channel, each map scaled to
its own maximum (black = 0). Zeiler & Fergus (2014, *Visualizing and Understanding Convolutional Networks*) and
Yosinski et al. (2015, *Understanding Neural Networks Through Deep Visualization*, the Deep Visualization Toolbox)
study exactly these. **Look for**: block 1 maps that are edge or colour detectors (they still look like the
image), block 2 maps that fire on parts of the outline, and block 3 maps that are sparse — a few channels light
up on the object, many stay black."""

MAPS = """\
image = batch.images[3]
session = nbs.Session(model, image)
fig, axes = plt.subplots(1, 4, figsize=(15, 4.2), layout="constrained",
                         gridspec_kw={"width_ratios": [1, 1.3, 1.3, 1.3]})
axes[0].imshow(image.permute(1, 2, 0))
axes[0].set_title(f"input: {names[batch.labels[3]]}")
for ax, block in zip(axes[1:], (1, 2, 3), strict=True):
    maps = session.activations(f"block{block}.relu2")[0]  # (C, H, W) of the one image
    scaled = maps / maps.amax(dim=(1, 2), keepdim=True).clamp(min=1e-12)
    columns = 8
    ax.imshow(mosaic(scaled.numpy(), -(-len(maps) // columns), columns, pad=2), cmap="magma", vmin=0, vmax=1)
    ax.set_title(f"block{block}.relu2: {len(maps)} maps {maps.shape[1]}x{maps.shape[2]}")
for ax in axes:
    ax.set_axis_off()
plt.show()"""

DEAD_TEXT = """\
## Dead channels

A ReLU channel that is zero for every image of a dataset never passes a signal: it is *dead* (it has learnt
nothing useful, or was pushed below zero for good by a large update: the lecture's "dead ReLU" problem). An
image's code for this purpose is each channel's **maximum** over positions (`nbs.layer_codes(..., pool="max")`);
a channel is dead when that is 0 for all images, and *rarely active* when it fires in under 1 % of them. To see
that the test finds what it should, a copy of the model gets one channel killed by hand (a large negative
BatchNorm bias in `block2.bn2`, channel 5). The right panel shows how *sparse* each layer is: per channel, the
share of its units (positions × images) that are above zero, channels sorted. **Look for** how many channels
each layer could lose (a model with BatchNorm before each ReLU, like this one, usually has none dead), and how
sparse each layer is: a channel that is on almost everywhere carries little information about where things are."""

DEAD = """\
import copy

data = demo.images(full_or_fast(1000, 64), seed=31337).images  # a seed the model was not trained on
relus = [f"block{b}.relu{r}" for b in (1, 2, 3) for r in (1, 2)]
broken = copy.deepcopy(model)
with torch.no_grad():
    broken.block2.bn2.bias[5] = -100.0  # channel 5 of block2.relu2 can no longer fire


def dead_and_rare(net, layer):
    peaks = nbs.layer_codes(net, data, layer, pool="max")  # (images, channels): each channel's strongest unit
    firing = (peaks > 0).float().mean(dim=0)  # share of images in which each channel fires anywhere
    return (firing == 0).nonzero().flatten().tolist(), ((firing > 0) & (firing < 0.01)).nonzero().flatten().tolist()


found = {layer: dead_and_rare(model, layer) for layer in relus}
for layer, (dead, rare) in found.items():
    print(f"{layer:13s} dead {dead}, rarely active {rare}")
print("the copy with a killed channel: block2.relu2 dead, rarely active =", dead_and_rare(broken, "block2.relu2"))

session = nbs.Session(model, data[:full_or_fast(256, 32)])
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3), layout="constrained")
left.bar(relus, [dict(nbs.layers(model, data[:1]))[layer][1] for layer in relus], color="lightgray",
         label="channels")
left.bar(relus, [len(found[layer][0]) for layer in relus], color="black", label="dead (never fires)")
left.bar(relus, [len(found[layer][1]) for layer in relus], bottom=[len(found[layer][0]) for layer in relus],
         color="tab:orange", label="fires in < 1 % of images")
left.set_ylabel("channels")
left.tick_params(axis="x", labelsize=7)
left.legend(fontsize=8)
for layer in relus:
    active = (session.activations(layer) > 0).float().mean(dim=(0, 2, 3))  # share of active units per channel
    right.plot(torch.linspace(0, 1, len(active)), active.sort(descending=True).values, label=layer)
right.set_xlabel("channels, sorted (share of the layer)")
right.set_ylabel("share of its units above 0")
right.legend(fontsize=7)
fig.suptitle(f"ReLU channels over {len(data)} held-out images")
plt.show()"""


def build() -> nbformat.NotebookNode:
    cells = [
        markdown(INTRO),
        code(SETTINGS),
        code(LOAD),
        markdown(KERNELS_TEXT),
        figure(KERNELS),
        markdown(DEEPER_TEXT),
        figure(DEEPER),
        markdown(MAPS_TEXT),
        figure(MAPS),
        markdown(DEAD_TEXT),
        figure(DEAD),
    ]
    return assemble(cells, "lecture-1")


if __name__ == "__main__":
    sys.exit(generate(build, NOTEBOOK, __doc__))
