"""Write ``top_patches.ipynb`` (without outputs) from the cells below:
``python example_notebooks/make_top_patches.py`` (``--execute`` also runs it once; see ``notebook_source.py``)."""

from __future__ import annotations

import sys

import nbformat
from notebook_source import HERE, assemble, code, generate, markdown

NOTEBOOK = HERE / "top_patches.ipynb"

INTRO = """\
# What does a feature map respond to? Top-activating patches

Zeiler & Fergus (2014, "Visualizing and Understanding Convolutional Networks", Fig. 2) show, for a feature map,
the nine dataset patches that excite it most, each beside its **DeconvNet projection** — the part of the patch
the unit actually responds to. This notebook builds that figure for the shipped demo model:

1. a `PatchIndex`: one pass over a dataset records the top-9 units of *every* channel of *every* spatial layer;
2. `top_patches`: crops each unit's **receptive field** (found by probing, so any architecture works) and
   projects the unit to the input, nine units in one batched backward pass;
3. `top_patches_figure`: projection | patch pairs, strongest first.

In the widget, `nbs.Explorer(model, images, dataset=val_images)` shows the same grid live for the selected
layer and channel (see the tour notebook)."""

LOAD = """\
import tempfile
import time
from pathlib import Path

import nbsaliency as nbs
import nbsaliency.demo as demo

model = demo.load_model()
val_images = demo.images(2000, seed=31337).images  # a seed the model was not trained on
print(val_images.shape)"""

INDEX_TEXT = """\
## One pass, every layer

`PatchIndex.load_or_build` reuses a saved index only if it was built for these weights, this dataset and these
settings (a fingerprint is stored in the file); a stale or damaged file is rebuilt with a warning, never used.
The file is NumPy arrays plus JSON metadata — no pickle. Run the cell twice: the second time it loads."""

INDEX = """\
path = Path(tempfile.gettempdir()) / "nbsaliency-demo-patch-index.npz"
start = time.perf_counter()
index = nbs.PatchIndex.load_or_build(path, model, val_images, progress=False)
print(f"{index} in {time.perf_counter() - start:.1f} s")
print(index.layers)"""

TOP = """\
index.top("block3.conv2", 5)[:3]  # (activation value, image index, y, x), strongest first"""

FIELDS_TEXT = """\
## Receptive fields

A unit's receptive field is the box of input pixels that can influence it: the support of its gradient under a
*linearised* backward pass (every ReLU passes, max-pooling spreads over its whole window), so it does not
depend on the probe image. Deeper layers see more:"""

FIELDS = """\
fields = nbs.ReceptiveFields(model, val_images[:1])
for layer in ("block1.conv1", "block1.pool", "block2.conv2", "block2.pool", "block3.conv2", "block3.pool"):
    _, h, w = index.shape(layer)
    box = fields.box(layer, h // 2, w // 2)
    print(f"{layer:13s} {h:2d}x{w:<2d} units, centre unit sees {box.height}x{box.width} pixels")"""

FIGURE_TEXT = """\
## The figure

For two channels of each block: left of each pair the DeconvNet projection (grey = 0), right the image patch,
titled with the activation value. Early channels respond to colour and edges, later ones to parts of shapes."""

FIGURES = """\
for layer in ("block1.pool", "block2.pool", "block3.conv2"):
    strongest = index.tops(layer).values[:, 0].argsort()[::-1][:2]  # the channels with the largest activations
    for channel in strongest:
        patches = nbs.top_patches(model, val_images, index, layer, int(channel), "deconvnet",
                                  receptive_fields=fields)
        display(nbs.top_patches_figure(patches))"""

METHODS_TEXT = """\
## DeconvNet, guided backpropagation and the gradient

The projection method changes what you see of the same unit: DeconvNet keeps only positive signal at every
ReLU, guided backpropagation also masks by the forward pass, the plain gradient keeps all signs."""

METHODS = """\
layer, channel = "block3.conv2", int(index.tops("block3.conv2").values[:, 0].argmax())
for method in ("deconvnet", "guided", "gradient"):
    patches = nbs.top_patches(model, val_images, index, layer, channel, method, receptive_fields=fields)
    display(nbs.top_patches_figure(patches, title=f"{layer}, channel {channel}: {method}"))"""

SHARDS_TEXT = """\
## Shards merge exactly

Indexes built on disjoint parts of a dataset (`offset=` gives the first image's index) merge into the
one-pass index — the way to build one on many machines. (Cut at a batch boundary, shards see bit-identical
activations; elsewhere a convolution's last float bit may depend on the batch size.)"""

SHARDS = """\
first = nbs.PatchIndex.build(model, val_images[:1024], progress=False)
second = nbs.PatchIndex.build(model, val_images[1024:], offset=1024, progress=False)
merged = first.merge(second)
same = all((merged.tops(n).images == index.tops(n).images).all() for n in index.layers)
print(merged, "same units as the one-pass index:", same)"""


def build() -> nbformat.NotebookNode:
    cells = [
        markdown(INTRO),
        code(LOAD),
        markdown(INDEX_TEXT),
        code(INDEX),
        code(TOP),
        markdown(FIELDS_TEXT),
        code(FIELDS),
        markdown(FIGURE_TEXT),
        code(FIGURES),
        markdown(METHODS_TEXT),
        code(METHODS),
        markdown(SHARDS_TEXT),
        code(SHARDS),
    ]
    return assemble(cells, "top-patches")


if __name__ == "__main__":
    sys.exit(generate(build, NOTEBOOK, __doc__))
