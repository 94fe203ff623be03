"""Write ``tour.ipynb`` (without outputs) from the cells below: ``python example_notebooks/make_tour.py``.

The notebook is generated so that a review reads this file, not JSON. ``--execute`` also runs it once with
nbclient (outputs are not saved) to check that every cell works.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
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
print("labels of the 8 images:", [demo.CLASS_NAMES[i] for i in batch.labels])"""

EXPLORER = """\
explorer = nbs.Explorer(model, batch.images, labels=demo.CLASS_NAMES)"""

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

# -- optimisation panel --
OPTIMISE_TEXT = """\
## Optimisation panel

Below the activation maps, the widget's **Optimisation** panel makes images by gradient ascent for the current
selection: a **class model** of the selected (or predicted) class (Simonyan et al. 2014), **activation
maximisation** of the selected channel, neuron or layer (Olah et al. 2017), **DeepDream** of the current layer
into the current image (Mordvintsev et al. 2015), or an **inversion** of the current image from the current layer
(Mahendran & Vedaldi 2015). Pick one under **Visualisation**, set **Steps** and press **Run**: the image and the
objective's value stream in every few steps while the kernel, and the rest of the widget, stay usable; **Cancel**
stops it before the next step. Finished runs are cached, so asking again is instant. `nbsaliency.optimize` has
the same four as functions, with every setting exposed."""
# -- end optimisation panel --


def build() -> nbformat.NotebookNode:
    cells = [
        new_markdown_cell(INTRO),
        new_code_cell(LOAD),
        new_code_cell(EXPLORER),
        new_code_cell(SHOW),
        new_markdown_cell(LINKING),
        new_code_cell(SET_METHOD),
        new_markdown_cell(ENGINE),
        new_code_cell(SESSION),
        new_code_cell(DECONV),
        new_markdown_cell(COMPARE_TEXT),
        new_code_cell(COMPARE),
        new_markdown_cell(FIGURE_TEXT),
        new_code_cell(FIGURE),
        new_markdown_cell(OPTIMISE_TEXT),  # optimisation panel
    ]
    notebook = new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
        "language_info": {"name": "python"},
    })
    for i, cell in enumerate(notebook.cells):
        cell["id"] = f"tour-{i:02d}"  # stable ids: regenerating gives the same file
    nbformat.validate(notebook)
    return notebook


def execute(notebook: nbformat.NotebookNode) -> tuple[float, list[float]]:
    """Run a copy of ``notebook`` in a fresh kernel; returns the seconds it took in all (kernel start
    included) and the seconds each code cell took."""
    from datetime import datetime

    from nbclient import NotebookClient

    copy = nbformat.from_dict(notebook)
    start = time.perf_counter()
    NotebookClient(copy, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}).execute()
    total = time.perf_counter() - start
    cells = []
    for cell in copy.cells:
        if cell.cell_type == "code":
            timing = cell.metadata.get("execution", {})
            began, ended = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
            if began and ended:
                cells.append((datetime.fromisoformat(ended.rstrip("Z")) -
                              datetime.fromisoformat(began.rstrip("Z"))).total_seconds())
    return total, cells


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--execute", action="store_true", help="also run the notebook once (outputs not saved)")
    args = parser.parse_args(argv)
    notebook = build()
    nbformat.write(notebook, TOUR)
    print(f"wrote {TOUR}")
    if args.execute:
        total, cells = execute(notebook)
        print(f"executed without error in {total:.1f} s (kernel start included); the cells took "
              f"{sum(cells):.1f} s: {', '.join(f'{t:.2f}' for t in cells)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
