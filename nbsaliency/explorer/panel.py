"""What a panel of the Explorer is: the message kinds it answers, the traits it owns, and ``close()``.

The widget keeps no list of message kinds: it builds a table ``kind -> panel`` from the panels' ``kinds`` and
answers a message by one lookup there (the idea of anywidget's ``@command`` table and lonboard's per-feature
message kinds). Panels are plain Python (no widget imports): they reach the widget through :class:`Host`.
Adding a panel is a module with a :class:`Panel` subclass listed in :data:`nbsaliency.explorer.panels.PANELS`,
its section of :mod:`nbsaliency.explorer.protocol`, and the view's ``js/src/panels/<name>/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

from .backend import ExplorerBackend, Selection


class Host(Protocol):
    """What a panel may ask of the widget that holds it (implemented by :class:`nbsaliency.Explorer`)."""

    @property
    def backend(self) -> ExplorerBackend: ...

    @property
    def selection(self) -> Selection: ...

    def send(self, content: Mapping[str, Any], buffers: list[bytes]) -> None:
        """Send a message of the protocol to the view (any thread)."""

    def set_traits(self, values: Mapping[str, Any]) -> None:
        """Set synced traits, in the given order (any thread)."""

    def select(self, selection: Selection, request_id: int | None = None) -> bool:
        """Compute ``selection``, make it the widget's, and send the result (answering ``request_id``); False
        (and an error result sent) when it cannot be computed."""

    def cancel(self, request_id: int | None) -> None:
        """Stop the background computation answering ``request_id`` (any when None)."""

    def show_error(self, request_id: int | None, error: BaseException) -> None:
        """Answer ``request_id`` with an error result; the selection stays as it was."""


class Panel:
    """One part of the Explorer. ``name`` pairs the module with ``js/src/panels/<name>/``; ``kinds``: the
    message kinds it answers; ``traits``: synced traits it owns (Python -> JS), name -> default value (the
    trait's type follows the default's: str, int, float, bool or list); ``options``: the keyword arguments of
    ``Explorer(...)`` it takes."""

    name: ClassVar[str] = ""
    kinds: ClassVar[tuple[str, ...]] = ()
    traits: ClassVar[Mapping[str, Any]] = {}
    options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, host: Host, **options: Any):
        self.host = host

    def handle(self, content: dict[str, Any]) -> None:
        """Answer a message whose ``kind`` is one of :attr:`kinds`."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop background work (the widget is closing or the interpreter is exiting); idempotent."""


def message_table(panels: list[Panel]) -> dict[str, Panel]:
    """``kind -> panel``; two panels claiming one kind is a programming error, reported here."""
    table: dict[str, Panel] = {}
    for panel in panels:
        for kind in panel.kinds:
            if kind in table:
                raise ValueError(f"message kind {kind!r} is claimed by panels {table[kind].name!r} and {panel.name!r}")
            table[kind] = panel
    return table
