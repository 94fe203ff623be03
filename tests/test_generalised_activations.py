"""Activations other than ReLU get the documented generalised rule, and are reported, never silent."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nbsaliency as nbs
from tests.models import make_input, make_model


def test_smooth_activations_are_reported_with_their_treatment():
    session = nbs.Session(make_model("smooth_activations"), make_input())
    uses = {(use.layer, use.function, use.treatment) for use in session.activation_rules}
    assert ("act1", "gelu", "generalised") in uses
    assert ("", "silu", "generalised") in uses  # F.silu called in the model's own forward


def test_relu_models_report_the_exact_rule():
    session = nbs.Session(make_model("resnet"), make_input())
    treatments = {use.treatment for use in session.activation_rules}
    assert treatments == {"relu"}
    assert {use.layer for use in session.activation_rules} >= {"stem.2", "layer1.0.relu", "layer1.1.relu"}


class OneActivation(nn.Module):
    def __init__(self, activation):
        super().__init__()
        self.activation = activation
        self.weights = nn.Parameter(torch.tensor([[1.5, -2.0, 0.7, -0.3, 2.2, -1.1]]))

    def forward(self, x):
        return (self.activation(x.flatten(1) * 2.0) * self.weights).sum(dim=1, keepdim=True)


@pytest.mark.parametrize("activation", [nn.GELU(), nn.SiLU(), nn.LeakyReLU(0.1), nn.ELU(), nn.Hardswish(),
                                        nn.Softplus(), nn.Mish(), nn.ReLU6(), nn.SELU(), nn.Threshold(0.0, 0.0),
                                        nn.RReLU()])
def test_generalised_rule_values(activation):
    """Gradient is exact; guided keeps the positive part of phi'(f) R; deconvnet keeps positive R."""
    x = torch.tensor([[[[-1.0, -0.2, 0.1], [0.4, 1.3, 3.5]]]])
    model = OneActivation(activation.eval())  # eval: RReLU's slope is then fixed, (lower + upper) / 2
    f = (x.flatten(1) * 2.0).requires_grad_(True)
    (derivative,) = torch.autograd.grad(activation(f).sum(), f)
    signal = model.weights.detach()
    session = nbs.Session(model, x)
    expected = {
        "gradient": derivative * signal * 2.0,
        "guided": (derivative * signal).clamp(min=0) * 2.0,
        "deconvnet": signal.clamp(min=0) * 2.0,
    }
    for method, values in expected.items():
        torch.testing.assert_close(session.attribute(0, method).flatten(1), values, msg=method)
    assert [use.treatment for use in session.activation_rules] == ["generalised"]


def test_inplace_generalised_activation_keeps_model_semantics():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.LeakyReLU(0.2, inplace=True), nn.Flatten(), nn.LazyLinear(2))
    x = make_input(1, 6)
    with torch.no_grad():
        expected = model(x)
    session = nbs.Session(model, x)
    torch.testing.assert_close(session.output, expected)
    assert not torch.allclose(session.attribute(0, "guided"), session.attribute(0, "gradient"))


def test_strict_mode_refuses_the_generalised_rule_but_allows_gradients():
    session = nbs.Session(make_model("smooth_activations"), make_input(), strict=True)
    session.attribute(None, "gradient")
    with pytest.raises(nbs.UnsupportedActivationError, match="gelu in 'act1'"):
        session.attribute(None, "guided")
    with pytest.raises(nbs.UnsupportedActivationError):
        session.attribute(None, "deconvnet")


def test_gates_pass_the_plain_gradient_and_are_reported():
    class Gated(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1)

        def forward(self, x):
            h = F.relu(self.conv(x))
            return (h * torch.sigmoid(h)).mean(dim=(2, 3))

    session = nbs.Session(Gated(), make_input(1, 4))
    assert ("", "sigmoid", "gradient") in {(u.layer, u.function, u.treatment) for u in session.activation_rules}
    for gate, name in ((nn.Softsign(), "softsign"), (nn.LogSigmoid(), "logsigmoid"), (nn.LogSoftmax(1), "log_softmax")):
        uses = nbs.Session(nn.Sequential(nn.Conv2d(3, 2, 1), gate), make_input(1, 4)).activation_rules
        assert [(u.layer, u.function, u.treatment) for u in uses] == [("1", name, "gradient")]
