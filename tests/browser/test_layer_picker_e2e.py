"""End to end on the models people bring: a ResNet-50-sized model (about 200 layers, 2048 channels in layer4)
in JupyterLab 4 and Notebook 7. Keys typed in the widget stay in the widget (no cell is inserted or changes type,
focus stays); the Layer picker finds a layer by name; 2048 activation maps build only the tiles in view.
(test_vit_e2e.py has the ViT-style model: one notebook page per module.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.jupyter_server import REPO, JupyterServer, NotebookPage

pytestmark = pytest.mark.browser

FIRST_PAINT_S = 120
REPAINT_S = 30


def write_notebook(root: Path, name: str, model: str) -> str:
    """A notebook that shows an Explorer on ``tests.architectures.make(model)`` and two random images."""
    source = (f"import sys\nsys.path.insert(0, {str(REPO)!r})\nimport nbsaliency as nbs\n"
              f"from tests.architectures import image_batch, make\n"
              f"model = make({model!r})\nexplorer = nbs.Explorer(model, image_batch(2))\nexplorer")
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}
    notebook = {"cells": [cell], "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                             "language": "python"}},
                "nbformat": 4, "nbformat_minor": 5}
    (root / name).write_text(json.dumps(notebook))
    return name


def open_explorer(browser: object, server: JupyterServer, model: str) -> Iterator[NotebookPage]:
    name = write_notebook(server.root_dir, f"{model}-{server.app}.ipynb", model)
    page = NotebookPage(browser.new_page(), server)
    try:
        try:
            page.open(name, timeout=FIRST_PAINT_S)
            page.run_all()
            page.wait_first_paint(timeout=FIRST_PAINT_S)
            page.wait_all_executed(timeout=FIRST_PAINT_S)
        except Exception:
            page.save_artifacts(f"open-{name}")
            raise
        yield page
    finally:
        page.page.close()


def own_server(app: str, factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """A server of this module's own (its own workspace too: a shared JupyterLab workspace would reopen this
    module's notebooks in the next module's page)."""
    root = factory.mktemp(f"{app}-models")
    server = JupyterServer(app, root, log_path=factory.mktemp(f"{app}-models-log") / f"jupyter-{app}.log")
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def lab_models_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    yield from own_server("lab", tmp_path_factory)


@pytest.fixture(scope="module")
def notebook_models_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    yield from own_server("notebook", tmp_path_factory)


@pytest.fixture(scope="module")
def lab_resnet(browser: object, lab_models_server: JupyterServer) -> Iterator[NotebookPage]:
    yield from open_explorer(browser, lab_models_server, "resnet")


@pytest.fixture(scope="module")
def notebook7_resnet(browser: object, notebook_models_server: JupyterServer) -> Iterator[NotebookPage]:
    yield from open_explorer(browser, notebook_models_server, "resnet")


def notebook_state(nb: NotebookPage) -> tuple[int, list[str]]:
    """The number of cells and each cell's type, as the page shows them."""
    types = nb.page.evaluate("""() => [...document.querySelectorAll('.jp-Notebook .jp-Cell')].map((c) =>
        c.classList.contains('jp-CodeCell') ? 'code' : c.classList.contains('jp-MarkdownCell') ? 'markdown' : 'raw')""")
    return len(types), types


def focus_is_in_widget(nb: NotebookPage) -> bool:
    return nb.page.evaluate("() => document.activeElement?.closest('.nbs-root') !== null")


def type_in_widget_and_check_nothing_leaks(nb: NotebookPage) -> None:
    before = notebook_state(nb)
    layer = nb.control("Layer")
    layer.focus()
    # Command-mode shortcuts of JupyterLab / Notebook 7: a, b insert cells, r / m / y change the type, d d
    # deletes, arrows move between cells, Escape leaves edit mode.
    nb.page.keyboard.type("abrmydd")
    for key in ["ArrowDown", "ArrowDown", "ArrowUp", "Escape", "a", "r", "Escape"]:
        nb.page.keyboard.press(key)
    assert focus_is_in_widget(nb)
    # The same on a native select of the widget (not a text field, so JupyterLab would take its keys).
    order = nb.control("Order")
    order.focus()
    for key in ["a", "b", "r", "m", "ArrowDown", "ArrowUp", "Escape", "d", "d"]:
        nb.page.keyboard.press(key)
    assert focus_is_in_widget(nb)
    assert notebook_state(nb) == before, "a key typed in the widget reached the notebook"

    # A click on a part that takes no focus (an activation map, the attribution map) keeps it in the widget too.
    parts = [(nb.widget.locator(".nbs-act-map").first, True),
             (nb.widget.get_by_role("img", name="Attribution map"), False)]
    for part, selects in parts:
        seq = nb.painted_seq()
        part.click()
        for key in ["b", "ArrowDown", "a", "m", "Escape"]:
            nb.page.keyboard.press(key)
        assert focus_is_in_widget(nb)
        assert notebook_state(nb) == before, "a key typed after a click in the widget reached the notebook"
        if selects:
            nb.wait_painted(after=seq, timeout=REPAINT_S)  # the click selected that channel and neuron

    # ... and the picker still works by keyboard: type, arrows, Enter.
    layer.focus()
    seq = nb.painted_seq()
    nb.page.keyboard.type("layer3.5.conv")
    listbox = nb.widget.get_by_role("listbox", name="Layers")
    assert listbox.is_visible()
    options = listbox.get_by_role("option")
    assert options.count() == 3  # conv1, conv2, conv3 of layer3.5
    nb.page.keyboard.press("ArrowDown")
    nb.page.keyboard.press("Enter")
    nb.wait_painted(after=seq, timeout=REPAINT_S)
    assert layer.input_value() == "layer3.5.conv2"
    assert listbox.is_hidden()
    assert focus_is_in_widget(nb)
    assert notebook_state(nb) == before


def test_lab_keys_typed_in_the_widget_stay_there_and_the_picker_works_by_keyboard(lab_resnet: NotebookPage):
    type_in_widget_and_check_nothing_leaks(lab_resnet)


def test_lab_search_a_layer_by_name_and_see_its_type_and_shape(lab_resnet: NotebookPage):
    nb = lab_resnet
    layer = nb.control("Layer")
    layer.fill("relu#3")  # not a primary layer: search reaches it
    options = nb.widget.get_by_role("listbox", name="Layers").get_by_role("option")
    labels = [options.nth(i).get_attribute("aria-label") for i in range(options.count())]
    assert len(labels) == 16 and "layer4.2.relu#3, ReLU, 2048×7×7" in labels
    seq = nb.painted_seq()
    nb.pick_layer("layer4.2.relu#3")
    nb.wait_painted(after=seq, timeout=REPAINT_S)
    assert layer.input_value() == "layer4.2.relu#3"
    assert nb.alert().is_hidden()
    assert nb.add_code_cell_and_run("print(explorer.layer)").strip() == "layer4.2.relu#3"


def test_lab_2048_activation_maps_build_only_the_tiles_in_view_and_find_the_strongest(lab_resnet: NotebookPage):
    nb = lab_resnet
    seq = nb.painted_seq()
    nb.pick_layer("layer4.2")
    nb.wait_painted(after=seq, timeout=REPAINT_S)
    section = nb.page.locator(".nbs-activations")
    assert "2048 channels" in section.locator("h3").inner_text()
    tiles = section.locator(".nbs-act-cell")
    assert 0 < tiles.count() < 300

    seq = nb.painted_seq()
    section.get_by_role("button", name="Strongest", exact=True).click()
    nb.wait_painted(after=seq, timeout=REPAINT_S)
    channel = int(nb.control("Channel").input_value())
    strongest = nb.add_code_cell_and_run(
        "print(int(explorer._backend.session(explorer.image_index).activation_maps('layer4.2')[0]"
        ".amax(dim=(1, 2)).argmax()))")
    assert channel == int(strongest)
    assert section.locator(f'.nbs-act-cell[data-channel="{channel}"].nbs-selected').is_visible()

    find = nb.control("Find channel")
    find.fill("1999")
    find.press("Enter")
    assert section.locator('.nbs-act-cell[data-channel="1999"]').is_visible()


def test_notebook7_keys_typed_in_the_widget_stay_there(notebook7_resnet: NotebookPage):
    type_in_widget_and_check_nothing_leaks(notebook7_resnet)
