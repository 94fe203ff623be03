/** A stand-in for anywidget's model in the view's tests: traits, change events, custom messages. */
import type { WidgetModel } from "../../js/src/widget";

type Callback = (...args: any[]) => void;

/** A stand-in for anywidget's model: traits, change events, custom messages. */
export class FakeModel implements WidgetModel {
  traits: Record<string, unknown>;
  sent: any[] = [];
  saved = 0;
  private handlers = new Map<string, Set<Callback>>();

  constructor(traits: Record<string, unknown>) {
    this.traits = { ...traits };
  }
  get(name: string) {
    return this.traits[name];
  }
  set(name: string, value: unknown) {
    const changed = this.traits[name] !== value;
    this.traits[name] = value;
    this.pending[name] = value;
    if (changed) this.emit(`change:${name}`);
  }
  /**
   * A save that carries a new `request_id` is a selection request: recorded in `sent` as
   * `{kind: "select", id, selection: <the fields set with it>}`; other saves are counted in `saved`.
   */
  save_changes() {
    const { request_id: id, ...fields } = this.pending;
    this.pending = {};
    if (typeof id === "number") this.sent.push({ kind: "select", id, selection: fields });
    else this.saved += 1;
  }
  private pending: Record<string, unknown> = {};
  on(event: string, cb: Callback) {
    if (!this.handlers.has(event)) this.handlers.set(event, new Set());
    this.handlers.get(event)!.add(cb);
  }
  off(event?: string | null, cb?: Callback | null) {
    if (event && cb) this.handlers.get(event)?.delete(cb);
  }
  send(content: unknown) {
    this.sent.push(content);
  }
  emit(event: string, ...args: unknown[]) {
    for (const cb of this.handlers.get(event) ?? []) cb(...args);
  }
  listenerCount() {
    return [...this.handlers.values()].reduce((n, s) => n + s.size, 0);
  }
  /** Messages the view sent of one kind. */
  ofKind(kind: string) {
    return this.sent.filter((m) => m.kind === kind);
  }
  /** The selection requests the view sent (other panels send their own kinds too). */
  get selects() {
    return this.ofKind("select");
  }
  /** Python sets a trait: the value changes and an event fires. */
  pythonSets(name: string, value: unknown) {
    this.set(name, value);
  }
}
