/**
 * Latest-wins request queue of the view: a live view never paints a result older than one it already painted,
 * and rapid control changes leave at most one request waiting, so the kernel never works through a backlog.
 *
 * At most one request is in flight and at most one waits; a newer submit replaces the waiting one, or is
 * merged into it when a `merge` function is given (requests that carry only the changed fields).
 * The queue needs no timers: the kernel answers every request id with exactly one result.
 * Separately, `shouldPaint` refuses any result older than (or as old as) the last one painted, using the
 * kernel-wide increasing `seq` of results.
 */
export class LatestWinsQueue<T> {
  private readonly send: (id: number, selection: T) => void;
  private readonly merge: ((waiting: T, newer: T) => T) | null;
  private nextId: number;
  private inFlightId: number | null = null;
  private pending: { value: T } | null = null;
  private paintedSeq = -Infinity;

  /**
   * @param send called with a fresh, increasing id whenever a selection goes out
   * @param firstId the first id used (views sharing one model start far apart so ids do not collide)
   * @param merge combines the waiting selection with a newer one (default: the newer one replaces it)
   */
  constructor(send: (id: number, selection: T) => void, firstId = 1, merge?: (waiting: T, newer: T) => T) {
    this.send = send;
    this.nextId = firstId;
    this.merge = merge ?? null;
  }

  /** Send now when idle, otherwise keep as the single waiting selection (replacing or merging an older one). */
  submit(selection: T): void {
    if (this.inFlightId === null) this.dispatch(selection);
    else if (this.pending !== null && this.merge !== null) this.pending = { value: this.merge(this.pending.value, selection) };
    else this.pending = { value: selection };
  }

  /**
   * A result for request `id` arrived. Returns true when it answered the request in flight, which then
   * lets the waiting selection go out. `null` (a result the kernel started itself) and unknown ids
   * change nothing.
   */
  resolve(id: number | null): boolean {
    if (id === null || id !== this.inFlightId) return false;
    this.inFlightId = null;
    const next = this.pending;
    this.pending = null;
    if (next !== null) this.dispatch(next.value);
    return true;
  }

  /** True (and remembered) when `seq` is newer than every result painted so far. */
  shouldPaint(seq: number): boolean {
    if (!(seq > this.paintedSeq)) return false;
    this.paintedSeq = seq;
    return true;
  }

  /** A request is in flight (possibly with another waiting). */
  get busy(): boolean {
    return this.inFlightId !== null;
  }

  get hasPending(): boolean {
    return this.pending !== null;
  }

  get inFlight(): number | null {
    return this.inFlightId;
  }

  get lastPaintedSeq(): number | null {
    return this.paintedSeq === -Infinity ? null : this.paintedSeq;
  }

  private dispatch(selection: T): void {
    const id = this.nextId++;
    this.inFlightId = id;
    try {
      this.send(id, selection);
    } catch (err) {
      this.inFlightId = null; // nothing went out, so nothing will answer
      throw err;
    }
  }
}
