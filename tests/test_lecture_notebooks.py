"""The lecture notebooks (example_notebooks/lecture/) are what their generators write, run from top to bottom in
the reduced mode (NBSALIENCY_FAST=1), draw an image in every figure cell, and reproduce the lecture's key numbers.

The numbers are read from the executed kernel: a probe cell appended to the run prints the notebook's own
variables as JSON, and the assertions compare them with the paper (the ReLU table) or with each other.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

FOLDER = Path(__file__).parent.parent / "example_notebooks" / "lecture"
NOTEBOOKS = sorted(FOLDER.glob("*.ipynb"))
MARK = "LECTURE-PROBE "

# Springenberg, Dosovitskiy, Brox & Riedmiller 2015, "Striving for Simplicity", Fig. 1 (also in DESIGN.md)
PAPER_RELU_TABLE = {
    "gradient": [[-2, 0, -1], [6, 0, 0], [0, -1, 3]],
    "deconvnet": [[0, 3, 0], [6, 0, 1], [2, 0, 3]],
    "guided": [[0, 0, 0], [6, 0, 0], [0, 0, 3]],
}

# what each notebook's probe prints (expressions over the notebook's variables)
PROBES = {
    "2_occlusion_and_lesions": '{"top_drop": top_drop, "random_drop": random_drop, '
                               '"median_drop": float(sweep.mean_drop.median())}',
    "3_dataset_examples": '{"tsne_neighbours": float(nearest_agrees(embedding.coordinates))}',
    "4_gradients": '{m: t.tolist() for m, t in relu_table.items()}',
    "5_optimisation": '{layer: float(e.mean()) for layer, e in errors.items()}',
    "6_trust": '{"hits": hits, "chance": chance}',
}


def test_every_lecture_notebook_has_a_generator():
    generators = sorted(p.stem.removeprefix("make_") for p in FOLDER.glob("make_*.py"))
    assert generators == [p.stem for p in NOTEBOOKS]
    assert len(NOTEBOOKS) == 6


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_each_lecture_notebook_is_what_its_generator_writes(path, monkeypatch):
    """Edit ``lecture/make_<name>.py`` and run it, not the ``.ipynb``."""
    monkeypatch.syspath_prepend(str(FOLDER))
    generator = importlib.import_module(f"make_{path.stem}")
    try:
        assert generator.build() == nbformat.read(path, as_version=4), f"{path.name} differs from its generator"
    finally:
        sys.modules.pop(f"make_{path.stem}", None)


def run_fast(path: Path, monkeypatch) -> tuple[nbformat.NotebookNode, dict]:
    """Execute ``path`` in the reduced mode with a probe cell at the end; returns the executed notebook (probe
    removed) and the probe's values."""
    monkeypatch.setenv("NBSALIENCY_FAST", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    notebook = nbformat.read(path, as_version=4)
    probe = PROBES.get(path.stem)
    if probe:
        notebook.cells.append(new_code_cell(f"import json\nprint({MARK!r} + json.dumps({probe}))"))
    NotebookClient(notebook, timeout=300, kernel_name="python3", store_widget_state=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    values: dict = {}
    if probe:
        cell = notebook.cells.pop()
        text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
        values = json.loads(text.split(MARK, 1)[1])
    return notebook, values


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_lecture_notebook_runs_and_draws_every_figure(path, monkeypatch):
    notebook, values = run_fast(path, monkeypatch)
    errors = [o for cell in notebook.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    figure_cells = [i for i, cell in enumerate(notebook.cells) if "figure" in cell.metadata.get("tags", [])]
    with_images = [i for i, cell in enumerate(notebook.cells)
                   if any("image/png" in o.get("data", {}) for o in cell.get("outputs", []))]
    assert figure_cells, "a lecture notebook without figures"
    assert with_images == figure_cells, "every figure cell (and only those) must show an image/png"
    check = KEY_NUMBERS.get(path.stem)
    if check:
        check(values)


def relu_table_equals_the_papers(values: dict) -> None:
    assert values == PAPER_RELU_TABLE


def inversion_error_grows_with_depth(errors: dict) -> None:
    blocks = [errors[layer] for layer in ("block1.conv1", "block1", "block2", "block3")]
    assert blocks == sorted(blocks) and blocks[0] < 0.5 * blocks[1], errors
    assert min(errors.values()) == errors["block1.conv1"]


def top_channel_costs_more_than_a_random_one(values: dict) -> None:
    assert values["top_drop"] > values["random_drop"]
    assert values["top_drop"] > values["median_drop"]


def tsne_keeps_classes_together(values: dict) -> None:
    assert values["tsne_neighbours"] > 0.9


def methods_beat_chance_in_the_pointing_game(values: dict) -> None:
    hits = values["hits"]
    assert sum(hits.values()) / len(hits) > values["chance"]
    assert hits["gradcam"] > values["chance"]


KEY_NUMBERS = {
    "2_occlusion_and_lesions": top_channel_costs_more_than_a_random_one,
    "3_dataset_examples": tsne_keeps_classes_together,
    "4_gradients": relu_table_equals_the_papers,
    "5_optimisation": inversion_error_grows_with_depth,
    "6_trust": methods_beat_chance_in_the_pointing_game,
}
