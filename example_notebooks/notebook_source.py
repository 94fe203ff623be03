"""What the notebook generators (``make_*.py``) share: assembling cells into a notebook with stable ids, and the
command line that writes it and, with ``--execute``, runs it once with nbclient (outputs are not saved).

The notebooks are generated so that a review reads Python, not JSON; ``tests/test_notebooks.py`` checks that
each committed ``.ipynb`` is what its generator writes, and that it runs.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent


def markdown(source: str) -> nbformat.NotebookNode:
    return new_markdown_cell(source)


def code(source: str) -> nbformat.NotebookNode:
    return new_code_cell(source)


def assemble(cells: list[nbformat.NotebookNode], prefix: str) -> nbformat.NotebookNode:
    """A validated notebook of ``cells`` whose cell ids are ``{prefix}-00``, ``{prefix}-01``, ... (stable ids:
    regenerating gives the same file)."""
    notebook = new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
        "language_info": {"name": "python"},
    })
    for i, cell in enumerate(notebook.cells):
        cell["id"] = f"{prefix}-{i:02d}"
    nbformat.validate(notebook)
    return notebook


def execute(notebook: nbformat.NotebookNode, timeout: int = 180) -> tuple[float, list[float]]:
    """Run a copy of ``notebook`` in a fresh kernel; returns the seconds it took in all (kernel start
    included) and the seconds each code cell took."""
    from nbclient import NotebookClient

    copy = nbformat.from_dict(notebook)
    start = time.perf_counter()
    NotebookClient(copy, timeout=timeout, kernel_name="python3", record_timing=True,
                   resources={"metadata": {"path": str(HERE)}}).execute()
    total = time.perf_counter() - start
    cells = []
    for cell in copy.cells:
        timing = cell.metadata.get("execution", {}) if cell.cell_type == "code" else {}
        began, ended = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
        if began and ended:
            cells.append((datetime.fromisoformat(ended.rstrip("Z")) -
                          datetime.fromisoformat(began.rstrip("Z"))).total_seconds())
    return total, cells


def generate(build: Callable[[], nbformat.NotebookNode], path: Path, description: str,
             argv: list[str] | None = None) -> int:
    """The generators' command line: write ``build()`` to ``path``; ``--execute`` also runs it once."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--execute", action="store_true", help="also run the notebook once (outputs not saved)")
    args = parser.parse_args(argv)
    notebook = build()
    nbformat.write(notebook, path)
    print(f"wrote {path}")
    if args.execute:
        total, cells = execute(notebook)
        print(f"executed without error in {total:.1f} s (kernel start included); the cells took "
              f"{sum(cells):.1f} s: {', '.join(f'{t:.2f}' for t in cells)}")
    return 0
