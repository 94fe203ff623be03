"""``Neuron(layer, c, token=t)``: one feature of one token of a token sequence, the class token included."""

from __future__ import annotations

import pytest
import torch

import nbsaliency as nbs
from tests.architectures import GRID, image_batch, make
from tests.invariance import ModelSnapshot


@pytest.fixture(scope="module")
def vit():
    return make("vit")


def test_the_class_tokens_feature_is_its_value_and_its_gradient(vit):
    x = image_batch(2)
    session = nbs.Session(vit, x)
    blocks = session.activations("blocks.1")  # (N, 1 + 14 * 14, D)
    target = nbs.Neuron("blocks.1", 5, token=0)
    torch.testing.assert_close(target.values(session.recording), blocks[:, 0, 5])
    by_hand = x.clone().requires_grad_(True)
    captured = {}
    handle = vit.blocks[1].register_forward_hook(lambda m, i, o: captured.update(out=o))
    try:
        vit(by_hand)
    finally:
        handle.remove()
    (grad,) = torch.autograd.grad(captured["out"][:, 0, 5].sum(), by_hand)
    torch.testing.assert_close(nbs.attribute(vit, x, target, "gradient"), grad)


def test_the_first_grid_token_is_the_grid_neuron_at_0_0(vit):
    x = image_batch(1)
    by_token = nbs.attribute(vit, x, nbs.Neuron("blocks.0", 3, token=1), "gradient")
    on_grid = nbs.attribute(vit, x, nbs.Neuron("blocks.0", 3, 0, 0), "gradient")
    torch.testing.assert_close(by_token, on_grid)
    last = nbs.attribute(vit, x, nbs.Neuron("blocks.0", 3, token=GRID * GRID), "gradient")
    torch.testing.assert_close(last, nbs.attribute(vit, x, nbs.Neuron("blocks.0", 3, GRID - 1, GRID - 1), "gradient"))


def test_bad_token_neurons_say_what_is_wrong_and_leave_the_model_as_it_was(vit):
    x = image_batch(1)
    snapshot = ModelSnapshot.of(vit)
    with pytest.raises(nbs.TargetIndexError, match=r"token 197 is out of range .* 197 tokens \(valid 0\.\.196; 1 "
                                                   r"prefix token\(s\) first, then the 14x14 grid\)"):
        nbs.attribute(vit, x, nbs.Neuron("blocks.1", 5, token=197))
    with pytest.raises(nbs.TargetIndexError, match=r"feature index 999 is out of range .* \(valid 0\.\.31\)"):
        nbs.attribute(vit, x, nbs.Neuron("blocks.1", 999, token=0))
    with pytest.raises(nbs.TargetError, match=r"token=0 addresses a token sequence, but layer 'patch_embed.proj' is "):
        nbs.attribute(vit, x, nbs.Neuron("patch_embed.proj", 1, token=0))
    with pytest.raises(nbs.TargetError, match=r"Neuron\(layer, c, token=t\); got indices \(1, 2\) and token=0"):
        nbs.Neuron("blocks.1", 1, 2, token=0)
    snapshot.assert_unchanged(vit)
    assert repr(nbs.Neuron("blocks.1", 5, token=0)) == "Neuron('blocks.1', 5, token=0)"
