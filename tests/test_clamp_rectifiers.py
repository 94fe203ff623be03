"""Rectifiers written as clamps get the ReLU rule (or the generalised rule, reported), never a silent gradient."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import nbsaliency as nbs

SPELLINGS = {
    "clamp(min=0)": lambda h: h.clamp(min=0),
    "clamp(0)": lambda h: h.clamp(0),
    "clamp_min(0)": lambda h: h.clamp_min(0),
    "clamp_(min=0)": lambda h: h.clamp_(min=0),
    "clamp_min_(0)": lambda h: h.clamp_min_(0),
    "torch.clamp(min=0)": lambda h: torch.clamp(h, min=0),
    "torch.clamp(0, None)": lambda h: torch.clamp(h, 0, None),
    "clip(min=0.0)": lambda h: h.clip(min=0.0),
    "relu": torch.relu,
}


class TwoConv(nn.Module):
    def __init__(self, rectify):
        super().__init__()
        torch.manual_seed(0)
        self.conv1, self.conv2 = nn.Conv2d(3, 6, 3, padding=1), nn.Conv2d(6, 6, 3, padding=1)
        self.fc = nn.Linear(6 * 8 * 8, 4)
        self.rectify = rectify

    def forward(self, x):
        return self.fc(self.rectify(self.conv2(self.rectify(self.conv1(x)))).flatten(1))


def _input():
    return torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("spelling", [s for s in SPELLINGS if s != "relu"])
@pytest.mark.parametrize("method", ["guided", "deconvnet", "gradient"])
def test_a_rectifying_clamp_gets_the_exact_relu_rule(spelling, method):
    x = _input()
    reference = nbs.attribute(TwoConv(torch.relu), x, 2, method)
    session = nbs.Session(TwoConv(SPELLINGS[spelling]), x)
    torch.testing.assert_close(session.attribute(2, method), reference, rtol=0, atol=0)
    assert {use.function for use in session.activation_rules} == {"clamp(min=0)"}
    assert {use.treatment for use in session.activation_rules} == {"relu"}


def test_guided_through_a_clamp_differs_from_the_plain_gradient():
    """The check above cannot pass by returning plain gradients: guided and gradient differ on this model."""
    session = nbs.Session(TwoConv(SPELLINGS["clamp(min=0)"]), _input())
    assert not torch.allclose(session.attribute(2, "guided"), session.attribute(2, "gradient"))


def test_a_shifted_or_capped_clamp_gets_the_generalised_rule_and_is_reported():
    x = _input()
    session = nbs.Session(TwoConv(lambda h: h.clamp(min=-0.5, max=2.0)), x)
    assert [(u.function, u.treatment) for u in session.activation_rules] == [("clamp(min=-0.5, max=2)", "generalised")]
    # the generalised guided rule by hand: local derivative (1 inside the bounds), then keep positive signal
    model = TwoConv(lambda h: h.clamp(min=-0.5, max=2.0))
    h1 = model.conv1(x)
    h2 = model.conv2(h1.clamp(-0.5, 2.0))
    inside1, inside2 = ((h1 > -0.5) & (h1 < 2.0)).float(), ((h2 > -0.5) & (h2 < 2.0)).float()
    signal = model.fc.weight[2].reshape(1, 6, 8, 8).expand(2, -1, -1, -1)
    signal = (signal * inside2).clamp(min=0)
    signal = torch.nn.grad.conv2d_input(h1.shape, model.conv2.weight, signal, padding=1)
    signal = (signal * inside1).clamp(min=0)
    expected = torch.nn.grad.conv2d_input(x.shape, model.conv1.weight, signal, padding=1)
    torch.testing.assert_close(session.attribute(2, "guided"), expected.detach(), atol=1e-6, rtol=1e-5)
    assert session.strict is False
    with pytest.raises(nbs.errors.UnsupportedActivationError, match="clamp"):
        nbs.Session(model, x, strict=True).attribute(2, "guided")


def test_a_clamp_with_tensor_bounds_keeps_the_gradient_and_is_reported():
    floor = torch.zeros(1, 6, 1, 1)
    x = _input()
    model = TwoConv(lambda h: torch.clamp(h, min=floor))
    session = nbs.Session(model, x)
    assert {(u.function, u.treatment) for u in session.activation_rules} == {("clamp (tensor bounds)", "gradient")}
    leaf = x.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(model(leaf)[:, 2].sum(), leaf)
    torch.testing.assert_close(session.attribute(2, "guided"), expected)
