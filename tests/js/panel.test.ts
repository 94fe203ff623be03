import { describe, expect, it } from "vitest";
import { type ViewPanel, messageTable } from "../../js/src/panels/panel";

function panel(kinds: string[]): ViewPanel {
  return { element: {} as HTMLElement, kinds, traits: [], handle() {} };
}

describe("the view's panels register their message kinds", () => {
  it("makes one table of kind -> panel", () => {
    const a = panel(["x", "y"]);
    const b = panel(["z"]);
    const table = messageTable([a, b]);
    expect(table.get("x")).toBe(a);
    expect(table.get("z")).toBe(b);
    expect(table.get("w")).toBeUndefined();
  });

  it("refuses two panels claiming one kind", () => {
    expect(() => messageTable([panel(["x"]), panel(["x"])])).toThrow("message kind x is claimed by two panels");
  });
});
