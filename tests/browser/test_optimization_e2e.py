"""End to end: the Explorer's optimization panel in a real JupyterLab 4 (headless Chromium). A run streams
frames into the panel, the rest of the widget keeps answering while it runs, Cancel stops it, and the widget
keeps working afterwards."""

from __future__ import annotations

import time

import pytest

from tests.browser.jupyter_server import WIDGET, NotebookPage
from tests.browser.test_explorer_e2e import REPAINT_S, change_and_wait

pytestmark = pytest.mark.browser

PANEL = f"{WIDGET} .nbs-optimize"
FRAMES_S = 60  # the first frames: shadow copy, the objective's first steps on a loaded 2-core machine


def frames(nb: NotebookPage) -> int:
    return int(nb.page.locator(PANEL).get_attribute("data-frames") or 0)


def wait_frames(nb: NotebookPage, at_least: int, timeout: float = FRAMES_S) -> int:
    nb.page.wait_for_function(
        "([sel, n]) => Number(document.querySelector(sel)?.dataset.frames || 0) >= n",
        arg=[PANEL, at_least], timeout=timeout * 1000)
    return frames(nb)


def button(nb: NotebookPage, name: str):
    return nb.page.locator(PANEL).get_by_role("button", name=name, exact=True)


def test_lab_optimization_streams_is_cancelled_and_the_widget_keeps_working(lab_tour: NotebookPage):
    nb = lab_tour
    panel = nb.page.locator(PANEL)
    status = panel.get_by_role("status")
    nb.control("Visualisation").select_option("activation_maximisation")
    nb.control("Steps").fill("2000")  # far more than the test waits for: it is cancelled while it runs
    button(nb, "Run").click()

    seen = wait_frames(nb, 2)
    assert "Running: step" in status.inner_text()
    first = nb.canvas_digest("Optimized image")

    # The kernel keeps answering the rest of the widget while the job runs, and the job goes on.
    change_and_wait(nb, lambda: nb.control("Method").select_option("deconvnet"))
    wait_frames(nb, seen + 1)
    assert nb.canvas_digest("Optimized image") != first, "the streamed image did not change"

    button(nb, "Cancel").click()
    nb.page.wait_for_function("(sel) => document.querySelector(sel)?.dataset.phase === 'cancelled'", arg=PANEL,
                              timeout=REPAINT_S * 1000)
    assert status.inner_text().startswith("Cancelled at step"), status.inner_text()
    stopped = frames(nb)
    time.sleep(1.0)
    assert frames(nb) == stopped, "frames kept coming after the run was cancelled"
    assert button(nb, "Cancel").is_disabled()

    change_and_wait(nb, lambda: nb.control("Method").select_option("gradient"))
    assert nb.alert().is_hidden()
    assert nb.widget.get_attribute("aria-busy") == "false"
