"""End to end: the Explorer's lecture panels in a real JupyterLab 4 (headless Chromium). Toggling Lesion on the
selected channel shows the predictions without that channel (they change, the model keeps no hook); the kernels
panel draws the selected convolution's filters; the t-SNE button maps the tour's dataset."""

from __future__ import annotations

import re

import pytest

from tests.browser.jupyter_server import WIDGET, NotebookPage
from tests.browser.test_explorer_e2e import REPAINT_S, set_channel

pytestmark = pytest.mark.browser

LESION = f"{WIDGET} section[aria-label='Lesion']"
KERNELS = f"{WIDGET} section[aria-label='Kernels']"
TSNE = f"{WIDGET} section[aria-label='t-SNE of codes']"
TSNE_S = 180  # t-SNE of the tour's 500 dataset images on a loaded 2-core machine
ROW = re.compile(r"^(.+) ([\d.]+)% → ([\d.]+)%$")


def test_lab_lesion_of_the_selected_channel_changes_the_predictions(lab_tour: NotebookPage):
    nb = lab_tour
    seq = nb.painted_seq()
    nb.pick_layer("block2.conv2")
    nb.wait_painted(after=seq, timeout=REPAINT_S)
    # the channel whose removal costs this image's predicted class most (the engine's sweep, in the kernel)
    top = int(nb.add_code_cell_and_run(
        "print(int(nbs.lesion_sweep(model, explorer.backend.inputs[explorer.image_index][None], "
        "'block2.conv2').ranking[0]))").strip())
    seq = nb.painted_seq()
    set_channel(nb, top)
    nb.wait_painted(after=seq, timeout=REPAINT_S)

    panel = nb.page.locator(LESION)
    toggle = panel.get_by_role("button", name="Lesion")
    assert toggle.get_attribute("aria-pressed") == "false"
    toggle.click()
    nb.page.wait_for_function(
        "([sel, channel]) => { const p = document.querySelector(sel);"
        " return p?.dataset.channel === String(channel) && p.getAttribute('aria-busy') === 'false'; }",
        arg=[LESION, top], timeout=REPAINT_S * 1000)
    rows = [ROW.match(label) for label in panel.get_by_role("listitem").evaluate_all(
        "rows => rows.map(r => r.getAttribute('aria-label'))")]
    assert rows and all(rows), rows
    changes = [abs(float(after) - float(before)) for _, before, after in (m.groups() for m in rows)]
    assert max(changes) >= 0.1, f"the lesion of the top-ranked channel changed no probability: {rows}"
    assert f"Without block2.conv2 channel {top} (zeroed)" in panel.inner_text()
    assert nb.alert().is_hidden()

    hooks = nb.add_code_cell_and_run(
        "print(sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules()))")
    assert hooks.strip() == "0"

    toggle.click()
    assert panel.get_attribute("data-lesion") == "off"
    assert panel.get_by_role("listitem").count() == 0


def test_lab_kernels_follow_the_selected_convolution(lab_tour: NotebookPage):
    nb = lab_tour
    seq = nb.painted_seq()
    nb.pick_layer("block1.conv1")
    nb.wait_painted(after=seq, timeout=REPAINT_S)
    nb.page.wait_for_function(
        "(sel) => { const p = document.querySelector(sel); return p?.dataset.conv === 'block1.conv1'"
        " && Number(p.dataset.tiles) > 0; }", arg=KERNELS, timeout=REPAINT_S * 1000)
    assert "filters as colour" in nb.page.locator(KERNELS).inner_text()


def test_lab_tsne_button_maps_the_dataset(lab_tour: NotebookPage):
    nb = lab_tour
    panel = nb.page.locator(TSNE)
    panel.get_by_role("button", name="Map the dataset (t-SNE)").click()
    nb.page.wait_for_function("(sel) => ['done', 'error'].includes(document.querySelector(sel)?.dataset.status)",
                              arg=TSNE, timeout=TSNE_S * 1000)
    assert panel.get_attribute("data-status") == "done", panel.inner_text()
    assert panel.get_attribute("data-points") == "500"
    assert panel.get_by_role("img", name="t-SNE map of the dataset").is_visible()


def test_lab_tsne_hover_shows_a_points_image_and_a_click_opens_it(lab_tour: NotebookPage):
    nb = lab_tour
    panel = nb.page.locator(TSNE)
    if panel.get_attribute("data-status") != "done":
        test_lab_tsne_button_maps_the_dataset(nb)
    # where the view draws each point: the map's coordinates fitted into 320 x 320 with an 8-pixel margin, y up;
    # the point farthest from its neighbours is hovered (the pointer lands on whole pixels)
    k, x, y = nb.add_code_cell_and_run(
        "import numpy as np\n"
        "c = next(iter(explorer._panels['embedding'].jobs.cache.values())).coordinates\n"
        "lo, hi = c.min(0), c.max(0); s = min(304 / (hi - lo)); mid = (lo + hi) / 2\n"
        "p = np.stack([160 + (c[:, 0] - mid[0]) * s, 160 - (c[:, 1] - mid[1]) * s], 1)\n"
        "d = np.linalg.norm(p[:, None] - p[None], axis=2); np.fill_diagonal(d, np.inf)\n"
        "k = int(d.min(1).argmax()); print(k, *p[k])").split()
    k, x, y = int(k), float(x), float(y)
    canvas = panel.get_by_role("img", name="t-SNE map of the dataset")
    canvas.scroll_into_view_if_needed()
    # The pointer event is made where the point is on screen, in one task with reading the canvas's box: the
    # notebook may still be scrolling to the cell added above, and a real pointer would land elsewhere meanwhile.
    pointer = """([x, y, type]) => {
        const c = document.querySelector("canvas.nbs-tsne-map");
        const r = c.getBoundingClientRect();
        const at = { clientX: r.left + c.clientLeft + x, clientY: r.top + c.clientTop + y, bubbles: true };
        c.dispatchEvent(new MouseEvent(type, at));
    }"""
    nb.page.mouse.move(0, 0)  # the real pointer off the map, so scrolling sends the map no pointer events
    nb.page.evaluate(pointer, [x, y, "mousemove"])
    assert panel.get_attribute("data-hover") == str(k)
    assert f"image {k}" in panel.inner_text()

    seq, before = nb.painted_seq(), nb.canvas_digest("Model input")
    nb.page.evaluate(pointer, [x, y, "click"])
    nb.wait_painted(after=seq, timeout=REPAINT_S)
    assert nb.canvas_digest("Model input") != before, "the input image did not change"
    opened = nb.add_code_cell_and_run(
        f"print(bool((explorer.backend.inputs[explorer.image_index] == val_images[{k}]).all()))")
    assert opened.strip() == "True"
