"""The demo CNN: shipped weights classify unseen shapes, and the training recipe learns."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nbsaliency import demo
from nbsaliency.demo import train as training
from nbsaliency.demo.model import WEIGHTS


def test_shipped_weights_are_small_tensors_only() -> None:
    assert WEIGHTS.stat().st_size < 1_000_000
    state = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_load_model_returns_eval_mode() -> None:
    model = demo.load_model()
    assert not model.training
    assert not any(m.training for m in model.modules())


def test_shipped_model_is_accurate_on_held_out_seed() -> None:
    assert training.HELD_OUT_SEED not in (training.TRAIN_SEED, training.VALIDATION_SEED)
    batch = demo.images(1000, seed=training.HELD_OUT_SEED)
    assert training.accuracy(demo.load_model(), batch.images, batch.labels) >= 0.97


def test_layers_have_readable_vgg_names() -> None:
    names = dict(demo.build_model().named_modules())
    for block in ("block1", "block2", "block3"):
        assert isinstance(names[f"{block}.conv1"], nn.Conv2d)
        assert isinstance(names[f"{block}.bn2"], nn.BatchNorm2d)
        assert isinstance(names[f"{block}.relu2"], nn.ReLU)
        assert isinstance(names[f"{block}.pool"], nn.MaxPool2d)
    assert isinstance(names["pool"], nn.AdaptiveAvgPool2d)
    assert isinstance(names["classifier"], nn.Linear)


def test_model_maps_images_to_one_logit_per_class() -> None:
    logits = demo.build_model()(demo.images(4, seed=0).images)
    assert logits.shape == (4, len(demo.CLASS_NAMES))


@pytest.mark.slow
def test_brief_training_learns_well_above_chance() -> None:
    """~10 s alone; one thread keeps it from stalling when the CPUs are shared."""
    threads = torch.get_num_threads()
    try:
        model, acc = training.train(1000, 2, seed=0, n_val=300, batch_size=16, threads=1, log=None)
    finally:
        torch.set_num_threads(threads)
    assert not model.training
    assert acc > 2 / len(demo.CLASS_NAMES)
