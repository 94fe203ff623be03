"""Small pieces the panels that answer requests share: the answers' increasing ``seq`` and the request id."""

from __future__ import annotations

import threading
from typing import Any


class Counter:
    """Thread-safe increasing numbers (1, 2, ...): the ``seq`` of a panel's answers."""

    def __init__(self) -> None:
        self._value = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._value += 1
            return self._value


def request_id(content: dict[str, Any]) -> int | None:
    """The request's ``id`` when it is a whole number, else None (a malformed request is still answered)."""
    value = content.get("id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None
