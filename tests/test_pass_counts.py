"""Claims about passes are counted, not inferred from equal results: one forward pass per session, one (vectorised)
backward pass per call whatever the number of targets, no weight gradient ever, one forward per patch-index
batch, one forward and one backward for a channel's top-patch projections."""

from __future__ import annotations

import pytest
import torch

import nbsaliency as nbs
from tests.counting import CountingNet

GRADIENT_FAMILY = ("gradient", "deconvnet", "guided", "input_x_gradient")


def make_input(n: int = 2, size: int = 16) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(0))


@pytest.fixture
def net():
    model = CountingNet()
    fired = []
    for name, p in model.named_parameters():
        p.register_hook(lambda grad, name=name: fired.append(name))
        p.register_post_accumulate_grad_hook(lambda p, name=name: fired.append(name))
    yield model
    assert not fired, f"gradients were computed for parameters {sorted(set(fired))}"
    assert model.counts["weight"] == 0, "a weight gradient was computed"


def test_the_counter_counts_what_it_claims():
    """Plain autograd on the counting model: a full backward computes weight gradients, a backward to the input
    alone does not; is_grads_batched is one pass."""
    model, x = CountingNet(), make_input().requires_grad_(True)
    out = model(x)
    torch.autograd.grad(out[:, 0].sum(), x, retain_graph=True)
    assert model.counts == {"forward": 1, "input": 1}
    torch.autograd.grad(out, x, torch.eye(5)[:, None].expand(5, 2, 5), retain_graph=True, is_grads_batched=True)
    assert model.counts == {"forward": 1, "input": 2}
    out[:, 0].sum().backward()
    assert model.counts == {"forward": 1, "input": 3, "weight": 2}


@pytest.mark.parametrize("method", GRADIENT_FAMILY)
def test_a_session_call_is_one_backward_pass_whatever_the_number_of_targets(net, method):
    session = nbs.Session(net, make_input())
    assert net.counts == {"forward": 1}
    session.attribute(nbs.Logit(1), method)
    assert net.counts == {"forward": 1, "input": 1}
    nine = [nbs.Channel("conv2", c) for c in range(6)] + [nbs.Logit(c) for c in range(3)]
    assert session.attribute(nine, method).shape == (9, 2, 3, 16, 16)
    assert net.counts == {"forward": 1, "input": 2}, "nine targets should be one vectorised backward pass"


def test_gradcam_on_a_session_needs_no_forward_and_no_input_backward(net):
    session = nbs.Session(net, make_input())
    session.attribute(2, "gradcam", layer="conv2")
    session.attribute([0, 1, 2], "guided_gradcam", layer="conv2")
    assert net.counts["forward"] == 1
    assert net.counts["input"] == 1  # the guided part of guided Grad-CAM only


@pytest.mark.parametrize(("method", "options"), [("smoothgrad", {"n_samples": 3}),
                                                 ("integrated_gradients", {"steps": 5})])
def test_perturbation_methods_compute_no_weight_gradient(net, method, options):
    nbs.Session(net, make_input()).attribute(1, method, **options)
    assert net.counts["input"] >= 1


def test_patch_index_runs_one_forward_per_batch_without_gradients(net):
    images = make_input(10)
    index = nbs.PatchIndex.build(net, images, batch_size=4, progress=False)
    # one single-image forward that catalogues the layers, then each batch once, every layer recorded together
    assert net.batch_sizes == [1, 4, 4, 2]
    assert net.counts["input"] == 0
    assert set(index.layers) == {"conv1", "relu1", "pool", "conv2"}


def test_top_patch_projections_are_one_forward_and_one_backward(net):
    images = make_input(10)
    index = nbs.PatchIndex.build(net, images, batch_size=10, progress=False)
    fields = nbs.ReceptiveFields(net, images[:1])
    fields.box("conv2", 0, 0)  # probes (fitted once per layer, cached)
    net.counts.clear()
    net.batch_sizes.clear()
    patches = nbs.top_patches(net, images, index, "conv2", 3, "deconvnet", receptive_fields=fields)
    assert len(patches) == 9
    assert net.batch_sizes == [9] and net.counts == {"forward": 1, "input": 1}
