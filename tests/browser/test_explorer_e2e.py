"""End to end: the tour notebook in a real JupyterLab 4 and Jupyter Notebook 7, driven through the widget's
labelled controls in headless Chromium. Each change must reach the kernel, come back as a new paint with
different pixels, and leave the kernel-side selection equal to what the controls show."""

from __future__ import annotations

import re

import pytest

from tests.browser.jupyter_server import NotebookPage

pytestmark = pytest.mark.browser

REPAINT_S = 30  # one kernel round trip; generous for a loaded 2-core machine


def change_and_wait(nb: NotebookPage, action) -> str:
    """Do ``action`` (a UI change that needs the kernel), wait for the next paint, and return the new
    attribution pixels' digest after checking they differ from before."""
    seq, before = nb.painted_seq(), nb.canvas_digest()
    action()
    nb.wait_painted(after=seq, timeout=REPAINT_S)
    after = nb.canvas_digest()
    assert after != before, "the attribution map was repainted with the same pixels"
    return after


def set_channel(nb: NotebookPage, channel: int) -> None:
    """Type a channel and press Enter, as a person does."""
    field = nb.control("Channel")
    field.fill(str(channel))
    field.press("Enter")


def test_lab_python_side_change_made_while_the_view_starts_is_kept(lab_tour: NotebookPage):
    # First in the module: it reads the page as the tour left it, before the other tests change the method.
    assert lab_tour.control("Method").input_value() == "guided"


def test_lab_controls_repaint_and_reach_the_kernel(lab_tour: NotebookPage):
    nb = lab_tour
    assert nb.painted_seq() >= 1
    # A class score does not depend on the layer or channel; a channel target does.
    change_and_wait(nb, lambda: nb.control("Target").select_option("channel"))
    change_and_wait(nb, lambda: nb.pick_layer("block2.conv2"))
    change_and_wait(nb, lambda: nb.control("Method").select_option("deconvnet"))
    change_and_wait(nb, lambda: set_channel(nb, 5))

    assert nb.control("Layer").input_value() == "block2.conv2"
    assert nb.control("Method").input_value() == "deconvnet"
    assert nb.control("Channel").input_value() == "5"
    assert nb.widget.get_attribute("aria-busy") == "false"
    assert nb.alert().is_hidden()

    output = nb.add_code_cell_and_run("print(explorer.layer, explorer.method, explorer.channel, explorer.target)")
    assert output.split() == ["block2.conv2", "deconvnet", "5", "channel"]


def test_lab_out_of_range_channel_shows_the_kernel_error_and_the_widget_keeps_working(lab_tour: NotebookPage):
    nb = lab_tour
    if nb.control("Target").input_value() != "channel":  # a class score ignores the channel
        change_and_wait(nb, lambda: nb.control("Target").select_option("channel"))
    layer = nb.control("Layer").input_value()
    assert nb.alert().is_hidden()

    seq = nb.painted_seq()
    set_channel(nb, 999)
    nb.wait_painted(after=seq, timeout=REPAINT_S)
    alert = nb.alert()
    assert alert.is_visible()
    message = alert.inner_text()
    assert "out of range" in message and "999" in message and layer in message, message
    assert re.search(r"valid 0\.\.\d+", message), message
    errored = nb.canvas_digest()

    shown = int(nb.control("Channel").input_value())  # the last valid channel, shown again
    valid = 3 if shown != 3 else 4
    seq = nb.painted_seq()
    set_channel(nb, valid)
    nb.wait_painted(after=seq, timeout=REPAINT_S)
    assert nb.alert().is_hidden()
    assert nb.canvas_digest() != errored
    assert nb.control("Channel").input_value() == str(valid)


def test_notebook7_method_change_repaints(notebook_tour: NotebookPage):
    nb = notebook_tour
    assert nb.painted_seq() >= 1
    change_and_wait(nb, lambda: nb.control("Method").select_option("deconvnet"))
    assert nb.control("Method").input_value() == "deconvnet"
    change_and_wait(nb, lambda: nb.control("Target").select_option("channel"))
    change_and_wait(nb, lambda: set_channel(nb, 5))
    assert nb.alert().is_hidden()
