"""End to end in marimo (`marimo run`, headless Chromium): the Explorer renders through `mo.ui.anywidget`, a Method
change made in the page repaints it, and a cell that reads the widget's value re-runs (the view sends selection
changes as trait updates, which is what marimo reacts to)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.jupyter_server import free_port

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]

APP = '''\
import marimo

app = marimo.App()


@app.cell
def _():
    import marimo as mo

    import nbsaliency as nbs
    from nbsaliency import demo

    explorer = mo.ui.anywidget(nbs.Explorer(demo.load_model(), demo.images(3, seed=0).images,
                                            labels=demo.CLASS_NAMES))
    explorer
    return explorer, mo


@app.cell
def _(explorer, mo):
    mo.md(f"selected method: {explorer.value['method']}")
    return
'''


@pytest.fixture(scope="module")
def marimo_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("marimo")
    (root / "app.py").write_text(APP)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    log = (root / "marimo.log").open("w")
    server = subprocess.Popen([str(Path(sys.executable).with_name("marimo")), "run", "app.py", "--headless",
                               "--no-token", "--port", str(port)], cwd=root, env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except OSError:
                assert server.poll() is None, (root / "marimo.log").read_text()
                time.sleep(0.25)
        yield url
    finally:
        server.terminate()
        server.wait(30)
        log.close()


def painted_seq(root) -> int:
    return int(root.get_attribute("data-painted-seq") or 0)


def wait_until(predicate, timeout_s: float = 90.0) -> None:
    """Polls `predicate` (the widget lives in a shadow root, which page-level JS queries do not reach)."""
    for _ in range(int(timeout_s / 0.25)):
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError("timed out")


def test_marimo_method_change_repaints_and_reruns_the_dependent_cell(browser, marimo_app):
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    try:
        page.goto(marimo_app)
        root = page.locator(".nbs-root")
        root.wait_for(timeout=120_000)
        wait_until(lambda: painted_seq(root) >= 1)
        page.get_by_text("selected method: gradient").wait_for(timeout=60_000)
        before = painted_seq(root)
        page.get_by_label("Method", exact=True).select_option("guided")
        page.get_by_text("selected method: guided").wait_for(timeout=60_000)  # the dependent cell re-ran
        wait_until(lambda: painted_seq(root) > before)
        assert page.get_by_label("Method", exact=True).input_value() == "guided"
        assert errors == []
    finally:
        page.close()
