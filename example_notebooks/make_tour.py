"""Write ``tour.ipynb`` (without outputs) from the cells below: ``python example_notebooks/make_tour.py``
(``--execute`` also runs it once; see ``notebook_source.py``)."""

from __future__ import annotations

import sys

import nbformat
from notebook_source import HERE, assemble, code, generate, markdown

TOUR = HERE / "tour.ipynb"

INTRO = """\
# A tour of nbsaliency

What does a trained image model look at? `nbs.Explorer` shows, for one input image at a time, the model's top
predictions, the **attribution map** of what you pick (a class score, one channel or one neuron of any layer)
and the selected layer's **activation maps**. Change the layer, channel, neuron, method or target in the widget
and the map is recomputed in the kernel; colormap, opacity, signed display and percentile clipping are applied
in the browser without a round trip. Click an activation map to select that channel, a position in it to select
that neuron.

The methods (pick one in the **Method** control; `nbs.methods()` lists them):

- `gradient`: gradient saliency, max over colour channels of |∂ target / ∂ input| (Simonyan, Vedaldi &
  Zisserman, *Deep Inside Convolutional Networks*, ICLR workshop 2014);
- `deconvnet`: DeconvNet, where through each ReLU only the positive signal from above passes (Zeiler & Fergus,
  *Visualizing and Understanding Convolutional Networks*, ECCV 2014);
- `guided`: guided backpropagation, passing only where the forward input *and* the signal are positive
  (Springenberg, Dosovitskiy, Brox & Riedmiller, *Striving for Simplicity: The All Convolutional Net*, 2015);
- `input_x_gradient`: the input times its gradient (Shrikumar et al., 2016);
- `smoothgrad`: gradients averaged over noisy copies of the input (Smilkov et al., *SmoothGrad*, 2017);
- `integrated_gradients`: gradients integrated on the path from a baseline to the input (Sundararajan, Taly &
  Yan, *Axiomatic Attribution for Deep Networks*, 2017);
- `gradcam`: Grad-CAM, a layer's activations weighted by their pooled gradients (Selvaraju et al., 2017);
- `guided_gradcam`: guided backpropagation times Grad-CAM (same paper);
- `occlusion`: how much the target drops when a patch of the input is covered (Zeiler & Fergus, 2014).

The model here is the small CNN shipped with the package, trained on procedurally generated shapes whose
object masks are known exactly, so you can see whether a map points at the object.
"""

LOAD = """\
import matplotlib.pyplot as plt

import nbsaliency as nbs
import nbsaliency.demo as demo

model = demo.load_model()
batch = demo.images(8, seed=2024)
print("classes:", ", ".join(demo.CLASS_NAMES))
print("labels of the 8 images:", [demo.CLASS_NAMES[i] for i in batch.labels])
val_images = demo.images(500, seed=7).images  # the dataset whose top-activating patches the widget shows"""

EXPLORER = """\
explorer = nbs.Explorer(model, batch.images, labels=demo.CLASS_NAMES, dataset=val_images)"""

SHOW = "explorer"

LINKING = """\
## Linking from Python

The selection is a set of synced traits: set one from Python and the widget recomputes and redraws; read them
to get what was picked in the widget."""

SET_METHOD = """\
explorer.method = "guided"
explorer.selection"""

ENGINE = """\
## The engine without the widget

`nbs.Session` keeps one forward pass of the model on an image; every attribution after that is one backward
pass (for the gradient family). `s.layers` lists the layers by their `named_modules()` names."""

SESSION = """\
s = nbs.Session(model, batch.images[:1])
s.layers"""

DECONV = """\
layer = "block3.conv2"
channel = int(s.activations(layer)[0].amax(dim=(1, 2)).argmax())  # the most active channel of the layer
reconstruction = s.attribute(nbs.Channel(layer, channel), "deconvnet")[0]  # shaped like x: (1, 3, 64, 64)
print(f"DeconvNet projection of {layer} channel {channel}:", tuple(reconstruction.shape))

fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.7), layout="constrained")
axes[0].imshow(nbs.to_image(batch.images[0]))
axes[0].set_title(f"input ({demo.CLASS_NAMES[batch.labels[0]]})")
axes[1].imshow(nbs.saliency_map(reconstruction), cmap="inferno")
axes[1].set_title("saliency map")
axes[2].imshow(nbs.signed_rgb(reconstruction).permute(1, 2, 0))
axes[2].set_title("signed RGB")
for ax in axes:
    ax.set_axis_off()"""

COMPARE_TEXT = """\
Every method on the predicted class's score (the default target), side by side:"""

COMPARE = """\
names = nbs.methods()
fig, axes = plt.subplots(2, len(names), figsize=(1.6 * len(names), 3.6), layout="constrained")
for name, top, bottom in zip(names, axes[0], axes[1], strict=True):
    a = s.attribute(None, name)[0]  # None: the predicted class
    top.imshow(nbs.saliency_map(a), cmap="inferno")
    bottom.imshow(nbs.signed_rgb(a).permute(1, 2, 0))
    top.set_title(name.replace("_", " "), fontsize=8)
for ax in axes.flat:
    ax.set_axis_off()"""

FIGURE_TEXT = """\
## A static figure for slides

`explorer.figure()` draws what the widget shows now (same colormap, opacity and clipping) with matplotlib."""

FIGURE = "explorer.figure()"

PATCHES_TEXT = """\
## Top-activating patches

Under the activation maps, the **Top-activating patches** panel shows the nine strongest units of the selected
channel over `dataset=` (here 500 validation images): each the image patch the unit sees (its receptive field)
next to its projection back to the input, as Zeiler & Fergus (*Visualizing and Understanding Convolutional
Networks*, ECCV 2014, Fig. 2) show them. The projection uses the selected method when it can project a single
unit (gradient, DeconvNet, guided backpropagation, gradient × input) and DeconvNet otherwise. The grid follows
the Layer, Channel and Method controls; click a patch to open its image with that unit selected.

The widget indexes the dataset once, in the background, when it is made (a progress bar with **Cancel indexing**
while it runs; the rest of the widget keeps working). `nbs.Explorer(..., patch_index="index.npz")` saves the
index and reuses it while model, dataset and settings are unchanged; `nbsaliency.patches` has the same index and
patches as functions."""

OPTIMIZE_TEXT = """\
## Optimization panel

Below the activation maps, the widget's **Optimization** panel makes images by gradient ascent for the current
selection: a **class model** of the selected (or predicted) class (Simonyan et al. 2014), **activation
maximisation** of the selected channel, neuron or layer (Olah et al. 2017), **DeepDream** of the current layer
into the current image (Mordvintsev et al. 2015), or an **inversion** of the current image from the current layer
(Mahendran & Vedaldi 2015). Pick one under **Visualisation**, set **Steps** and press **Run**: the image and the
objective's value stream in every few steps while the kernel, and the rest of the widget, stay usable; **Cancel**
stops it before the next step. Finished runs are cached, so asking again is instant. `nbsaliency.optimize` has
the same four as functions, with every setting exposed."""


def build() -> nbformat.NotebookNode:
    cells = [
        markdown(INTRO),
        code(LOAD),
        code(EXPLORER),
        code(SHOW),
        markdown(LINKING),
        code(SET_METHOD),
        markdown(ENGINE),
        code(SESSION),
        code(DECONV),
        markdown(COMPARE_TEXT),
        code(COMPARE),
        markdown(FIGURE_TEXT),
        code(FIGURE),
        markdown(PATCHES_TEXT),
        markdown(OPTIMIZE_TEXT),
    ]
    return assemble(cells, "tour")


if __name__ == "__main__":
    sys.exit(generate(build, TOUR, __doc__))
