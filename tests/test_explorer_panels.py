"""Panels register themselves: the widget answers a message by looking its kind up in the table the panels make,
so a new panel is reached without an edit to the widget; two panels claiming one kind is refused."""

from __future__ import annotations

from typing import Any

import pytest

from nbsaliency.explorer import panels, widget
from nbsaliency.explorer.panel import Panel, message_table
from tests.models import make_input, make_model


class Echo(Panel):
    name = "echo"
    kinds = ("echo",)
    closed = 0

    def __init__(self, host: Any, **options: Any):
        super().__init__(host)
        self.seen: list[dict] = []

    def handle(self, content: dict[str, Any]) -> None:
        self.seen.append(content)
        self.host.send({"kind": "echoed", "layer": self.host.selection.layer}, [])

    def close(self) -> None:
        Echo.closed += 1


def test_a_new_panel_gets_its_messages_without_an_edit_to_the_widget(monkeypatch):
    monkeypatch.setattr(widget, "PANELS", (*panels.PANELS, Echo))
    explorer = widget.Explorer(make_model("vgg"), make_input(2))
    sent = []
    explorer.send = lambda content, buffers=None: sent.append(content)
    explorer._on_message(explorer, {"kind": "echo", "n": 1}, [])
    assert explorer._panels["echo"].seen == [{"kind": "echo", "n": 1}]
    assert sent == [{"kind": "echoed", "layer": explorer.layer}]
    explorer._on_message(explorer, {"kind": "unknown"}, [])  # no panel: ignored
    assert len(sent) == 1
    explorer.close()
    assert Echo.closed == 1


def test_every_registered_kind_has_one_panel():
    class Twin(Echo):
        name = "twin"

    with pytest.raises(ValueError, match="'echo' is claimed by panels 'echo' and 'twin'"):
        message_table([Echo(None), Twin(None)])
    table = message_table([cls.__new__(cls) for cls in panels.PANELS])
    assert set(table) == {"select", "attribution_cancel", "attribution_refine", "optimize", "optimize_cancel",
                          "patches", "patch_open", "index_cancel", "index_build", "lesion", "kernels", "tsne",
                          "tsne_cancel", "tsne_open"}
