/**
 * The lesion panel (a lesion study, the lecture's Part 3): a "Lesion" toggle that removes the selected channel
 * (zeroed) during the forward pass, or the selected neuron alone when the target is a single neuron, and shows the
 * top classes' probabilities before and after, for the painted selection, following it while the toggle is on
 * (nbsaliency/explorer/lesion.py answers; nbs.lesion computes).
 *
 * Data attributes for tests: `data-lesion` ("on" / "off"), `data-layer`, `data-channel`, `data-image` and
 * `data-painted-seq` of the painted answer.
 */
import { h } from "../../lib/dom";
import {
  type LesionMessage,
  type LesionPrediction,
  type LesionResultMessage,
  MSG_LESION,
  type Selection,
  isLesionResultMessage,
} from "../../protocol";
import { type LesionKey, barWidth, lesionCaption, lesionKey, percent, rowText, sameKey } from "./state";

export class LesionPanel {
  readonly element: HTMLElement;
  private readonly send: (msg: LesionMessage) => void;
  private readonly toggle = h("button", { type: "button", class: "nbs-button", "aria-pressed": "false" }, "Lesion");
  private readonly caption = h("p", { class: "nbs-caption" });
  private readonly problem = h("p", { class: "nbs-inline-error" });
  private readonly rows = h("div", { class: "nbs-lesion-rows", role: "list", "aria-label": "Predictions after the lesion" });
  private on = false;
  private key: LesionKey | null = null;
  private asked: LesionKey | null = null;
  private nextId: number;
  private latest = -1;
  private lastSeq = -1;

  constructor(send: (msg: LesionMessage) => void, selection: Selection | null, firstId = 1) {
    this.send = send;
    this.nextId = firstId;
    if (selection !== null) this.key = lesionKey(selection);
    this.element = h(
      "section",
      { class: "nbs-panel nbs-lesion", "aria-label": "Lesion" },
      h("h3", {}, "Lesion"),
      h("div", { class: "nbs-index-row" }, this.toggle, h("span", { class: "nbs-caption" }, "remove the selected channel (or neuron) and see what the model loses")),
      this.caption,
      this.problem,
      this.rows,
    );
    this.toggle.addEventListener("click", () => this.setOn(!this.on));
    this.element.dataset.lesion = "off";
  }

  /** Switch the lesion on (asks for the current selection) or off (clears the rows). */
  setOn(on: boolean): void {
    this.on = on;
    this.toggle.setAttribute("aria-pressed", String(on));
    this.element.dataset.lesion = on ? "on" : "off";
    if (on) this.ask();
    else {
      this.asked = null;
      this.latest = -1;
      this.rows.replaceChildren();
      this.caption.textContent = "";
      this.problem.textContent = "";
      this.element.setAttribute("aria-busy", "false");
    }
  }

  /** The attribution view painted `selection`: ask again when the lesion is on and what it removes changed. */
  follow(selection: Selection): void {
    this.key = lesionKey(selection);
    if (this.on && !sameKey(this.key, this.asked)) this.ask();
  }

  private ask(): void {
    if (this.key === null) return;
    this.asked = { ...this.key };
    this.latest = this.nextId++;
    this.element.setAttribute("aria-busy", "true");
    this.send({ kind: MSG_LESION, id: this.latest, ...this.asked });
  }

  /** Handle a custom message; false when it is not the panel's. Only the answer to the latest request paints. */
  handle(msg: unknown): boolean {
    if (!isLesionResultMessage(msg)) return false;
    if (!this.on || msg.id !== this.latest || msg.seq <= this.lastSeq) return true;
    this.lastSeq = msg.seq;
    this.element.setAttribute("aria-busy", "false");
    this.paint(msg);
    return true;
  }

  private paint(msg: LesionResultMessage): void {
    this.problem.textContent = msg.error;
    this.caption.textContent = lesionCaption(msg);
    this.rows.replaceChildren(...msg.classes.map((row) => this.row(row)));
    Object.assign(this.element.dataset, {
      paintedSeq: String(msg.seq),
      layer: msg.layer,
      channel: String(msg.channel),
      image: String(msg.image_index),
    });
  }

  private row(row: LesionPrediction): HTMLElement {
    const bar = (p: number, which: string) => {
      const fill = h("span", { class: `nbs-lesion-fill nbs-lesion-${which}` });
      fill.style.width = `${barWidth(p)}%`;
      return h("span", { class: "nbs-lesion-track", "aria-hidden": "true" }, fill);
    };
    return h(
      "div",
      { class: "nbs-lesion-row", role: "listitem", "aria-label": rowText(row), title: `logit change ${row.logit_change.toFixed(3)}` },
      h("span", { class: "nbs-lesion-label" }, row.label),
      bar(row.before, "before"),
      h("span", { class: "nbs-lesion-value" }, percent(row.before)),
      bar(row.after, "after"),
      h("span", { class: "nbs-lesion-value" }, percent(row.after)),
    );
  }
}
