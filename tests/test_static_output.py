"""Outside a live front end (nbconvert HTML, static viewers) an executed notebook shows a PNG of the view."""

from __future__ import annotations

import re

import nbformat
import pytest
from nbclient import NotebookClient
from nbconvert import HTMLExporter


@pytest.mark.slow
def test_executed_notebook_exported_to_html_shows_a_static_png(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(
            "import nbsaliency as nbs\nfrom nbsaliency import demo\n"
            "batch = demo.images(2, seed=5)\n"
            "nbs.Explorer(demo.load_model(), batch.images, labels=demo.CLASS_NAMES)"
        ),
    ])
    # saved without widget state (JupyterLab's default), as a static viewer or nbconvert then sees it
    NotebookClient(notebook, timeout=120, kernel_name="python3", store_widget_state=False,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    output = notebook.cells[0].outputs[0]
    assert {"application/vnd.jupyter.widget-view+json", "image/png"} <= set(output["data"])
    html, _ = HTMLExporter().from_notebook_node(notebook)
    assert re.search(r'<img[^>]*src="data:image/png;base64,', html)
