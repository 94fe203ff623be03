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


@pytest.mark.slow
def test_the_default_nbconvert_command_saves_a_picture_the_view_draws(tmp_path):
    """`jupyter nbconvert --to html --execute` (widget state saved, so the HTML shows the widget view, not the PNG
    output): the saved state carries the view's snapshot, which the view draws without a kernel."""
    import base64
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import nbsaliency as nbs\nfrom nbsaliency import demo\n"
        "explorer = nbs.Explorer(demo.load_model(), demo.images(2, seed=5).images, labels=demo.CLASS_NAMES)\n"
        "explorer"), nbformat.v4.new_code_cell("explorer.method = 'deconvnet'")])
    path = tmp_path / "shown.ipynb"
    nbformat.write(notebook, path)
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    subprocess.run([str(Path(sys.executable).with_name("jupyter")), "nbconvert", "--to", "html", "--execute",
                    str(path)], check=True, env=env, capture_output=True, timeout=300)
    html = (tmp_path / "shown.html").read_text()
    state = json.loads(re.search(r'<script type="application/vnd.jupyter.widget-state\+json">\s*(.*?)\s*</script>',
                                 html, re.S).group(1))["state"]
    view = json.loads(re.search(r'<script type="application/vnd.jupyter.widget-view\+json">\s*(.*?)\s*</script>',
                                html, re.S).group(1))
    explorer = state[view["model_id"]]
    assert explorer["state"]["method"] == "deconvnet"  # the state after the last cell
    (snapshot,) = [b for b in explorer.get("buffers", []) if b["path"] == ["snapshot"]]
    png = base64.b64decode(snapshot["data"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
