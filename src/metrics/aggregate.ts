// Pure logic of the node plugin's /metrics aggregation: the volume labels of a share (from its
// targets' workloads), adding them to the metric families a mount process served, checking those
// families' shape, and combining everything into one prom-client Registry (AggregatorRegistry.aggregate:
// no hand-written exposition). The scraping itself lives in node-metrics.ts.
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { MetricFamily } from './mount-endpoint.js';
import type { ShareState, TargetWorkload } from '../mounter/state-store.js';

/** Labels the node plugin adds to every series of a mount process (the contract of issue 17). */
export const VOLUME_LABEL_NAMES = ['volume_id', 'share', 'bucket', 'pv', 'pvc', 'namespace', 'pod'] as const;
export type VolumeLabelName = (typeof VOLUME_LABEL_NAMES)[number];
export type VolumeLabels = Record<VolumeLabelName, string>;

/** Longest single name in a label (a Kubernetes object name is at most 253 bytes). */
export const LABEL_VALUE_MAX = 253;
/** Longest joined label value (several pods of one share); the rest is summarised as ",+N more". */
export const LABEL_LIST_MAX = 512;

// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f]/g;

/** One name as a label value: control characters dropped, at most LABEL_VALUE_MAX characters. */
export function boundedLabel(v: string | undefined): string {
  if (v === undefined) return '';
  return Array.from(v.replace(UNPRINTABLE, '').trim()).slice(0, LABEL_VALUE_MAX).join('');
}

/**
 * Several values of one label (one per target of a share) as one label value: the distinct
 * non-empty values, sorted, joined with ","; when that is longer than LABEL_LIST_MAX, the values
 * that fit and ",+N more". Stable for a given set of targets, whatever their order.
 */
export function joinLabelValues(values: readonly (string | undefined)[]): string {
  const distinct = [...new Set(values.map(boundedLabel).filter((v) => v !== ''))].sort();
  let out = '';
  for (let i = 0; i < distinct.length; i++) {
    const next = out === '' ? distinct[i]! : `${out},${distinct[i]!}`;
    const rest = distinct.length - i - 1;
    const tail = rest > 0 ? `,+${rest} more` : '';
    if (next.length + tail.length > LABEL_LIST_MAX) return `${out}${out === '' ? '' : ','}+${distinct.length - i} more`;
    out = next;
  }
  return out;
}

/**
 * The volume labels of a share. Label rule for several targets (pods) on one share: each label is
 * the sorted, comma-joined set of its distinct values (joinLabelValues). `namespace` is the pod's
 * namespace (kubelet's podInfoOnMount, which a volume author cannot set), else the PVC's.
 */
export function shareLabels(
  share: Pick<ShareState, 'id' | 'volumeId' | 'source'>,
  workloads: readonly (TargetWorkload | undefined)[],
): VolumeLabels {
  const w = workloads.map((x) => x ?? {});
  return {
    volume_id: boundedLabel(share.volumeId),
    share: boundedLabel(share.id),
    bucket: boundedLabel(share.source.bucket),
    pv: joinLabelValues(w.map((x) => x.pvName)),
    pvc: joinLabelValues(w.map((x) => x.pvcName)),
    namespace: joinLabelValues(w.map((x) => x.podNamespace ?? x.pvcNamespace)),
    pod: joinLabelValues(w.map((x) => x.podName)),
  };
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary']);
const AGGREGATORS = new Set(['sum', 'first', 'min', 'max', 'average']);

/** Why `f` is not a metric family as prom-client's getMetricsAsJSON() makes them (undefined: it is). */
function familyProblem(f: unknown): string | undefined {
  if (f === null || typeof f !== 'object') return 'not an object';
  const m = f as Record<string, unknown>;
  if (typeof m.name !== 'string' || !METRIC_NAME.test(m.name)) return 'bad metric name';
  if (typeof m.type !== 'string' || !TYPES.has(m.type)) return `${m.name}: bad type`;
  if (!Array.isArray(m.values)) return `${m.name}: no values`;
  for (const v of m.values as unknown[]) {
    if (v === null || typeof v !== 'object') return `${m.name}: bad value`;
    const val = v as Record<string, unknown>;
    // JSON has no NaN or ±Inf: JSON.stringify made them null (e.g. an event-loop mean before its first sample).
    if (val.value === null) val.value = NaN;
    if (typeof val.value !== 'number') return `${m.name}: non-numeric value`;
    if (val.metricName !== undefined && (typeof val.metricName !== 'string' || !METRIC_NAME.test(val.metricName)))
      return `${m.name}: bad series name`;
    if (val.labels !== undefined) {
      if (val.labels === null || typeof val.labels !== 'object') return `${m.name}: bad labels`;
      for (const [k, lv] of Object.entries(val.labels as Record<string, unknown>))
        if (!LABEL_NAME.test(k) || (typeof lv !== 'string' && typeof lv !== 'number')) return `${m.name}: bad label`;
    }
  }
  return undefined;
}

/**
 * Throws unless `families` is a list of well-formed metric families (what scrapeMountMetrics returned);
 * a null value (how JSON carries NaN and ±Inf) becomes NaN.
 */
export function checkFamilies(families: unknown): MetricFamily[] {
  if (!Array.isArray(families)) throw new Error('metrics JSON is not a list of metric families');
  for (const f of families) {
    const why = familyProblem(f);
    if (why) throw new Error(`metrics JSON has a malformed family (${why})`);
  }
  return families as MetricFamily[];
}

/**
 * Copies of `families` whose every series carries `labels` (ours win over a label of the same
 * name the mount process might have set) and an aggregator that keeps it: each series is unique
 * after labelling, so "omit" (prom-client's choice for e.g. process_start_time_seconds, made for
 * cluster workers) would only lose data.
 */
export function withLabels(
  families: readonly MetricFamily[],
  labels: Readonly<Record<string, string>>,
): MetricFamily[] {
  return families.map((f) => ({
    ...f,
    aggregator: keptAggregator(f.aggregator),
    values: f.values.map((v) => ({ ...v, labels: { ...v.labels, ...labels } })),
  }));
}

function keptAggregator(a: unknown): MetricFamily['aggregator'] {
  return typeof a === 'string' && AGGREGATORS.has(a) ? (a as MetricFamily['aggregator']) : 'first';
}

/**
 * One registry holding every family of every source (the plugin's own registries and each
 * labelled mount), merged by prom-client: series of one name from several sources end up in one
 * family; equal label sets (none are expected) are combined by the family's aggregator.
 */
export function combine(sources: readonly (readonly MetricFamily[])[]): Registry {
  const normalised = sources.map((s) => s.map((f) => ({ ...f, aggregator: keptAggregator(f.aggregator) })));
  return AggregatorRegistry.aggregate(normalised);
}
