// A count of events in the last `windowMs` (default one minute), kept in fixed slots (one per
// second by default) so adding an event and reading the count cost O(slots) at most, with no list
// of timestamps growing under an error storm. Pure: the clock is passed in. Used for
// bucketmount_s3_failed_requests_last_minute (the node plugin's "degraded" volume condition).

export class SlidingWindowCounter {
  private readonly counts: number[];
  /** The slot number (time / slotMs) each entry of `counts` holds. */
  private readonly slotOf: number[];

  constructor(
    readonly windowMs = 60_000,
    readonly slotMs = 1_000,
  ) {
    if (!(slotMs > 0) || !(windowMs >= slotMs) || windowMs % slotMs !== 0)
      throw new Error(`window ${windowMs} ms must be a positive multiple of the slot ${slotMs} ms`);
    const n = windowMs / slotMs;
    this.counts = new Array<number>(n).fill(0);
    this.slotOf = new Array<number>(n).fill(-Infinity);
  }

  /** Record `n` events at time `nowMs`. */
  add(nowMs: number, n = 1): void {
    const slot = Math.floor(nowMs / this.slotMs);
    const i = slot % this.counts.length;
    if (this.slotOf[i] !== slot) {
      this.slotOf[i] = slot;
      this.counts[i] = 0;
    }
    this.counts[i]! += n;
  }

  /**
   * Events in the window ending at `nowMs`: the current slot and the ones before it that are less
   * than `windowMs` old (slot granularity: an event leaves the count between windowMs - slotMs
   * and windowMs after it happened).
   */
  count(nowMs: number): number {
    const slot = Math.floor(nowMs / this.slotMs);
    const oldest = slot - this.counts.length + 1;
    let sum = 0;
    for (let i = 0; i < this.counts.length; i++) {
      const s = this.slotOf[i]!;
      if (s >= oldest && s <= slot) sum += this.counts[i]!;
    }
    return sum;
  }
}
