"""The Explorer's state never lies: how each control acts on the others, the same from Python and from the view;
the layer a method used, resets and blank maps are said; figure() after an error raises."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nbsaliency.explorer import protocol
from nbsaliency.explorer.backend import UNKNOWN_NORMALISATION_NOTE
from nbsaliency.explorer.widget import Explorer
from tests.models import make_input, make_model


class Sent:
    def __init__(self, explorer: Explorer):
        self.messages: list[dict] = []
        explorer.send = lambda content, buffers=None: self.messages.append(content)

    @property
    def last(self) -> dict:
        return [m for m in self.messages if m["kind"] == protocol.MSG_RESULT][-1]


def notes(explorer: Explorer) -> list[str]:
    """The notes under the map, less the display's (these random inputs have no stated normalisation)."""
    return [n for n in explorer._result.notes if n != UNKNOWN_NORMALISATION_NOTE]


def make() -> tuple[Explorer, nn.Module, torch.Tensor]:
    model, x = make_model("vgg"), make_input(2)
    return Explorer(model, x), model, x


def activation(model: nn.Module, x: torch.Tensor, name: str) -> torch.Tensor:
    """The layer's output for image 0, by a plain forward hook (independent of the engine's recording)."""
    seen = {}
    handle = dict(model.named_modules())[name].register_forward_hook(lambda m, i, o: seen.setdefault("out", o))
    with torch.no_grad():
        model(x[:1])
    handle.remove()
    return seen["out"][0]


def strongest(maps: torch.Tensor, channel: int) -> list[int]:
    width = maps.shape[-1]
    return list(divmod(int(maps[channel].argmax()), width))


def from_view(explorer: Explorer, request_id: int, **fields) -> dict:
    sent = Sent(explorer)
    explorer.set_state({**fields, "request_id": request_id})
    explorer._background.join()
    answer = sent.last
    assert answer["id"] == request_id
    return answer


def neuron_at_layer3(explorer: Explorer, via_view: bool) -> None:
    fields = {"layer": "features.3", "target": "neuron", "channel": 2, "position": [12, 6]}
    if via_view:
        assert from_view(explorer, 1, **fields)["error"] == ""
    else:
        with explorer.hold_trait_notifications():
            for name, value in fields.items():
                setattr(explorer, name, value)
    assert explorer.position == [12, 6] and explorer.target == "neuron"


@pytest.mark.parametrize("via_view", [False, True])
def test_a_layer_change_that_makes_the_neuron_invalid_resets_it_to_the_strongest_unit_and_says_so(via_view):
    explorer, model, x = make()
    neuron_at_layer3(explorer, via_view)
    if via_view:
        answer = from_view(explorer, 2, layer="features.7")
        assert answer["error"] == "" and answer["selection"]["position"] == explorer.position
    else:
        explorer.layer = "features.7"  # 4 x 4 maps: (12, 6) is outside
    assert explorer.error == ""
    assert explorer.target == "neuron"  # the target kind never changes with the layer
    assert explorer.position == strongest(activation(model, x, "features.7"), 2)
    assert any("neuron (12, 6) is outside features.7's 4×4 map" in note for note in explorer._result.notes)


@pytest.mark.parametrize("via_view", [False, True])
def test_a_neuron_that_stays_inside_the_new_layer_keeps_its_position(via_view):
    explorer, _, _ = make()
    neuron_at_layer3(explorer, via_view)
    if via_view:
        from_view(explorer, 2, layer="features.1")
    else:
        explorer.layer = "features.1"  # also 16 x 16
    assert explorer.position == [12, 6] and explorer.target == "neuron" and notes(explorer) == []


@pytest.mark.parametrize("via_view", [False, True])
def test_a_channel_the_new_layer_lacks_is_reset_to_zero_and_said(via_view):
    explorer, _, _ = make()
    explorer.layer, explorer.target, explorer.channel = "features.6", "channel", 12
    if via_view:
        from_view(explorer, 2, layer="features.3")
    else:
        explorer.layer = "features.3"  # 8 channels
    assert explorer.channel == 0 and explorer.target == "channel" and explorer.error == ""
    assert any("channel 12 does not exist at features.3 (8 channels)" in n for n in explorer._result.notes)


@pytest.mark.parametrize("via_view", [False, True])
def test_a_neuron_whose_channel_is_reset_keeps_its_position_inside_the_new_map(via_view):
    explorer, _, _ = make()
    fields = {"layer": "features.6", "target": "neuron", "channel": 12, "position": [5, 3]}  # 16 x 8 x 8
    with explorer.hold_trait_notifications():
        for name, value in fields.items():
            setattr(explorer, name, value)
    if via_view:
        from_view(explorer, 2, layer="features.3")
    else:
        explorer.layer = "features.3"  # 8 channels of 16 x 16: channel 12 is gone, (5, 3) is inside
    assert (explorer.channel, explorer.position, explorer.target) == (0, [5, 3], "neuron")
    assert notes(explorer) == ["channel 12 does not exist at features.3 (8 channels): reset to channel 0"]


def test_a_position_of_the_wrong_length_set_from_python_is_refused_in_words():
    explorer, _, _ = make()
    explorer.target = "neuron"
    explorer.position = [1]
    assert explorer.error == "position must be [y, x] (two whole numbers >= 0) or []; got [1]"
    explorer.position = [1, 2]
    assert explorer.error == "" and explorer.position == [1, 2]


@pytest.mark.parametrize("target", ["channel", "neuron", "logit"])
def test_a_channel_set_beyond_the_layer_is_refused_for_every_target(target):
    explorer, _, _ = make()
    explorer.target = target
    answer = from_view(explorer, 3, channel=5000)
    assert "channel 5000 is out of range" in answer["error"] and "16 channels" in answer["error"]
    assert explorer.channel != 5000  # set back from the view
    explorer.channel = 5000  # from Python: refused the same way, and figure() does not draw the old result
    assert "channel 5000 is out of range" in explorer.error
    with pytest.raises(RuntimeError, match="could not be computed.*channel 5000"):
        explorer.figure()
    explorer.channel = 3
    assert explorer.error == "" and explorer.figure() is not None


def test_figure_after_an_error_from_the_view_raises():
    explorer, _, _ = make()
    assert from_view(explorer, 4, target="neuron", position=[40, 0])["error"]
    with pytest.raises(RuntimeError, match="could not be computed"):
        explorer.figure()


@pytest.mark.parametrize("via_view", [False, True])
def test_grad_cam_at_a_layer_without_maps_names_the_layer_it_used_and_why(via_view):
    explorer, _, _ = make()
    explorer.method = "gradcam"
    if via_view:
        answer = from_view(explorer, 5, layer="classifier.1")
        assert answer["method_layer"] == explorer._result.method_layer and answer["notes"]
    else:
        explorer.layer = "classifier.1"
    used = explorer._result.method_layer
    spatial = [name for name, shape, _ in explorer.backend.layers if len(shape) == 3]
    assert used in spatial and used != "classifier.1"
    note = " ".join(explorer._result.notes)
    assert f"Grad-CAM used layer {used}, not classifier.1" in note and "no spatial maps" in note
    assert used in explorer.figure().axes[1].get_title()
    explorer.layer = "features.3"  # a layer it can weight: used as chosen, no note
    assert explorer._result.method_layer == "features.3" and notes(explorer) == []


@pytest.mark.parametrize("via_view", [False, True])
def test_a_map_that_is_exactly_zero_is_said_on_the_map(via_view):
    model, x = make_model("vgg"), make_input(2)
    last = model.classifier[3]
    nn.init.zeros_(last.weight)  # a zero-initialised head: every class score ignores the input
    explorer = Explorer(model, x)
    if via_view:
        answer = from_view(explorer, 6, method="guided")
        assert any("exactly zero" in n for n in answer["notes"])
    assert any("exactly zero everywhere" in n for n in explorer._result.notes)
    assert not explorer._result.attribution.any()


def test_a_value_refused_from_python_is_set_back_and_the_next_change_is_computed():
    explorer, _, _ = make()
    explorer.layer, explorer.channel = "features.6", 4
    explorer.channel = 99999
    assert "channel 99999 is out of range" in explorer.error and explorer.channel == 4  # as the view's are
    with pytest.raises(RuntimeError, match="could not be computed"):
        explorer.figure()
    explorer.method = "guided"
    assert explorer.error == "" and explorer._result.selection.method == "guided"
    assert explorer._result.selection.channel == 4 and explorer.figure() is not None
