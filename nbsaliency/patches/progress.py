"""Progress reporting for long passes over a dataset: a callback ``(done, total)`` or a text bar.

``progress="auto"`` (the default) shows a bar on stderr when stderr is a terminal (a script run from a
shell), tqdm's when tqdm is importable (it is not a dependency), else a plain one; ``True`` always shows it;
``False`` / ``None`` stay quiet; a callable is called after every batch with images done and the total
(None when unknown). Notebooks pass their own callback (the widget reports to the view).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

Progress = Callable[[int, int | None], None]
ProgressLike = Progress | bool | str | None


class TextProgress:
    """``indexing [########------------] 800/2000 images`` redrawn in place, at most every 0.1 s."""

    def __init__(self, label: str = "indexing", stream: TextIO | None = None, width: int = 30):
        self.label, self.stream, self.width = label, stream or sys.stderr, width
        self._last = 0.0

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        finished = total is not None and done >= total
        if not finished and now - self._last < 0.1:
            return
        self._last = now
        if total:
            filled = int(self.width * done / total)
            bar = "#" * filled + "-" * (self.width - filled)
            self.stream.write(f"\r{self.label} [{bar}] {done}/{total} images")
        else:
            self.stream.write(f"\r{self.label} {done} images")
        if finished:
            self.stream.write("\n")
        self.stream.flush()


class _Tqdm:
    def __init__(self, label: str):
        self.label = label
        self.bar: Any = None

    def __call__(self, done: int, total: int | None) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, desc=self.label, unit="img")
        self.bar.update(done - self.bar.n)
        if total is not None and done >= total:
            self.bar.close()


def text_bar(label: str = "indexing") -> Progress:
    """tqdm's bar when tqdm is importable, else :class:`TextProgress`."""
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return TextProgress(label)
    return _Tqdm(label)


def resolve(progress: ProgressLike, label: str = "indexing") -> Progress | None:
    """The callback that ``progress`` asks for (see the module docstring)."""
    if callable(progress):
        return progress
    if progress is None or progress is False:
        return None
    if progress is True:
        return text_bar(label)
    if progress == "auto":
        return text_bar(label) if getattr(sys.stderr, "isatty", lambda: False)() else None
    raise ValueError(f'progress must be a callable (done, total), True, False, None or "auto"; got {progress!r}')
