"""Class models (Simonyan, Vedaldi & Zisserman 2014, "Deep Inside Convolutional Networks", section 2).

The image that maximises the *unnormalised* class score ``S_c(I) - lambda ||I||^2``, found by gradient
ascent from the zero image. The score, not the softmax probability: raising a probability can be done by
lowering the other classes, which says little about class ``c`` itself.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import torch
from torch import nn

from ..methods.options import number
from ..normalization import stated_range
from ..targets import Logit
from .checks import image_size, loop_options
from .input_size import fit_transforms, probe_input_size, refuse_size, size_option
from .objectives import L2
from .optimisers import OptimiserLike
from .parameterisations import Parameterisation, Range, make_parameterisation
from .regularisers import Regulariser
from .runner import Callback, OptimisationResult, image_shape, midpoint, model_placement, optimise
from .transforms import Transform

DEFAULT_SIZE = 224


def class_model(model: nn.Module, c: int | Sequence[int], *, size: int | Sequence[int] | None = None,
                steps: int = 200, lr: float = 0.05, l2: float = 0.1, value_range: Range | None = None,
                normalization: object = None,
                param: str | Parameterisation = "pixels", optimiser: OptimiserLike = "adam",
                transforms: Transform | Sequence[Transform] = (), regularisers: Sequence[Regulariser] = (),
                seed: int = 0, callback: Callback | None = None, every: int = 10,
                cancel: threading.Event | None = None) -> OptimisationResult:
    """Simonyan et al. (2014)'s class model of class ``c`` (or one image per class for a list of classes).

    Maximises ``Logit(c) - l2 * L2(center)``, where ``center`` is the neutral image (the midpoint of
    ``value_range``, per channel for a normalised model: pixel grey; the zero image of centred inputs),
    starting from that neutral image. The paper takes
    plain gradient steps on raw pixels; the default here is Adam on clipped pixels, which needs no tuning of
    the step to the score's scale (``optimiser="sgd"`` with a suitable ``lr`` follows the paper).

    ``size`` defaults to 224, or to the one size the model takes (probed); ``normalization`` /
    ``value_range`` as in :func:`~.activation_max.activation_maximisation`.

    Raises :class:`~nbsaliency.OptionError` for steps or every below 1, lr not above 0, a negative l2 or a size
    that is not 1 or 2 positive integers; :class:`~nbsaliency.InputError` for a size the model does not take
    (with the model's own error); :class:`~nbsaliency.InferenceModeError` inside ``torch.inference_mode()``.
    """
    loop_options("class_model", steps=steps, lr=lr, every=every, what="class models")
    number("class_model", "l2", l2, minimum=0)
    classes = [int(c)] if isinstance(c, int) else [int(k) for k in c]
    value_range, norm = stated_range(value_range, normalization)
    placement = model_placement(model)
    shape = image_shape(model, DEFAULT_SIZE if size is None else image_size("class_model", size), len(classes))
    found = probe_input_size(model, shape[1], shape[2:], method="class_model", **placement)
    if size is not None:
        refuse_size(found, "class_model", f"pass {size_option(found.size)}")
    shape = (*shape[:2], *found.size)
    param = make_parameterisation(param, shape, value_range=value_range, seed=seed, **placement)
    target = Logit(torch.tensor(classes, device=placement["device"]) if len(classes) > 1 else classes[0])
    objective = target - l2 * L2(center=midpoint(value_range)) if l2 else target
    return optimise(model, objective, param, steps=steps, lr=lr, optimiser=optimiser,
                    transforms=fit_transforms(transforms, found),
                    regularisers=regularisers, seed=seed, callback=callback, every=every, cancel=cancel,
                    settings={"method": "class_model", "paper": "Simonyan, Vedaldi & Zisserman 2014",
                              "classes": classes, "l2": l2, "model_input_size": found.fixed,
                              "normalization": repr(norm) if norm else None})
