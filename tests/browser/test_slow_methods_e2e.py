"""End to end in JupyterLab 4: SmoothGrad runs in the background with a progress bar, Cancel stops it and keeps
the last picture, and the next change is answered."""

from __future__ import annotations

import pytest

from tests.browser.jupyter_server import WIDGET, NotebookPage
from tests.browser.test_explorer_e2e import REPAINT_S, change_and_wait

pytestmark = pytest.mark.browser

PROGRESS = f"{WIDGET} .nbs-attr-progress-row"


def test_lab_smoothgrad_shows_progress_is_cancelled_and_the_next_change_is_answered(lab_tour: NotebookPage):
    nb = lab_tour
    # far more passes than the test waits for, one copy per chunk: it is cancelled while it runs
    out = nb.add_code_cell_and_run(
        'explorer.backend.method_options["smoothgrad"] = {"n_samples": 5000, "batch_size": 1}\nprint("set")',
        timeout=60)
    assert "set" in out
    before = nb.canvas_digest()
    nb.control("Method").select_option("smoothgrad")
    nb.page.wait_for_function(
        "(sel) => { const row = document.querySelector(sel); return row && !row.hidden && "
        "/SmoothGrad: [1-9][0-9]* of 5000 passes/.test(row.textContent); }", arg=PROGRESS, timeout=REPAINT_S * 1000)
    assert nb.widget.get_attribute("aria-busy") == "true"

    nb.page.locator(WIDGET).get_by_role("button", name="Cancel computation", exact=True).click()
    nb.page.wait_for_function("(sel) => document.querySelector(sel)?.dataset.cancelled !== undefined", arg=WIDGET,
                              timeout=REPAINT_S * 1000)
    assert nb.page.locator(PROGRESS).is_hidden()
    assert "cancelled" in nb.alert().inner_text()
    assert nb.canvas_digest() == before  # the last picture stays
    assert nb.control("Method").input_value() != "smoothgrad"  # the controls show what is drawn

    change_and_wait(nb, lambda: nb.control("Method").select_option("deconvnet"))
    assert nb.alert().is_hidden()
    assert nb.widget.get_attribute("aria-busy") == "false"
