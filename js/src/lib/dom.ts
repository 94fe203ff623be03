/** Small DOM helpers shared by the view's panels (plain DOM, no framework). */

let counter = 0;
const instance = Math.random().toString(36).slice(2, 8);

/** A document-unique id, so several widgets on one page keep their <label for=...> links apart. */
export function uid(prefix: string): string {
  counter += 1;
  return `nbs-${prefix}-${instance}-${counter}`;
}

type Attrs = Record<string, string | number | boolean | undefined>;

/** Creates an element with attributes (true -> present, false/undefined -> absent) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children);
  return node;
}

/** A labelled control: <div class="nbs-field"><label for=id>text</label>control</div>. */
export function field(text: string, control: HTMLElement, ...extra: Node[]): HTMLDivElement {
  if (!control.id) control.id = uid("ctl");
  return h("div", { class: "nbs-field" }, h("label", { for: control.id }, text), control, ...extra);
}

export interface Option {
  value: string;
  text: string;
}

/** Replaces a select's options (only when they changed) and selects `value`. */
export function setOptions(select: HTMLSelectElement, options: Option[], value: string): void {
  const same =
    select.options.length === options.length &&
    options.every((o, i) => select.options[i].value === o.value && select.options[i].text === o.text);
  if (!same) select.replaceChildren(...options.map((o) => h("option", { value: o.value }, o.text)));
  select.value = value;
}

/** Puts RGBA pixels of a w x h image on a canvas (resizing its backing store to w x h). */
export function paintCanvas(canvas: HTMLCanvasElement, rgba: Uint8ClampedArray<ArrayBuffer>, w: number, h: number): void {
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  const ctx = canvas.getContext("2d");
  if (ctx === null || w === 0 || h === 0) return;
  ctx.putImageData(new ImageData(rgba, w, h), 0, 0);
}
