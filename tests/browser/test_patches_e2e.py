"""End to end: the Explorer's top-activating patches in a real JupyterLab 4 (headless Chromium). The tour's
dataset is indexed in the background; choosing a layer and channel shows their nine top patches, and clicking
one makes its image the input with that unit selected, in the view and in the kernel."""

from __future__ import annotations

import re

import pytest

from tests.browser.jupyter_server import WIDGET, NotebookPage
from tests.browser.test_explorer_e2e import REPAINT_S, set_channel

pytestmark = pytest.mark.browser

PANEL = f"{WIDGET} section[aria-label='Top-activating patches']"
INDEX_S = 60  # 500 demo images on a loaded 2-core machine: a few seconds


def wait_grid(nb: NotebookPage, layer: str, channel: int) -> None:
    nb.page.wait_for_function(
        """([sel, layer, channel]) => {
             const panel = document.querySelector(sel);
             return panel !== null && panel.dataset.layer === layer && panel.dataset.channel === String(channel)
               && panel.dataset.patches === "9";
           }""",
        arg=[PANEL, layer, channel], timeout=REPAINT_S * 1000)


def test_lab_patch_grid_follows_the_channel_and_a_click_opens_the_patch(lab_tour: NotebookPage):
    nb = lab_tour
    panel = nb.page.locator(PANEL)
    nb.page.wait_for_function("(sel) => document.querySelector(sel)?.dataset.indexStatus === 'ready'", arg=PANEL,
                              timeout=INDEX_S * 1000)
    assert panel.get_by_role("progressbar", name="Index progress").is_hidden()

    # One change at a time: a result arriving while a typed channel is not yet committed would reset the field.
    seq = nb.painted_seq()
    nb.pick_layer("block2.conv2")
    nb.wait_painted(after=seq, timeout=REPAINT_S)
    set_channel(nb, 5)
    wait_grid(nb, "block2.conv2", 5)
    cells = panel.get_by_role("button", name=re.compile(r"^Patch \d: image \d+, value [-\d.e]+, open$"))
    assert cells.count() == 9
    assert "block2.conv2 · channel 5" in panel.inner_text()

    first = cells.first
    image = int(re.search(r"image (\d+)", first.get_attribute("aria-label")).group(1))
    y, x = map(int, re.search(r"at \((\d+), (\d+)\)", first.get_attribute("title")).groups())
    seq, before = nb.painted_seq(), nb.canvas_digest("Model input")
    first.click()
    nb.wait_painted(after=seq, timeout=REPAINT_S)
    assert nb.canvas_digest("Model input") != before, "the input image did not change"
    assert nb.control("Image").input_value() == "8"  # the tour's 8 images, then the opened dataset image
    assert nb.control("Target").input_value() == "neuron"
    assert nb.alert().is_hidden()

    output = nb.add_code_cell_and_run(
        "print(explorer.image_index, explorer.n_images, explorer.layer, explorer.channel, explorer.target, "
        "*explorer.position, bool((explorer._backend.inputs[8] == val_images[" + str(image) + "]).all()))")
    assert output.split() == ["8", "9", "block2.conv2", "5", "neuron", str(y), str(x), "True"]
