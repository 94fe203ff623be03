"""The patch index is exact (equal to a brute-force sort of every activation), independent of the batching,
mergeable across shards, persisted safely, reads every dataset kind with errors that name the bad item, and
leaves the model as it was."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset

import nbsaliency as nbs
from nbsaliency import demo
from nbsaliency.patches import (
    CorruptIndexError,
    DatasetError,
    DatasetItemError,
    EmptyDatasetError,
    IndexBuildCancelled,
    IndexMismatchError,
    IndexRebuildWarning,
    PatchIndex,
)
from nbsaliency.patches.topk import PerImageTop, TopAccumulator, split_ids
from nbsaliency.receptive_field import NotSpatialError
from nbsaliency.recording import record_forward
from tests.invariance import ModelSnapshot
from tests.models import make_input, make_model


def brute_force(model: nn.Module, images: torch.Tensor, k: int, batch_size: int,
                one_per_image: bool) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every spatial layer's top-k per channel by sorting all its activations (or, one per image, each image's
    first maximum) by value descending, then unit id: values and unit ids.

    The activations are computed in the index's batches: a convolution's float result may differ in the last
    bit with the batch size, so the brute force must see the very numbers the index saw."""
    with torch.no_grad():
        recordings = [record_forward(model.eval(), images[i:i + batch_size], None)
                      for i in range(0, len(images), batch_size)]
    tops = {}
    for name in recordings[0].activations:
        activation = torch.cat([r.activations[name] for r in recordings])
        if activation.dim() != 4:
            continue
        n, c, h, w = activation.shape
        flat = activation.detach().permute(1, 0, 2, 3).reshape(c, n * h * w)  # unit id = image * h*w + y*w + x
        if one_per_image:  # keep only each image's first maximum; every other unit drops out
            per_image = flat.reshape(c, n, h * w)
            first_max = per_image.argmax(dim=2, keepdim=True)
            keep = torch.zeros_like(per_image, dtype=torch.bool).scatter_(2, first_max, True)
            flat = torch.where(keep, per_image, torch.tensor(float("-inf"))).reshape(c, n * h * w)
        kth = flat.topk(min(k, flat.shape[1]), dim=1).values[:, -1]
        values, ids = [], []
        for row, threshold in zip(flat, kth, strict=True):  # every unit tied with the k-th best competes
            candidates = (row >= threshold).nonzero()[:, 0].tolist()
            best = sorted(candidates, key=lambda unit: (-float(row[unit]), unit))[:k]  # value desc, then id
            values.append(row[best].numpy())
            ids.append(np.array(best))
        tops[name] = (np.stack(values), np.stack(ids))
    return tops


def assert_equals_brute_force(index: PatchIndex, expected: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    assert index.layers == list(expected)
    for name, (values, ids) in expected.items():
        _, h, w = index.shape(name)
        tops = index.tops(name)
        np.testing.assert_array_equal(tops.images * h * w + tops.ys * w + tops.xs, ids, err_msg=name)
        np.testing.assert_array_equal(tops.values, values, err_msg=name)


def assert_same_index(a: PatchIndex, b: PatchIndex) -> None:
    assert a.layers == b.layers and a.k == b.k and a.n_images == b.n_images
    for name in a.layers:
        for field, left, right in zip(a.tops(name)._fields, a.tops(name), b.tops(name), strict=True):
            np.testing.assert_array_equal(left, right, err_msg=f"{name}.{field}")


@pytest.fixture(scope="module")
def demo_images():
    return demo.images(240, seed=4242).images


@pytest.fixture(scope="module")
def demo_index(demo_model, demo_images, one_torch_thread):
    return PatchIndex.build(demo_model, demo_images, batch_size=64, progress=False)


# -- exactness -------------------------------------------------------------------------------------------------
def test_demo_index_equals_brute_force_on_every_layer_and_channel(demo_model, demo_images, demo_index):
    assert_equals_brute_force(demo_index, brute_force(demo_model, demo_images, 9, 64, one_per_image=True))
    assert demo_index.n_images == 240 and demo_index.k == 9 and demo_index.one_per_image
    first = demo_index.top("block3.conv2", 5)
    assert len(first) == 9 and first[0].value >= first[-1].value
    assert len({unit.image for unit in first}) == 9  # nine different images


def test_demo_unit_index_equals_brute_force(demo_model, demo_images):
    index = PatchIndex.build(demo_model, demo_images, one_per_image=False, progress=False)
    assert_equals_brute_force(index, brute_force(demo_model, demo_images, 9, 64, one_per_image=False))
    assert any(len({unit.image for unit in index.top(layer, 0)}) < 9 for layer in index.layers)


@pytest.mark.parametrize("one_per_image", [True, False])
def test_small_batches_are_exact_across_batch_boundaries(demo_model, demo_images, one_per_image):
    index = PatchIndex.build(demo_model, demo_images[:60], batch_size=7, one_per_image=one_per_image, progress=False)
    assert_equals_brute_force(index, brute_force(demo_model, demo_images[:60], 9, 7, one_per_image))


@pytest.mark.parametrize("shape", [(3, 7, 7), (5, 1, 1), (2, 5, 3), (4, 32, 32), (3, 64, 48)])
@pytest.mark.parametrize("accumulator_type", [TopAccumulator, PerImageTop])
def test_accumulators_are_exact_with_many_ties_and_odd_map_sizes(shape, accumulator_type):
    """Small-integer activations tie everywhere: the order must still be value, then image, y, x."""
    generator = torch.Generator().manual_seed(sum(shape))
    batches = [torch.randint(0, 6, (b, *shape), generator=generator).float() for b in (1, 3, 8, 2, 8, 8, 5)]
    accumulator = accumulator_type(9, [shape])
    first = 0
    for batch in batches:
        accumulator.add([batch], first)
        first += batch.shape[0]
    values, ids = accumulator.result(0)
    everything = torch.cat(batches)
    c, h, w = shape
    flat = everything.permute(1, 0, 2, 3).reshape(c, -1)
    ranked = flat
    if accumulator_type is PerImageTop:  # each image competes with its first maximum only
        per_image = flat.reshape(c, -1, h * w)
        first = per_image == per_image.amax(dim=2, keepdim=True)
        first &= first.cumsum(dim=2) == 1
        ranked = torch.where(first, per_image, -1.0).reshape(c, -1)
    order = torch.sort(-ranked, dim=1, stable=True).indices[:, :9]
    assert torch.equal(ids, order) and torch.equal(values, flat.gather(1, order))
    images, ys, xs = split_ids(ids, shape)
    assert torch.equal(everything[images, torch.arange(c)[:, None], ys, xs], values)


def test_fewer_units_than_k_gives_every_unit():
    model = nn.Sequential(nn.Conv2d(3, 2, 3, padding=1), nn.AdaptiveAvgPool2d(2)).eval()
    units = PatchIndex.build(model, make_input(2, 8), k=9, one_per_image=False, progress=False)
    assert units.tops("1").values.shape == (2, 8)  # 2 images x 2 x 2 positions
    assert PatchIndex.build(model, make_input(2, 8), k=9, progress=False).tops("1").values.shape == (2, 2)


class Reused(nn.Module):
    """One in-place ReLU module called twice (``relu`` and ``relu#2``) and ``F.relu`` in between."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.relu(self.conv1(x))
        return self.relu(self.conv2(x) - 0.1).mean(dim=(2, 3))


@pytest.mark.parametrize("one_per_image", [True, False])
def test_reused_inplace_modules_and_resnet_blocks_equal_brute_force(one_per_image):
    for model in (Reused().eval(), make_model("resnet")):
        images = make_input(10, 12, seed=3)
        expected = brute_force(model, images, 4, 3, one_per_image)
        index = PatchIndex.build(model, images, k=4, batch_size=3, one_per_image=one_per_image, progress=False)
        assert_equals_brute_force(index, expected)
    assert "relu#2" in index.layers or "layer1.0.relu#2" in index.layers


# -- shards ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("one_per_image", [True, False])
def test_shards_merge_into_exactly_the_one_pass_index(demo_model, demo_images, one_per_image):
    """Shards cut at batch boundaries see bit-identical activations, so the merge is bit-identical too."""
    one_pass = PatchIndex.build(demo_model, demo_images, batch_size=10, one_per_image=one_per_image, progress=False)
    cuts = [0, 50, 60, 170, 240]
    shards = [PatchIndex.build(demo_model, demo_images[a:b], offset=a, batch_size=10, one_per_image=one_per_image,
                               progress=False)
              for a, b in zip(cuts, cuts[1:], strict=False)]
    merged = shards[2].merge(shards[0], shards[3], shards[1])  # any order
    assert_same_index(merged, one_pass)
    assert merged.offset == 0 and merged.n_images == 240
    assert_same_index(PatchIndex.merge(shards[0], PatchIndex.merge(*shards[1:])), one_pass)


def test_merging_overlapping_or_unlike_indexes_is_refused(demo_model, demo_images):
    a = PatchIndex.build(demo_model, demo_images[:20], progress=False)
    with pytest.raises(IndexMismatchError, match=r"overlap: 0\.\.19 and 10\.\.29"):
        a.merge(PatchIndex.build(demo_model, demo_images[10:30], offset=10, progress=False))
    with pytest.raises(IndexMismatchError, match="same k"):
        a.merge(PatchIndex.build(demo_model, demo_images[20:30], offset=20, k=3, progress=False))
    with pytest.raises(IndexMismatchError, match="one_per_image"):
        a.merge(PatchIndex.build(demo_model, demo_images[20:30], offset=20, one_per_image=False, progress=False))
    other = make_model("vgg")
    with pytest.raises(IndexMismatchError):
        a.merge(PatchIndex.build(other, make_input(3, 16), offset=20, progress=False))


# -- files -----------------------------------------------------------------------------------------------------
def test_save_and_load_round_trip_without_pickle(demo_index, tmp_path):
    path = tmp_path / "index.npz"
    demo_index.save(path)
    loaded = PatchIndex.load(path)
    assert_same_index(loaded, demo_index)
    assert loaded.fingerprint == demo_index.fingerprint
    with np.load(path, allow_pickle=False) as archive:  # plain arrays and a JSON document only
        assert all(archive[name].dtype != object for name in archive.files)
    assert [p.name for p in tmp_path.iterdir()] == ["index.npz"]  # no temporary file left behind


def test_load_or_build_reuses_a_matching_file(demo_model, demo_images, tmp_path):
    path = tmp_path / "index.npz"
    built = PatchIndex.load_or_build(path, demo_model, demo_images[:40], progress=False)
    stamp = path.stat().st_mtime_ns
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = PatchIndex.load_or_build(path, demo_model, demo_images[:40], progress=False)
    assert path.stat().st_mtime_ns == stamp
    assert_same_index(again, built)


def test_stale_files_are_rebuilt_with_a_message(demo_images, tmp_path):
    model = make_model("vgg")
    images = make_input(12, 16)
    path = tmp_path / "index.npz"
    PatchIndex.load_or_build(path, model, images, progress=False)
    with torch.no_grad():
        model.features[0].weight[0, 0, 0, 0] += 1.0
    with pytest.warns(IndexRebuildWarning, match="stale.*the model's weights"):
        rebuilt = PatchIndex.load_or_build(path, model, images, progress=False)
    assert_same_index(rebuilt, PatchIndex.build(model, images, progress=False))
    changed = images.clone()
    changed[7, 0, 3, 3] += 1.0
    with pytest.warns(IndexRebuildWarning, match="the dataset"):
        PatchIndex.load_or_build(path, model, changed, progress=False)
    with pytest.warns(IndexRebuildWarning, match="the settings"):
        PatchIndex.load_or_build(path, model, changed, k=4, progress=False)
    notes = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # notify= replaces the warning
        PatchIndex.load_or_build(path, model, images, progress=False, notify=notes.append)
    assert len(notes) == 1 and "is stale (the dataset and the settings" in notes[0]
    with pytest.warns(IndexRebuildWarning, match="the settings"):
        unit_index = PatchIndex.load_or_build(path, model, changed, k=4, one_per_image=False, progress=False)
    assert not PatchIndex.load(path).one_per_image and not unit_index.one_per_image


@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "garbage"])
def test_corrupted_files_are_detected_and_rebuilt(damage, tmp_path):
    model = make_model("vgg")
    images = make_input(6, 16)
    path = tmp_path / "index.npz"
    good = PatchIndex.load_or_build(path, model, images, progress=False)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip_byte":  # inside an array's payload: only the checksum notices
        payload = bytearray(data)
        at = data.index(b"layer0_values.npy") + 200
        payload[at] ^= 0xFF
        path.write_bytes(bytes(payload))
    else:
        path.write_text("not an index")
    with pytest.raises(CorruptIndexError, match=str(path.name)):
        PatchIndex.load(path)
    with pytest.warns(IndexRebuildWarning, match="rebuilding"):
        rebuilt = PatchIndex.load_or_build(path, model, images, progress=False)
    assert_same_index(rebuilt, good)
    assert_same_index(PatchIndex.load(path), good)  # and the repaired file was written


def test_a_failed_write_keeps_the_previous_file(demo_index, tmp_path, monkeypatch):
    path = tmp_path / "index.npz"
    demo_index.save(path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        demo_index.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["index.npz"]


# -- datasets --------------------------------------------------------------------------------------------------
class Pairs(Dataset):
    def __init__(self, images):
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], i % 3


def test_every_dataset_kind_gives_the_same_index():
    model = make_model("vgg")
    images = make_input(11, 16, seed=9)
    kinds = [(list(images), 3), (Pairs(images), 3), (TensorDataset(images, torch.zeros(11)), 3),
             (DataLoader(Pairs(images), batch_size=4), 4), (DataLoader(TensorDataset(images), batch_size=5), 5)]
    for kind, batch_size in kinds:  # a DataLoader keeps its own batches; compare with the same batches
        expected = PatchIndex.build(model, images, batch_size=batch_size, progress=False)
        assert_same_index(PatchIndex.build(model, kind, batch_size=3, progress=False), expected)


def test_an_iterable_loader_is_indexed_but_its_patches_need_random_access():
    class Stream(IterableDataset):
        def __init__(self, images):
            self.images = images

        def __iter__(self):
            return iter(self.images)

    model = make_model("vgg")
    images = make_input(9, 16, seed=2)
    index = PatchIndex.build(model, DataLoader(Stream(images), batch_size=4), progress=False)
    assert_same_index(index, PatchIndex.build(model, images, batch_size=4, progress=False))
    with pytest.raises(DatasetError, match="iterable-style .* pass a map-style Dataset, a tensor or a list"):
        nbs.top_patches(model, DataLoader(Stream(images), batch_size=4), index, "features.0", 0)


def test_bad_items_are_named_by_their_index():
    model = make_model("vgg")
    images = list(make_input(6, 16))
    snapshot = ModelSnapshot.of(model)
    wrong_shape = images[:4] + [torch.zeros(3, 20, 16)] + images[4:]
    with pytest.raises(DatasetItemError, match=r"dataset item 4: shape \(3, 20, 16\) differs .* \(3, 16, 16\)"):
        PatchIndex.build(model, wrong_shape, progress=False)
    with pytest.raises(DatasetItemError, match=r"dataset item 2: images must be floating point"):
        PatchIndex.build(model, images[:2] + [(images[2] * 255).to(torch.uint8)], progress=False)
    with pytest.raises(DatasetItemError, match=r"dataset item 3: expected a \(C, H, W\) image; got shape \(16, 16\)"):
        PatchIndex.build(model, images[:3] + [images[3][0]], progress=False)
    nan = torch.stack(images)
    nan[5, 1, 2, 2] = float("nan")
    with pytest.raises(DatasetItemError, match="dataset item 5: the image contains NaN or Inf"):
        PatchIndex.build(model, nan, batch_size=4, progress=False)
    with pytest.raises(DatasetItemError, match=r"items 0\.\.3: .*channels"):
        PatchIndex.build(model, torch.zeros(4, 1, 16, 16), progress=False)
    snapshot.assert_unchanged(model)


def test_empty_and_unreadable_datasets_are_clear_errors():
    model = make_model("vgg")
    with pytest.raises(EmptyDatasetError, match="empty"):
        PatchIndex.build(model, torch.zeros(0, 3, 16, 16), progress=False)
    with pytest.raises(EmptyDatasetError, match="empty"):
        PatchIndex.build(model, [], progress=False)
    with pytest.raises(DatasetError, match="shuffle=True"):
        PatchIndex.build(model, DataLoader(Pairs(make_input(4, 16)), shuffle=True), progress=False)
    with pytest.raises(DatasetError, match="cannot index images from a int"):
        PatchIndex.build(model, 5, progress=False)
    with pytest.raises(DatasetError, match="cannot index images from a dict"):
        PatchIndex.build(model, {"a": make_input(1, 16)[0]}, progress=False)


def test_layer_selection_checks_names_and_spatial_outputs():
    model = make_model("vgg")
    index = PatchIndex.build(model, make_input(3, 16), layers=["features.4", "features.0"], progress=False)
    assert index.layers == ["features.4", "features.0"]
    with pytest.raises(nbs.UnknownLayerError, match="features.4"):
        PatchIndex.build(model, make_input(3, 16), layers=["features.44"], progress=False)
    with pytest.raises(NotSpatialError, match=r"classifier\.1"):
        PatchIndex.build(model, make_input(3, 16), layers=["classifier.1"], progress=False)
    with pytest.raises(nbs.TargetIndexError, match=r"valid 0\.\.7"):
        index.top("features.0", 8)
    with pytest.raises(nbs.UnknownLayerError):
        index.top("features.9", 0)


# -- progress, cancel, model untouched ---------------------------------------------------------------------------
def test_progress_is_reported_and_cancel_stops_the_pass_leaving_the_model_as_it_was():
    model = make_model("batchnorm_train")
    snapshot = ModelSnapshot.of(model)
    reports = []
    PatchIndex.build(model, make_input(10, 16), batch_size=4, progress=lambda *report: reports.append(report))
    assert reports == [(0, 10), (4, 10), (8, 10), (10, 10)]
    snapshot.assert_unchanged(model)

    cancel = threading.Event()

    def stop_after_first_batch(done, total):
        if done >= 4:
            cancel.set()

    with pytest.raises(IndexBuildCancelled, match="after 4 images"):
        PatchIndex.build(model, make_input(10, 16), batch_size=4, progress=stop_after_first_batch, cancel=cancel)
    snapshot.assert_unchanged(model)
    assert model.training


def test_a_failing_model_is_reported_and_leaves_no_hooks():
    class Fails(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 3)
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            if self.calls > 2:
                raise RuntimeError("boom")
            return self.conv(x)

    model = Fails().eval()
    snapshot = ModelSnapshot.of(model)
    with pytest.raises(nbs.ModelError, match="RuntimeError.*boom"):
        PatchIndex.build(model, make_input(8, 16), batch_size=2, progress=False)
    snapshot.assert_unchanged(model)


@pytest.mark.parametrize("inplace", [False, True])
def test_a_relus_maxima_derived_from_its_input_are_exact_also_for_dead_maps(inplace):
    """``max relu(a) = relu(max a)``: the ReLU's index reuses its input's maxima; a map that is all zero after
    the ReLU has its first unit as the first maximum."""
    conv = nn.Conv2d(3, 2, 3, padding=1)
    with torch.no_grad():
        conv.bias[0] = -100.0  # channel 0 is dead after the ReLU for every image
    model = nn.Sequential(conv, nn.ReLU(inplace=inplace), nn.Conv2d(2, 2, 3)).eval()
    images = make_input(12, 10, seed=5)
    index = PatchIndex.build(model, images, k=4, batch_size=5, progress=False)
    assert_equals_brute_force(index, brute_force(model, images, 4, 5, one_per_image=True))
    assert [tuple(unit) for unit in index.top("1", 0)] == [(0.0, i, 0, 0) for i in range(4)]
