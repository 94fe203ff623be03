"""End to end on a ViT-style model (tests/architectures.py) in JupyterLab 4: a token block picked by name shows
its activation maps on the 14 x 14 token grid (class token left out)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.browser.jupyter_server import JupyterServer, NotebookPage
from tests.browser.test_layer_picker_e2e import REPAINT_S, open_explorer, own_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def lab_vit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    yield from own_server("lab", tmp_path_factory)


@pytest.fixture(scope="module")
def lab_vit(browser: object, lab_vit_server: JupyterServer) -> Iterator[NotebookPage]:
    yield from open_explorer(browser, lab_vit_server, "vit")


def test_lab_a_token_block_shows_its_activation_maps_on_the_token_grid(lab_vit: NotebookPage):
    nb = lab_vit
    seq = nb.painted_seq()
    nb.pick_layer("blocks.1")
    nb.wait_painted(after=seq, timeout=REPAINT_S)
    heading = nb.page.locator(".nbs-activations h3").inner_text()
    assert re.search(r"blocks\.1 \(32 channels, 14×14\)", heading), heading
    assert nb.page.locator(".nbs-act-cell .nbs-act-map").first.get_attribute("data-map-shape") == "14x14"
    # the tiles' maps are drawn on the grid's one canvas: its pixels are not blank
    opaque = nb.page.locator("canvas.nbs-act-window").evaluate(
        "(c) => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;"
        " for (let i = 3; i < d.length; i += 4) n += d[i] > 0; return n; }")
    assert opaque > 32 * 14 * 14 // 2, opaque
    assert nb.alert().is_hidden()
    # channels are the block's 32 features, positions are on the token grid
    assert nb.control("Channel").get_attribute("max") == "31"
    assert nb.control("Neuron").is_enabled()
