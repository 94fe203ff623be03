import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import * as protocol from "../../js/src/protocol";

const here = dirname(fileURLToPath(import.meta.url));
const python = readFileSync(resolve(here, "../../nbsaliency/explorer/protocol.py"), "utf8");

/** Module-level constants of protocol.py: NAME = "str" | int | ("a", "b", ...). */
function pythonConstants(src: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const m of src.matchAll(/^([A-Z][A-Z0-9_]*)\s*=\s*(.+)$/gm)) {
    const [, name, raw] = m;
    const value = raw.trim();
    if (/^-?\d+$/.test(value)) out[name] = Number(value);
    else if (/^"[^"]*"$/.test(value)) out[name] = value.slice(1, -1);
    else if (value.startsWith("(")) out[name] = [...value.matchAll(/"([^"]*)"/g)].map((s) => s[1]);
  }
  return out;
}

describe("protocol.ts mirrors protocol.py", () => {
  const py = pythonConstants(python);

  it("finds the Python constants", () => {
    expect(Object.keys(py)).toEqual(
      expect.arrayContaining(["MSG_SELECT", "MSG_RESULT", "BUFFER_IMAGE", "TARGET_KINDS", "DISPLAY_TRAITS"]),
    );
    // optimisation panel
    expect(Object.keys(py)).toEqual(
      expect.arrayContaining(["MSG_OPTIMISE", "MSG_OPTIMISE_CANCEL", "MSG_OPTIMISE_FRAME", "MSG_OPTIMISE_DONE",
        "OPTIMISE_VISUALISATIONS", "OPTIMISE_MAX_STEPS"]),
    );
    // top-activating patches
    expect(Object.keys(py)).toEqual(
      expect.arrayContaining(["MSG_PATCHES", "MSG_PATCHES_RESULT", "MSG_PATCH_OPEN", "MSG_INDEX_CANCEL",
        "MSG_INDEX_BUILD", "INDEX_STATUSES", "PATCH_BUFFERS"]),
    );
  });

  it("has every Python constant with the same value", () => {
    for (const [name, value] of Object.entries(py)) {
      expect((protocol as Record<string, unknown>)[name], name).toEqual(value);
    }
  });
});
