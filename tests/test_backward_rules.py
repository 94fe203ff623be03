"""The three ReLU backward rules, pinned to Springenberg et al. (2015), Fig. 1, and reached through every
way a model can spell ReLU."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.grad import conv2d_input

import nbsaliency as nbs
from nbsaliency.rules.backward_rules import DECONVNET, GRADIENT, GUIDED, RuleSelector
from nbsaliency.rules.functions import RuleReLU, RuleReLUInplace

# Springenberg et al. 2015, Fig. 1: forward input f, signal R from above, and what each rule passes back.
F_IN = torch.tensor([[1.0, -1, 5], [2, -5, -7], [-3, 2, 4]])
R_IN = torch.tensor([[-2.0, 3, -1], [6, -3, 1], [2, -1, 3]])
EXPECTED = {
    "gradient": torch.tensor([[-2.0, 0, -1], [6, 0, 0], [0, -1, 3]]),
    "deconvnet": torch.tensor([[0.0, 3, 0], [6, 0, 1], [2, 0, 3]]),
    "guided": torch.tensor([[0.0, 0, 0], [6, 0, 0], [0, 0, 3]]),
}
RULES = {"gradient": GRADIENT, "deconvnet": DECONVNET, "guided": GUIDED}


@pytest.mark.parametrize("rule", list(RULES))
@pytest.mark.parametrize("function", [RuleReLU, RuleReLUInplace])
def test_rules_reproduce_springenberg_figure_1(rule, function):
    selector = RuleSelector()
    f = F_IN.clone().requires_grad_(True)
    out = function.apply(f.clone(), selector)
    with selector.use(RULES[rule]):
        (passed,) = torch.autograd.grad(out, f, R_IN)
    assert torch.equal(passed, EXPECTED[rule])


@pytest.mark.parametrize("rule", list(RULES))
def test_rules_reproduce_figure_1_through_a_model(rule):
    """The same numbers through a session: a model whose output is sum(R * relu(f)), differentiated
    with respect to the input f."""

    class Probe(nn.Module):
        def forward(self, x):
            return (F.relu(x) * R_IN).sum(dim=(1, 2, 3))[:, None]

    attribution = nbs.Session(Probe(), F_IN[None, None].clone()).attribute(0, rule)
    assert torch.equal(attribution[0, 0], EXPECTED[rule])


def reference_relu_rule(rule: str, f: torch.Tensor, signal: torch.Tensor) -> torch.Tensor:
    """The rules written out independently of the library."""
    if rule == "gradient":
        return (f > 0) * signal
    if rule == "deconvnet":
        return (signal > 0) * signal
    return (f > 0) * (signal > 0) * signal


SPELLINGS = {
    "nn.ReLU": lambda: nn.ReLU(),
    "nn.ReLU(inplace)": lambda: nn.ReLU(inplace=True),
    "F.relu": lambda: F.relu,
    "F.relu(inplace)": lambda: (lambda t: F.relu(t, inplace=True)),
    "F.relu_": lambda: F.relu_,
    "torch.relu": lambda: torch.relu,
    "torch.relu_": lambda: torch.relu_,
    "Tensor.relu": lambda: (lambda t: t.relu()),
    "Tensor.relu_": lambda: (lambda t: t.relu_()),
}


class TwoConvNet(nn.Module):
    """conv -> relu -> conv -> relu -> linear, the ReLU spelled as given (one object used twice)."""

    def __init__(self, relu):
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Conv2d(2, 3, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(3, 3, 3, padding=1, bias=False)
        self.fc = nn.Linear(3 * 5 * 5, 4, bias=False)
        self.relu = relu

    def forward(self, x):
        x = self.relu(self.conv2(self.relu(self.conv1(x))))
        return self.fc(x.flatten(1))


def reference_two_conv(model: TwoConvNet, x: torch.Tensor, rule: str, c: int) -> torch.Tensor:
    """Backward pass written by hand with explicit transposed convolutions."""
    with torch.no_grad():
        h1 = model.conv1(x)
        h2 = model.conv2(h1.clamp(min=0))
        signal = model.fc.weight[c].reshape(1, 3, 5, 5)
        signal = reference_relu_rule(rule, h2, signal)
        signal = conv2d_input(h1.shape, model.conv2.weight, signal, padding=1)
        signal = reference_relu_rule(rule, h1, signal)
        return conv2d_input(x.shape, model.conv1.weight, signal, padding=1)


@pytest.mark.parametrize("spelling", list(SPELLINGS))
@pytest.mark.parametrize("rule", list(RULES))
def test_every_relu_spelling_gets_the_rule(spelling, rule):
    model = TwoConvNet(SPELLINGS[spelling]())
    x = torch.randn(1, 2, 5, 5, generator=torch.Generator().manual_seed(3))
    attribution = nbs.attribute(model, x, 2, method=rule)
    torch.testing.assert_close(attribution, reference_two_conv(model, x, rule, 2))


@pytest.mark.parametrize("spelling", list(SPELLINGS))
def test_deconvnet_and_guided_differ_from_gradient(spelling):
    model = TwoConvNet(SPELLINGS[spelling]())
    x = torch.randn(1, 2, 5, 5, generator=torch.Generator().manual_seed(3))
    session = nbs.Session(model, x)
    gradient = session.attribute(2, "gradient")
    assert not torch.allclose(session.attribute(2, "deconvnet"), gradient)
    assert not torch.allclose(session.attribute(2, "guided"), gradient)


class ResidualBlockNet(nn.Module):
    """torchvision's pattern: one ``nn.ReLU(inplace=True)`` reused, and ``out += identity``."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.conv1 = nn.Conv2d(2, 2, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(2, 2, 3, padding=1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.fc = nn.Linear(2 * 5 * 5, 3, bias=False)

    def forward(self, x):
        identity = x
        out = self.conv2(self.relu(self.conv1(x)))
        out += identity
        return self.fc(self.relu(out).flatten(1))


def reference_residual(model: ResidualBlockNet, x: torch.Tensor, rule: str, c: int) -> torch.Tensor:
    with torch.no_grad():
        h = model.conv1(x)
        s = model.conv2(h.clamp(min=0)) + x
        signal_s = reference_relu_rule(rule, s, model.fc.weight[c].reshape(1, 2, 5, 5))
        signal_h = reference_relu_rule(rule, h, conv2d_input(h.shape, model.conv2.weight, signal_s, padding=1))
        return conv2d_input(x.shape, model.conv1.weight, signal_h, padding=1) + signal_s


@pytest.mark.parametrize("rule", list(RULES))
def test_reused_inplace_relu_in_a_residual_block(rule):
    model = ResidualBlockNet()
    x = torch.randn(1, 2, 5, 5, generator=torch.Generator().manual_seed(4))
    attribution = nbs.attribute(model, x, 1, method=rule)
    torch.testing.assert_close(attribution, reference_residual(model, x, rule, 1))
    if rule != "gradient":
        assert not torch.allclose(attribution, nbs.attribute(model, x, 1, method="gradient"))


def test_gradient_equals_finite_differences():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 3 * 3, 2), nn.Tanh(),
                          nn.Linear(2, 2)).double()
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64)
    attribution = nbs.attribute(model, x, 1, method="gradient")
    eps = 1e-6
    numeric = torch.zeros_like(x)
    with torch.no_grad():
        for i in range(x.numel()):
            step = torch.zeros(x.numel(), dtype=x.dtype)
            step[i] = eps
            step = step.view_as(x)
            numeric.view(-1)[i] = (model(x + step)[0, 1] - model(x - step)[0, 1]) / (2 * eps)
    torch.testing.assert_close(attribution, numeric, atol=1e-7, rtol=1e-5)
