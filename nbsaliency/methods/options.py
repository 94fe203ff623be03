"""Checks on method options where they enter: a wrong type, zero, negative or out-of-range value is refused
with an error that names the option and the valid range. No value is silently replaced.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import OptionError


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)


def integer(method: str, name: str, value: Any, *, minimum: int = 1, maximum: int | None = None) -> int:
    """``value`` as an int in ``minimum..maximum`` (NumPy integers accepted; bools and floats refused)."""
    valid = f"an integer from {minimum}" + (f" to {maximum}" if maximum is not None else " up")
    if not _is_int(value):
        raise OptionError(f"{method}'s {name} must be {valid}; got {value!r} ({type(value).__name__})")
    if value < minimum or (maximum is not None and value > maximum):
        raise OptionError(f"{method}'s {name} must be {valid}; got {value}")
    return int(value)


def optional_integer(method: str, name: str, value: Any, *, minimum: int = 1) -> int | None:
    """None (the default / automatic choice) or an int from ``minimum`` up."""
    return None if value is None else integer(method, name, value, minimum=minimum)


def number(method: str, name: str, value: Any, *, above: float | None = None, minimum: float | None = None) -> float:
    """``value`` as a finite float, ``> above`` and / or ``>= minimum`` when given (bools refused)."""
    bounds = [f"greater than {above:g}"] if above is not None else []
    bounds += [f"at least {minimum:g}"] if minimum is not None else []
    valid = "a finite number" + (" " + " and ".join(bounds) if bounds else "")
    if not isinstance(value, numbers.Real) or isinstance(value, bool | np.bool_):
        raise OptionError(f"{method}'s {name} must be {valid}; got {value!r} ({type(value).__name__})")
    value = float(value)
    if not math.isfinite(value) or (above is not None and value <= above) or (minimum is not None and value < minimum):
        raise OptionError(f"{method}'s {name} must be {valid}; got {value}")
    return value


def per_axis(method: str, name: str, value: Any, sizes: tuple[int, int], *,
             bound: str = "the image size") -> tuple[int, int]:
    """An int (both axes) or a ``(height, width)`` pair, each from 1 to ``sizes`` along that axis."""
    pair = tuple(value) if isinstance(value, Sequence) and not isinstance(value, str) else (value, value)
    valid = (f"an integer or a (height, width) pair of integers, each from 1 to {bound} "
             f"{sizes[0]} x {sizes[1]}")
    if len(pair) != 2 or not all(_is_int(v) for v in pair):
        raise OptionError(f"{method}'s {name} must be {valid}; got {value!r}")
    for v, size, axis in zip(pair, sizes, ("height", "width"), strict=True):
        if not 1 <= v <= size:
            hint = (f" ({bound} is {size} px in {axis}: give a pair such as "
                    f"({min(pair[0], sizes[0])}, {min(pair[1], sizes[1])}))") if v > size else ""
            raise OptionError(f"{method}'s {name} must be {valid}; got {value!r}{hint}")
    return int(pair[0]), int(pair[1])


def choice(method: str, name: str, value: Any, choices: Sequence[str]) -> str:
    """One of ``choices`` (strings)."""
    if not isinstance(value, str) or value not in choices:
        raise OptionError(f"{method}'s {name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def event(method: str, name: str, value: Any) -> Any:
    """None or an object with ``is_set()`` (a ``threading.Event``)."""
    if value is not None and not callable(getattr(value, "is_set", None)):
        raise OptionError(f"{method}'s {name} must be a threading.Event (or None); got {type(value).__name__}")
    return value


def callback(method: str, name: str, value: Any) -> Any:
    """None or a callable."""
    if value is not None and not callable(value):
        raise OptionError(f"{method}'s {name} must be a callable progress(done, total) (or None); got "
                          f"{type(value).__name__}")
    return value
