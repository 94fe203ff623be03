"""Every case users hit elsewhere, mirrored into the Explorer: the widget answers with the right result or a
readable error inside the widget, and keeps working afterwards (checked through the widget's message handler)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import nbsaliency as nbs
from nbsaliency.explorer import protocol
from nbsaliency.explorer.widget import Explorer
from tests.invariance import ModelSnapshot
from tests.models import make_input, make_model


class Inbox:
    def __init__(self, explorer: Explorer):
        self.messages: list[dict] = []
        explorer.send = lambda content, buffers=None: self.messages.append(content)

    @property
    def last(self) -> dict:
        return self.messages[-1]


def select(explorer: Explorer, request_id: int, **selection) -> dict:
    inbox = Inbox(explorer)
    explorer._on_message(explorer, {"kind": protocol.MSG_SELECT, "id": request_id, "selection": selection}, [])
    explorer._background.join()  # slow methods answer from a background thread
    (answer,) = [m for m in inbox.messages if m["kind"] == protocol.MSG_RESULT]
    assert answer["id"] == request_id
    return answer


def assert_keeps_working(explorer: Explorer, model: nn.Module, x: torch.Tensor) -> None:
    """A plain gradient select still gives the engine's own result, and the widget shows no error."""
    inbox = Inbox(explorer)
    explorer._on_message(explorer, {"kind": protocol.MSG_SELECT, "id": 999, "selection": {
        "method": "gradient", "target": "logit", "target_class": 0, "image_index": 0}}, [])
    assert inbox.last["error"] == "" and explorer.error == ""
    assert explorer._result is not None
    torch.testing.assert_close(torch.from_numpy(explorer._result.attribution),
                               nbs.attribute(model, x[:1], 0, "gradient")[0])


def assert_readable(message: str) -> None:
    assert message and "Traceback" not in message and len(message) < 600 and message[0].isalpha()


class Thin(nn.Module):
    """A model for (N, 11, 60, 1) inputs: one pixel wide."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(11, 4, (3, 1), padding=(1, 0))
        self.fc = nn.Linear(4 * 60, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def test_thin_inputs_every_method_answers_in_the_widget_and_it_keeps_working():
    model, x = Thin().eval(), torch.rand(2, 11, 60, 1)
    snapshot = ModelSnapshot.of(model)
    explorer = Explorer(model, x)
    for i, method in enumerate(nbs.methods()):
        answer = select(explorer, i, method=method, layer="conv", target="logit")
        if answer["error"]:
            assert_readable(answer["error"])
            assert explorer.error == answer["error"] and explorer.method == "gradient"  # the selection is kept
        else:
            assert answer["attribution"]["shape"] == [11, 60, 1] and explorer.method == method
        assert_keeps_working(explorer, model, x)
    snapshot.assert_unchanged(model)
    explorer.close()


@pytest.mark.parametrize("context", [torch.no_grad, torch.inference_mode], ids=["no_grad", "inference_mode"])
def test_an_explorer_made_inside_a_no_gradient_context_works(context):
    model, x = make_model("vgg"), make_input(2)
    inbox_before = []
    with context():
        explorer = Explorer(model, x)
        explorer.send = lambda content, buffers=None: inbox_before.append(content)
        explorer._on_message(explorer, {"kind": protocol.MSG_SELECT, "id": 1, "selection": {"method": "guided"}}, [])
        assert torch.is_grad_enabled() is False  # the caller's mode is kept around the widget's own work
    assert inbox_before[-1]["error"] == "" and explorer.error == ""
    torch.testing.assert_close(torch.from_numpy(explorer._result.attribution),
                               nbs.attribute(model, x[:1], nbs.Logit(None), "guided")[0])
    assert_keeps_working(explorer, model, x)
    explorer.close()


class TupleBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        return torch.relu(self.conv(x)), None  # as detection / recurrent blocks do


class TupleModel(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.block, self.fc = TupleBlock(), nn.Linear(4, 3)

    def forward(self, x):
        h, _ = self.block(x)
        return self.fc(h.mean((2, 3)))


def test_a_layer_with_tuple_output_is_a_result_or_an_error_in_the_widget_never_a_crash():
    model, x = TupleModel().eval(), torch.rand(2, 3, 8, 8)
    explorer = Explorer(model, x)
    for i, (method, target) in enumerate([("gradcam", "logit"), ("gradient", "channel"), ("guided", "neuron")]):
        answer = select(explorer, i, method=method, layer="block", target=target)
        if answer["error"]:
            assert_readable(answer["error"])
            assert "block" in answer["error"]
        assert_keeps_working(explorer, model, x)
    explorer.close()


def test_an_unknown_target_set_from_python_is_an_error_naming_the_kinds_and_the_widget_recovers():
    model, x = make_model("vgg"), make_input(2)
    explorer = Explorer(model, x)
    before = explorer.target
    explorer.target = "bogus"
    assert "target must be one of logit, probability, channel, neuron, layer; got 'bogus'" in explorer.error
    assert explorer.target == before  # set back to the last shown selection, as the view's are
    explorer.method = "guided"  # the next change is not refused for this one's sake
    assert explorer.error == "" and explorer.method == "guided"
    assert_keeps_working(explorer, model, x)


def test_a_mistyped_keyword_is_refused_with_the_close_trait_name():
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'methd'; did you mean 'method'"):
        Explorer(make_model("vgg"), make_input(1), methd="gradcam")
    explorer = Explorer(make_model("vgg"), make_input(1), method="guided")  # trait names still work
    assert explorer.method == "guided" and explorer.error == ""
