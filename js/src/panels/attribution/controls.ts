/**
 * The controls bar: selection controls (each change asks the kernel for a new result) and display controls
 * (applied in the browser only). The bar owns the current selection; `show*` methods update the controls
 * without reporting a change, so values coming from Python are never echoed back as requests.
 */
import { type Option, field, h, setOptions, uid } from "../../lib/dom";
import { LayerPicker } from "./layerpicker";
import {
  COLORMAPS,
  type DisplaySettings,
  type LayerInfo,
  type MethodInfo,
  type Selection,
  TARGET_KINDS,
  isColormapName,
  isTargetKind,
} from "../../protocol";
import {
  TARGET_TEXT,
  formatNeuron,
  layerGeometry,
  parseNeuron,
  changedFields,
  usesClass,
  withLayer,
  withPosition,
} from "../../lib/selection";

export interface Catalogue {
  layers: LayerInfo[];
  methods: MethodInfo[];
  labels: string[];
  nImages: number;
}

export interface ControlsCallbacks {
  /** The user changed the selection: only the fields that changed, so that the kernel applies them over its
   * own current selection (a change made in Python meanwhile is not undone). */
  onSelect(changed: Partial<Selection>): void;
  /** The user changed a display setting; `commit` is false while a slider is still being dragged. */
  onDisplay(display: DisplaySettings, commit: boolean): void;
}

export class Controls {
  readonly element: HTMLElement;
  private sel: Selection;
  private disp: DisplaySettings;
  private cat: Catalogue = { layers: [], methods: [], labels: [], nImages: 0 };
  private readonly cb: ControlsCallbacks;

  private readonly image = h("select");
  private readonly layer = new LayerPicker((layer) => this.apply(withLayer(this.sel, layer)));
  private readonly channel = h("input", { type: "number", min: 0, step: 1 });
  private readonly neuron = h("input", { type: "text", placeholder: "y, x", size: 7, autocomplete: "off" });
  private readonly neuronMessage = h("span", { class: "nbs-inline-error", "aria-live": "polite" });
  private readonly method = h("select");
  private readonly target = h("select");
  private readonly targetClass = h("select");
  private readonly classField: HTMLElement;
  private readonly colormap = h("select");
  private readonly opacity = h("input", { type: "range", min: 0, max: 1, step: 0.05 });
  private readonly opacityOut = h("output", { class: "nbs-value" });
  private readonly signed = h("input", { type: "checkbox" });
  private readonly clip = h("input", { type: "range", min: 90, max: 100, step: 0.1 });
  private readonly clipOut = h("output", { class: "nbs-value" });

  /** Text fields the user is typing in: a result arriving meanwhile must not overwrite what they typed. */
  private readonly editing = new Set<HTMLInputElement>();

  constructor(selection: Selection, display: DisplaySettings, cb: ControlsCallbacks) {
    this.sel = selection;
    this.disp = display;
    this.cb = cb;
    this.classField = field("Class", this.targetClass);
    setOptions(
      this.target,
      TARGET_KINDS.map((t) => ({ value: t, text: TARGET_TEXT[t] })),
      selection.target,
    );
    setOptions(this.colormap, COLORMAPS.map((c) => ({ value: c, text: c })), display.colormap);
    const neuronField = field("Neuron", this.neuron, this.neuronMessage);
    this.neuronMessage.id = `${this.neuron.id}-msg`;
    this.neuron.setAttribute("aria-describedby", this.neuronMessage.id);
    this.element = h(
      "div",
      { class: "nbs-controls" },
      h(
        "div",
        { class: "nbs-control-group", role: "group", "aria-label": "Selection" },
        field("Image", this.image),
        this.layerField(),
        field("Channel", this.channel),
        neuronField,
        field("Method", this.method),
        field("Target", this.target),
        this.classField,
      ),
      h(
        "div",
        { class: "nbs-control-group", role: "group", "aria-label": "Display" },
        field("Colormap", this.colormap),
        field("Opacity", this.opacity, this.opacityOut),
        field("Signed", this.signed),
        field("Clip percentile", this.clip, this.clipOut),
      ),
    );
    this.listen();
    this.showSelection(selection);
    this.showDisplay(display);
  }

  /** "Layer" names the picker's text field; "All layers" its switch between primary and all layers. */
  private layerField(): HTMLElement {
    const { input, showAll } = this.layer;
    input.id = uid("layer");
    showAll.id = uid("all-layers");
    return h(
      "div",
      { class: "nbs-field" },
      h("label", { for: input.id }, "Layer"),
      this.layer.element,
      showAll,
      h("label", { for: showAll.id, class: "nbs-small-label" }, "All layers"),
    );
  }

  get selection(): Selection {
    return this.sel;
  }

  get display(): DisplaySettings {
    return this.disp;
  }

  get catalogue(): Catalogue {
    return this.cat;
  }

  setCatalogue(cat: Catalogue): void {
    this.cat = cat;
    this.showSelection(this.sel);
  }

  /** Shows a selection (from Python or a result) without reporting it. */
  showSelection(sel: Selection): void {
    this.sel = { ...sel, position: [...sel.position] };
    const { layers, methods, labels, nImages } = this.cat;
    const images: Option[] = Array.from({ length: nImages }, (_, i) => ({ value: String(i), text: String(i) }));
    if (sel.image_index >= nImages) images.push({ value: String(sel.image_index), text: String(sel.image_index) });
    setOptions(this.image, images, String(sel.image_index));
    this.layer.show(layers, sel.layer);
    setOptions(this.method, methods.map((m) => ({ value: m.name, text: m.label })), sel.method);
    this.target.value = sel.target;
    const classes: Option[] = [{ value: "-1", text: "predicted" }];
    labels.forEach((label, i) => classes.push({ value: String(i), text: `${i} — ${label}` }));
    if (sel.target_class >= labels.length) {
      classes.push({ value: String(sel.target_class), text: `class ${sel.target_class}` });
    }
    setOptions(this.targetClass, classes, String(sel.target_class));
    this.classField.hidden = !usesClass(sel.target);

    const g = layerGeometry(this.currentLayer());
    this.channel.max = String(Math.max(0, g.channels - 1));
    if (!this.editing.has(this.channel)) this.channel.value = String(sel.channel);
    this.neuron.disabled = !g.spatial;
    this.neuron.placeholder = g.spatial ? "y, x" : "—";
    if (!this.editing.has(this.neuron)) {
      this.neuron.value = formatNeuron(sel.position);
      this.setNeuronMessage("");
    }
  }

  showDisplay(d: DisplaySettings): void {
    this.disp = { ...d };
    this.colormap.value = d.colormap;
    this.opacity.value = String(d.opacity);
    this.opacityOut.value = d.opacity.toFixed(2);
    this.signed.checked = d.signed;
    this.clip.value = String(d.clip_percentile);
    this.clipOut.value = d.clip_percentile.toFixed(1);
  }

  /** Applies a change of selection as if the user had made it (e.g. a click on an activation map). */
  select(patch: Partial<Selection>): void {
    this.apply({ ...this.sel, ...patch });
  }

  private currentLayer(): LayerInfo | undefined {
    return this.cat.layers.find((l) => l.name === this.sel.layer);
  }

  private apply(next: Selection): void {
    const changed = changedFields(this.sel, next);
    if (Object.keys(changed).length === 0) return;
    this.showSelection(next);
    this.cb.onSelect(changed);
  }

  private setNeuronMessage(text: string): void {
    this.neuronMessage.textContent = text;
    if (text) this.neuron.setAttribute("aria-invalid", "true");
    else this.neuron.removeAttribute("aria-invalid");
  }

  private applyNeuron(): void {
    const g = layerGeometry(this.currentLayer());
    const parsed = parseNeuron(this.neuron.value, g.h, g.w);
    if (!parsed.ok) {
      this.setNeuronMessage(parsed.message);
      return;
    }
    this.editing.delete(this.neuron);
    this.setNeuronMessage("");
    this.apply(withPosition(this.sel, parsed.position, g));
  }

  private applyChannel(): void {
    this.editing.delete(this.channel);
    const v = Math.round(Number(this.channel.value));
    if (this.channel.value.trim() === "" || !Number.isFinite(v)) {
      this.channel.value = String(this.sel.channel);
      return;
    }
    // A channel outside the layer goes to the kernel as typed: its answer names the valid range in the
    // alert, where silently clamping would show another channel than the one asked for.
    this.channel.value = String(v);
    this.select({ channel: v });
  }

  private listen(): void {
    this.image.addEventListener("change", () => this.select({ image_index: Number(this.image.value) }));
    this.channel.addEventListener("change", () => this.applyChannel());
    // JupyterLab's keyboard shortcuts cancel Enter's default action, so the browser's own "change" on
    // Enter never comes there: apply the typed channel on Enter explicitly, as the Neuron field does.
    this.channel.addEventListener("keydown", (e) => {
      if (e.key === "Enter") this.applyChannel();
    });
    for (const input of [this.channel, this.neuron]) {
      input.addEventListener("input", () => this.editing.add(input));
      input.addEventListener("blur", () => this.editing.delete(input));
    }
    this.neuron.addEventListener("change", () => this.applyNeuron());
    this.neuron.addEventListener("keydown", (e) => {
      if (e.key === "Enter") this.applyNeuron();
    });
    this.method.addEventListener("change", () => this.select({ method: this.method.value }));
    this.target.addEventListener("change", () => {
      if (isTargetKind(this.target.value)) this.select({ target: this.target.value });
    });
    this.targetClass.addEventListener("change", () => this.select({ target_class: Number(this.targetClass.value) }));

    const display = (patch: Partial<DisplaySettings>, commit: boolean) => {
      this.showDisplay({ ...this.disp, ...patch });
      this.cb.onDisplay(this.disp, commit);
    };
    this.colormap.addEventListener("change", () => {
      if (isColormapName(this.colormap.value)) display({ colormap: this.colormap.value }, true);
    });
    for (const [input, key] of [
      [this.opacity, "opacity"],
      [this.clip, "clip_percentile"],
    ] as const) {
      input.addEventListener("input", () => display({ [key]: Number(input.value) }, false));
      input.addEventListener("change", () => display({ [key]: Number(input.value) }, true));
    }
    this.signed.addEventListener("change", () => display({ signed: this.signed.checked }, true));
  }
}
