"""Forward passes on perturbed copies of the input (noise, interpolation paths, occluded patches).

The copies are shaped ``(K, N, C, H, W)``: K perturbations of each of the session's N images - a tensor, or
any :class:`Copies` that makes them chunk by chunk. They run in chunks of at most ``batch_size`` images, and
class targets stay pinned to the *clean* input's prediction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

import torch
from torch import Tensor

from ..rules.backward_rules import BackwardRule
from ..targets import Target

if TYPE_CHECKING:  # methods receive a Session; only session.py builds one (no import cycle)
    from ..session import Session


class Copies(Protocol):
    """K perturbed copies of a batch, ``shape`` ``(K, N, C, H, W)``; ``copies[a:b]`` makes copies a..b-1."""

    shape: tuple[int, ...]

    def __getitem__(self, chunk: slice) -> Tensor: ...


def _chunks(copies: Tensor | Copies, batch_size: int) -> Iterator[Tensor]:
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1; got {batch_size}")
    per_chunk = max(1, batch_size // copies.shape[1])
    for start in range(0, copies.shape[0], per_chunk):
        yield copies[start:start + per_chunk]


def perturbed_gradients(session: Session, targets: Sequence[Target], copies: Tensor | Copies, rule: BackwardRule,
                        batch_size: int) -> Tensor:
    """Backward passes of every target on every copy: ``(T, K, N, C, H, W)``."""
    results = []
    for chunk in _chunks(copies, batch_size):
        k, n = chunk.shape[:2]
        leaf = chunk.reshape(k * n, *chunk.shape[2:]).detach().requires_grad_(True)
        recording = session.record(leaf, rules=True)
        grads = session.gradients(session.fixed_targets(targets, k), rule, wrt=leaf, recording=recording)
        results.append(grads.reshape(len(targets), k, n, *chunk.shape[2:]))
    return torch.cat(results, dim=1)


def perturbed_values(session: Session, targets: Sequence[Target], copies: Tensor | Copies,
                     batch_size: int) -> Tensor:
    """Every target's value on every copy, without gradients: ``(T, K, N)``."""
    results = []
    for chunk in _chunks(copies, batch_size):
        k, n = chunk.shape[:2]
        recording = session.record(chunk.reshape(k * n, *chunk.shape[2:]), rules=False)
        with torch.no_grad():
            values = [target.values(recording) for target in session.fixed_targets(targets, k)]
        results.append(torch.stack(values).reshape(len(targets), k, n))
    return torch.cat(results, dim=1)
