"""Checks on the optimisation methods' options where they enter (the methods' shared ones: steps, lr, every,
image size, the inference-mode refusal); the option checks of :mod:`nbsaliency.methods.options` give the
messages, which name the option and its valid range. Nothing is silently replaced.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import OptionError
from ..grad_mode import check_not_inference_mode
from ..methods.options import _is_int, integer, number


def image_size(method: str, value: Any) -> tuple[int, int]:
    """``size``: a positive int (square) or a sequence of 1 or 2 positive ints, as ``(height, width)``."""
    valid = "a positive integer or a (height, width) pair of positive integers"
    sizes = tuple(value) if isinstance(value, Sequence) and not isinstance(value, str) else (value,)
    if not 1 <= len(sizes) <= 2 or not all(_is_int(s) for s in sizes):
        raise OptionError(f"{method}'s size must be {valid}; got {value!r}")
    if any(s < 1 for s in sizes):
        raise OptionError(f"{method}'s size must be {valid} (pixels); got {value!r}")
    return (int(sizes[0]), int(sizes[-1]))


def loop_options(method: str, *, steps: Any, lr: Any, every: Any, what: str, min_steps: int = 1) -> None:
    """The options every method passes to the loop (``steps``, ``lr``, ``every``); refuses
    ``torch.inference_mode()`` (``what`` names the method's images in the message)."""
    check_not_inference_mode(what)
    integer(method, "steps", steps, minimum=min_steps)
    number(method, "lr", lr, above=0)
    integer(method, "every", every, minimum=1)
