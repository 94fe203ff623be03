/**
 * The Layer control: an ARIA combobox (a text field with a listbox popup) for models with hundreds of
 * layers. The list is grouped by parent module, shows each layer's module type and shape, lists the primary
 * layers (convolutions, block outputs, the last layer) unless "All layers" is on, and filters as the user
 * types (a search reaches every layer). Arrows, Page Up / Down, Home / End move; Enter picks; Escape closes
 * and restores. When closed, the field shows the selected layer's name. Grouping, search and ranking are the
 * pure functions of lib/layers.ts.
 */
import { h, uid } from "../../lib/dom";
import { bestIndex, groupLayers, moveActive, labelIn, shapeText, visibleLayers } from "../../lib/layers";
import type { LayerInfo } from "../../protocol";

const MOVES = new Set(["ArrowDown", "ArrowUp", "PageDown", "PageUp", "Home", "End"]);

export class LayerPicker {
  /** The text field (role combobox): what a `<label>` names "Layer". */
  readonly input = h("input", {
    type: "text",
    role: "combobox",
    autocomplete: "off",
    spellcheck: "false",
    "aria-autocomplete": "list",
    "aria-expanded": "false",
    class: "nbs-layer-input",
  });
  /** "All layers": list every layer, not only the primary ones. */
  readonly showAll = h("input", { type: "checkbox" });
  readonly element: HTMLElement;
  private readonly listbox = h("div", { role: "listbox", class: "nbs-layer-list", "aria-label": "Layers" });
  private readonly count = h("div", { class: "nbs-layer-count", "aria-live": "polite" });
  private readonly popup: HTMLElement;
  private layers: LayerInfo[] = [];
  private selected = "";
  private listed: LayerInfo[] = [];
  private options: HTMLElement[] = [];
  private active = -1;
  private readonly onPick: (layer: LayerInfo) => void;

  constructor(onPick: (layer: LayerInfo) => void) {
    this.onPick = onPick;
    this.listbox.id = uid("layers");
    this.input.setAttribute("aria-controls", this.listbox.id);
    this.popup = h("div", { class: "nbs-layer-popup" }, this.listbox, this.count);
    this.popup.hidden = true;
    this.element = h("div", { class: "nbs-layer-picker" }, this.input, this.popup);
    this.listen();
  }

  get isOpen(): boolean {
    return !this.popup.hidden;
  }

  /** Shows the catalogue and the selected layer (the field's text is kept while the user is searching). */
  show(layers: LayerInfo[], selected: string): void {
    const changed = layers !== this.layers;
    this.layers = layers;
    this.selected = selected;
    if (this.isOpen) {
      if (changed) this.render(this.query());
    } else this.input.value = selected;
  }

  private query(): string {
    return this.input.value === this.selected ? "" : this.input.value;
  }

  open(query: string): void {
    this.popup.hidden = false;
    this.input.setAttribute("aria-expanded", "true");
    this.render(query);
  }

  close(restore: boolean): void {
    this.popup.hidden = true;
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
    if (restore) this.input.value = this.selected;
  }

  private pick(layer: LayerInfo): void {
    this.selected = layer.name;
    this.close(true);
    this.onPick(layer);
  }

  private render(query: string): void {
    const grouped = groupLayers(visibleLayers(this.layers, query, this.showAll.checked, this.selected));
    this.listed = grouped.flatMap((g) => g.layers); // the order arrows move in: the order shown
    this.options = [];
    const groups = grouped.map((group) => {
      const items = group.layers.map((layer) => {
        const option = h(
          "div",
          {
            role: "option",
            id: uid("layer"),
            class: "nbs-layer-option",
            "aria-selected": String(layer.name === this.selected),
            "aria-label": `${layer.name}, ${layer.type}, ${shapeText(layer)}`,
            title: layer.name,
          },
          h("span", { class: "nbs-layer-name" }, labelIn(group.path, layer.name)),
          h("span", { class: "nbs-layer-meta" }, `${layer.type} · ${shapeText(layer)}`),
        );
        if (layer.primary) option.classList.add("nbs-layer-primary");
        option.addEventListener("mousedown", (e) => e.preventDefault()); // keep focus in the field
        option.addEventListener("click", () => this.pick(layer));
        this.options.push(option);
        return option;
      });
      const label = group.path === "" ? "model" : group.path;
      return h(
        "div",
        { role: "group", "aria-label": label, class: "nbs-layer-group", style: `--nbs-depth: ${group.depth}` },
        h("div", { class: "nbs-layer-group-label", "aria-hidden": "true" }, label),
        ...items,
      );
    });
    this.listbox.replaceChildren(...groups);
    const hidden = this.layers.length - this.listed.length;
    this.count.textContent =
      this.listed.length === 0
        ? `No layer matches “${query.trim()}”.`
        : `${this.listed.length} of ${this.layers.length} layers${hidden > 0 && query.trim() === "" ? " (type to search all)" : ""}`;
    this.setActive(bestIndex(this.listed, query, this.selected));
  }

  private setActive(index: number): void {
    this.options[this.active]?.classList.remove("nbs-active");
    this.active = index;
    const option = this.options[index];
    if (option === undefined) {
      this.input.removeAttribute("aria-activedescendant");
      return;
    }
    option.classList.add("nbs-active");
    this.input.setAttribute("aria-activedescendant", option.id);
    // Scroll the list only (scrollIntoView would scroll the notebook too).
    const list = this.listbox;
    const top = option.offsetTop;
    if (top < list.scrollTop) list.scrollTop = top;
    else if (top + option.offsetHeight > list.scrollTop + list.clientHeight) {
      list.scrollTop = top + option.offsetHeight - list.clientHeight;
    }
  }

  private pickTyped(): boolean {
    const layer = this.layers.find((l) => l.name === this.input.value.trim());
    if (layer === undefined) return false;
    this.pick(layer);
    return true;
  }

  private listen(): void {
    this.input.addEventListener("input", () => this.open(this.input.value));
    this.input.addEventListener("click", () => {
      if (!this.isOpen) this.open("");
    });
    this.input.addEventListener("focus", () => this.input.select());
    this.input.addEventListener("keydown", (e) => {
      if (MOVES.has(e.key) && (this.isOpen || e.key === "ArrowDown" || e.key === "ArrowUp")) {
        e.preventDefault();
        if (!this.isOpen) this.open("");
        else this.setActive(moveActive(this.active, e.key, this.listed.length));
      } else if (e.key === "Enter") {
        e.preventDefault();
        const layer = this.isOpen ? this.listed[this.active] : undefined;
        if (layer !== undefined) this.pick(layer);
        else if (!this.pickTyped()) this.open(this.input.value);
      } else if (e.key === "Escape") {
        if (this.isOpen) e.preventDefault();
        this.close(true);
      } else if (e.key === "Tab") this.close(true);
    });
    // A name typed or pasted whole and left (or a test's "change"): picked when it names a layer.
    this.input.addEventListener("change", () => {
      if (!this.pickTyped() && !this.isOpen) this.input.value = this.selected;
    });
    this.input.addEventListener("blur", () => this.close(true));
    this.showAll.addEventListener("change", () => {
      if (this.isOpen) this.render(this.query());
    });
  }
}
