// The PromQL subset the bucketmount dashboard and alert rules are written in: a parser (used by
// test/deploy/monitoring-promql.test.ts to list the metric and label names every expression uses)
// and an evaluator over a series of Prometheus text scrapes (used by dashboard-picture.ts to draw
// the dashboard's panels from a real run). Supported: selectors with =, !=, =~, !~ matchers and a
// [range]; sum/min/max/avg/count with `by (...)` before or after the argument; rate, increase,
// histogram_quantile; + - * / and comparisons (filtering) between vectors with the same labels or
// a vector and a number; parentheses. Anything else is a parse error, so the dashboard stays
// inside what the picture can draw. Grafana variables ($namespace, ${x}, $__rate_interval) are
// substituted before parsing (substituteVariables).

export interface Matcher {
  label: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

export type Expr =
  | { kind: 'number'; value: number }
  | { kind: 'selector'; name: string; matchers: Matcher[]; rangeSeconds?: number }
  | { kind: 'call'; fn: 'rate' | 'increase' | 'histogram_quantile'; args: Expr[] }
  | { kind: 'agg'; op: AggOp; by: string[] | undefined; arg: Expr }
  | { kind: 'binary'; op: BinaryOp; lhs: Expr; rhs: Expr };

type AggOp = 'sum' | 'min' | 'max' | 'avg' | 'count';
type BinaryOp = '+' | '-' | '*' | '/' | '>' | '<' | '>=' | '<=' | '==' | '!=';

const AGG_OPS = new Set<string>(['sum', 'min', 'max', 'avg', 'count']);
const FUNCTIONS = new Set<string>(['rate', 'increase', 'histogram_quantile']);

type Token =
  | { t: 'ident'; v: string }
  | { t: 'string'; v: string }
  | { t: 'number'; v: number }
  | { t: 'duration'; v: number }
  | { t: 'punct'; v: string };

const DURATION_UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 };

/** Seconds of a PromQL duration such as 5m, 1h30m, 250ms. */
export function parseDuration(text: string): number {
  const re = /(\d+)(ms|s|m|h|d|w|y)/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    end = re.lastIndex;
  }
  if (end !== text.length || text === '') throw new Error(`bad duration "${text}"`);
  return total;
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      let v = '';
      while (j < src.length && src[j] !== c) {
        if (src[j] === '\\' && c !== '`') {
          j++;
          v += src[j] ?? '';
        } else v += src[j];
        j++;
      }
      if (j >= src.length) throw new Error(`unterminated string at ${i}: ${src}`);
      out.push({ t: 'string', v });
      i = j + 1;
    } else if (/[0-9.]/.test(c)) {
      const m = /^(\d+(ms|s|m|h|d|w|y))+|^\d*\.?\d+(e[+-]?\d+)?/i.exec(src.slice(i))!;
      if (/[a-z]$/i.test(m[0]) && !/e/i.test(m[0])) out.push({ t: 'duration', v: parseDuration(m[0]) });
      else out.push({ t: 'number', v: Number(m[0]) });
      i += m[0].length;
    } else if (/[A-Za-z_:]/.test(c)) {
      const m = /^[A-Za-z_:][A-Za-z0-9_:]*/.exec(src.slice(i))!;
      out.push({ t: 'ident', v: m[0] });
      i += m[0].length;
    } else {
      const two = src.slice(i, i + 2);
      if (['=~', '!~', '!=', '>=', '<=', '=='].includes(two)) {
        out.push({ t: 'punct', v: two });
        i += 2;
      } else if ('(){}[],=+-*/<>'.includes(c)) {
        out.push({ t: 'punct', v: c });
        i++;
      } else throw new Error(`unexpected "${c}" at ${i}: ${src}`);
    }
  }
  return out;
}

class Parser {
  private pos = 0;
  constructor(
    private readonly toks: Token[],
    private readonly src: string,
  ) {}

  private peek(): Token | undefined {
    return this.toks[this.pos];
  }
  private fail(msg: string): never {
    throw new Error(`${msg} (token ${this.pos}) in: ${this.src}`);
  }
  private punct(v: string): boolean {
    const t = this.peek();
    if (t?.t === 'punct' && t.v === v) {
      this.pos++;
      return true;
    }
    return false;
  }
  private expect(v: string): void {
    if (!this.punct(v)) this.fail(`expected "${v}"`);
  }
  private ident(): string {
    const t = this.peek();
    if (t?.t !== 'ident') this.fail('expected a name');
    this.pos++;
    return t.v;
  }

  parse(): Expr {
    const e = this.comparison();
    if (this.pos !== this.toks.length) this.fail('unexpected trailing input');
    return e;
  }

  private comparison(): Expr {
    let lhs = this.additive();
    for (;;) {
      const t = this.peek();
      if (t?.t === 'punct' && ['>', '<', '>=', '<=', '==', '!='].includes(t.v)) {
        this.pos++;
        lhs = { kind: 'binary', op: t.v as BinaryOp, lhs, rhs: this.additive() };
      } else return lhs;
    }
  }
  private additive(): Expr {
    let lhs = this.multiplicative();
    for (;;) {
      const t = this.peek();
      if (t?.t === 'punct' && (t.v === '+' || t.v === '-')) {
        this.pos++;
        lhs = { kind: 'binary', op: t.v, lhs, rhs: this.multiplicative() };
      } else return lhs;
    }
  }
  private multiplicative(): Expr {
    let lhs = this.primary();
    for (;;) {
      const t = this.peek();
      if (t?.t === 'punct' && (t.v === '*' || t.v === '/')) {
        this.pos++;
        lhs = { kind: 'binary', op: t.v, lhs, rhs: this.primary() };
      } else return lhs;
    }
  }
  private labelList(): string[] {
    this.expect('(');
    const out: string[] = [];
    while (!this.punct(')')) {
      out.push(this.ident());
      if (!this.punct(',')) {
        this.expect(')');
        break;
      }
    }
    return out;
  }
  private primary(): Expr {
    const t = this.peek();
    if (t === undefined) this.fail('unexpected end');
    if (t.t === 'number') {
      this.pos++;
      return { kind: 'number', value: t.v };
    }
    if (t.t === 'punct' && t.v === '(') {
      this.pos++;
      const e = this.comparison();
      this.expect(')');
      return e;
    }
    if (t.t === 'punct' && t.v === '{') return this.selector('');
    if (t.t !== 'ident') this.fail('expected an expression');
    this.pos++;
    if (AGG_OPS.has(t.v)) {
      let by: string[] | undefined;
      if (this.peek()?.t === 'ident' && (this.peek() as { v: string }).v === 'by') {
        this.pos++;
        by = this.labelList();
      }
      this.expect('(');
      const arg = this.comparison();
      this.expect(')');
      if (by === undefined && this.peek()?.t === 'ident' && (this.peek() as { v: string }).v === 'by') {
        this.pos++;
        by = this.labelList();
      }
      return { kind: 'agg', op: t.v as AggOp, by, arg };
    }
    if (FUNCTIONS.has(t.v)) {
      this.expect('(');
      const args: Expr[] = [this.comparison()];
      while (this.punct(',')) args.push(this.comparison());
      this.expect(')');
      return { kind: 'call', fn: t.v as 'rate', args };
    }
    if (this.peek()?.t === 'punct' && (this.peek() as { v: string }).v === '(')
      this.fail(`function ${t.v} is outside the supported subset`);
    return this.selector(t.v);
  }
  private selector(name: string): Expr {
    const matchers: Matcher[] = [];
    if (this.punct('{')) {
      while (!this.punct('}')) {
        const label = this.ident();
        const op = this.peek();
        if (op?.t !== 'punct' || !['=', '!=', '=~', '!~'].includes(op.v)) this.fail('expected a label matcher');
        this.pos++;
        const value = this.peek();
        if (value?.t !== 'string') this.fail('expected a quoted label value');
        this.pos++;
        matchers.push({ label, op: op.v as Matcher['op'], value: value.v });
        if (!this.punct(',')) {
          this.expect('}');
          break;
        }
      }
    }
    let rangeSeconds: number | undefined;
    if (this.punct('[')) {
      const d = this.peek();
      if (d?.t !== 'duration') this.fail('expected a range duration');
      this.pos++;
      rangeSeconds = d.v;
      this.expect(']');
    }
    if (name === '' && !matchers.some((m) => m.label === '__name__')) this.fail('selector without a metric name');
    return { kind: 'selector', name, matchers, rangeSeconds };
  }
}

/** Replace Grafana's variables: `$__rate_interval` / `$__interval` by `rateInterval`, others by `values[name]` (default `.*`). */
export function substituteVariables(expr: string, rateInterval = '5m', values: Record<string, string> = {}): string {
  return expr
    .replace(/\$__(rate_)?interval\b/g, rateInterval)
    .replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, a?: string, b?: string) => values[(a ?? b)!] ?? '.*');
}

export function parsePromQL(expr: string): Expr {
  return new Parser(tokenize(expr), expr).parse();
}

/** Every selector (metric name + matched labels) and every `by` label of an expression. */
export function namesIn(e: Expr): { selectors: { name: string; labels: string[] }[]; byLabels: string[] } {
  const selectors: { name: string; labels: string[] }[] = [];
  const byLabels: string[] = [];
  const walk = (x: Expr): void => {
    switch (x.kind) {
      case 'selector':
        selectors.push({ name: x.name, labels: x.matchers.map((m) => m.label) });
        break;
      case 'call':
        x.args.forEach(walk);
        break;
      case 'agg':
        byLabels.push(...(x.by ?? []));
        walk(x.arg);
        break;
      case 'binary':
        walk(x.lhs);
        walk(x.rhs);
        break;
      case 'number':
        break;
    }
  };
  walk(e);
  return { selectors, byLabels };
}

// ---------------------------------------------------------------------------------------------
// Scrapes and evaluation.

export type Labels = Record<string, string>;

export interface Sample {
  name: string;
  labels: Labels;
  value: number;
}

/** One scrape: when (seconds) and its samples. */
export interface Scrape {
  t: number;
  samples: Sample[];
}

/** Parse the Prometheus text exposition format (comments and timestamps ignored). */
export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$/.exec(line);
    if (!m) throw new Error(`bad exposition line: ${line}`);
    const labels: Labels = {};
    const body = m[3] ?? '';
    const re = /\s*([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/gy;
    let end = 0;
    for (let l = re.exec(body); l !== null; l = re.exec(body)) {
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_x, ch: string) => (ch === 'n' ? '\n' : ch));
      end = re.lastIndex;
    }
    if (end !== body.length) throw new Error(`bad labels in: ${line}`);
    const v = m[4]!;
    out.push({ name: m[1]!, labels, value: v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v) });
  }
  return out;
}

interface Element {
  labels: Labels;
  value: number;
}
type Value = { kind: 'scalar'; value: number } | { kind: 'vector'; elems: Element[] };

const keyOf = (l: Labels): string =>
  Object.keys(l)
    .sort()
    .map((k) => `${k}=${JSON.stringify(l[k])}`)
    .join(',');

function matches(s: Sample, name: string, matchers: Matcher[]): boolean {
  if (name !== '' && s.name !== name) return false;
  for (const m of matchers) {
    const v = m.label === '__name__' ? s.name : (s.labels[m.label] ?? '');
    const ok = m.op === '=' || m.op === '!=' ? v === m.value : new RegExp(`^(?:${m.value})$`).test(v);
    if (ok !== (m.op === '=' || m.op === '=~')) return false;
  }
  return true;
}

/**
 * Evaluate `e` at scrape index `at`. rate/increase use the samples of the window (t - range, t]:
 * the increase between the first and the last of them (counter resets added back), divided by
 * their time distance for rate; no extrapolation to the window's edges (Prometheus extrapolates,
 * so its numbers can be slightly higher at the start of a series).
 */
export function evaluate(e: Expr, scrapes: Scrape[], at: number): Value {
  const now = scrapes[at]!.t;
  switch (e.kind) {
    case 'number':
      return { kind: 'scalar', value: e.value };
    case 'selector': {
      if (e.rangeSeconds !== undefined) throw new Error('a range selector outside rate/increase');
      return {
        kind: 'vector',
        elems: scrapes[at]!.samples.filter((s) => matches(s, e.name, e.matchers)).map((s) => ({
          labels: { __name__: s.name, ...s.labels },
          value: s.value,
        })),
      };
    }
    case 'call': {
      if (e.fn === 'histogram_quantile') {
        const q = evaluate(e.args[0]!, scrapes, at);
        const v = evaluate(e.args[1]!, scrapes, at);
        if (q.kind !== 'scalar' || v.kind !== 'vector') throw new Error('histogram_quantile(scalar, vector)');
        return { kind: 'vector', elems: histogramQuantile(q.value, v.elems) };
      }
      const sel = e.args[0]!;
      if (sel.kind !== 'selector' || sel.rangeSeconds === undefined) throw new Error(`${e.fn} needs a range selector`);
      const window = scrapes.filter((s) => s.t > now - sel.rangeSeconds! && s.t <= now);
      const series = new Map<string, { labels: Labels; points: [number, number][] }>();
      for (const s of window) {
        for (const x of s.samples) {
          if (!matches(x, sel.name, sel.matchers)) continue;
          const k = keyOf(x.labels);
          const entry = series.get(k) ?? { labels: x.labels, points: [] };
          entry.points.push([s.t, x.value]);
          series.set(k, entry);
        }
      }
      const elems: Element[] = [];
      for (const { labels, points } of series.values()) {
        if (points.length < 2) continue;
        let inc = 0;
        for (let i = 1; i < points.length; i++) {
          const d = points[i]![1] - points[i - 1]![1];
          inc += d >= 0 ? d : points[i]![1];
        }
        const span = points[points.length - 1]![0] - points[0]![0];
        elems.push({ labels, value: e.fn === 'rate' ? inc / span : inc * (sel.rangeSeconds / span) });
      }
      return { kind: 'vector', elems };
    }
    case 'agg': {
      const v = evaluate(e.arg, scrapes, at);
      if (v.kind !== 'vector') throw new Error(`${e.op} of a scalar`);
      const groups = new Map<string, { labels: Labels; values: number[] }>();
      for (const el of v.elems) {
        const labels: Labels = {};
        for (const l of e.by ?? []) if (el.labels[l] !== undefined) labels[l] = el.labels[l];
        const k = keyOf(labels);
        const g = groups.get(k) ?? { labels, values: [] };
        g.values.push(el.value);
        groups.set(k, g);
      }
      const agg = (xs: number[]): number => {
        switch (e.op) {
          case 'sum':
            return xs.reduce((a, b) => a + b, 0);
          case 'min':
            return Math.min(...xs);
          case 'max':
            return Math.max(...xs);
          case 'avg':
            return xs.reduce((a, b) => a + b, 0) / xs.length;
          case 'count':
            return xs.length;
        }
      };
      return { kind: 'vector', elems: [...groups.values()].map((g) => ({ labels: g.labels, value: agg(g.values) })) };
    }
    case 'binary': {
      const l = evaluate(e.lhs, scrapes, at);
      const r = evaluate(e.rhs, scrapes, at);
      const cmp = ['>', '<', '>=', '<=', '==', '!='].includes(e.op);
      const apply = (a: number, b: number): number => {
        switch (e.op) {
          case '+':
            return a + b;
          case '-':
            return a - b;
          case '*':
            return a * b;
          case '/':
            return a / b;
          case '>':
            return a > b ? 1 : 0;
          case '<':
            return a < b ? 1 : 0;
          case '>=':
            return a >= b ? 1 : 0;
          case '<=':
            return a <= b ? 1 : 0;
          case '==':
            return a === b ? 1 : 0;
          case '!=':
            return a !== b ? 1 : 0;
        }
      };
      if (l.kind === 'scalar' && r.kind === 'scalar') return { kind: 'scalar', value: apply(l.value, r.value) };
      const strip = (x: Labels): Labels => {
        const { __name__: _n, ...rest } = x;
        return rest;
      };
      if (l.kind === 'vector' && r.kind === 'scalar') {
        const elems = l.elems.map((x) => ({ labels: strip(x.labels), value: x.value, keep: apply(x.value, r.value) }));
        return {
          kind: 'vector',
          elems: cmp ? elems.filter((x) => x.keep === 1) : elems.map((x) => ({ labels: x.labels, value: x.keep })),
        };
      }
      if (l.kind === 'scalar' && r.kind === 'vector') {
        const elems = r.elems.map((x) => ({ labels: strip(x.labels), value: x.value, res: apply(l.value, x.value) }));
        return {
          kind: 'vector',
          elems: cmp ? elems.filter((x) => x.res === 1) : elems.map((x) => ({ labels: x.labels, value: x.res })),
        };
      }
      const right = new Map((r as { elems: Element[] }).elems.map((x) => [keyOf(strip(x.labels)), x.value]));
      const out: Element[] = [];
      for (const x of (l as { elems: Element[] }).elems) {
        const labels = strip(x.labels);
        const b = right.get(keyOf(labels));
        if (b === undefined) continue;
        const res = apply(x.value, b);
        if (cmp) {
          if (res === 1) out.push({ labels, value: x.value });
        } else out.push({ labels, value: res });
      }
      return { kind: 'vector', elems: out };
    }
  }
}

/** Prometheus' histogram_quantile: linear interpolation inside the bucket holding the rank. */
function histogramQuantile(q: number, elems: Element[]): Element[] {
  const groups = new Map<string, { labels: Labels; buckets: [number, number][] }>();
  for (const el of elems) {
    const { le, __name__: _n, ...labels } = el.labels;
    if (le === undefined) continue;
    const k = keyOf(labels);
    const g = groups.get(k) ?? { labels, buckets: [] };
    g.buckets.push([le === '+Inf' ? Infinity : Number(le), el.value]);
    groups.set(k, g);
  }
  const out: Element[] = [];
  for (const { labels, buckets } of groups.values()) {
    buckets.sort((a, b) => a[0] - b[0]);
    const total = buckets[buckets.length - 1]![1];
    if (buckets[buckets.length - 1]![0] !== Infinity || !(total > 0)) continue;
    const rank = q * total;
    const i = buckets.findIndex((b) => b[1] >= rank);
    if (i === buckets.length - 1) {
      out.push({ labels, value: buckets.length > 1 ? buckets[buckets.length - 2]![0] : NaN });
      continue;
    }
    const lower = i === 0 ? 0 : buckets[i - 1]![0];
    const below = i === 0 ? 0 : buckets[i - 1]![1];
    const upper = buckets[i]![0];
    const inBucket = buckets[i]![1] - below;
    out.push({ labels, value: inBucket > 0 ? lower + ((upper - lower) * (rank - below)) / inBucket : upper });
  }
  return out;
}

/** Grafana's legendFormat: `{{label}}` replaced by the series' label value. */
export function legend(format: string | undefined, labels: Labels): string {
  if (format === undefined || format === '') return keyOf(labels) || 'value';
  return format.replace(/\{\{\s*(\w+)\s*\}\}/g, (_m, l: string) => labels[l] ?? '');
}

/** The series an expression yields over all scrapes: legend → [t, value] points (NaN/Inf dropped). */
export function evaluateRange(expr: Expr, scrapes: Scrape[], legendFormat?: string): Map<string, [number, number][]> {
  const out = new Map<string, [number, number][]>();
  for (let i = 0; i < scrapes.length; i++) {
    const v = evaluate(expr, scrapes, i);
    const elems = v.kind === 'scalar' ? [{ labels: {}, value: v.value }] : v.elems;
    for (const el of elems) {
      if (!Number.isFinite(el.value)) continue;
      const name = legend(legendFormat, el.labels);
      const pts = out.get(name) ?? [];
      pts.push([scrapes[i]!.t, el.value]);
      out.set(name, pts);
    }
  }
  return out;
}
