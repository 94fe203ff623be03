"""Activation maximisation: the image that most excites a neuron, a channel or any composed objective.

Two presets:

* ``"lucid"`` - Olah, Mordvintsev & Schubert (2017), "Feature Visualization" (Distill), Lucid's defaults:
  a 1/f-scaled Fourier parameterisation in decorrelated colour, Lucid's standard robustness transforms
  (pad, jitter, scale, rotate, jitter), Adam with learning rate 0.05, 512 steps.
* ``"yosinski"`` - Yosinski et al. (2015), "Understanding Neural Networks Through Deep Visualization":
  clipped pixels edited by their regularisers after every step (a row of their Table 1, default ``"c"``:
  L2 decay 1e-4 and a Gaussian blur of width 1 every 4 steps), 200 plain gradient steps - normalised by
  their mean size (step 0.1 of half the range) so that no learning rate has to be tuned to the unit's scale.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from torch import nn

from ..errors import OptionError
from ..methods.options import choice, integer
from ..normalization import stated_range
from ..targets import Target, as_target
from .checks import image_size, loop_options
from .input_size import fit_transforms, probe_input_size, refuse_size, size_option
from .optimisers import OptimiserLike
from .parameterisations import Parameterisation, Range, make_parameterisation
from .regularisers import YOSINSKI_TABLE_1, Regulariser, yosinski_regularisers
from .runner import Callback, OptimisationResult, image_shape, midpoint, model_placement, optimise
from .transforms import Transform, standard_transforms

DEFAULT_SIZE = 128

PRESETS: dict[str, dict[str, Any]] = {
    "lucid": {"param": "fourier", "steps": 512, "lr": 0.05, "optimiser": "adam",
              "paper": "Olah, Mordvintsev & Schubert 2017"},
    "yosinski": {"param": "pixels", "steps": 200, "lr": 0.1, "optimiser": "normalised", "table_row": "c",
                 "paper": "Yosinski et al. 2015"},
}


def activation_maximisation(model: nn.Module, target: Target, *, preset: str = "lucid",
                            size: int | Sequence[int] | None = None, batch: int = 1, steps: int | None = None,
                            lr: float | None = None, value_range: Range | None = None, normalization: object = None,
                            param: str | Parameterisation | None = None, optimiser: OptimiserLike | None = None,
                            transforms: Transform | Sequence[Transform] | None = None,
                            regularisers: Sequence[Regulariser] | None = None, table_row: str | None = None,
                            seed: int = 0, callback: Callback | None = None, every: int = 10,
                            cancel: threading.Event | None = None) -> OptimisationResult:
    """The image(s) maximising ``target`` - e.g. ``Channel("block3.conv2", 5, reduce="mean")``,
    ``Neuron("block2.relu2", 3, 8, 8)``, or a composition such as ``Channel(...) - 1e-2 * L1(0.5)``.

    ``preset`` (``"lucid"`` or ``"yosinski"``) fills every setting left as None; ``table_row`` picks a row
    of Yosinski et al.'s Table 1 (``"a"``-``"d"``, :data:`~.regularisers.YOSINSKI_TABLE_1`). ``batch`` images
    start from different random parameters (one seed).

    ``size``: the image size (default 128, or the one size a model such as a ViT takes, found by probing; a
    size the model does not take is refused, with the model's own error). For a model that does not take the sizes
    around it (0.8 and 1.25 times; e.g. a ViT, whose position embedding fixes the size), the robustness transforms
    end with a resize back to it (:class:`~.input_size.FitSize`). ``normalization`` (a
    :class:`~nbsaliency.Normalization` or what :meth:`~nbsaliency.Normalization.of` reads) gives the per-channel
    value range in model space; else ``value_range`` (default ``(0, 1)``).

    Raises :class:`~nbsaliency.OptionError` for an unknown preset, parameterisation, optimiser or table row,
    steps / batch / every below 1, lr not above 0, a size that is not 1 or 2 positive integers, or a
    ``table_row`` with the lucid preset; :class:`~nbsaliency.InputError` for a size the model does not take
    (with the model's own error); :class:`~nbsaliency.InferenceModeError` inside ``torch.inference_mode()``.
    """
    method = "activation_maximisation"
    defaults = PRESETS[choice(method, "preset", preset, list(PRESETS))]
    steps = defaults["steps"] if steps is None else steps
    lr = defaults["lr"] if lr is None else lr
    loop_options(method, steps=steps, lr=lr, every=every, what="activation-maximisation images")
    integer(method, "batch", batch, minimum=1)
    if table_row is not None and preset != "yosinski":
        raise OptionError(f"{method}'s table_row picks a row of Yosinski et al.'s Table 1 and applies to "
                          f"preset='yosinski' only; got table_row={table_row!r} with preset={preset!r}")
    row = table_row or defaults.get("table_row")
    if preset == "yosinski":
        choice(method, "table_row", row, list(YOSINSKI_TABLE_1))
    objective = as_target(target)
    value_range, norm = stated_range(value_range, normalization)
    placement = model_placement(model)
    shape = image_shape(model, DEFAULT_SIZE if size is None else image_size(method, size), batch)
    found = probe_input_size(model, shape[1], shape[2:], method=method, **placement)
    if size is not None:
        refuse_size(found, method, f"pass {size_option(found.size)}")
    shape = (*shape[:2], *found.size)
    fill = midpoint(value_range)
    kind = defaults["param"] if param is None else param
    options: dict[str, Any] = {"sd": 0.05} if kind == "pixels" else {}
    param = make_parameterisation(kind, shape, value_range=value_range, seed=seed, **options, **placement)
    if transforms is None:
        transforms = standard_transforms(min(shape[2:]), fill) if preset == "lucid" else ()
    transforms = fit_transforms(transforms, found)
    if regularisers is None:
        regularisers = yosinski_regularisers(**YOSINSKI_TABLE_1[row]) if preset == "yosinski" else []
    return optimise(model, objective, param, steps=steps, lr=lr, transforms=transforms,
                    optimiser=defaults["optimiser"] if optimiser is None else optimiser,
                    regularisers=regularisers, seed=seed, callback=callback, every=every, cancel=cancel,
                    settings={"method": "activation_maximisation", "preset": preset, "paper": defaults["paper"],
                              "model_input_size": found.fixed, "normalization": repr(norm) if norm else None,
                              **({"table_row": row} if preset == "yosinski" else {})})
