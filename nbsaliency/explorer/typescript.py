"""``js/src/protocol.ts`` generated from :mod:`nbsaliency.explorer.protocol`, so message shapes are written once.

``python -m nbsaliency.explorer.typescript`` rewrites the file; ``tests/test_protocol.py`` fails when the file
differs from what this module generates (a field renamed on one side only). Python types map to TypeScript as
``int``/``float`` -> ``number``, ``str`` -> ``string``, ``bool`` -> ``boolean``, ``None`` -> ``null``,
``list[X]`` -> ``X[]``, ``Literal`` -> its named alias or a union of string literals, a ``TypedDict`` -> an
interface of the same name (``total=False`` fields optional). Each ``Literal`` alias whose values a tuple
constant lists gets an ``is<Alias>`` guard, each message (a ``TypedDict`` with one ``kind``) an ``is<Message>``.
"""

from __future__ import annotations

import inspect
import json
import sys
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints, is_typeddict

from . import protocol

TARGET = Path(__file__).resolve().parents[2] / "js" / "src" / "protocol.ts"

HEADER = """\
/**
 * GENERATED from nbsaliency/explorer/protocol.py by `python -m nbsaliency.explorer.typescript`; do not edit.
 * The Python <-> JavaScript protocol of the Explorer widget (tests/test_protocol.py checks this file is current).
 */
"""


def _jsdoc(text: str | None, indent: str = "") -> list[str]:
    if not text:
        return []
    body = inspect.cleandoc(text).replace("``", "`").splitlines()
    return [f"{indent}/**", *[f"{indent} * {line}".rstrip() for line in body], f"{indent} */"]


class _Names:
    def __init__(self, module: types.ModuleType):
        items = [(n, v) for n, v in vars(module).items() if not n.startswith("_")]
        self.aliases = {n: v for n, v in items if get_origin(v) is Literal}
        self.constants = {n: v for n, v in items if n.isupper() and isinstance(v, str | int | tuple)}
        self.interfaces = {n: v for n, v in items if is_typeddict(v)}
        self.order = items

    def literal(self, tp: Any) -> str:
        for name, alias in self.aliases.items():
            if get_args(alias) == get_args(tp):
                return name
        values = get_args(tp)
        if len(values) == 1:
            for name, value in self.constants.items():
                if name.startswith("MSG_") and value == values[0]:
                    return f"typeof {name}"
        return " | ".join(json.dumps(v) for v in values)

    def ts(self, tp: Any) -> str:
        origin = get_origin(tp)
        if tp is bool:
            return "boolean"
        if tp in (int, float):
            return "number"
        if tp is str:
            return "string"
        if tp is type(None):
            return "null"
        if origin is Literal:
            return self.literal(tp)
        if origin is list:
            inner = self.ts(get_args(tp)[0])
            return f"({inner})[]" if " " in inner else f"{inner}[]"
        if origin in (Union, types.UnionType):
            return " | ".join(self.ts(a) for a in get_args(tp))
        if is_typeddict(tp):
            return tp.__name__
        raise TypeError(f"no TypeScript type for {tp!r}")


def typescript(module: types.ModuleType = protocol) -> str:
    """The TypeScript mirror of ``module``: constants, ``Literal`` aliases, interfaces and type guards."""
    names = _Names(module)
    out = [HEADER]
    for name, value in names.order:
        if name in names.aliases:
            out.append(f"export type {name} = {' | '.join(json.dumps(v) for v in get_args(value))};\n")
        elif name in names.constants:
            if isinstance(value, tuple):
                out.append(f"export const {name} = {json.dumps(list(value))} as const;\n")
            else:
                out.append(f"export const {name} = {json.dumps(value)};\n")
        elif name in names.interfaces:
            hints = get_type_hints(value)
            optional = getattr(value, "__optional_keys__", frozenset())
            lines = [*_jsdoc(value.__doc__), f"export interface {name} {{"]
            lines += [f"  {field}{'?' if field in optional else ''}: {names.ts(tp)};" for field, tp in hints.items()]
            out.append("\n".join([*lines, "}"]) + "\n")
    for name, alias in names.aliases.items():
        const = next((c for c, v in names.constants.items() if isinstance(v, tuple) and v == get_args(alias)), None)
        if const is not None:
            out.append(f"export function is{name}(value: unknown): value is {name} {{\n"
                       f"  return ({const} as readonly unknown[]).includes(value);\n}}\n")
    for name, cls in names.interfaces.items():
        kind = get_type_hints(cls).get("kind")
        if get_origin(kind) is Literal and len(get_args(kind)) == 1:
            const = names.literal(kind).removeprefix("typeof ")
            out.append(f"export function is{name}(msg: unknown): msg is {name} {{\n"
                       f"  return typeof msg === \"object\" && msg !== null && (msg as {{ kind?: unknown }}).kind === "
                       f"{const};\n}}\n")
    return "\n".join(out)


def main() -> None:
    TARGET.write_text(typescript())
    print(f"wrote {TARGET}", file=sys.stderr)


if __name__ == "__main__":
    main()
