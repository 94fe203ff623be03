"""The engine never imports the widget stack."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_engine_does_not_import_widget_libraries():
    code = (
        "import sys, nbsaliency, nbsaliency.explorer.backend, nbsaliency.explorer.figure, nbsaliency.evaluation\n"
        "nbsaliency.Session; nbsaliency.attribute\n"
        "print(sorted(m for m in ('anywidget', 'ipywidgets', 'traitlets', 'nbsaliency.explorer.widget')\n"
        "             if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_explorer_is_available_from_the_top_level_on_first_use():
    import nbsaliency
    from nbsaliency.explorer.widget import Explorer

    assert nbsaliency.Explorer is Explorer
