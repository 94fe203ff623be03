"""The example notebooks are what their generators write, and run from top to bottom (so they cannot rot)."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

FOLDER = Path(__file__).parent.parent / "example_notebooks"
NOTEBOOKS = sorted(FOLDER.glob("*.ipynb"))

# matplotlib's repr of a figure ("<Figure size 640x480 with 2 Axes>", "<NotebookFigure size ...>"): printed as text,
# it means the figure had no image representation
FIGURE_REPR = re.compile(r"<\w*Figure size [\d.]+x[\d.]+ with \d+ Axes>")
# a cell whose source calls one of the library's figure helpers (``top_patches_figure(...)``, ``explorer.figure()``)
DRAWS_FIGURE = re.compile(r"^(?!\s*def ).*(_figure\(|\.figure\()", re.MULTILINE)


def figure_output_problems(notebook: nbformat.NotebookNode) -> list[str]:
    """Where an executed notebook shows a figure as text instead of an image: an output whose text is a figure's
    repr without an ``image/png`` beside it, or a cell that draws a figure but has no ``image/png`` output."""
    problems = []
    for i, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        outputs = cell.get("outputs", [])
        for output in outputs:
            data = output.get("data", {})
            text = output.get("text", "") + "".join(data.get("text/plain", ""))
            if FIGURE_REPR.search(text) and "image/png" not in data:
                problems.append(f"cell {i} shows a figure as text: {FIGURE_REPR.search(text).group()}")
        if DRAWS_FIGURE.search(cell.source) and not any("image/png" in o.get("data", {}) for o in outputs):
            problems.append(f"cell {i} draws a figure but has no image/png output")
    return problems


def test_figure_check_flags_text_only_figures_and_accepts_images():
    """The check below can fail: a bare matplotlib Figure's display is text only."""
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    text_only = new_output("display_data", data={"text/plain": "<Figure size 640x480 with 18 Axes>"})
    image = new_output("display_data", data={"text/plain": "<NotebookFigure size 640x480 with 1 Axes>",
                                             "image/png": "iVBORw0KGgo="})
    printed = new_output("stream", name="stdout", text="<Figure size 100x100 with 0 Axes>\n")
    notebook = new_notebook(cells=[
        new_code_cell("display(nbs.top_patches_figure(p))", outputs=[text_only]),
        new_code_cell("explorer.figure()", outputs=[image]),
        new_code_cell("print(figure)", outputs=[printed]),
        new_code_cell("figure = explorer.figure(dpi=50)", outputs=[]),
        new_code_cell("def top_patches_figure(p):\n    return p", outputs=[]),
    ])
    assert figure_output_problems(notebook) == [
        "cell 0 shows a figure as text: <Figure size 640x480 with 18 Axes>",
        "cell 0 draws a figure but has no image/png output",
        "cell 2 shows a figure as text: <Figure size 100x100 with 0 Axes>",
        "cell 3 draws a figure but has no image/png output",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_each_notebook_is_what_its_generator_writes(path, monkeypatch):
    """Edit ``make_<name>.py`` and run it, not the ``.ipynb``: a hand edit is lost at the next generation."""
    monkeypatch.syspath_prepend(str(FOLDER))
    generator = importlib.import_module(f"make_{path.stem}")
    committed = nbformat.read(path, as_version=4)
    assert generator.build() == committed, f"{path.name} differs from what make_{path.stem}.py writes"
    sys.modules.pop(f"make_{path.stem}", None)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_example_notebook_runs(path):
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3", store_widget_state=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [o for cell in notebook.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    assert not figure_output_problems(notebook), "figures must display as images (image/png), not as text"
