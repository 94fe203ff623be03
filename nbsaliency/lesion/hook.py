"""Replacing chosen units of one layer's output during the forward pass, without editing the model.

A :class:`LesionHook` sits on the layer's module only inside a ``with`` block (the forward hook, and a pre-hook
on the model that counts the module's calls per forward pass, are removed on exit, also when the forward pass
raised). What it replaces is a boolean mask over the layer's units, ``(R, *unit shape)``: one row for every
image (``R = 1``), or one row per *copy* of a replicated batch (the sweeps stack R copies of the N images,
copy-major, and lesion a different set of units in each copy, so R lesions cost one forward pass). With
``replicate_output`` the copies are made from the layer's output, so the layers before it run once for all R.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch
from torch import Tensor, nn

from ..errors import TargetError, UnknownLayerError
from ..layer_axes import ran_layer_channel_axis
from ..optimize.capture import check_layers

Fill = Literal["zero", "mean"] | float | Tensor
MaskFactory = Callable[[tuple[int, ...]], Tensor]  # unit shape -> (R, *unit shape) bool


def split_call(layer: str) -> tuple[str, int]:
    """``"block1.relu#2"`` -> ``("block1.relu", 2)``; a plain name is the module's first call."""
    name, _, count = layer.partition("#")
    if count and not count.isdigit():
        raise UnknownLayerError(layer, [])
    return name, int(count) if count else 1


def filled(output: Tensor, lesioned: Tensor, fill: Fill, channel_axis: int) -> Tensor:
    """``output`` with the units where ``lesioned`` (broadcastable, bool) is true replaced by ``fill``:
    ``"zero"``; ``"mean"``, the unit's channel mean over the positions of the same image; a number; or a tensor
    of per-channel values ``(C,)`` (e.g. the channel's mean over a dataset) or per-unit values (unit shape)."""
    if isinstance(fill, str) and fill == "zero":
        return output.masked_fill(lesioned, 0)
    if isinstance(fill, str) and fill == "mean":
        axis = channel_axis % output.dim()
        positions = [d for d in range(1, output.dim()) if d != axis]
        if not positions:
            raise TargetError(
                f"fill='mean' averages a channel over its positions, but this layer's output "
                f"{tuple(output.shape)} has none; pass per-channel values as a tensor instead (e.g. the "
                f"activation's mean over a dataset)"
            )
        return torch.where(lesioned, output.mean(dim=positions, keepdim=True), output)
    if isinstance(fill, int | float):
        return output.masked_fill(lesioned, float(fill))
    values = fill.to(device=output.device, dtype=output.dtype)
    unit_shape = tuple(output.shape[1:])
    if tuple(values.shape) == unit_shape:
        return torch.where(lesioned, values, output)
    axis = channel_axis % output.dim()
    if values.dim() == 1 and values.shape[0] == output.shape[axis]:
        shape = [1] * output.dim()
        shape[axis] = values.shape[0]
        return torch.where(lesioned, values.reshape(shape), output)
    raise TargetError(
        f"a fill tensor must hold one value per channel ({output.shape[axis]},) or per unit {unit_shape}; "
        f"got shape {tuple(fill.shape)}"
    )


def check_fill(fill: Any) -> None:
    if isinstance(fill, str) and fill in ("zero", "mean"):
        return
    if isinstance(fill, int | float | Tensor) and not isinstance(fill, bool):
        return
    raise TargetError(f'fill must be "zero", "mean", a number or a tensor of values; got {fill!r}')


class LesionHook:
    """While entered: call ``call`` of module ``layer`` gets its units under ``mask_factory(unit shape)``
    replaced by ``fill``. ``shapes`` records the output shape the layer had (``None`` until it ran).
    ``channel_axis=None``: read from the layer's layout on the first forward pass's input (one extra pass)."""

    def __init__(self, model: nn.Module, layer: str, mask_factory: MaskFactory | None, fill: Fill = "zero",
                 channel_axis: int | None = 1, *, replicate_output: bool = False):
        check_fill(fill)
        self.model, self.layer, self.fill, self.channel_axis = model, layer, fill, channel_axis
        self.replicate_output = replicate_output
        self.module_name, self.call = split_call(layer)
        check_layers(model, [self.module_name])
        self.mask_factory = mask_factory
        self.output_shape: tuple[int, ...] | None = None
        self._mask: Tensor | None = None
        self._calls = 0
        self._forwards = 0
        self._handles: list[Any] = []
        self._detecting = False

    def _reset(self, module: nn.Module, args: Any) -> None:
        if self._detecting:
            return
        self._calls = 0
        self._forwards += 1
        if self.channel_axis is None and self.mask_factory is not None and args and isinstance(args[0], Tensor):
            self._detecting = True  # the layout pass runs the model once more, without the lesion
            try:
                self.channel_axis = ran_layer_channel_axis(self.model, args[0], self.layer)
            finally:
                self._detecting = False

    def _hook(self, module: nn.Module, args: Any, output: Any) -> Tensor | None:
        if self._detecting:
            return None
        self._calls += 1
        if self._calls != self.call:
            return None
        if not isinstance(output, Tensor):
            raise TargetError(
                f"layer {self.layer!r} returns a {type(output).__name__}, not a tensor; lesion a layer whose "
                f"output is one tensor"
            )
        self.output_shape = tuple(output.shape)
        if self.mask_factory is None:
            return None
        if self.channel_axis is None:
            raise TargetError(f"the channel axis of {self.layer!r} could not be read from its layout (the model's "
                              "first argument is not a tensor); pass channel_axis= (1 for (N, C, ...), -1 for "
                              "(N, ..., C) and token sequences)")
        mask = self.mask_factory(self.output_shape[1:]).to(output.device)
        copies = mask.shape[0]
        if self.replicate_output:  # the R copies start here: the layers before ran once for all of them
            output = output.repeat(copies, *([1] * (output.dim() - 1)))
        if not mask.any():
            return output if self.replicate_output else None  # nothing lesioned: the output stays bit for bit
        if output.shape[0] % copies:
            raise TargetError(f"a batch of {output.shape[0]} cannot hold {copies} lesioned copies")
        mask = mask.repeat_interleave(output.shape[0] // copies, dim=0)
        return filled(output, mask, self.fill, self.channel_axis)

    def __enter__(self) -> LesionHook:
        if self._handles:
            raise RuntimeError("this lesion is already active; a lesion cannot be entered twice at once")
        module = dict(self.model.named_modules())[self.module_name]
        self.output_shape, self._forwards = None, 0
        try:
            self._handles.append(self.model.register_forward_pre_hook(self._reset))
            self._handles.append(module.register_forward_hook(self._hook))
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._remove()

    @property
    def forwards(self) -> int:
        """Forward passes of the model since the hook was entered."""
        return self._forwards

    def _remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def ran(self) -> tuple[int, ...]:
        """The layer's output shape in the last forward pass, or a clear error when it did not run."""
        if self.output_shape is None:
            known = [name for name, _ in self.model.named_modules() if name]
            raise UnknownLayerError(self.layer, known, exists_but_unused=True)
        return self.output_shape
