"""What the lecture notebooks share: the generator helpers of ``../notebook_source.py``, the settings cell with
the test suite's reduced mode, and tags that let ``tests/test_lecture_notebooks.py`` find figure cells.

Every notebook runs on the demo model and images shipped with nbsaliency (nothing is downloaded). Readers see
the full settings; with ``NBSALIENCY_FAST=1`` (set by the test suite) the same code runs with fewer images and
optimisation steps.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

LECTURE = Path(__file__).resolve().parent
sys.path.insert(0, str(LECTURE.parent))

from notebook_source import assemble, code, generate, markdown  # noqa: E402

__all__ = ["LECTURE", "SETTINGS", "assemble", "code", "figure", "generate", "markdown"]

SETTINGS = """\
import os

# NBSALIENCY_FAST=1 (the test suite) runs the same cells with fewer images and steps; readers get the full run.
FAST = os.environ.get("NBSALIENCY_FAST") == "1"


def full_or_fast(full, fast):
    \"\"\"The setting this notebook is written for, or the test suite's smaller one.\"\"\"
    return fast if FAST else full"""


def figure(source: str) -> nbformat.NotebookNode:
    """A code cell that draws a figure (tagged, so the tests check it has an ``image/png`` output)."""
    cell = code(source)
    cell.metadata["tags"] = ["figure"]
    return cell
