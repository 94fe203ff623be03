"""Write ``3_dataset_examples.ipynb`` (without outputs) from the cells below:
``python example_notebooks/lecture/make_3_dataset_examples.py`` (``--execute`` also runs it once)."""

from __future__ import annotations

import sys

import nbformat
from lecture_source import LECTURE, SETTINGS, assemble, code, figure, generate, markdown

NOTEBOOK = LECTURE / "3_dataset_examples.ipynb"

INTRO = """\
# Lecture notebook 3 — what the dataset says about a unit: top patches and t-SNE of codes

A single image shows what a unit does *there*. Running a whole dataset through the network shows what a unit is
*for* (the images that excite it most), and how the network arranges the images (which ones it considers alike).
On the demo model and a held-out set of demo images (nothing downloaded)."""

LOAD = """\
import matplotlib.pyplot as plt  # noqa: F401  (the inline backend shows the patch figures)
import torch

import nbsaliency as nbs
from nbsaliency import demo

model = demo.load_model()
names = demo.CLASS_NAMES
held_out = demo.images(full_or_fast(2000, 150), seed=31337)  # a seed the model was not trained on
data = held_out.images
index = nbs.PatchIndex.build(model, data, layers=["block1", "block2", "block3"], progress=False)
fields = nbs.ReceptiveFields(model, data[:1])
print(index)"""

PATCHES_TEXT = """\
## Top-9 patches with their projections, per block

Zeiler & Fergus (2014, *Visualizing and Understanding Convolutional Networks*, Fig. 2): for one feature map, the
nine dataset patches that excite it most (cropped to the unit's receptive field, found here by probing), each
beside its **DeconvNet projection** — the unit's activation sent back to the pixels with the DeconvNet ReLU rule,
which shows which part of the patch the unit responds to (grey = 0). One index pass records the top-9 of every
channel of every block. For each block, the channel with the strongest top unit. **Look for** the growth of
the receptive field and of invariance: block 1 responds to a colour edge, block 2 to a corner or a curve in any
colour, block 3 to a part of one shape class — across very different backgrounds."""

PATCHES = """\
for layer in ("block1", "block2", "block3"):
    channel = int(index.tops(layer).values[:, 0].argmax())  # the channel with the strongest top unit
    box = fields.box(layer, *(s // 2 for s in index.shape(layer)[1:]))
    patches = nbs.top_patches(model, data, index, layer, channel, "deconvnet", receptive_fields=fields)
    display(nbs.top_patches_figure(patches, title=f"{layer}, channel {channel} "
                                                  f"(receptive field {box.height}x{box.width} px)"))"""

CLASSES_TEXT = """\
The classes of the nine top images say how class-specific a channel is: per block, the share of channels whose
nine top images are all of one class. **Look for** this share rising with depth."""

CLASSES = """\
for layer in ("block1", "block2", "block3"):
    top_images = torch.as_tensor(index.tops(layer).images)  # (channels, 9) dataset indices
    top_classes = held_out.labels[top_images]
    pure = (top_classes == top_classes[:, :1]).all(dim=1).float().mean()
    print(f"{layer}: {pure:.0%} of {len(top_images)} channels have nine top images of one class")"""

TSNE_TEXT = """\
## t-SNE of the classifier's input codes

Karpathy's "t-SNE visualization of CNN codes": take the vector the classifier sees for each image (here the
64 pooled features after block 3, the `flatten` layer), embed all of them in 2-D with t-SNE (van der Maaten &
Hinton 2008; scikit-learn's implementation, the optional `nbsaliency[embedding]` extra), and draw every image
at its position — left as they fall, right snapped to a grid (each image its own cell, neighbours kept close by
an optimal assignment). **Look for** one island per class with the background textures mixed inside each: the
code keeps the shape and forgets the background. Where islands touch, look at the images on the border."""

TSNE = """\
shown = data[:full_or_fast(600, 150)]
embedding = nbs.tsne(model, shown, "flatten", perplexity=full_or_fast(30, 15), max_iter=full_or_fast(1000, 250))
print(embedding.codes.shape, "->", embedding.coordinates.shape)
nbs.embedding_figure(embedding, shown, labels=held_out.labels[:len(shown)], class_names=names)"""

NEIGHBOURS_TEXT = """\
How well do neighbours agree? For each image, the class of its nearest neighbour in the 64-D code and in the 2-D
map (t-SNE keeps local neighbourhoods, so both should agree with the image's own class almost always)."""

NEIGHBOURS = """\
labels = held_out.labels[:len(shown)]


def nearest_agrees(points):
    distances = torch.cdist(points, points).fill_diagonal_(float("inf"))
    return (labels[distances.argmin(dim=1)] == labels).float().mean()


print(f"nearest neighbour of the same class: codes {nearest_agrees(embedding.codes):.1%}, "
      f"t-SNE map {nearest_agrees(embedding.coordinates):.1%}")"""


def build() -> nbformat.NotebookNode:
    cells = [
        markdown(INTRO),
        code(SETTINGS),
        code(LOAD),
        markdown(PATCHES_TEXT),
        figure(PATCHES),
        markdown(CLASSES_TEXT),
        code(CLASSES),
        markdown(TSNE_TEXT),
        figure(TSNE),
        markdown(NEIGHBOURS_TEXT),
        code(NEIGHBOURS),
    ]
    return assemble(cells, "lecture-3")


if __name__ == "__main__":
    sys.exit(generate(build, NOTEBOOK, __doc__))
