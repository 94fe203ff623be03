"""The layering (engine <- explorer <- view) is an import-linter contract in pyproject.toml; scripts/test.sh runs
``lint-imports``. These tests run it on this tree and on a copy with one deliberate violation of each contract."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"], cwd=root,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True)


def test_the_import_contracts_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(("module", "line", "broken"), [
    ("maps.py", "import nbsaliency.explorer.backend", "The engine never imports the explorer"),
    ("explorer/backend.py", "import traitlets", "Only nbsaliency.explorer.widget imports"),
])
def test_a_deliberate_violation_fails_the_contract(tmp_path, module, line, broken):
    shutil.copytree(ROOT / "nbsaliency", tmp_path / "nbsaliency", ignore=shutil.ignore_patterns("__pycache__",
                                                                                                 "static", "*.pt"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    path = tmp_path / "nbsaliency" / module
    path.write_text(path.read_text() + f"\n{line}  # deliberate\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert f"{broken}" in result.stdout and "BROKEN" in result.stdout


def test_explorer_is_available_from_the_top_level_on_first_use():
    import nbsaliency
    from nbsaliency.explorer.widget import Explorer

    assert nbsaliency.Explorer is Explorer
