"""t-SNE of codes: the codes are the layer's pooled activations, the embedding is reproducible and keeps
neighbours, the grid layout is an optimal assignment, scikit-learn is optional with a clear error."""

from __future__ import annotations

import itertools
import sys
import threading

import pytest
import torch

import nbsaliency as nbs
from nbsaliency import demo
from nbsaliency.embedding import embed_codes, grid_cells, layer_codes, pool_codes
from nbsaliency.errors import UnknownLayerError
from nbsaliency.plotting import NotebookFigure
from tests.invariance import ModelSnapshot


@pytest.fixture(scope="module")
def batch():
    return demo.images(70, seed=21)


def test_codes_are_the_layers_activation_averaged_over_positions(demo_model, batch, one_torch_thread):
    x = batch.images[:12]
    session = nbs.Session(demo_model, x)
    expected = session.activations("block2").mean(dim=(2, 3))
    torch.testing.assert_close(layer_codes(demo_model, x, "block2", batch_size=5), expected, rtol=1e-5, atol=1e-6)
    listed = layer_codes(demo_model, list(x), "block2", pool="max", batch_size=7)
    torch.testing.assert_close(listed, session.activations("block2").amax(dim=(2, 3)), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(layer_codes(demo_model, x, "flatten"), session.activations("flatten"))


def test_pooling_a_channels_last_map_uses_its_last_axis():
    activation = torch.arange(24.0).reshape(1, 2, 3, 4)  # (N, H, W, C)
    torch.testing.assert_close(pool_codes(activation, channel_axis=-1), activation.mean(dim=(1, 2)))


def test_tsne_is_reproducible_and_keeps_classes_together(demo_model, batch, one_torch_thread):
    snapshot = ModelSnapshot.of(demo_model)
    first = nbs.tsne(demo_model, batch.images, "flatten", perplexity=15, max_iter=400)
    second = nbs.tsne(demo_model, batch.images, "flatten", perplexity=15, max_iter=400)
    snapshot.assert_unchanged(demo_model)
    assert first.coordinates.shape == (70, 2) and first.codes.shape == (70, 64)
    assert torch.equal(first.coordinates, second.coordinates)
    distances = torch.cdist(first.coordinates, first.coordinates).fill_diagonal_(float("inf"))
    nearest = distances.argmin(dim=1)
    agreement = (batch.labels[nearest] == batch.labels).float().mean()
    assert agreement > 0.9  # the trained classifier's codes separate the classes; t-SNE keeps that


def test_embed_codes_rejects_a_perplexity_above_the_number_of_images():
    with pytest.raises(ValueError, match="perplexity must be between 0 and the number of images \\(5\\)"):
        embed_codes(torch.rand(5, 3), perplexity=5)


def test_missing_scikit_learn_names_the_extra_before_the_model_runs(demo_model, batch, monkeypatch):
    calls = []
    handle = demo_model.register_forward_hook(lambda *args: calls.append(1))
    monkeypatch.setitem(sys.modules, "sklearn.manifold", None)
    try:
        with pytest.raises(ImportError, match=r"nbsaliency\[embedding\]"):
            nbs.tsne(demo_model, batch.images, "flatten")
    finally:
        handle.remove()
    assert calls == []


def test_unknown_layer_gets_close_matches_and_leaves_the_model_unchanged(demo_model, batch):
    snapshot = ModelSnapshot.of(demo_model)
    with pytest.raises(UnknownLayerError, match="'flatten'"):
        nbs.tsne(demo_model, batch.images, "flaten")
    snapshot.assert_unchanged(demo_model)


def test_points_on_a_grid_snap_to_their_own_cells():
    rows, columns = torch.meshgrid(torch.arange(4), torch.arange(5), indexing="ij")
    cells = torch.stack([rows.flatten(), columns.flatten()], dim=1)[:19]  # 19 points in a 4 x 5 grid
    points = torch.stack([cells[:, 1].float() * 2.5, -cells[:, 0].float() * 3.0], dim=1)  # y up, row down
    order = torch.randperm(19, generator=torch.Generator().manual_seed(0))
    assert torch.equal(grid_cells(points[order]), cells[order])


def test_grid_assignment_is_optimal_against_brute_force():
    points = torch.rand(5, 2, generator=torch.Generator().manual_seed(3))
    result = grid_cells(points, columns=3, rows=2)
    assert len({tuple(c) for c in result.tolist()}) == 5
    unit = (points - points.min(0).values) / (points.max(0).values - points.min(0).values)
    targets = torch.stack([unit[:, 0] * 2, (1 - unit[:, 1]) * 1], dim=1)

    def cost(assignment):
        return sum(float((targets[i, 0] - c) ** 2 + (targets[i, 1] - r) ** 2) for i, (r, c) in enumerate(assignment))

    cells = [(r, c) for r in range(2) for c in range(3)]
    best = min(cost(p) for p in itertools.permutations(cells, 5))
    assert cost([tuple(c) for c in result.tolist()]) == pytest.approx(best)


def test_the_figure_is_a_png_with_both_layouts(batch):
    coordinates = torch.rand(20, 2, generator=torch.Generator().manual_seed(0))
    embedding = nbs.Embedding("flatten", torch.rand(20, 4), coordinates)
    figure = nbs.embedding_figure(embedding, batch.images[:20], labels=batch.labels[:20],
                                  class_names=demo.CLASS_NAMES)
    assert isinstance(figure, NotebookFigure)
    assert figure._repr_png_()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="20 points but 19 images"):
        nbs.embedding_figure(embedding, batch.images[:19])


def test_codes_run_in_eval_mode_and_restore_every_flag(batch):
    model = demo.load_model().train()
    model.block2.eval()
    snapshot = ModelSnapshot.of(model)
    codes = layer_codes(model, torch.utils.data.DataLoader(batch.images[:10], batch_size=4), "block3")
    snapshot.assert_unchanged(model)
    expected = nbs.Session(demo.load_model(), batch.images[:10]).activations("block3").mean(dim=(2, 3))
    torch.testing.assert_close(codes, expected, rtol=1e-5, atol=1e-6)


def test_codes_and_tsne_stop_when_cancelled_and_leave_the_model_as_it_was():
    model = demo.load_model()
    images = demo.images(8, seed=0).images
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(nbs.Cancelled, match=r"codes of 'block2.conv1' were cancelled after 0 images"):
        layer_codes(model, images, "block2.conv1", batch_size=4, cancel=cancel)
    pytest.importorskip("sklearn")
    with pytest.raises(nbs.Cancelled):
        nbs.tsne(model, images, "block2.conv1", perplexity=2.0, cancel=cancel)
    assert model.training is False and not any(m._forward_hooks for m in model.modules())
