"""Building the patch index on a Dask cluster (``PatchIndex.build(..., client=client)``).

The index is a mergeable summary: shards built with ``offset=`` merge into exactly the one-pass index. So the
dataset is cut into *batch-aligned* shards (every shard starts at a multiple of the batch size, so each batch
holds the very images it holds in a one-machine pass), each Dask task builds its shard's index on a worker and
returns only the small top-k arrays (never activations), and the client merges them. The result equals the
one-machine build bit for bit (float caveat: a convolution's result may differ in the last bit with the batch
composition, the backend or the thread count; batch-aligned shards keep the batches, and CPU workers with the
same torch build give the same numbers, while a GPU worker beside CPU ones can order near-ties differently).

What travels: the model once per worker (``client.scatter(model, broadcast=True)``), or a *model factory* (a
callable returning the model, called once per worker, e.g. loading a checkpoint from a shared path); a tensor
dataset scattered once to every worker; any other dataset (a ``Sequence`` or map-style ``Dataset``, or a
``DataLoader``'s dataset with its ``collate_fn`` and ``batch_size``) shipped as is: it must pickle, and a clear
:class:`~.errors.DatasetError` names it when it cannot. Each task sets its worker's torch thread count (the
host's cores shared among the Dask threads on that host, unless ``worker_threads=`` says otherwise) and runs on
the worker's GPU when it has one. Dask is imported only here, and only when a client is given.

Faults: Dask retries a task ``retries`` times when it raises, and reschedules it when its worker dies; a shard
that keeps failing raises :class:`ShardBuildError` naming its image range and the worker's exception, and no
partial index is returned. ``cancel`` cancels every pending task; the client stays usable.
"""

from __future__ import annotations

import copy
import os
import threading
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Subset

from ..errors import ModelError, NbsaliencyError
from ..model_state import model_device_and_dtype
from .dataset import ImageSource
from .errors import DatasetError, IndexBuildCancelled
from .progress import ProgressLike, resolve

POLL_SECONDS = 0.1  # how often a waiting client looks at the cancel event
CLUSTER_OPTIONS = frozenset({"retries", "shard_size", "worker_threads"})  # build_shards' own options
SHARDS_PER_THREAD = 4  # default shards per Dask thread: balances load and keeps progress fine-grained


class ShardBuildError(NbsaliencyError, RuntimeError):
    """A shard of the index kept failing on the cluster (after Dask's retries); ``start``/``stop`` give its
    image range and the message the worker's exception. No partial index is returned or saved."""

    def __init__(self, start: int, stop: int, message: str):
        self.start, self.stop = start, stop
        super().__init__(f"building the patch index failed for images {start}..{stop - 1}: {message}")


class WorkerFailure(RuntimeError):
    """Raised on a worker in place of a shard's exception, with the worker's address and the traceback text
    (exceptions travel between processes without their chain)."""


@dataclass(frozen=True)
class ShardSpec:
    """Everything a task needs besides the model and the data (small, sent with every task)."""

    start: int
    stop: int
    kind: str  # "tensor", "items" or "loader"
    batch_size: int
    k: int
    layers: list[str] | None
    offset: int
    one_per_image: bool
    model_token: str
    factory: bool
    host_threads: dict[str, int]
    worker_threads: int | None
    collate: Callable[[list[Any]], Any] | None = None
    layouts: Mapping[str, Any] | None = None  # the user's layout overrides (nbsaliency.layouts)


class _Slice:
    """Items ``start..stop-1`` of a sequence or map-style dataset, indexed from 0 (read lazily)."""

    def __init__(self, items: Any, start: int, stop: int):
        self.items, self.start, self.stop = items, start, stop

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, i: int) -> Any:
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self.items[self.start + i]


class Packed:
    """A model in a box: Dask's own serialiser for ``nn.Module`` rebuilds modules whose hook tables are plain
    dicts (registering a hook then fails), so the module travels inside this box, pickled as torch pickles it."""

    def __init__(self, model: nn.Module):
        self.model = model


# -- on the client -----------------------------------------------------------------------------------------------
def _check_pickles(value: Any, what: str, error: type[Exception]) -> None:
    import cloudpickle  # a dependency of dask.distributed, which pickles with it when pickle fails

    try:
        cloudpickle.dumps(value)
    except Exception as failure:
        raise error(f"{what} {_name(value)} cannot be pickled, so it cannot be sent to the Dask workers "
                    f"({type(failure).__name__}: {failure}); make it picklable (e.g. open files, connections and "
                    "locks lazily on first use instead of in __init__) or build without client=") from None


def _name(value: Any) -> str:
    text = " ".join(repr(value).split())
    return f"{type(value).__name__} {text[:80] + '...' if len(text) > 80 else text}"


def _payload(source: ImageSource, batch_size: int) -> tuple[Any, str, int, int, Callable | None]:
    """``(data to ship, kind, number of images, batch size, collate_fn)`` for ``source``."""
    data = source.data
    if isinstance(data, Tensor):
        return data.detach().cpu(), "tensor", data.shape[0], batch_size, None
    if source.loader is not None:
        loader = source.loader
        if source.items is None or source.length is None:
            raise DatasetError("a DataLoader over an iterable-style dataset cannot be cut into shards for a cluster "
                               "(no random access); pass a map-style Dataset, a tensor or a list")
        if loader.batch_size is None:
            raise DatasetError("a DataLoader with batch_size=None cannot be cut into batch-aligned shards; give it a "
                               "batch_size")
        n = source.length - source.length % loader.batch_size if loader.drop_last else source.length
        return loader.dataset, "loader", n, loader.batch_size, loader.collate_fn
    return data, "items", source.length or 0, batch_size, None


def _host_threads(client: Any) -> dict[str, int]:
    """Dask threads per host (a worker address's host part), to share each host's cores among them."""
    threads: dict[str, int] = {}
    for address, info in client.scheduler_info().get("workers", {}).items():
        host = _host(address)
        threads[host] = threads.get(host, 0) + int(info.get("nthreads", 1))
    return threads


def _host(address: str) -> str:
    return address.split("://")[-1].rsplit(":", 1)[0]


def shard_ranges(n: int, batch_size: int, batches_per_shard: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of each shard: ``batches_per_shard`` whole batches (the last may be shorter)."""
    size = batch_size * max(1, batches_per_shard)
    return [(start, min(n, start + size)) for start in range(0, n, size)]


def build_shards(client: Any, model: nn.Module | Callable[[], nn.Module], source: ImageSource, build_shard: Callable,
                 *, k: int, layers: list[str] | None, batch_size: int, offset: int, one_per_image: bool,
                 progress: ProgressLike, cancel: threading.Event | None, retries: int = 1,
                 shard_size: int | None = None, worker_threads: int | None = None,
                 layouts: Mapping[str, Any] | None = None) -> list[Any]:
    """Build the shards of the index on ``client``'s workers; returns ``[(shard index, model fingerprint or
    None), ...]`` in image order, all complete.

    ``build_shard`` is ``PatchIndex._build`` (passed in, so this module needs no import of the index);
    ``shard_size``: images per shard, rounded up to whole batches (default: about four shards per Dask thread);
    ``worker_threads``: torch threads per task (default: the host's cores over its Dask threads)."""
    from distributed import wait

    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1; got {batch_size}")
    if retries < 0:
        raise ValueError(f"retries must be at least 0; got {retries}")
    factory = not isinstance(model, nn.Module)
    if factory and not callable(model):
        raise ModelError(f"model must be an nn.Module or a callable returning one (a model factory); got "
                         f"{type(model).__name__}")
    data, kind, n, batch_size, collate = _payload(source, batch_size)
    if not factory:
        model = _shippable_model(model)  # type: ignore[arg-type]
    host_threads = _host_threads(client)
    if shard_size is None:
        threads = max(1, sum(host_threads.values()))
        batches = -(-n // batch_size)
        batches_per_shard = -(-batches // (SHARDS_PER_THREAD * threads))
    else:
        if shard_size < 1:
            raise ValueError(f"shard_size must be at least 1 image; got {shard_size}")
        batches_per_shard = -(-shard_size // batch_size)
    ranges = shard_ranges(n, batch_size, batches_per_shard)
    report = resolve(progress)
    if report is not None:
        report(0, n)
    owned: list[Any] = []
    futures: list[Any] = []
    try:
        if factory:
            _check_pickles(model, "the model factory", ModelError)
            model_ref = model
        else:
            model_ref = _scatter(client, Packed(model), model, "the model", ModelError)
            owned.append(model_ref)
        if kind == "tensor":
            # each shard's images go to one worker only (its task then runs there): a tensor crosses the network
            # once in all, instead of once per worker; a slice is cloned so that it pickles its own images only
            data_refs = client.scatter([data[start:stop].clone() for start, stop in ranges], hash=False)
            owned.extend(data_refs)
        else:
            shared = _scatter(client, data, data, "the dataset" if kind != "loader" else "the DataLoader's dataset",
                              DatasetError)
            owned.append(shared)
            data_refs = [shared] * len(ranges)
        token = f"nbsaliency-{uuid.uuid4().hex}"
        for (start, stop), data_ref in zip(ranges, data_refs, strict=True):
            spec = ShardSpec(start, stop, kind, batch_size, k, layers, offset, one_per_image, token, factory,
                             host_threads, worker_threads, collate, layouts)
            futures.append(client.submit(_build_on_worker, build_shard, model_ref, data_ref, spec, retries=retries,
                                         pure=False, key=f"nbsaliency-shard-{start}-{stop}-{token}"))
        where = {future.key: image_range for future, image_range in zip(futures, ranges, strict=True)}
        pending, done = set(futures), 0
        while pending:
            if cancel is not None and cancel.is_set():
                raise IndexBuildCancelled(f"building the patch index on the cluster was cancelled after {done} of "
                                          f"{n} images")
            try:
                finished, pending = wait(list(pending), timeout=POLL_SECONDS, return_when="FIRST_COMPLETED")
            except TimeoutError:
                continue
            except Exception as error:  # futures cancelled on the cluster (client.restart(), another client)
                lost = next((f for f in futures if f.cancelled()), futures[0])
                raise ShardBuildError(*where[lost.key], f"its task was cancelled on the cluster "
                                      f"({type(error).__name__}: {error})") from None
            for future in finished:
                start, stop = where[future.key]
                if future.status != "finished":
                    raise ShardBuildError(start, stop, _describe_failure(future, retries)) from None
                done += stop - start
            if report is not None and finished:
                report(done, n)
        return [future.result() for future in futures]
    finally:
        client.cancel(futures + owned)


def _scatter(client: Any, value: Any, shown: Any, what: str, error: type[Exception]) -> Any:
    """``value`` on every worker (one future); when it cannot be serialised, an error naming ``shown``."""
    try:
        return client.scatter(value, broadcast=True, hash=False)
    except Exception:
        _check_pickles(shown, what, error)  # raises the clear error when pickling is what failed
        raise


def _describe_failure(future: Any, retries: int) -> str:
    try:
        error = future.exception()
    except Exception as failure:  # cancelled or lost
        error = failure
    text = str(error) if isinstance(error, WorkerFailure) else f"{type(error).__name__}: {error}"
    return f"it kept failing (retries={retries}); last error: {text}"


def _shippable_model(model: nn.Module) -> nn.Module:
    """The model as it travels: itself on CPU, else a CPU copy (a worker without that device could not load
    it); never the user's object changed."""
    device, _ = model_device_and_dtype(model)
    if device is None or device.type == "cpu":
        return model
    return copy.deepcopy(model).cpu()


# -- on a worker -------------------------------------------------------------------------------------------------
_MODELS: OrderedDict[tuple[str, int], tuple[nn.Module, str | None]] = OrderedDict()
_MODELS_LOCK = threading.Lock()
_KEEP_BUILDS = 2  # builds whose models a worker keeps


def _worker_model(model: Any, spec: ShardSpec) -> tuple[nn.Module, str | None]:
    """This worker thread's copy of the model and, for a factory's model, its fingerprint. Prepared once per build
    and thread (the first made by the factory or copied from the shipped model, which must never carry a build's
    hooks because Dask may pickle it to send it to another worker; moved to the GPU when the worker has one;
    further threads get deep copies, so that concurrent tasks never share hooks or flags)."""
    from .fingerprint import model_fingerprint

    key = (spec.model_token, threading.get_ident())
    with _MODELS_LOCK:
        if key in _MODELS:
            return _MODELS[key]
        sibling = next((entry for (token, _), entry in _MODELS.items() if token == spec.model_token), None)
        if sibling is not None:
            entry = (copy.deepcopy(sibling[0]), sibling[1])
        else:
            if spec.factory:
                model = model()
                if not isinstance(model, nn.Module):
                    raise ModelError(f"the model factory returned a {type(model).__name__}, not an nn.Module")
            else:  # a private copy: the scattered object must stay without hooks, Dask may send it on at any time
                model = copy.deepcopy(model.model)
            if torch.cuda.is_available():
                device, _ = model_device_and_dtype(model)
                if device is None or device.type == "cpu":
                    model = model.to(torch.device("cuda"))
            entry = (model, model_fingerprint(model) if spec.factory else None)
        _MODELS[key] = entry
        tokens = list(dict.fromkeys(token for token, _ in _MODELS))
        for old in tokens[:-_KEEP_BUILDS]:
            for stale in [k for k in _MODELS if k[0] == old]:
                del _MODELS[stale]
        return entry


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
_ROOMY = [False]


def roomy_malloc() -> None:
    """Let glibc keep freed activation buffers for reuse in this worker process (once; it stays so).

    Dask starts its workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which also fixes glibc's mmap threshold at
    128 KiB: every activation buffer is then mapped and unmapped afresh (page faults on every batch; measured
    2.7x slower builds). The first shard task raises the thresholds to glibc's own upper defaults (mmap 32 MiB,
    trim 64 MiB) for the worker's life, so the worker may keep up to that much freed memory. Nothing is done
    where that variable is not set or glibc is not the allocator."""
    if _ROOMY[0] or "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        return
    with _MODELS_LOCK:
        libc = _glibc()
        if libc is not None and not _ROOMY[0]:
            libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
            libc.mallopt(M_TRIM_THRESHOLD, 64 << 20)
        _ROOMY[0] = True


def _glibc() -> Any:
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "mallopt") else None
    except (OSError, AttributeError):
        return None


def _threads(spec: ShardSpec) -> int:
    if spec.worker_threads is not None:
        return max(1, int(spec.worker_threads))
    try:
        from distributed import get_worker

        worker = get_worker()
        host_threads = spec.host_threads.get(_host(worker.address), worker.state.nthreads)
    except Exception:
        host_threads = 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, host_threads))


def _shard_source(data: Any, spec: ShardSpec) -> ImageSource:
    if spec.kind == "tensor":  # the shard's own images (see build_shards)
        return ImageSource(data)
    if spec.kind == "loader":
        return ImageSource(DataLoader(Subset(data, range(spec.start, spec.stop)), batch_size=spec.batch_size,
                                      collate_fn=spec.collate))
    return ImageSource(_Slice(data, spec.start, spec.stop))


def _build_shard(build_shard: Callable, model: Any, data: Any, spec: ShardSpec) -> tuple[Any, str | None]:
    worker_model, model_key = _worker_model(model, spec)
    shard = build_shard(worker_model, _shard_source(data, spec), {"model": model_key}, k=spec.k, layers=spec.layers,
                        batch_size=spec.batch_size, offset=spec.offset + spec.start,
                        one_per_image=spec.one_per_image, progress=False, cancel=None, layouts=spec.layouts)
    return shard, model_key


def _build_on_worker(build_shard: Callable, model: Any, data: Any, spec: ShardSpec) -> tuple[Any, str | None]:
    """One task: the index of images ``spec.start..spec.stop - 1`` (offset so that it merges into the whole)."""
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(_threads(spec))
        roomy_malloc()
        return _build_shard(build_shard, model, data, spec)
    except Exception as error:
        try:
            from distributed import get_worker

            where = get_worker().address
        except Exception:
            where = "an unknown worker"
        lines = traceback.format_exception_only(type(error), error)
        raise WorkerFailure(f"on worker {where}: {''.join(lines).strip()}") from None
    finally:
        torch.set_num_threads(previous)


__all__ = ["CLUSTER_OPTIONS", "ShardBuildError", "WorkerFailure", "build_shards", "shard_ranges"]
