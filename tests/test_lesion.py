"""Lesion studies: the lesioned forward pass equals a hand-written one, the batched sweep equals lesions one by
one, nothing about the model changes (also after errors), and bad names / indices get the engine's errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import nbsaliency as nbs
from nbsaliency import demo
from nbsaliency.errors import ModelError, TargetError, TargetIndexError, UnknownLayerError
from tests.invariance import ModelSnapshot

LAYER = "block3.relu2"


@pytest.fixture(scope="module")
def images():
    return demo.images(3, seed=11).images


def forward_with(model: demo.DemoCNN, x: torch.Tensor, edit) -> torch.Tensor:
    """The demo model run by hand, with ``edit`` applied to block3.relu2's output (an independent reference)."""
    with torch.no_grad():
        h = model.block3[:6](model.block2(model.block1(x)))
        h = edit(h.clone())
        return model.classifier(model.flatten(model.pool(model.block3.pool(h))))


def test_zeroed_channels_equal_the_hand_written_lesion(demo_model, images, one_torch_thread):
    def zero(h):
        h[:, [4, 9]] = 0
        return h

    effect = nbs.lesion(demo_model, LAYER, [4, 9]).effect(images)
    torch.testing.assert_close(effect.lesioned, forward_with(demo_model, images, zero), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(effect.clean, forward_with(demo_model, images, lambda h: h), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(effect.score_change, effect.lesioned - effect.clean)
    torch.testing.assert_close(effect.probability_change, effect.lesioned.softmax(1) - effect.clean.softmax(1))


def test_mean_fill_and_single_units_equal_the_hand_written_lesion(demo_model, images, one_torch_thread):
    def edit(h):
        h[:, 2] = h[:, 2].mean(dim=(1, 2), keepdim=True)
        h[:, 7, 3, 5] = h[:, 7].mean(dim=(1, 2))
        return h

    effect = nbs.lesion(demo_model, LAYER, [2], units=[(7, 3, 5)], fill="mean").effect(images)
    torch.testing.assert_close(effect.lesioned, forward_with(demo_model, images, edit), rtol=1e-5, atol=1e-5)


def test_per_channel_fill_values_replace_the_channel(demo_model, images, one_torch_thread):
    values = torch.arange(64, dtype=torch.float32) / 10

    def edit(h):
        h[:, 5] = values[5]
        return h

    effect = nbs.lesion(demo_model, LAYER, 5, fill=values).effect(images)
    torch.testing.assert_close(effect.lesioned, forward_with(demo_model, images, edit), rtol=1e-5, atol=1e-5)


def test_lesion_of_no_units_changes_nothing(demo_model, images):
    effect = nbs.lesion(demo_model, LAYER, []).effect(images)
    assert torch.equal(effect.clean, effect.lesioned)
    with torch.no_grad():
        plain = demo_model(images)
        with nbs.lesion(demo_model, LAYER, [], units=[]):
            inside = demo_model(images)
    assert torch.equal(plain, inside)


def test_with_block_lesions_every_forward_inside_and_none_after(demo_model, images):
    snapshot = ModelSnapshot.of(demo_model)

    def zero(h):
        h[:, 3] = 0
        return h

    with torch.no_grad():
        with nbs.lesion(demo_model, LAYER, 3):
            first, second = demo_model(images), demo_model(images[:1])
        after = demo_model(images)
    expected = forward_with(demo_model, images, zero)
    torch.testing.assert_close(first, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(second, expected[:1], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(after, forward_with(demo_model, images, lambda h: h), rtol=1e-5, atol=1e-5)
    snapshot.assert_unchanged(demo_model)


def test_batched_sweep_equals_lesions_one_by_one(demo_model, images, one_torch_thread):
    channels = [0, 5, 17, 33, 63]
    for target in (None, 2, nbs.Probability(4)):
        sweep = nbs.lesion_sweep(demo_model, images, LAYER, target, channels=channels, batch_size=7)
        clean_classes = demo_model(images).argmax(1)
        for k, c in enumerate(channels):
            effect = nbs.lesion(demo_model, LAYER, [c]).effect(images)
            if target is None:
                expected = effect.lesioned.gather(1, clean_classes[:, None])[:, 0]
            elif isinstance(target, int):
                expected = effect.lesioned[:, target]
            else:
                expected = effect.probabilities[:, 4]
            torch.testing.assert_close(sweep.lesioned[k], expected, rtol=1e-5, atol=1e-5)
    assert sweep.channels.tolist() == channels


def test_sweep_ranking_orders_channels_by_mean_drop(demo_model, images, one_torch_thread):
    sweep = nbs.lesion_sweep(demo_model, images, LAYER, 3, batch_size=64)
    assert sweep.lesioned.shape == (64, 3)
    drops = {c: float((sweep.clean - sweep.lesioned[c]).mean()) for c in range(64)}
    expected = sorted(drops, key=lambda c: (-drops[c], c))
    assert sweep.ranking.tolist() == expected


def test_curve_removes_the_first_k_channels_together(demo_model, images, one_torch_thread):
    order = [12, 3, 40, 7]
    curve = nbs.lesion_curve(demo_model, images, LAYER, order, target=1, batch_size=5)
    assert curve.k.tolist() == [0, 1, 2, 3, 4]
    for j, k in enumerate(curve.k.tolist()):
        expected = nbs.lesion(demo_model, LAYER, order[:k]).effect(images).lesioned[:, 1]
        torch.testing.assert_close(curve.values[j], expected, rtol=1e-5, atol=1e-5)


def test_model_is_unchanged_by_every_call_and_restored_to_training_mode(images):
    model = demo.load_model().train()
    model.block1.eval()  # mixed modes survive
    snapshot = ModelSnapshot.of(model)
    nbs.lesion(model, LAYER, [1]).effect(images)
    nbs.lesion_sweep(model, images, LAYER, channels=[1, 2])
    nbs.lesion_curve(model, images, LAYER, [1, 2], ks=[0, 2])
    snapshot.assert_unchanged(model)


def test_effect_runs_in_eval_mode(images):
    trained = demo.load_model()
    in_training = demo.load_model().train()
    assert torch.equal(nbs.lesion(in_training, LAYER, [1]).effect(images).lesioned,
                       nbs.lesion(trained, LAYER, [1]).effect(images).lesioned)


@pytest.mark.parametrize("call", [
    lambda m, x: nbs.lesion(m, "block3.relu", [1]),
    lambda m, x: nbs.lesion_sweep(m, x, "blok3.relu2"),
    lambda m, x: nbs.lesion_curve(m, x, "block3.relu2x", [1]),
])
def test_unknown_layer_names_close_matches(demo_model, images, call):
    snapshot = ModelSnapshot.of(demo_model)
    with pytest.raises(UnknownLayerError, match="close matches: 'block3.relu"):
        call(demo_model, images)
    snapshot.assert_unchanged(demo_model)


@pytest.mark.parametrize("call", [
    lambda m, x: nbs.lesion(m, LAYER, [3, 64]).effect(x),
    lambda m, x: nbs.lesion(m, LAYER, -1).effect(x),
    lambda m, x: nbs.lesion_sweep(m, x, LAYER, channels=[64]),
    lambda m, x: nbs.lesion_curve(m, x, LAYER, [0, 99]),
])
def test_channels_outside_the_layer_name_the_valid_range(demo_model, images, call):
    snapshot = ModelSnapshot.of(demo_model)
    with pytest.raises(TargetIndexError, match=r"valid 0\.\.63"):
        call(demo_model, images)
    snapshot.assert_unchanged(demo_model)


def test_errors_inside_the_with_block_leave_no_hook(demo_model, images):
    snapshot = ModelSnapshot.of(demo_model)
    with pytest.raises(TargetIndexError, match=r"valid 0\.\.15"), nbs.lesion(demo_model, LAYER, units=[(1, 16, 0)]):
        demo_model(images)
    snapshot.assert_unchanged(demo_model)
    with pytest.raises(ZeroDivisionError), nbs.lesion(demo_model, LAYER, [1]):
        raise ZeroDivisionError
    snapshot.assert_unchanged(demo_model)


def test_other_bad_arguments_get_clear_errors(demo_model, images):
    snapshot = ModelSnapshot.of(demo_model)
    with pytest.raises(TargetError, match="3 indices"):
        nbs.lesion(demo_model, LAYER, units=[(1, 2)]).effect(images)
    with pytest.raises(TargetError, match="fill must be"):
        nbs.lesion(demo_model, LAYER, [1], fill="noise")
    with pytest.raises(TargetError, match="no positions|has none"):
        nbs.lesion(demo_model, "classifier", [1], fill="mean").effect(images)
    with pytest.raises(TargetError, match="class targets"):
        nbs.lesion_sweep(demo_model, images, LAYER, nbs.Channel("block3.conv2", 1))
    with pytest.raises(TargetIndexError, match="class 9"):
        nbs.lesion_sweep(demo_model, images, LAYER, 9, channels=[1])
    with pytest.raises(ValueError, match="ks must lie"):
        nbs.lesion_curve(demo_model, images, LAYER, [1, 2], ks=[3])
    snapshot.assert_unchanged(demo_model)


class Reused(nn.Module):
    """One ReLU module called twice, channels-last features, a layer that never runs and a failing branch."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.unused = nn.Linear(4, 4)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        h = self.relu(self.conv(x))
        h = self.relu(h - 0.1).permute(0, 2, 3, 1)  # channels-last
        return self.fc(h.mean(dim=(1, 2)))


def test_a_second_call_and_channels_last_layers_are_lesioned_where_named():
    torch.manual_seed(0)
    model, x = Reused().eval(), torch.rand(2, 3, 6, 6)
    with torch.no_grad():
        h = model.relu(model.relu(model.conv(x)) - 0.1)
        h[:, 2] = 0
        expected = model.fc(h.permute(0, 2, 3, 1).mean(dim=(1, 2)))
    torch.testing.assert_close(nbs.lesion(model, "relu#2", [2]).effect(x).lesioned, expected)
    with torch.no_grad():
        first = model.relu(model.conv(x))
        first[:, 2] = 0
        expected_first = model.fc(model.relu(first - 0.1).permute(0, 2, 3, 1).mean(dim=(1, 2)))
    torch.testing.assert_close(nbs.lesion(model, "relu", [2]).effect(x).lesioned, expected_first)
    with pytest.raises(UnknownLayerError, match="did not run"):
        nbs.lesion(model, "unused", [0]).effect(x)
    with pytest.raises(UnknownLayerError, match="did not run"):
        nbs.lesion(model, "relu#3", [0]).effect(x)


def test_channels_last_axis():
    torch.manual_seed(0)
    model, x = nn.Sequential(nn.Conv2d(3, 4, 1), nn.Identity(), nn.Flatten(), nn.Linear(4 * 9, 2)).eval(), \
        torch.rand(2, 3, 3, 3)
    # a channels-last view of the same lesion: axis -1 of an (N, C, H, W) output is W
    with torch.no_grad():
        h = model[0](x)
        h[..., 1] = 0
        expected = model[3](model[2](h))
    torch.testing.assert_close(nbs.lesion(model, "1", [1], channel_axis=-1).effect(x).lesioned, expected)


def test_a_failing_model_raises_model_error_and_leaves_no_hook():
    class Failing(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 1)

        def forward(self, x):
            h = self.conv(x)
            if not self.training and h.shape[0] > 2:
                raise RuntimeError("too many images")
            return h.mean(dim=(2, 3))

    model = Failing()
    snapshot = ModelSnapshot.of(model)
    with pytest.raises(ModelError, match="too many images"), pytest.warns(UserWarning, match="at the input"):
        nbs.lesion_sweep(model, torch.rand(1, 3, 4, 4), "conv", batch_size=8)
    snapshot.assert_unchanged(model)


class Skip(nn.Module):
    """A residual connection carries block ``a``'s output past ``b``: copies made at ``b`` meet a batch of N."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        h = torch.relu(self.a(x))
        return self.fc((h + torch.relu(self.b(h))).mean(dim=(2, 3)))


@pytest.mark.parametrize("n", [1, 3])
def test_copies_made_at_the_layer_or_at_the_input_agree_with_the_loop(n):
    torch.manual_seed(1)
    model, x = Skip().eval(), torch.rand(n, 3, 5, 5)
    loop = torch.stack([nbs.lesion(model, "b", [c]).effect(x).lesioned[:, 2] for c in range(4)])
    inputs = nbs.lesion_sweep(model, x, "b", 2, replicate="input")
    torch.testing.assert_close(inputs.lesioned, loop, rtol=1e-5, atol=1e-6)
    if n == 1:  # the residual's batch of one broadcasts over the copies: still right
        torch.testing.assert_close(nbs.lesion_sweep(model, x, "b", 2, replicate="layer").lesioned, loop,
                                   rtol=1e-5, atol=1e-6)
        return
    snapshot = ModelSnapshot.of(model)
    with pytest.warns(UserWarning, match="copied at the input instead"):
        auto = nbs.lesion_sweep(model, x, "b", 2)
    torch.testing.assert_close(auto.lesioned, loop, rtol=1e-5, atol=1e-6)
    with pytest.raises(ModelError, match="replicate='input'"):
        nbs.lesion_sweep(model, x, "b", 2, replicate="layer")
    snapshot.assert_unchanged(model)


def test_copies_at_the_layer_equal_copies_at_the_input_on_the_demo_model(demo_model, images, one_torch_thread):
    layer = nbs.lesion_sweep(demo_model, images, "block2.conv1", channels=range(0, 32, 3), replicate="layer")
    inputs = nbs.lesion_sweep(demo_model, images, "block2.conv1", channels=range(0, 32, 3), replicate="input")
    torch.testing.assert_close(layer.lesioned, inputs.lesioned, rtol=1e-5, atol=1e-5)


def test_a_with_block_whose_layer_never_runs_says_so():
    model = Reused().eval()
    with pytest.warns(UserWarning, match="removed nothing: the model ran 1 time"), nbs.lesion(model, "unused", [0]):
        model(torch.rand(1, 3, 4, 4))
    with pytest.warns(UserWarning, match="removed nothing"), nbs.lesion(model, "relu#3", [0]):
        model(torch.rand(1, 3, 4, 4))


def test_a_number_fills_the_lesioned_units(demo_model, images):
    def edit(h):
        h[:, 8] = 0.25
        return h

    effect = nbs.lesion(demo_model, LAYER, [8], fill=0.25).effect(images)
    torch.testing.assert_close(effect.lesioned, forward_with(demo_model, images, edit), rtol=1e-5, atol=1e-5)


def test_the_lesion_figure_is_a_png(demo_model, images):
    from nbsaliency.plotting import NotebookFigure

    sweep = nbs.lesion_sweep(demo_model, images, LAYER, 0, channels=range(8))
    curve = nbs.lesion_curve(demo_model, images, LAYER, sweep.ranking, 0, ks=[0, 4, 8])
    figure = nbs.lesion_figure(sweep, {"ranked": curve}, top=8)
    assert isinstance(figure, NotebookFigure) and figure._repr_png_()[:4] == b"\x89PNG"
