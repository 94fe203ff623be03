"""Layers whose forward returns a tuple, list or dict of tensors: each tensor part is a layer (``block[0]``,
``block["feat"]``) usable as a Grad-CAM layer and as Channel / Neuron targets; a part that is not a tensor, and the
container itself, are refused with an error that says so."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nbsaliency as nbs
from nbsaliency.optimize import LayerCapture, OptimisationView
from nbsaliency.patches import PatchIndex
from tests.invariance import ModelSnapshot


class TupleBlock(nn.Module):
    """``return h, None`` (detection and recurrent blocks)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 6, 3, padding=1)

    def forward(self, x):
        return F.relu(self.conv(x)), None


class DictBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(6, 6, 3, padding=1, stride=2)

    def forward(self, x):
        h = self.conv(x)
        return {"feat": h, "aux": h.mean(dim=(2, 3))}


class PartsModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.block = TupleBlock()
        self.dblock = DictBlock()
        self.fc = nn.Linear(6, 5)

    def forward(self, x):
        h, _ = self.block(F.relu(self.stem(x)))
        d = self.dblock(h)
        return self.fc(d["feat"].amax(dim=(2, 3)) + d["aux"])


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return PartsModel().eval()


@pytest.fixture(scope="module")
def x():
    return torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))


def captured_part(model, x, module, pick):
    out = {}
    handle = module.register_forward_hook(lambda m, a, o: out.__setitem__("a", pick(o)))
    try:
        scores = model(x)
    finally:
        handle.remove()
    return scores, out["a"]


def test_tensor_parts_are_catalogued_with_indexed_and_keyed_names(model, x):
    names = [layer.name for layer in nbs.Session(model, x).layers]
    assert {"block[0]", 'dblock["feat"]', 'dblock["aux"]'} <= set(names)
    assert "block" not in names and "block[1]" not in names and "dblock" not in names


def test_gradcam_at_a_tuple_part_equals_gradcam_by_hand(model, x):
    snapshot = ModelSnapshot.of(model)
    session = nbs.Session(model, x)
    cam = session.attribute(2, "gradcam", layer="block[0]")
    xx = x.clone()
    scores, a = captured_part(model, xx, model.block, lambda o: o[0])
    (grad,) = torch.autograd.grad(scores[:, 2].sum(), a)
    expected = (grad.mean(dim=(2, 3), keepdim=True) * a.detach()).sum(1, keepdim=True).clamp(min=0)
    expected = F.interpolate(expected, size=(16, 16), mode="bilinear", align_corners=False)
    assert expected.abs().max() > 0
    assert torch.allclose(cam[:, :1], expected, atol=1e-6)
    assert session.last_cam_layers == ["block[0]"]
    snapshot.assert_unchanged(model)


def test_channel_and_neuron_targets_read_tuple_and_dict_parts(model, x):
    session = nbs.Session(model, x)
    block, feat = session.activations("block[0]"), session.activations('dblock["feat"]')
    assert torch.equal(nbs.Channel("block[0]", 3).values(session.recording), block[:, 3].flatten(1).amax(1))
    assert torch.equal(nbs.Neuron('dblock["feat"]', 1, 3, 4).values(session.recording), feat[:, 1, 3, 4])
    assert torch.equal(nbs.Neuron('dblock["aux"]', 5).values(session.recording), feat[:, 5].mean(dim=(1, 2)))
    xx = x[:1].clone().requires_grad_(True)
    scores, a = captured_part(model, xx, model.block, lambda o: o[0])
    (expected,) = torch.autograd.grad(a[0, 3, 5, 6], xx)
    assert torch.allclose(nbs.attribute(model, x[:1], nbs.Neuron("block[0]", 3, 5, 6)), expected)


def test_the_container_and_its_non_tensor_parts_are_refused_with_the_reason(model, x):
    session = nbs.Session(model, x)
    with pytest.raises(nbs.UnknownLayerError, match=r"'block' returns a tuple / list / dict, not one tensor; its "
                                                    r"tensor parts are layers: 'block\[0\]'"):
        session.attribute(2, "gradcam", layer="block")
    with pytest.raises(nbs.UnknownLayerError, match=r"its part \[1\] is not a tensor"):
        session.attribute(nbs.Channel("block[1]", 0))
    with pytest.raises(nbs.UnknownLayerError, match=r"dblock\[\"feat\"\]"):
        session.activations("dblock")


def test_parts_are_indexed_probed_and_captured_for_optimisation(model, x):
    snapshot = ModelSnapshot.of(model)
    index = PatchIndex.build(model, x, k=2, layers=["block[0]"], progress=False)
    maps = nbs.Session(model, x).activations("block[0]")
    best = maps[:, 4].flatten(1).amax(1)
    assert sorted(t.value for t in index.top("block[0]", 4)) == pytest.approx(sorted(best.tolist()))
    assert nbs.receptive_field(model, x, "block[0]", 5, 5) == nbs.Box(3, 3, 8, 8)  # two 3 x 3 convs
    with torch.no_grad(), LayerCapture(model, ["block[0]"]) as capture:
        view = OptimisationView(model(x), x, capture.take())
    assert torch.equal(view.activation("block[0]"), maps)
    snapshot.assert_unchanged(model)


def test_a_module_returning_no_tensor_is_named_as_such_not_as_not_run():
    class ReturnsNone(nn.Module):
        def forward(self, x):
            return None

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.side = nn.Conv2d(3, 2, 3), ReturnsNone()

        def forward(self, x):
            self.side(x)
            return self.conv(x).mean(dim=(2, 3))

    session = nbs.Session(Model().eval(), torch.randn(1, 3, 8, 8))
    with pytest.raises(nbs.UnknownLayerError, match="'side' ran but returned NoneType, not a tensor"):
        session.activations("side")
