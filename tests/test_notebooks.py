"""The example notebooks are what their generators write, and run from top to bottom (so they cannot rot)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

FOLDER = Path(__file__).parent.parent / "example_notebooks"
NOTEBOOKS = sorted(FOLDER.glob("*.ipynb"))


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
