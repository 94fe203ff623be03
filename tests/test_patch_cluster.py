"""The patch index built on a Dask cluster equals the one-machine build bit for bit, survives a worker that dies,
names a shard that keeps failing, refuses a dataset that cannot travel, can be cancelled without harming the
client, and never changes the model; without a client Dask is not even imported."""

from __future__ import annotations

import functools
import operator
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from nbsaliency import ModelError, demo
from nbsaliency.patches import DatasetError, IndexBuildCancelled, PatchIndex
from nbsaliency.patches.distributed import ShardBuildError
from tests.invariance import ModelSnapshot

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    """Two worker processes with one thread each (the issue's set-up); started once for the module."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                       silence_logs=40)
    with distributed.Client(cluster) as dask_client:
        yield dask_client
    cluster.close()


@pytest.fixture(scope="module")
def images():
    return demo.images(240, seed=4242).images


def assert_same_index(a: PatchIndex, b: PatchIndex) -> None:
    assert a.layers == b.layers and a.k == b.k and a.n_images == b.n_images and a.offset == b.offset
    assert a.one_per_image == b.one_per_image
    for name in a.layers:
        for field, left, right in zip(a.tops(name)._fields, a.tops(name), b.tops(name), strict=True):
            assert left.dtype == right.dtype, f"{name}.{field}"
            np.testing.assert_array_equal(left, right, err_msg=f"{name}.{field}")


class ItemDataset(Dataset):
    """Map-style dataset over a tensor; ``kill_at`` ends a worker process once (never the test's own process;
    a marker file remembers that it did), ``fail_at`` raises every time on a worker."""

    def __init__(self, images: torch.Tensor, kill_at: int | None = None, marker: Path | None = None,
                 fail_at: int | None = None):
        self.images, self.kill_at, self.marker, self.fail_at = images, kill_at, marker, fail_at
        self.home = os.getpid()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        if i == self.kill_at and os.getpid() != self.home and self.marker is not None and not self.marker.exists():
            self.marker.write_text(str(os.getpid()))
            os._exit(1)  # the worker process dies mid-shard
        if i == self.fail_at and os.getpid() != self.home:
            raise ValueError(f"broken item {i}")
        return self.images[i]


class LockedDataset(ItemDataset):
    """A dataset holding a lock: it cannot be pickled."""

    def __init__(self, images: torch.Tensor):
        super().__init__(images)
        self.lock = threading.Lock()


class HookSpy(ItemDataset):
    """Fails when, on a worker mid-build, the model Dask holds (and may pickle for another worker at any moment)
    carries hooks: a build must run on a private copy."""

    def __getitem__(self, i: int) -> torch.Tensor:
        if os.getpid() != self.home:
            from nbsaliency.patches.distributed import Packed

            for value in list(distributed.get_worker().data.values()):
                if isinstance(value, Packed) and any(m._forward_hooks or m._forward_pre_hooks
                                                     for m in value.model.modules()):
                    raise AssertionError("the scattered model carries a build's hooks")
        return super().__getitem__(i)


# -- exactness ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("one_per_image", [True, False])
def test_cluster_build_equals_the_one_machine_build_on_every_layer_and_channel(client, demo_model, images,
                                                                               one_per_image):
    snapshot = ModelSnapshot.of(demo_model)
    local = PatchIndex.build(demo_model, images, batch_size=16, offset=100, one_per_image=one_per_image,
                             progress=False)
    reports: list[tuple[int, int | None]] = []
    dataset = images if one_per_image else HookSpy(images)  # a tensor scattered once; a Dataset shipped as is
    remote = PatchIndex.build(demo_model, dataset, batch_size=16, offset=100, one_per_image=one_per_image,
                              progress=lambda done, total: reports.append((done, total)), client=client,
                              shard_size=40)  # 40 images = 2.5 batches: rounded up to 3 batches (48 images)
    assert_same_index(remote, local)
    assert remote.fingerprint == local.fingerprint
    snapshot.assert_unchanged(demo_model)
    # progress: the same (done, total) callback as the local build, once per finished shard of 48 (last: 48)
    assert reports[0] == (0, 240) and reports[-1] == (240, 240)
    steps = np.diff([done for done, _ in reports])
    assert all(step % 48 == 0 and step > 0 for step in steps) and sum(steps) == 240


def test_a_model_factory_and_a_dataloader_build_the_same_index(client, demo_model, images):
    loader = DataLoader(TensorDataset(images), batch_size=24)
    local = PatchIndex.build(demo_model, loader, progress=False)
    remote = PatchIndex.build(functools.partial(demo.load_model), loader, progress=False, client=client)
    assert_same_index(remote, local)
    assert remote.fingerprint["model"] == local.fingerprint["model"]  # fingerprinted on the workers


def test_load_or_build_with_a_client_saves_the_exact_index_and_reuses_it(client, demo_model, images, tmp_path):
    path = tmp_path / "index.npz"
    built = PatchIndex.load_or_build(path, demo_model, images, batch_size=32, progress=False, client=client)
    assert_same_index(built, PatchIndex.build(demo_model, images, batch_size=32, progress=False))
    calls = []
    again = PatchIndex.load_or_build(path, demo_model, images, batch_size=32, progress=calls.append, client=client)
    assert calls == [] and again.fingerprint == built.fingerprint  # read back, not rebuilt
    assert_same_index(again, built)


# -- faults ------------------------------------------------------------------------------------------------------
def test_a_worker_killed_mid_shard_still_yields_the_exact_index(client, demo_model, images, tmp_path):
    marker = tmp_path / "killed"
    dataset = ItemDataset(images, kill_at=130, marker=marker)
    remote = PatchIndex.build(demo_model, dataset, batch_size=20, progress=False, client=client)
    assert marker.exists()  # a worker really died during the build
    assert_same_index(remote, PatchIndex.build(demo_model, images, batch_size=20, progress=False))
    distributed.wait(client.submit(operator.add, 1, 2))  # the cluster works on


def test_a_shard_that_keeps_failing_names_its_image_range_and_the_worker_error(client, demo_model, images,
                                                                               tmp_path):
    path = tmp_path / "index.npz"
    with pytest.raises(ShardBuildError, match=r"images 50\.\.59: .*retries=2.*on worker tcp://.*ValueError: "
                                              r"broken item 57") as raised:
        PatchIndex.load_or_build(path, demo_model, ItemDataset(images, fail_at=57), batch_size=10, shard_size=10,
                                 progress=False, client=client, retries=2)
    assert (raised.value.start, raised.value.stop) == (50, 60)
    assert not path.exists() and list(tmp_path.iterdir()) == []  # no partial index saved


def test_a_dataset_that_cannot_be_pickled_gets_an_error_naming_it(client, demo_model, images):
    with pytest.raises(DatasetError, match=r"the dataset LockedDataset .* cannot be pickled.*TypeError"):
        PatchIndex.build(demo_model, LockedDataset(images), progress=False, client=client)


def test_cancel_stops_the_build_and_leaves_the_client_usable(client, demo_model, images):
    cancel = threading.Event()

    def progress(done: int, total: int | None) -> None:
        if done > 0:
            cancel.set()  # after the first finished shard

    snapshot = ModelSnapshot.of(demo_model)
    with pytest.raises(IndexBuildCancelled, match="cancelled after [0-9]+ of 240 images"):
        PatchIndex.build(demo_model, images, batch_size=10, shard_size=10, progress=progress, cancel=cancel,
                         client=client)
    snapshot.assert_unchanged(demo_model)
    assert client.submit(operator.add, 1, 2).result() == 3
    again = PatchIndex.build(demo_model, images, batch_size=40, progress=False, client=client)
    assert_same_index(again, PatchIndex.build(demo_model, images, batch_size=40, progress=False))


def test_cluster_options_without_a_client_are_refused(demo_model, images):
    with pytest.raises(TypeError, match="retries only apply with client="):
        PatchIndex.build(demo_model, images[:4], progress=False, retries=2)
    with pytest.raises(TypeError, match="a model factory needs client="):
        PatchIndex.build(demo.load_model, images[:4], progress=False)


def test_without_a_client_dask_is_never_imported():
    code = ("import sys, nbsaliency as nbs; from nbsaliency import demo; "
            "nbs.PatchIndex.build(demo.load_model(), demo.images(8, seed=1).images, progress=False); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"


def test_the_explorer_patch_jobs_build_their_index_on_the_cluster(client, demo_model, images):
    from nbsaliency.explorer.backend import ExplorerBackend
    from nbsaliency.explorer.patches import PatchJobs

    states = []
    backend = ExplorerBackend(demo_model, images[:2], labels=demo.CLASS_NAMES)
    jobs = PatchJobs(backend, lambda content, buffers: None, states.append, dataset=images[:96], client=client)
    try:
        assert jobs.wait(60) and jobs.state.status == "ready", jobs.state
        assert_same_index(jobs.index, PatchIndex.build(demo_model, images[:96], batch_size=jobs.batch_size,
                                                       progress=False))
        assert any(state.status == "building" and state.total == 96 for state in states)
    finally:
        jobs.close()


def test_a_model_that_cannot_be_pickled_gets_an_error_naming_it(client, images):
    model = demo.load_model()
    model.lock = threading.Lock()  # e.g. a logger or a file handle kept on the model
    with pytest.raises(ModelError, match=r"the model DemoCNN .* cannot be pickled.*TypeError"):
        PatchIndex.build(model, images[:20], progress=False, client=client)

