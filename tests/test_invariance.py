"""ModelSnapshot sees every kind of change nbsaliency promises never to make (so a test that uses it can fail)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from tests.invariance import ModelSnapshot
from tests.models import make_model


class WithNonPersistentBuffer(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3)
        self.register_buffer("scale", torch.ones(2), persistent=False)

    def forward(self, x):
        return self.conv(x).mean(dim=(2, 3)) * self.scale


class PassThrough(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))


def _changes():
    """(what is changed, a function that changes it, a function that undoes it)."""
    def hook_on_parameter(m):
        return m.conv.weight.register_hook(lambda g: g).remove

    def post_accumulate_hook(m):
        return m.conv.weight.register_post_accumulate_grad_hook(lambda p: None).remove

    def hook_on_buffer(m):
        m.scale.requires_grad_(True)
        handle = m.scale.register_hook(lambda g: g)
        return lambda: (handle.remove(), m.scale.requires_grad_(False))

    def non_persistent_buffer(m):
        m.scale.add_(1)
        return lambda: m.scale.sub_(1)

    def one_ulp(m):
        old = m.conv.bias.data.clone()
        m.conv.bias.data[0] = torch.nextafter(old[0], torch.tensor(float("inf")))
        return lambda: m.conv.bias.data.copy_(old)

    def dtype(m):
        m.scale.data = m.scale.data.double()
        return lambda: setattr(m.scale, "data", m.scale.data.float())

    def forward_hook_with_kwargs(m):
        return m.conv.register_forward_hook(lambda *a: None, with_kwargs=True).remove

    def global_forward_hook(m):
        return nn.modules.module.register_module_forward_hook(lambda *a: None).remove

    def global_backward_hook(m):
        return nn.modules.module.register_module_full_backward_hook(lambda *a: None).remove

    def function_mode(m):
        mode = PassThrough()
        mode.__enter__()
        return lambda: mode.__exit__(None, None, None)

    def grad_mode(m):
        previous = torch.is_grad_enabled()
        torch.set_grad_enabled(not previous)
        return lambda: torch.set_grad_enabled(previous)

    def grad_filled(m):
        m.conv.weight.grad = torch.zeros_like(m.conv.weight)
        return lambda: setattr(m.conv.weight, "grad", None)

    def attribute_added(m):
        m.conv._nbs_marker = True
        return lambda: delattr(m.conv, "_nbs_marker")

    def requires_grad(m):
        m.conv.weight.requires_grad_(False)
        return lambda: m.conv.weight.requires_grad_(True)

    def replaced_parameter(m):
        old = m.conv.weight
        m.conv.weight = nn.Parameter(old.detach().clone())
        return lambda: setattr(m.conv, "weight", old)

    return [hook_on_parameter, post_accumulate_hook, hook_on_buffer, non_persistent_buffer, one_ulp, dtype,
            forward_hook_with_kwargs, global_forward_hook, global_backward_hook, function_mode, grad_mode,
            grad_filled, attribute_added, requires_grad, replaced_parameter]


@pytest.mark.parametrize("change", _changes(), ids=lambda f: f.__name__)
def test_snapshot_detects_the_change_and_accepts_its_undoing(change):
    torch.manual_seed(0)
    model = WithNonPersistentBuffer()
    snapshot = ModelSnapshot.of(model)
    undo = change(model)
    try:
        with pytest.raises(AssertionError):
            snapshot.assert_unchanged(model)
    finally:
        undo()
    snapshot.assert_unchanged(model)


def test_snapshot_of_an_untouched_model_passes_after_plain_use():
    model = make_model("batchnorm_train")
    snapshot = ModelSnapshot.of(model)
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, 8, 8))
    model.train()
    snapshot.assert_unchanged(model)
