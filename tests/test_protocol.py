"""The protocol is written once: js/src/protocol.ts is what nbsaliency/explorer/typescript.py generates from the
TypedDicts of nbsaliency/explorer/protocol.py, and every message the kernel sends has exactly their fields."""

from __future__ import annotations

import typing

import pytest

from nbsaliency.explorer import protocol, typescript


def test_protocol_ts_is_generated_from_protocol_py():
    assert typescript.TARGET.read_text() == typescript.typescript(), (
        "js/src/protocol.ts differs from nbsaliency/explorer/protocol.py: "
        "run `python -m nbsaliency.explorer.typescript`")


def test_a_field_renamed_on_the_python_side_only_is_caught(monkeypatch):
    class PatchOpenMessage(typing.TypedDict):
        kind: typing.Literal["patch_open"]
        layer_name: str  # renamed from "layer"
        channel: int
        rank: int

    monkeypatch.setattr(protocol, "PatchOpenMessage", PatchOpenMessage)
    generated = typescript.typescript()
    assert "  layer_name: string;" in generated and generated != typescript.TARGET.read_text()


def test_a_field_renamed_on_the_typescript_side_only_is_caught():
    current = typescript.TARGET.read_text()
    edited = current.replace("  rank: number;\n}", "  position: number;\n}", 1)
    assert edited != current and edited != typescript.typescript()


@pytest.mark.parametrize(("tp", "expected"), [
    (list[int], "number[]"), (int | None, "number | null"), (list[protocol.PatchInfo], "PatchInfo[]"),
    (protocol.TargetKind, "TargetKind"), (typing.Literal["select"], "typeof MSG_SELECT"), (bool, "boolean"),
])
def test_python_types_map_to_typescript(tp, expected):
    assert typescript._Names(protocol).ts(tp) == expected


def test_constants_are_derived_from_the_literal_types():
    assert protocol.TARGET_KINDS == ("logit", "probability", "channel", "neuron", "layer")
    assert protocol.SELECTION_TRAITS == ("image_index", "layer", "channel", "position", "method", "target",
                                         "target_class")
    assert protocol.DISPLAY_TRAITS == ("colormap", "opacity", "signed", "clip_percentile")

