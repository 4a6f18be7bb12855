// A histogram with one label, for the FUSE hot path: observe() is an array increment (no label
// hashing, no allocation), and the series are turned into prom-client's histogram form only when
// scraped. Registered in a prom-client Registry as a custom metric (its `get()` returns what
// prom-client's own Histogram returns: `_bucket` values with `le`, then `_sum` and `_count`), so
// /metrics and /metrics.json look the same as for prom-client's Histogram. `countMetric()` gives
// the per-label sample counts as a counter family of their own (operations_total = _count).

/** One label value's series. */
export class HistogramSeries {
  /** Samples per bucket (not cumulative); the last slot is above the largest bound. */
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    this.counts[i]!++;
    this.sum += v;
    this.count++;
  }
}

/** One value as prom-client's registry formats it. */
export interface FamilyValue {
  metricName?: string;
  labels: Record<string, string | number>;
  value: number;
}

/** What prom-client's registry asks a metric for (the fields its formatter reads). */
export interface FamilyData {
  name: string;
  help: string;
  type: 'histogram' | 'counter';
  values: FamilyValue[];
  aggregator: 'sum';
}

/** The shape prom-client's registry accepts as a metric (registerMetric). */
export interface RegistryMetric {
  name: string;
  help: string;
  type: 'histogram' | 'counter';
  get(): Promise<FamilyData>;
}

export class FastHistogram implements RegistryMetric {
  readonly type = 'histogram' as const;
  private readonly series = new Map<string, HistogramSeries>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelName: string,
    readonly bounds: readonly number[],
  ) {
    for (let i = 1; i < bounds.length; i++)
      if (!(bounds[i]! > bounds[i - 1]!)) throw new Error(`${name}: buckets must increase`);
  }

  /** The series of `labelValue` (created on first use; keep it, observe() on it is the fast path). */
  child(labelValue: string): HistogramSeries {
    let s = this.series.get(labelValue);
    if (!s) {
      s = new HistogramSeries(this.bounds);
      this.series.set(labelValue, s);
    }
    return s;
  }

  get(): Promise<FamilyData> {
    const values: FamilyValue[] = [];
    for (const [lv, s] of this.series) {
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += s.counts[i]!;
        values.push({
          metricName: `${this.name}_bucket`,
          labels: { le: this.bounds[i]!, [this.labelName]: lv },
          value: acc,
        });
      }
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', [this.labelName]: lv }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: { [this.labelName]: lv }, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: { [this.labelName]: lv }, value: s.count });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: 'histogram', values, aggregator: 'sum' });
  }

  /** A counter family `name` whose value per label is this histogram's sample count. */
  countMetric(name: string, help: string): RegistryMetric {
    return {
      name,
      help,
      type: 'counter',
      get: () =>
        Promise.resolve({
          name,
          help,
          type: 'counter',
          values: [...this.series].map(([lv, s]) => ({ labels: { [this.labelName]: lv }, value: s.count })),
          aggregator: 'sum',
        }),
    };
  }
}
