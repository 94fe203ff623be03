"""Checks on the input before the model sees it, with messages that say what would be right."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .errors import InputError
from .model_state import model_device_and_dtype


def _first_convolution(model: nn.Module) -> tuple[str, nn.modules.conv._ConvNd] | None:
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.conv._ConvNd) and not isinstance(module, nn.modules.conv._ConvTransposeNd):
            return name, module
    return None


def as_image_batch(model: nn.Module, x: Tensor) -> tuple[Tensor, bool]:
    """Return ``x`` as an ``(N, C, H, W)`` batch and whether it was a single ``(C, H, W)`` image.

    Raises :class:`InputError` naming what is wrong: type, rank, empty batch, dtype, device, channel count
    (checked against the model's first convolution), NaN / Inf.
    """
    if not isinstance(x, Tensor):
        raise InputError(f"the input must be a torch.Tensor of shape (N, C, H, W) or (C, H, W); got {type(x).__name__}")
    first = _first_convolution(model)
    if first is not None and not isinstance(first[1], nn.Conv2d) and x.dim() != 4:
        name, conv = first
        kind = {1: "signals (N, C, L)", 3: "volumes (N, C, D, H, W)"}.get(len(conv.kernel_size), "other inputs")
        raise InputError(
            f"nbsaliency explains image models, whose inputs are (N, C, H, W); this model's first convolution "
            f"{name!r} is a {type(conv).__name__}, which takes {kind} (input shape {tuple(x.shape)})"
        )
    single = x.dim() == 3
    if x.dim() not in (3, 4):
        hint = " (add a channel axis with x[None] or x[:, None])" if x.dim() == 2 else ""
        raise InputError(
            f"the input must be an image batch (N, C, H, W) or one image (C, H, W); got shape "
            f"{tuple(x.shape)}{hint}"
        )
    batch = x[None] if single else x
    if batch.shape[0] == 0:
        raise InputError(f"the input batch is empty (shape {tuple(x.shape)}); give at least one image")
    if not batch.is_floating_point():
        raise InputError(
            f"the input has dtype {x.dtype}; it must be a floating-point tensor prepared as the model expects "
            f"(e.g. x.float() / 255, then the model's normalisation)"
        )
    device, dtype = model_device_and_dtype(model)
    if device is not None and batch.device != device:
        raise InputError(f"the input is on {batch.device} but the model is on {device}; use x.to({str(device)!r})")
    if dtype is not None and batch.dtype != dtype:
        raise InputError(f"the input has dtype {batch.dtype} but the model's weights are {dtype}; use x.to({dtype})")
    if first is not None and isinstance(first[1], nn.Conv2d):
        name, conv = first
        if batch.shape[1] != conv.in_channels:
            raise InputError(
                f"the model's first convolution {name!r} expects {conv.in_channels} input channels, but the "
                f"input has {batch.shape[1]} (shape {tuple(x.shape)}); expected (N, {conv.in_channels}, H, W)"
            )
    if not torch.isfinite(batch).all():
        bad = (~torch.isfinite(batch)).nonzero()[0].tolist()
        raise InputError(
            f"the input contains NaN or Inf (first at index {tuple(bad)}); attributions need finite inputs"
        )
    return batch, single
