"""Exceptions with messages that say what was wrong and what would be right.

Each subclasses the built-in exception a PyTorch user would expect (``ValueError`` for bad values,
``IndexError`` for out-of-range indices, ...), so ``except ValueError`` keeps working.
"""

from __future__ import annotations

import difflib
import traceback
from collections.abc import Iterable


class NbsaliencyError(Exception):
    """Base class of every error nbsaliency raises on purpose."""


class InputError(NbsaliencyError, ValueError):
    """The input tensor has the wrong rank, channels, dtype or device, is empty, or holds NaN / Inf."""


class UnknownLayerError(NbsaliencyError, ValueError):
    """A layer name that the model does not have (or that did not run in the forward pass)."""

    def __init__(self, name: str, known: Iterable[str], *, exists_but_unused: bool = False):
        known = list(known)
        self.name = name
        self.close_matches = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
        if exists_but_unused:
            message = (
                f"layer {name!r} exists in the model but did not run in the forward pass, "
                "so it has no activation for this input"
            )
        else:
            message = f"unknown layer {name!r}"
        if self.close_matches:
            message += "; close matches: " + ", ".join(repr(m) for m in self.close_matches)
        elif known:
            preview = ", ".join(repr(m) for m in known[:8])
            message += f"; the layers that ran are: {preview}" + (", ..." if len(known) > 8 else "")
        super().__init__(message + " (Session.layers lists them all)")


class TargetError(NbsaliencyError, ValueError):
    """A target that does not fit the layer or the model's output (wrong number of indices, bad reduce...)."""


class TargetIndexError(NbsaliencyError, IndexError):
    """A class, channel or neuron index outside the valid range."""


class NoGradientPathError(NbsaliencyError, RuntimeError):
    """The target does not depend on the input (or on the layer a method needs), so it has no gradient."""


class UnknownMethodError(NbsaliencyError, ValueError):
    """A method name that is not in the registry."""

    def __init__(self, name: str, known: Iterable[str]):
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        super().__init__(f"unknown method {name!r}.{hint} Available methods: {', '.join(known)}")


class UnsupportedActivationError(NbsaliencyError, RuntimeError):
    """Raised in strict mode when an activation has no exact DeconvNet / guided rule."""


class OptionError(NbsaliencyError, ValueError, TypeError):
    """A method option of the wrong type or outside its valid range (the message names both); caught by
    ``except ValueError`` and ``except TypeError`` alike."""


class InferenceModeError(NbsaliencyError, RuntimeError):
    """Called inside ``torch.inference_mode()``, where nothing can be differentiated."""


class Cancelled(NbsaliencyError, RuntimeError):
    """A long computation stopped because its ``cancel`` event was set; the model is left as it was."""


class ModelError(NbsaliencyError, RuntimeError):
    """The user's model raised during the forward pass, or returned something that is not class scores."""


class ZeroAttributionWarning(UserWarning):
    """An attribution map is exactly zero everywhere: the target does not change with the input under this method
    (a zero-initialised classifier head, a unit that never fires, Grad-CAM whose ReLU removed only negative
    evidence...). A blank picture then does not mean that nothing matters."""


EXPECTED_ERRORS = (NbsaliencyError, ValueError, IndexError, TypeError)  # bad input, said in plain words


def plain_words(error: BaseException) -> str:
    """The message a person reads: ours and the usual value errors as they are, anything else with its type."""
    if isinstance(error, EXPECTED_ERRORS):
        return str(error)
    return f"{type(error).__name__}: {error}"


def report_unexpected(error: BaseException) -> None:
    """Print the traceback of an error that is not bad input (a bug, or the user's model failing) to stderr,
    for the kernel's log; the widget shows :func:`plain_words` of it either way."""
    if not isinstance(error, EXPECTED_ERRORS):
        traceback.print_exception(error)
