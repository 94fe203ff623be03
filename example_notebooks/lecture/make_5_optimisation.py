"""Write ``5_optimisation.ipynb`` (without outputs) from the cells below:
``python example_notebooks/lecture/make_5_optimisation.py`` (``--execute`` also runs it once)."""

from __future__ import annotations

import sys

import nbformat
from lecture_source import LECTURE, SETTINGS, assemble, code, figure, generate, markdown

NOTEBOOK = LECTURE / "5_optimisation.ipynb"

INTRO = """\
# Lecture notebook 5 — optimisation-based visualisation

Instead of explaining an image, *make* one: gradient ascent on the pixels, with the weights fixed, towards
something the model computes. Three uses from the lecture: the image a class likes best (class models), an
existing image pushed towards what a layer sees (DeepDream), and the image a layer's activation came from
(inversion). `example_notebooks/optimisation.ipynb` tours the API; this notebook makes the lecture's figures.
On the demo model."""

LOAD = """\
import matplotlib.pyplot as plt
import torch

import nbsaliency as nbs
from nbsaliency import demo
from nbsaliency import optimize as opt

model = demo.load_model()
names = demo.CLASS_NAMES
photos = demo.images(2, seed=5)


def row(images, titles, size=1.8):
    fig, axes = plt.subplots(1, len(images), figsize=(size * len(images), size * 1.2), layout="constrained",
                             squeeze=False)
    for ax, image, title in zip(axes[0], images, titles, strict=True):
        ax.imshow(image.permute(1, 2, 0).clamp(0, 1))
        ax.set_title(title, fontsize=8)
        ax.set_axis_off()
    plt.show()"""

CLASS_TEXT = """\
## Class models for every class

Simonyan, Vedaldi & Zisserman (2014, *Deep Inside Convolutional Networks*, Sec. 2, Fig. 1): maximise the
unnormalised class score minus an L2 penalty, `S_c(I) − λ‖I‖²`, starting from the neutral grey image; all seven
classes in one batch. Under each image: its class score. Second row: the same objective with Lucid's
parameterisation and transforms (Olah et al. 2017, *Feature Visualization*), which favour images that survive
jitter, scaling and rotation. **Look for** patterns repeated over the whole image rather than one clean object
(the class model shows what the classifier *counts*, not what an object looks like), and for the classes whose
score climbs far above a real image's (around 10 here): those have found a "superstimulus"."""

CLASS_MODELS = """\
plain = opt.class_model(model, range(len(names)), size=64, steps=full_or_fast(200, 10))
scores = opt.evaluate(model, nbs.Logit(torch.arange(len(names))), plain.image)
row(plain.image, [f"{n}\\nscore {s:.0f}" for n, s in zip(names, scores, strict=True)])
robust = opt.activation_maximisation(model, opt.PerImage([nbs.Logit(c) for c in range(len(names))]),
                                     batch=len(names), size=64, steps=full_or_fast(128, 4))
row(robust.image, [f"{n} (Lucid)" for n in names])"""

DREAM_TEXT = """\
## DeepDream with octaves

Mordvintsev, Olah & Tyka (2015, *Inceptionism*): from a photo, climb the squared norm of a layer's activation,
at several scales (*octaves*) from coarse to fine; the detail added at one scale is carried to the next. The
frames below are the image at the end of each octave (the callback streams them), for a block-2 and a block-3
layer. **Look for** patterns at several sizes, grown octave by octave, that follow the object's edges, and for the
deeper layer's patterns being larger and more structured than block 2's."""

DREAM = """\
photo = photos.images[:1]
steps = full_or_fast(20, 3)
for layer in ("block2.relu2", "block3.relu2"):
    frames = []
    result = opt.deepdream(model, photo, layer, steps=steps, octaves=4, lr=0.05, every=steps,
                           callback=lambda step, image, value, frames=frames: frames.append(image[0]))
    sizes = [f"octave {k + 1}: {h}x{w}" for k, (h, w) in enumerate(result.settings["octaves"])]
    row([photo[0], *frames], ["photo", *sizes][:1 + len(frames)])"""

INVERT_TEXT = """\
## Inversion from each layer

Mahendran & Vedaldi (2015, *Understanding Deep Image Representations by Inverting Them*): find an image whose
activation at one layer matches the photo's, starting from noise, with total-variation and α-norm
regularisers. What the reconstruction keeps is what the layer keeps. The lecture's claim: early layers invert
almost exactly, late layers keep the gist and lose colour and position. The plot shows the relative error
‖x − x₀‖ / ‖x₀‖ per layer. **Look for** the error jumping after the first pooling and ReLUs, and what this
small model does at the top: its last layers keep little beyond the class, so the reconstructions turn into
class-typical texture — compare the error of `block3` with that of the 7 logits."""

INVERT = """\
layers = full_or_fast(["block1.conv1", "block1.relu2", "block1", "block2.conv1", "block2", "block3.conv1",
                       "block3", "classifier"], ["block1.conv1", "block1", "block2", "block3", "classifier"])
inversions = {layer: opt.invert(model, photos.images, layer, steps=full_or_fast(200, 40)) for layer in layers}
errors = {layer: result.metrics["image_error"] for layer, result in inversions.items()}  # per image
for i in range(len(photos.images)):
    row([photos.images[i]] + [inversions[layer].image[i] for layer in layers],
        ["original"] + [f"{layer}\\nerror {errors[layer][i]:.2f}" for layer in layers])

fig, ax = plt.subplots(figsize=(7, 2.8), layout="constrained")
for i in range(len(photos.images)):
    ax.plot(layers, [float(errors[layer][i]) for layer in layers], marker="o",
            label=f"image {i} ({names[photos.labels[i]]})")
ax.set_ylabel("relative error ||x - x0|| / ||x0||")
ax.set_title("inversion error per layer (input to output)")
ax.tick_params(axis="x", labelsize=7)
ax.legend(fontsize=8)
plt.show()"""


def build() -> nbformat.NotebookNode:
    cells = [
        markdown(INTRO),
        code(SETTINGS),
        code(LOAD),
        markdown(CLASS_TEXT),
        figure(CLASS_MODELS),
        markdown(DREAM_TEXT),
        figure(DREAM),
        markdown(INVERT_TEXT),
        figure(INVERT),
    ]
    return assemble(cells, "lecture-5")


if __name__ == "__main__":
    sys.exit(generate(build, NOTEBOOK, __doc__))
