"""Activation layouts: what "channel" and "position" mean in a captured layer's output.

A layer's output is one of

- ``channels_first``: maps ``(N, C, H, W)`` (convolutions; also ``(N, C, L)`` and ``(N, C, D, H, W)``);
- ``channels_last``: maps ``(N, H, W, C)`` (Swin / ConvNeXt blocks, which normalise over the last axis);
- ``tokens``: a sequence ``(N, prefix + h * w, D)`` (ViT blocks): ``prefix`` leading tokens (class, register or
  distillation tokens) and then the ``h x w`` patch grid in row-major order, ``D`` features ("channels");
- ``flat``: features ``(N, D)``.

Every consumer (targets, Grad-CAM, receptive fields, the patch index, projections, activation maps) reads a layer
through :meth:`Layout.maps`, which gives the channels-first view ``(N, C, h, w)`` of the *grid* (prefix tokens are
left out: they have no grid position). The view is differentiable and selects / permutes only, so gradients with
respect to it are those with respect to the layer's output, reshaped.

Layouts are detected per forward pass (:class:`LayoutTable`), in forward order, from

1. the module type: convolutions, pooling and batch norm give channels-first maps; ``nn.Linear`` and
   ``nn.LayerNorm`` over the last axis of a 4-d tensor give channels-last maps (their features are the last axis);
2. the shapes seen before: the same shape as an earlier layer means the same layout; ``(N, H, W, C)`` after an
   ``(N, C, H, W)`` map is that map permuted (and back);
3. for ``(N, L, D)`` sequences: an earlier ``h x w`` map with ``L - h * w`` between 0 and :data:`MAX_PREFIX` gives the
   token grid and the prefix (the patch-embedding convolution's grid); ``(N, C, h * w)`` is that map flattened
   (channels-first), and when both readings fit the layout is ambiguous.

A 4-d output with no evidence is channels-first (PyTorch's convention) in a model that has no channels-last layer;
in one that has, or for a sequence with no grid, the layout is *ambiguous*: using the layer raises
:class:`LayoutError`, whose message shows the override (``Session(model, x, layouts={"blocks.3": "tokens"})``).
Nothing is guessed silently: :meth:`Layout.source` says how each layout was found.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from torch import Tensor, nn

from .errors import NbsaliencyError

Kind = Literal["channels_first", "channels_last", "tokens", "flat"]
KINDS: tuple[Kind, ...] = ("channels_first", "channels_last", "tokens", "flat")
MAX_PREFIX = 16  # most leading non-grid tokens detected (class + distillation + register tokens)
_ALIASES: dict[str, Kind] = {"nchw": "channels_first", "nhwc": "channels_last", "nld": "tokens", "sequence": "tokens",
                             "features": "flat", "ncl": "channels_first"}

_CHANNELS_FIRST_MODULES: tuple[type, ...] = (
    nn.modules.conv._ConvNd, nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
    nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd, nn.modules.batchnorm._BatchNorm,
    nn.modules.instancenorm._InstanceNorm, nn.GroupNorm, nn.LocalResponseNorm, nn.Upsample, nn.PixelShuffle,
    nn.PixelUnshuffle, nn.Dropout2d, nn.Dropout3d,
)


class LayoutError(NbsaliencyError, ValueError):
    """A layer whose layout cannot be detected (or does not fit its shape); the message shows the override."""


def override_hint(layer: str, shape: tuple[int, ...]) -> str:
    example = '"tokens"' if len(shape) == 3 else '"channels_last"' if len(shape) == 4 else '"channels_first"'
    return (f'pass it to the session: nbs.Session(model, x, layouts={{"{layer}": {example}}}) (one of '
            f'{", ".join(repr(k) for k in KINDS)}, or nbs.Layout.tokens(grid=(h, w), prefix=1))')


@dataclass(frozen=True)
class Layout:
    """How a layer's output is laid out (see the module docstring). ``grid`` and ``prefix`` are for tokens:
    ``None`` means "found from the sequence length" when the layout is applied to a layer."""

    kind: Kind
    grid: tuple[int, int] | None = None
    prefix: int | None = None
    source: str = field(default="given by the user", compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise LayoutError(f"unknown layout {self.kind!r}; use one of {', '.join(repr(k) for k in KINDS)}")
        if self.kind != "tokens" and (self.grid is not None or self.prefix is not None):
            raise LayoutError(f"only a tokens layout has a grid and a prefix; got {self.kind!r} with grid={self.grid}"
                              f", prefix={self.prefix}")
        if self.grid is not None and (len(self.grid) != 2 or min(self.grid) < 1):
            raise LayoutError(f"a token grid is (h, w) with h, w >= 1; got {self.grid}")
        if self.prefix is not None and self.prefix < 0:
            raise LayoutError(f"prefix (leading non-grid tokens) must be >= 0; got {self.prefix}")

    @classmethod
    def tokens(cls, grid: tuple[int, int] | None = None, prefix: int | None = None) -> Layout:
        """A token sequence ``(N, prefix + h * w, D)``; ``grid`` / ``prefix`` left out are found from its length."""
        return cls("tokens", None if grid is None else (int(grid[0]), int(grid[1])),
                   None if prefix is None else int(prefix))

    @classmethod
    def parse(cls, value: Layout | str) -> Layout:
        """A :class:`Layout`, or its name (``"channels_first"``, ``"channels_last"``, ``"tokens"``, ``"flat"``;
        also ``"NCHW"``, ``"NHWC"``)."""
        if isinstance(value, Layout):
            return value
        if isinstance(value, str):
            name = _ALIASES.get(value.lower(), value.lower())
            if name in KINDS:
                return cls(name)
        raise LayoutError(f"a layout is one of {', '.join(repr(k) for k in KINDS)} or an nbs.Layout; got {value!r}")

    # -- applied to a shape ------------------------------------------------------------------------------
    def fitted(self, layer: str, shape: tuple[int, ...]) -> Layout:
        """This layout with a tokens grid / prefix filled in for ``shape``; :class:`LayoutError` if it cannot
        describe a tensor of that shape."""
        rank = len(shape)
        wrong = (self.kind == "flat" and rank != 2) or (self.kind == "channels_last" and rank != 4) or \
            (self.kind == "tokens" and rank != 3) or (self.kind == "channels_first" and rank < 3)
        if wrong:
            expected = {"flat": "(N, D)", "channels_last": "(N, H, W, C)", "tokens": "(N, prefix + h*w, D)",
                        "channels_first": "(N, C, H, W) or (N, C, L)"}[self.kind]
            raise LayoutError(f"layer {layer!r} has output shape {shape}, which cannot be {self.kind} {expected}")
        if self.kind != "tokens":
            return self
        length = shape[1]
        if self.grid is not None:
            prefix = length - self.grid[0] * self.grid[1] if self.prefix is None else self.prefix
            if prefix < 0 or prefix + self.grid[0] * self.grid[1] != length:
                raise LayoutError(f"layer {layer!r} has {length} tokens, which is not prefix {self.prefix} + a "
                                  f"{self.grid[0]} x {self.grid[1]} grid")
            return replace(self, prefix=prefix)
        prefixes = [self.prefix] if self.prefix is not None else range(min(MAX_PREFIX, length - 1) + 1)
        squares = [(p, math.isqrt(length - p)) for p in prefixes if math.isqrt(length - p) ** 2 == length - p > 0]
        if len(squares) != 1:
            found = "no" if not squares else f"{len(squares)} possible"
            raise LayoutError(f"layer {layer!r} has {length} tokens: {found} square grid(s) after up to "
                              f"{MAX_PREFIX} prefix tokens; give the grid: "
                              f'layouts={{"{layer}": nbs.Layout.tokens(grid=(h, w), prefix=k)}}')
        prefix, side = squares[0]
        return replace(self, grid=(side, side), prefix=prefix)

    @property
    def is_spatial(self) -> bool:
        """Whether positions form a 2-d grid (given a 4-d channels-first output for ``channels_first``)."""
        return self.kind in ("channels_last", "tokens")

    def maps(self, activation: Tensor) -> Tensor:
        """The channels-first view: ``(N, C, h, w)`` for maps and the token grid (prefix tokens left out),
        ``(N, D)`` for flat features, ``(N, C, ...)`` unchanged for other channels-first outputs."""
        if self.kind == "channels_last":
            return activation.permute(0, 3, 1, 2)
        if self.kind == "tokens":
            assert self.grid is not None and self.prefix is not None, "call fitted() first"
            n, _, d = activation.shape
            return activation[:, self.prefix:].transpose(1, 2).reshape(n, d, *self.grid)
        return activation

    def maps_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape :meth:`maps` gives for an output of ``shape`` (without the batch axis)."""
        if self.kind == "channels_last":
            return (shape[3], shape[1], shape[2])
        if self.kind == "tokens":
            assert self.grid is not None
            return (shape[2], *self.grid)
        return tuple(shape[1:])

    def unit_index(self, channel: int, y: int, x: int) -> tuple[int, ...]:
        """Where the unit at channel ``channel``, grid position ``(y, x)`` of :meth:`maps` sits in the layer's own
        output (without the batch axis): ``(c, y, x)`` channels-first, ``(y, x, c)`` channels-last, ``(prefix +
        y * w + x, c)`` for tokens. A flat layer has no positions (:class:`LayoutError`)."""
        if self.kind == "channels_last":
            return (y, x, channel)
        if self.kind == "tokens":
            assert self.grid is not None and self.prefix is not None, "call fitted() first"
            h, w = self.grid
            if not (0 <= y < h and 0 <= x < w):
                raise LayoutError(f"position ({y}, {x}) is outside the {h}x{w} token grid")
            return (self.prefix + y * w + x, channel)
        if self.kind == "flat":
            raise LayoutError("a flat layer has no positions: its units are its features (give the feature alone)")
        return (channel, y, x)

    def describe(self, shape: tuple[int, ...]) -> str:
        """E.g. ``"tokens (N, 1 + 14x14, 768)"``, for messages."""
        if self.kind == "tokens" and self.grid is not None:
            return f"tokens (N, {self.prefix} + {self.grid[0]}x{self.grid[1]}, {shape[2]})"
        names = {"channels_first": "channels-first", "channels_last": "channels-last (N, H, W, C)", "flat": "flat"}
        return f"{names[self.kind]} {shape}"


def module_evidence(module: nn.Module, output: Tensor) -> Kind | Literal["features_last"] | None:
    """What a module's type says about its output's layout (None: nothing)."""
    rank = output.dim()
    if isinstance(module, _CHANNELS_FIRST_MODULES) and rank >= 3:
        return "channels_first"
    last_axis = isinstance(module, nn.Linear) or (
        type(module) is nn.LayerNorm and len(module.normalized_shape) == 1
        and module.normalized_shape[0] == output.shape[-1])
    if last_axis and rank >= 3:
        return "channels_last" if rank == 4 else "features_last"
    return None


@dataclass(frozen=True)
class _Unresolved:
    message: str


class LayoutTable:
    """The layout of every captured layer of one forward pass, detected in forward order (module docstring);
    ``overrides`` (layer name -> :class:`Layout` or name) win. A name ``"m"`` also covers ``"m#2"``, ..."""

    def __init__(self, shapes: Mapping[str, tuple[int, ...]], evidence: Mapping[str, str | None],
                 overrides: Mapping[str, Layout] | None = None):
        self._shapes = dict(shapes)
        self._table: dict[str, Layout | _Unresolved] = {}
        overrides = dict(overrides or {})
        has_channels_last = any(e == "channels_last" for e in evidence.values()) or any(
            Layout.parse(o).kind == "channels_last" for o in overrides.values())
        seen: list[tuple[str, tuple[int, ...], Layout | _Unresolved]] = []
        for name, shape in self._shapes.items():
            given = overrides.get(name, overrides.get(name.split("#", 1)[0]))
            if given is not None:
                try:
                    found: Layout | _Unresolved = Layout.parse(given).fitted(name, shape)
                except LayoutError as error:
                    found = _Unresolved(str(error))
            else:
                found = _detect(name, shape, evidence.get(name), seen, has_channels_last)
            self._table[name] = found
            seen.append((name, shape, found))

    def __contains__(self, layer: str) -> bool:
        return layer in self._table

    def get(self, layer: str) -> Layout | None:
        """The layout, or None when it is ambiguous (or the layer unknown)."""
        found = self._table.get(layer)
        return found if isinstance(found, Layout) else None

    def __getitem__(self, layer: str) -> Layout:
        """The layout of ``layer``; :class:`LayoutError` (showing the override) when it is ambiguous."""
        found = self._table[layer]
        if isinstance(found, _Unresolved):
            raise LayoutError(found.message)
        return found


_Seen = list[tuple[str, tuple[int, ...], "Layout | _Unresolved"]]


def _detect(name: str, shape: tuple[int, ...], evidence: str | None, seen: _Seen,
            has_channels_last: bool) -> Layout | _Unresolved:
    rank = len(shape)
    if rank == 2:
        return Layout("flat", source="a 2-d output")
    if evidence in ("channels_first", "channels_last"):
        return Layout(evidence, source="its module type")
    for earlier, earlier_shape, layout in reversed(seen):
        if earlier_shape == shape:
            if isinstance(layout, _Unresolved):
                return _Unresolved(f"layer {name!r} has the shape {shape} of layer {earlier!r}, whose layout is "
                                   f"unknown; " + override_hint(name, shape))
            return replace(layout, source=f"the same shape as {earlier!r}")
        if isinstance(layout, _Unresolved):
            continue
        if rank == 4 and len(earlier_shape) == 4 and layout.kind in ("channels_first", "channels_last"):
            n, a, b, c = earlier_shape
            if layout.kind == "channels_first" and shape == (n, b, c, a):
                return Layout("channels_last", source=f"{earlier!r} permuted to (N, H, W, C)")
            if layout.kind == "channels_last" and shape == (n, c, a, b):
                return Layout("channels_first", source=f"{earlier!r} permuted to (N, C, H, W)")
    if rank == 3 and evidence != "channels_first":
        for earlier, earlier_shape, layout in reversed(seen):
            maps = isinstance(layout, Layout) and layout.kind in ("channels_first", "channels_last")
            if maps and len(earlier_shape) == 4:
                c, h, w = layout.maps_shape(earlier_shape)
                tokens = 0 <= shape[1] - h * w <= MAX_PREFIX
                flattened = shape[1:] == (c, h * w)  # the map flattened to (N, C, h*w), not transposed
                if flattened and (not tokens or evidence != "features_last"):
                    if tokens:
                        return _Unresolved(f"layer {name!r} has output shape {shape}: {h}x{w} tokens of {c} features "
                                           f"or {earlier!r} flattened to (N, C, h*w); " + override_hint(name, shape))
                    return Layout("channels_first", source=f"{earlier!r} flattened to (N, C, h*w)")
                if tokens:
                    return Layout("tokens", (h, w), shape[1] - h * w, source=f"the {h}x{w} grid of {earlier!r}")
        return _Unresolved(f"layer {name!r} has output shape {shape}: a sequence (N, L, D) with no {MAX_PREFIX}-token "
                           f"match to an earlier map's grid, or (N, C, L) maps, so its layout is unknown; "
                           + override_hint(name, shape))
    if rank == 4 and has_channels_last:
        return _Unresolved(f"layer {name!r} has output shape {shape} in a model with channels-last layers, and "
                           "nothing tells whether it is (N, C, H, W) or (N, H, W, C); " + override_hint(name, shape))
    if evidence == "features_last":
        return _Unresolved(f"layer {name!r} has output shape {shape} with features on the last axis (e.g. attention "
                           "windows), which no layout describes; choose another layer")
    return Layout("channels_first", source="PyTorch's (N, C, ...) convention")
