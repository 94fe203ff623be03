"""Write ``6_trust.ipynb`` (without outputs) from the cells below:
``python example_notebooks/lecture/make_6_trust.py`` (``--execute`` also runs it once)."""

from __future__ import annotations

import sys

import nbformat
from lecture_source import LECTURE, SETTINGS, assemble, code, figure, generate, markdown

NOTEBOOK = LECTURE / "6_trust.ipynb"

INTRO = """\
# Lecture notebook 6 — can the maps be trusted?

A saliency map is a picture; whether it tells the truth about the model has to be *measured*. Two tests: does the
map point at the object (the demo images come with exact object masks), and does the map depend on the model at
all (Adebayo et al. 2018 randomise the weights and see whether the map changes). `nbsaliency.evaluation` has the
pieces; `benchmarks/localisation.py` and `benchmarks/sanity_checks.py` print the same numbers as tables."""

LOAD = """\
import matplotlib.pyplot as plt
import torch

import nbsaliency as nbs
from nbsaliency import demo
from nbsaliency.evaluation import cascading_randomisation, energy_in_mask, evidence_map, pointing_game, spearman

model = demo.load_model()
names = demo.CLASS_NAMES
held_out = demo.images(full_or_fast(100, 8), seed=777)  # a seed the model was not trained on
options = {"smoothgrad": {"n_samples": full_or_fast(16, 4)}, "integrated_gradients": {"steps": full_or_fast(32, 8)},
           "occlusion": {"window": 8, "stride": full_or_fast(4, 8)}}


def evidence(net, images, methods=None):
    \"\"\"Each method's non-negative evidence map (N, H, W) for the predicted class.\"\"\"
    session = nbs.Session(net, images)
    return {m: evidence_map(m, session.attribute(None, m, **options.get(m, {}))) for m in methods or nbs.methods()}"""

POINTING_TEXT = """\
## The pointing game per method

Zhang et al. (2018, *Top-down Neural Attention by Excitation Backprop*): a map scores a hit when its maximum lies
on the object. Next to it the share of the map's energy inside the mask (Wang et al. 2020, *Score-CAM*). A map
that knows nothing hits with probability equal to the object's share of the image: the **chance level**, drawn as
a line. Maps explain the predicted class (the model is right on almost all of these images). **Look for** which
methods beat chance by how much — and that beating chance is only a first test (an edge detector would too)."""

POINTING = """\
maps = evidence(model, held_out.images)
chance = held_out.masks.flatten(1).float().mean().item()
hits = {m: pointing_game(v, held_out.masks).float().mean().item() for m, v in maps.items()}
energy = {m: energy_in_mask(v, held_out.masks).mean().item() for m, v in maps.items()}
for m in maps:
    print(f"{m:22s} pointing game {hits[m]:6.1%}   energy in mask {energy[m]:6.1%}")
print(f"{'chance (mask area)':22s} {chance:20.1%}")

fig, ax = plt.subplots(figsize=(10, 3), layout="constrained")
x = torch.arange(len(maps))
ax.bar(x - 0.2, list(hits.values()), width=0.4, label="pointing game")
ax.bar(x + 0.2, list(energy.values()), width=0.4, label="energy in mask")
ax.axhline(chance, color="black", ls="--", label=f"chance = mask area ({chance:.0%})")
ax.set_xticks(x, list(maps), rotation=20, fontsize=8)
ax.set_ylim(0, 1)
ax.set_title(f"localisation against the object masks, {len(held_out.images)} held-out images")
ax.legend(fontsize=8)
plt.show()"""

SANITY_TEXT = """\
## Cascading randomisation (Adebayo et al. 2018)

*Sanity Checks for Saliency Maps*, Fig. 2: re-initialise the model's layers one at a time from the top (the
classifier first, then the convolutions down to the input) and redraw the maps. A method whose map survives the
destruction of the weights explains the *image* (edges, contrast), not the model. Rows: methods; columns: the
trained model, then each further randomised layer. Below: the rank correlation (Spearman) between each method's
maps and the trained model's, averaged over images. **Look for** the method whose curve stays high longest —
guided backpropagation, as in the paper: its picture survives the randomisation of most of the network, so it
shows the image's edges more than the model's reasons — and for curves that fall with every randomised layer.
No curve reaches 0 at once: even a random network's gradient follows the image's edges a little."""

SANITY = """\
shown = ("gradient", "deconvnet", "guided", "input_x_gradient", "integrated_gradients", "gradcam")
sample = held_out.images[:full_or_fast(8, 3)]
compared = full_or_fast(nbs.methods(), shown)  # every method's correlation (the test suite: the drawn ones)
trained = {m: v[:len(sample)] for m, v in maps.items()}
columns, rows, correlation = ["trained"], {m: [trained[m][0]] for m in shown}, {m: [] for m in compared}
for layer, randomised in cascading_randomisation(model):
    randomised_maps = evidence(randomised, sample, compared)
    columns.append(f"up to\\n{layer}")
    for m in compared:
        correlation[m].append(spearman(trained[m], randomised_maps[m]).mean().item())
    for m in shown:
        rows[m].append(randomised_maps[m][0])

fig, axes = plt.subplots(len(shown) + 1, len(columns), figsize=(1.3 * len(columns), 1.35 * (len(shown) + 1)),
                         layout="constrained")
axes[0, 0].imshow(sample[0].permute(1, 2, 0))
for j, title in enumerate(columns):
    axes[0, j].set_title(title, fontsize=7)
for i, m in enumerate(shown, start=1):
    for j, evidence_map_j in enumerate(rows[m]):
        axes[i, j].imshow(nbs.clip_percentile(evidence_map_j), cmap="gray")
    axes[i, 0].set_ylabel(m, fontsize=7)
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
    ax.spines[:].set_visible(False)
plt.show()

fig, ax = plt.subplots(figsize=(9, 3), layout="constrained")
for m, values in correlation.items():
    ax.plot(columns[1:], values, marker="o", label=m)
ax.axhline(0, color="gray", lw=0.6)
ax.set_ylabel("Spearman with trained maps")
ax.set_title("cascading randomisation, from the top layer (left) to the input (right)")
ax.tick_params(axis="x", labelsize=7)
ax.legend(fontsize=7, ncol=2)
plt.show()"""


def build() -> nbformat.NotebookNode:
    cells = [
        markdown(INTRO),
        code(SETTINGS),
        code(LOAD),
        markdown(POINTING_TEXT),
        figure(POINTING),
        markdown(SANITY_TEXT),
        figure(SANITY),
    ]
    return assemble(cells, "lecture-6")


if __name__ == "__main__":
    sys.exit(generate(build, NOTEBOOK, __doc__))
