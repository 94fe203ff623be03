"""The layer catalogue a view shows: each captured layer with its shape, module type and whether it is one of
the *primary* layers a picker offers first.

Primary layers are the ones practitioners pick: convolutions (their maps are the features), block outputs (a
module with children that is not a plain container: a ResNet ``Bottleneck``, a ViT ``EncoderBlock``) and the
model's last layer. The rest (batch norms, activations, pools, a block's inner linear layers, the stages, which
repeat their last block's output) stay one step away: the picker's search and its "all layers" switch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn

from ..errors import NbsaliencyError
from . import protocol

CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


def is_primary(module: nn.Module | None, type_name: str) -> bool:
    """True for a convolution or a block (a module with children that is not a plain container)."""
    if "Conv" in type_name:
        return True
    return module is not None and any(module.children()) and not isinstance(module, CONTAINERS)


def map_shape(maps: Callable[[str], Sequence[int]], name: str, shape: Sequence[int]) -> list[int]:
    """The shape of ``name``'s activation maps without batch axis (``maps``, e.g. a session's
    ``activation_maps(name).shape``): ``(C, h, w)`` in every layout, ``(D,)`` for flat layers; the output
    shape itself when the maps cannot be had (a layout that cannot be detected: choosing that layer then
    names the ``layouts=`` fix)."""
    try:
        return list(maps(name)[1:])
    except NbsaliencyError:  # e.g. LayoutError: the error comes back, in words, when that layer is chosen
        return list(shape)


def layer_infos(model: nn.Module, layers: Sequence[tuple[str, Sequence[int], str]],
                maps: Callable[[str], Sequence[int]]) -> list[protocol.LayerInfo]:
    """``layers`` (name, shape without batch axis, module type; forward order) as ``LayerInfo`` entries, the
    last layer always primary, ``maps`` giving each layer's activation-map shape with batch axis (see
    :func:`map_shape`). A repeated call of one module (``relu#2``) is that module's."""
    modules = dict(model.named_modules())
    last = len(layers) - 1
    return [protocol.LayerInfo(name=name, shape=list(shape), type=type_name, maps=map_shape(maps, name, shape),
                               primary=i == last or is_primary(modules.get(name.split("#")[0]), type_name))
            for i, (name, shape, type_name) in enumerate(layers)]
