"""DeepDream (Mordvintsev, Olah & Tyka 2015, "Inceptionism: Going Deeper into Neural Networks").

Start from a photo and climb the squared norm of one layer's activation: whatever the layer faintly sees,
it is made to see more. Their recipe: normalised gradient steps (``lr / mean |g|``), a random circular
jitter before each step, and *octaves* - the image is processed from a coarse scale up, and the detail added
at one scale is carried to the next, so patterns grow at several sizes.
"""

from __future__ import annotations

import threading
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..methods.options import integer, number, optional_integer
from ..normalization import check_in_range, stated_range
from ..targets import LayerEnergy, Target
from ..validation import as_image_batch
from .checks import loop_options
from .input_size import ResizedInputWarning, failure_text, probe_input_size
from .parameterisations import PixelImage, Range
from .runner import Callback, OptimisationResult, optimise
from .transforms import Roll


def octave_sizes(h: int, w: int, octaves: int, scale: float, smallest: int = 16) -> list[tuple[int, int]]:
    """Image sizes from coarsest to finest; octaves smaller than ``smallest`` pixels are skipped."""
    sizes = [(round(h / scale**k), round(w / scale**k)) for k in range(octaves)]
    kept = [s for s in sizes if min(s) >= smallest] or [(h, w)]
    return kept[::-1]


def _resize(image: Tensor, size: tuple[int, int]) -> Tensor:
    if tuple(image.shape[-2:]) == size:
        return image
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False)


def deepdream(model: nn.Module, image: Tensor, layer: str | Target, *, steps: int = 10, octaves: int = 4,
              octave_scale: float = 1.4, lr: float = 0.02, jitter: int | None = None,
              value_range: Range | None = None, normalization: object = None, seed: int = 0,
              callback: Callback | None = None, every: int = 5,
              cancel: threading.Event | None = None) -> OptimisationResult:
    """Dream ``layer`` (its activation's squared L2 norm; or any target) into ``image`` ``(N, C, H, W)`` or
    ``(C, H, W)``: ``steps`` normalised steps of size ``lr`` (in units of half the range) at each of
    ``octaves`` scales, each ``octave_scale`` times smaller than the next. ``jitter`` (pixels, 0 for none)
    defaults to 1/7 of the image size (32 pixels at 224, as in the original).

    The history concatenates all octaves; callback images are resized to the input's size.

    ``normalization`` (or ``value_range``, default ``(0, 1)``) states the image's range, which the dream keeps
    to; a starting image clearly outside it is refused (a few stray values are clipped, with a warning). For a
    model that does not take every octave's size (a ViT takes 224 pixels only), every octave's image is resized
    to the image's size - or, when it does not take that either, to the size it takes (with a
    :class:`~.input_size.ResizedInputWarning`) - before the forward pass; ``settings["model_input_size"]``
    records it.

    Raises :class:`~nbsaliency.OptionError` for steps, octaves or every below 1, lr not above 0, octave_scale
    below 1 or a negative jitter; :class:`~nbsaliency.InferenceModeError` inside ``torch.inference_mode()``.
    """
    loop_options("deepdream", steps=steps, lr=lr, every=every, what="DeepDream images")
    integer("deepdream", "octaves", octaves, minimum=1)
    number("deepdream", "octave_scale", octave_scale, minimum=1)
    optional_integer("deepdream", "jitter", jitter, minimum=0)
    batch, _ = as_image_batch(model, image)
    value_range, norm = stated_range(value_range, normalization)
    check_in_range(batch, value_range, "deepdream's starting image")
    objective = LayerEnergy(layer) if isinstance(layer, str) else layer
    h, w = batch.shape[-2:]
    sizes = octave_sizes(h, w, octaves, octave_scale)
    found = probe_input_size(model, batch.shape[1], (h, w), method="deepdream", device=batch.device,
                             dtype=batch.dtype, others=sizes)
    fit = found.transform()
    if not found.takes_wanted:
        warnings.warn(f"the model does not take {h}x{w} images ({failure_text(found)}); deepdream resizes every "
                      f"octave's image to {found.size[0]}x{found.size[1]} before the forward pass",
                      ResizedInputWarning, stacklevel=2)
    shift = max(1, round(min(h, w) / 7)) if jitter is None else int(jitter)
    bases = [_resize(batch.detach(), size) for size in sizes]
    detail = torch.zeros_like(bases[0])
    histories, cancelled, current = [], False, bases[0]
    offset = 0

    def streamed(step: int, img: Tensor, values: Tensor) -> None:
        if callback is not None:
            callback(step, _resize(img, (h, w)), values)

    for k, base in enumerate(bases):
        detail = _resize(detail, tuple(base.shape[-2:]))
        param = PixelImage(tuple(base.shape), value_range=value_range, init=base + detail, squash="clip",
                           device=base.device, dtype=base.dtype)
        roll = Roll(max(1, round(shift * base.shape[-1] / w)) if shift else 0)
        run = optimise(model, objective, param, steps=steps, lr=lr, optimiser="normalised",
                       transforms=[roll, *([fit] if fit else [])],
                       seed=seed + k,
                       callback=streamed if callback is not None else None, every=every, cancel=cancel,
                       step_offset=offset)
        histories.append(run.history)
        offset += run.steps
        current = run.image
        detail = current - base
        if run.cancelled:
            cancelled = True
            break
    result_image = _resize(current, (h, w))
    settings = {"method": "deepdream", "paper": "Mordvintsev, Olah & Tyka 2015", "objective": repr(objective),
                "steps_per_octave": steps, "octaves": [list(s) for s in sizes], "octave_scale": octave_scale,
                "lr": lr, "jitter": shift, "seed": seed, "value_range": value_range, "optimiser": "normalised",
                "model_input_size": found.fixed, "normalization": repr(norm) if norm else None}
    history = torch.cat(histories) if histories else torch.zeros(0, batch.shape[0])
    return OptimisationResult(result_image, history, settings, cancelled)
