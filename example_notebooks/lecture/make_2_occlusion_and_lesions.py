"""Write ``2_occlusion_and_lesions.ipynb`` (without outputs) from the cells below:
``python example_notebooks/lecture/make_2_occlusion_and_lesions.py`` (``--execute`` also runs it once)."""

from __future__ import annotations

import sys

import nbformat
from lecture_source import LECTURE, SETTINGS, assemble, code, figure, generate, markdown

NOTEBOOK = LECTURE / "2_occlusion_and_lesions.ipynb"

INTRO = """\
# Lecture notebook 2 — remove something and measure the damage: occlusion and lesions

Two experiments of the same kind. **Occlusion** hides part of the *input* and watches the class score
(Zeiler & Fergus 2014). A **lesion** switches off part of the *network* — a channel, a unit — and watches the
class scores (the neuroscientist's method, applied to CNNs by Zhou et al. 2018, *Revisiting the Importance of
Individual Units in CNNs via Ablation*, and Morcos et al. 2018, *On the Importance of Single Directions for
Generalization*). Neither edits the model: `nbs.lesion` replaces a layer's output during the forward pass
only. All on the demo model shipped with nbsaliency."""

LOAD = """\
import matplotlib.pyplot as plt
import torch

import nbsaliency as nbs
from nbsaliency import demo

model = demo.load_model()
names = demo.CLASS_NAMES
batch = demo.images(full_or_fast(4, 2), seed=12)"""

OCCLUSION_TEXT = """\
## Occlusion maps, three window sizes

Zeiler & Fergus (2014, *Visualizing and Understanding Convolutional Networks*, Sec. 4.2, Fig. 7) slide a grey
square over the image and plot the correct class's score for every position of the square. Here each pixel
shows the mean *drop* of the true class's logit over the windows that cover it (red: hiding it hurts the class;
blue: hiding it helps). **Look for** the trade-off of the window size: a small window hides too little of the
shape to matter (the map is faint and speckled), a large one finds the object but blurs its outline."""

OCCLUSION = """\
windows = full_or_fast((6, 12, 24), (12, 24))
fig, axes = plt.subplots(len(batch.images), 1 + len(windows), figsize=(2.3 * (1 + len(windows)),
                         2.3 * len(batch.images)), layout="constrained", squeeze=False)
for w in windows:
    for i, (image, label) in enumerate(zip(batch.images, batch.labels, strict=True)):
        drop = nbs.attribute(model, image, int(label), "occlusion", window=w, stride=w // 2, fill=0.5)[0]
        limit = drop.abs().max()  # (every colour channel carries the same map)
        axes[i, 1 + windows.index(w)].imshow(drop, cmap="RdBu_r", vmin=-limit, vmax=limit)
        axes[i, 1 + windows.index(w)].set_title(f"window {w} px (max drop {limit:.1f})", fontsize=8)
for i, image in enumerate(batch.images):
    axes[i, 0].imshow(image.permute(1, 2, 0))
    axes[i, 0].set_title(names[batch.labels[i]], fontsize=9)
for ax in axes.flat:
    ax.set_axis_off()
plt.show()"""

EFFECT_TEXT = """\
## One lesion: what the model loses

`nbs.lesion(model, layer, channels).effect(x)` runs the images once as they are and once with the channels
removed (zeroed; `fill="mean"` would keep each channel's average level instead) and returns both class scores.
Here: the last ReLU layer, `block3.relu2`, with a quarter of its 64 channels removed. **Look for** how much
probability the true class keeps: one quarter of the channels gone often leaves the decision intact —
the representation is distributed."""

EFFECT = """\
layer = "block3.relu2"
effect = nbs.lesion(model, layer, range(0, 64, 4)).effect(batch.images)
for i in range(len(batch.images)):
    true = int(batch.labels[i])
    print(f"image {i} ({names[true]:8s}): p(true class) {effect.clean_probabilities[i, true]:.3f} -> "
          f"{effect.probabilities[i, true]:.3f}, logit change {effect.score_change[i, true]:+.2f}, "
          f"prediction changed: {bool(effect.prediction_changed[i])}")"""

SWEEP_TEXT = """\
## The lesion sweep and the "remove the k most important" curve

Which channels does a class need? `nbs.lesion_sweep` removes each channel of a layer *alone* and records the class
logit on images of that class; the channels are ranked by the mean drop. The sweep is batched: the layer's output
is copied once per channel with a different channel removed in each copy, so 64 lesions cost a handful of
forward passes (`benchmarks/lesion_sweep.py` measures it). `nbs.lesion_curve` then removes the top-ranked
channels *together*, k = 0, 4, 8, ..., against a random removal order (Morcos et al. 2018, Fig. 2; Zhou et al.
2018). **Look for**: the few top channels cost clearly more than an average one, and the ranked curve falls
faster than the random one — but no single channel is indispensable."""

SWEEP = """\
star = names.index("star")
pool = demo.images(full_or_fast(400, 120), seed=99)
stars = pool.images[pool.labels == star][:full_or_fast(32, 8)]
sweep = nbs.lesion_sweep(model, stars, layer, target=star)
ks = list(range(0, 65, 4))
ranked = nbs.lesion_curve(model, stars, layer, sweep.ranking, target=star, ks=ks)
random_order = torch.randperm(64, generator=torch.Generator().manual_seed(0))
random = nbs.lesion_curve(model, stars, layer, random_order, target=star, ks=ks)

top_channel, random_channel = int(sweep.ranking[0]), int(random_order[0])
top_drop, random_drop = float(sweep.mean_drop[top_channel]), float(sweep.mean_drop[random_channel])
print(f"{len(stars)} star images; clean logit {sweep.clean.mean():.2f}")
print(f"removing the top-ranked channel {top_channel} costs {top_drop:.3f}; a random channel ({random_channel}) "
      f"costs {random_drop:.3f}; the median channel {sweep.mean_drop.median():.3f}")
nbs.lesion_figure(sweep, {"most important first": ranked, "random order": random},
                  title=f"Lesions in {layer}: what each channel is worth to 'star'")"""

CLASSES_TEXT = """\
### Every class

The same sweep for each class, on that class's images: rows are classes, columns the 64 channels (in the order
of the star ranking above), colour the logit drop. **Look for** channels that matter to one class only (a bright
cell alone in its column) versus channels every class leans on (a bright column)."""

CLASSES = """\
drops = torch.stack([
    nbs.lesion_sweep(model, pool.images[pool.labels == c][:full_or_fast(32, 8)], layer, target=c).mean_drop
    for c in range(len(names))
])  # (classes, channels)
fig, ax = plt.subplots(figsize=(11, 2.6), layout="constrained")
image = ax.imshow(drops[:, sweep.ranking], cmap="magma", aspect="auto")
ax.set_yticks(range(len(names)), names)
ax.set_xticks(range(64), sweep.ranking.tolist(), fontsize=5, rotation=90)
ax.set_xlabel(f"channel of {layer} (ordered by the star ranking)")
fig.colorbar(image, ax=ax, label="mean logit drop")
plt.show()"""


def build() -> nbformat.NotebookNode:
    cells = [
        markdown(INTRO),
        code(SETTINGS),
        code(LOAD),
        markdown(OCCLUSION_TEXT),
        figure(OCCLUSION),
        markdown(EFFECT_TEXT),
        code(EFFECT),
        markdown(SWEEP_TEXT),
        figure(SWEEP),
        markdown(CLASSES_TEXT),
        figure(CLASSES),
    ]
    return assemble(cells, "lecture-2")


if __name__ == "__main__":
    sys.exit(generate(build, NOTEBOOK, __doc__))
