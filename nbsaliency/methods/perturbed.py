"""Forward passes on perturbed copies of the input (noise, interpolation paths, occluded patches).

The copies are shaped ``(K, N, C, H, W)``: K perturbations of each of the session's N images - a tensor, or
any :class:`Copies` that makes them chunk by chunk. They run in chunks whose size comes from a memory budget
(:func:`chunk_images`: the activation bytes of one image, from the kept forward pass or a probe pass of one
image, against :func:`memory_budget`) unless the user gives ``batch_size``; each pass records only what the targets read
(:meth:`~nbsaliency.session.Session.record_for`: nothing but the output for class scores), class targets stay
pinned to the *clean* input's prediction, ``progress(done, total)`` is called after every chunk (copies done of
K) and a set ``cancel`` event stops the work between chunks with :class:`~nbsaliency.errors.Cancelled`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import Tensor
from torch.overrides import TorchFunctionMode

from ..errors import Cancelled, NoGradientPathError
from ..lean_forward import bare_forward
from ..model_state import evaluation_mode
from ..rules.backward_rules import BackwardRule
from ..targets import Target
from . import options

CPU_MEMORY_BUDGET = 1 << 30  # bytes of activations one chunk may hold on the CPU (at most a quarter of free RAM)
ACCELERATOR_MEMORY_FRACTION = 0.5  # of the device's free memory

if TYPE_CHECKING:  # methods receive a Session; only session.py builds one (no import cycle)
    from ..session import Session


class Copies(Protocol):
    """K perturbed copies of a batch, ``shape`` ``(K, N, C, H, W)``; ``copies[a:b]`` makes copies a..b-1."""

    shape: tuple[int, ...]

    def __getitem__(self, chunk: slice) -> Tensor: ...


@dataclass(frozen=True)
class Run:
    """How a perturbation method runs: ``batch_size`` (images per chunk; None: from the memory budget),
    ``progress(done, total)`` and ``cancel`` (an event checked between chunks), checked for ``method``."""

    method: str
    batch_size: int | None = None
    progress: Callable[[int, int], Any] | None = None
    cancel: Any = None

    def __post_init__(self) -> None:
        options.optional_integer(self.method, "batch_size", self.batch_size)
        options.callback(self.method, "progress", self.progress)
        options.event(self.method, "cancel", self.cancel)


def memory_budget(device: torch.device) -> int:
    """Bytes of activations one chunk may use: half the accelerator's free memory, or on the CPU
    :data:`CPU_MEMORY_BUDGET` capped at a quarter of the free RAM."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * ACCELERATOR_MEMORY_FRACTION)
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not on every platform
        return CPU_MEMORY_BUDGET
    return max(1 << 26, min(CPU_MEMORY_BUDGET, available // 4))


class _SizeProbe(TorchFunctionMode):
    """Adds up the bytes of every tensor an operation returns, and keeps the largest (a probe forward pass that
    captures nothing: outputs are measured, not kept)."""

    def __init__(self) -> None:
        super().__init__()
        self.total = self.largest = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if isinstance(out, Tensor):
            size = out.numel() * out.element_size()
            self.total += size
            self.largest = max(self.largest, size)
        return out


def _activation_bytes(session: Session) -> tuple[int, int]:
    """(sum, largest) activation bytes of one image: from the kept forward pass when there is one (its distinct
    captured tensors), else from a probe forward pass of one image without gradients."""
    if session.has_kept_forward:
        seen: dict[int, int] = {}
        for activation in session.recording.activations.values():
            seen[activation.untyped_storage().data_ptr()] = activation.numel() * activation.element_size()
        n = session.x.shape[0]
        return sum(seen.values()) // n, max(seen.values(), default=0) // n
    probe = _SizeProbe()
    with evaluation_mode(session.model), torch.no_grad(), probe:
        bare_forward(session.model, session.x[:1].detach())
    return probe.total, probe.largest


def bytes_per_image(session: Session, *, gradients: bool) -> int:
    """Estimated activation memory of one image's pass.

    With gradients the graph keeps about every activation (their sum); without, a pass holds about a layer's
    input and output at a time (twice the largest)."""
    total, largest = _activation_bytes(session)
    x = session.x
    return max(1, (total if gradients else 2 * largest) + x[0].numel() * x.element_size())


def chunk_images(session: Session, run: Run, *, gradients: bool) -> int:
    """Images per chunk: the user's ``batch_size``, else as many as the memory budget holds (at least one)."""
    if run.batch_size is not None:
        return run.batch_size
    return max(1, memory_budget(session.x.device) // bytes_per_image(session, gradients=gradients))


def _chunks(copies: Tensor | Copies, images: int, run: Run) -> Iterator[Tensor]:
    total = copies.shape[0]
    per_chunk = max(1, images // copies.shape[1])
    for start in range(0, total, per_chunk):
        if run.cancel is not None and run.cancel.is_set():
            raise Cancelled(f"{run.method} was cancelled after {start} of {total} perturbed copies; the model is "
                            "unchanged")
        yield copies[start:start + per_chunk]
        if run.progress is not None:
            run.progress(min(start + per_chunk, total), total)


def perturbed_mean_gradients(session: Session, targets: Sequence[Target], copies: Tensor | Copies,
                             rule: BackwardRule, run: Run, *, times_input: bool = False) -> Tensor:
    """Mean over the K copies of every target's backward pass (times the copy when ``times_input``):
    ``(T, N, C, H, W)``."""
    total = None
    images = chunk_images(session, run, gradients=True)
    for chunk in _chunks(copies, images, run):
        k, n = chunk.shape[:2]
        leaf = chunk.reshape(k * n, *chunk.shape[2:]).detach().requires_grad_(True)
        fixed = session.fixed_targets(targets, k)
        recording = session.record_for(leaf, fixed, rule)
        grads = session.gradients(fixed, rule, wrt=leaf, recording=recording, keep_graph=False)
        del recording
        if times_input:
            grads = grads * leaf.detach()
        summed = grads.reshape(len(targets), k, n, *chunk.shape[2:]).sum(dim=1)
        total = summed if total is None else total + summed
    return total / copies.shape[0]


def clean_values(session: Session, targets: Sequence[Target]) -> Tensor:
    """Every target's value on the clean input ``(T, N)``: from the session's kept pass when it has one, else
    from one lean pass without gradients."""
    with torch.no_grad():
        if session.has_kept_forward:
            return torch.stack([t.values(session.recording) for t in targets]).detach()
        recording = session.record_for(session.x.detach(), targets, None)
        return torch.stack([t.values(recording) for t in targets])


def perturbed_values(session: Session, targets: Sequence[Target], copies: Tensor | Copies, run: Run) -> Tensor:
    """Every target's value on every copy, without gradients: ``(T, K, N)``."""
    results = []
    images = chunk_images(session, run, gradients=False)
    for chunk in _chunks(copies, images, run):
        k, n = chunk.shape[:2]
        fixed = session.fixed_targets(targets, k)
        with torch.no_grad():
            recording = session.record_for(chunk.reshape(k * n, *chunk.shape[2:]), fixed, None)
            values = [_one_per_image(target, target.values(recording), k * n) for target in fixed]
        del recording
        results.append(torch.stack(values).reshape(len(targets), k, n))
    return torch.cat(results, dim=1)


def _one_per_image(target: Target, values: Tensor, images: int) -> Tensor:
    """``values`` of a batch of ``images`` perturbed copies, checked: a target that does not follow the batch
    (a layer fed by a buffer, not by the input) cannot change with the input."""
    if values.shape != (images,):
        raise NoGradientPathError(
            f"{target!r} does not depend on the input: on a batch of {images} perturbed images it gave values of "
            f"shape {tuple(values.shape)}, so hiding or changing pixels cannot change it (its layer is computed "
            "from something other than the input, e.g. a buffer)")
    return values
