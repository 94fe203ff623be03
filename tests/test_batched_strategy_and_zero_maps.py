"""Batched targets: the vectorised and the looped backward give the same maps, and "auto" picks by device and
graph size. A map that is exactly zero everywhere is reported."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import nbsaliency as nbs
from nbsaliency import session as session_module
from nbsaliency.errors import ZeroAttributionWarning
from tests.models import make_input, make_model

TARGETS = [nbs.Logit(1), nbs.Channel("layer1.0.conv2", 3), nbs.Neuron("layer1.1.relu#2", 4, 4, 5),  # active on both
           nbs.Probability(None)]


def _count_backward_calls(monkeypatch) -> list[bool]:
    calls: list[bool] = []
    original = torch.autograd.grad

    def counting(*args, **kwargs):
        calls.append(bool(kwargs.get("is_grads_batched", False)))
        return original(*args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", counting)
    return calls


@pytest.mark.parametrize("method", ["gradient", "guided", "deconvnet", "gradcam", "smoothgrad"])
def test_vectorised_and_looped_batched_backward_give_the_same_maps(method):
    model, x = make_model("resnet"), make_input(2)
    options = {"n_samples": 2} if method == "smoothgrad" else {}
    vectorised = nbs.Session(model, x, batched_backward="vectorised").attribute(TARGETS, method, **options)
    looped = nbs.Session(model, x, batched_backward="loop").attribute(TARGETS, method, **options)
    torch.testing.assert_close(vectorised, looped, atol=1e-6, rtol=1e-5)
    single = nbs.Session(model, x)
    for i, target in enumerate(TARGETS):
        torch.testing.assert_close(looped[i], single.attribute(target, method, **options), atol=1e-6, rtol=1e-5)


def test_each_strategy_runs_the_passes_it_names(monkeypatch):
    model, x = make_model("resnet"), make_input(1)
    sessions = {name: nbs.Session(model, x, batched_backward=name) for name in ("vectorised", "loop")}
    calls = _count_backward_calls(monkeypatch)
    sessions["vectorised"].attribute(TARGETS, "guided")
    assert calls == [True]
    calls.clear()
    sessions["loop"].attribute(TARGETS, "guided")
    assert calls == [False] * len(TARGETS)


def test_auto_vectorises_small_cpu_graphs_and_loops_over_large_ones(monkeypatch):
    model, x = make_model("resnet"), make_input(1)
    session = nbs.Session(model, x)
    calls = _count_backward_calls(monkeypatch)
    assert session._graph_elements <= session_module.VECTORISED_CPU_LIMIT  # a small test model
    session.attribute(TARGETS, "guided")
    assert calls == [True]
    calls.clear()
    monkeypatch.setattr(session_module, "VECTORISED_CPU_LIMIT", session._graph_elements - 1)
    session.attribute(TARGETS, "guided")
    assert calls == [False] * len(TARGETS)


def test_an_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="batched_backward must be one of 'auto', 'vectorised', 'loop'"):
        nbs.Session(make_model("vgg"), make_input(1), batched_backward="fast")


def _zero_head_model() -> nn.Module:
    model = make_model("vgg")
    nn.init.zeros_(model.classifier[3].weight)  # a zero-initialised head, as torchvision's ViT has
    nn.init.zeros_(model.classifier[3].bias)
    return model


@pytest.mark.parametrize("method", ["gradient", "guided", "integrated_gradients", "occlusion", "gradcam"])
def test_an_all_zero_map_warns_naming_the_method_and_the_target(method):
    with pytest.warns(ZeroAttributionWarning, match=rf"the {method} map is exactly zero everywhere for Logit\(2\) "
                                                    r"on image 0; Logit\(2\) on image 1"):
        result = nbs.attribute(_zero_head_model(), make_input(2), 2, method, **(
            {"steps": 2} if method == "integrated_gradients" else {}))
    assert not result.any()


def test_a_map_with_any_nonzero_value_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error", ZeroAttributionWarning)
        result = nbs.attribute(make_model("vgg"), make_input(2), 2, "gradient")
    assert result.any()


def test_only_the_blank_target_of_a_batch_is_named():
    model = make_model("vgg")
    session = nbs.Session(model, make_input(1))
    with pytest.warns(ZeroAttributionWarning) as caught:
        session.attribute([nbs.Logit(1), 0 * nbs.Logit(3)], "gradient")
    message = str(caught[0].message)
    assert "0.0 * Logit(3) on image 0" in message and "Logit(1)" not in message.replace("0.0 * Logit(3)", "")
