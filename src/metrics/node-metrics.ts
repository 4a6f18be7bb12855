// The node plugin's metrics: its own registry (node operations by result with durations, mounts
// by state, reconcile outcomes, credential refreshes, scrape errors) and the aggregation of every
// share's mount process: on each /metrics request every share's socket is scraped in parallel with
// a short timeout (a dead or slow one counts a scrape error and is left out), its series get the
// volume labels (aggregate.ts) and everything is combined by prom-client into one exposition.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from 'winston';
import { processAlive } from '../mounter/proc.js';
import type { MounterState } from '../mounter/state-store.js';
import type { ReconcileOutcome } from '../mounter/process-mounter.js';
import { checkFamilies, combine, shareLabels, withLabels } from './aggregate.js';
import { scrapeMountMetrics, type MetricFamily } from './mount-endpoint.js';

/** Durations of CSI calls: from a NodeGetCapabilities (ms) to a publish that starts a mount (seconds). */
export const OPERATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
/** Default bound for one mount's answer to a scrape. */
export const DEFAULT_SCRAPE_TIMEOUT_MS = 1000;

export type MountState = 'healthy' | 'dead' | 'stale';
export const MOUNT_STATES: readonly MountState[] = ['healthy', 'dead', 'stale'];

/** What a CSI call ended with: "ok" or the gRPC status code name (e.g. "NOT_FOUND"). */
export type CallResult = string;

/**
 * Targets by state, from the mounter's state: dead when the process that served it is gone,
 * stale when it serves but its containers started with an earlier mount (TargetState.staleSince),
 * healthy otherwise. Only process liveness is checked (a scrape must never hang on a stat of a mount).
 */
export function mountStates(
  state: MounterState,
  alive: (pid: number, startTime?: string) => boolean = processAlive,
): Record<MountState, number> {
  const out: Record<MountState, number> = { healthy: 0, dead: 0, stale: 0 };
  for (const t of Object.values(state.targets)) {
    const share = state.shares[t.shareId];
    if (!share || share.pid <= 0 || !alive(share.pid, share.pidStartTime)) out.dead++;
    else if (t.staleSince) out.stale++;
    else out.healthy++;
  }
  return out;
}

/** A share to scrape: its socket and the labels of its series. */
export interface ScrapeTarget {
  socket: string;
  labels: Record<string, string>;
}

/** The live shares that serve metrics, with their labels (from their targets' workloads). */
export function scrapeTargets(
  state: MounterState,
  alive: (pid: number, startTime?: string) => boolean = processAlive,
): ScrapeTarget[] {
  const out: ScrapeTarget[] = [];
  for (const share of Object.values(state.shares)) {
    if (!share.metricsSocket || share.pid <= 0 || !alive(share.pid, share.pidStartTime)) continue;
    const workloads = share.targets.map((t) => state.targets[t]?.workload);
    out.push({ socket: share.metricsSocket, labels: shareLabels(share, workloads) });
  }
  return out;
}

export interface NodeMetricsOptions {
  /** The mounter's current state (ProcessMounter.snapshot); undefined: no mounts to report. */
  state?: () => MounterState;
  logger?: Logger;
  /** Bound for one mount's answer (default DEFAULT_SCRAPE_TIMEOUT_MS). */
  scrapeTimeoutMs?: number;
  /** Scrape one socket (tests); default scrapeMountMetrics. */
  scrape?: (socket: string, timeoutMs: number) => Promise<unknown>;
  /** Process liveness (tests); default processAlive. */
  alive?: (pid: number, startTime?: string) => boolean;
}

export class NodeMetrics {
  readonly registry = new Registry();
  private readonly operations: Counter<'operation' | 'result'>;
  private readonly durations: Histogram<'operation'>;
  private readonly reconcile: Counter<'outcome'>;
  private readonly refreshes: Counter<'result'>;
  private readonly scrapeErrors: Counter;
  private readonly opts: NodeMetricsOptions;

  constructor(opts: NodeMetricsOptions = {}) {
    this.opts = opts;
    const registers = [this.registry];
    this.operations = new Counter({
      name: 'bucketmount_node_operations_total',
      help: 'CSI Node calls by operation and result (ok or the gRPC status code name)',
      labelNames: ['operation', 'result'],
      registers,
    });
    this.durations = new Histogram({
      name: 'bucketmount_node_operation_duration_seconds',
      help: 'Duration of CSI Node calls',
      labelNames: ['operation'],
      buckets: OPERATION_BUCKETS,
      registers,
    });
    const { state, alive } = opts;
    new Gauge({
      name: 'bucketmount_node_mounts',
      help: 'Published targets by state: healthy, dead (its mount process is gone), stale (serves, but its containers still see an earlier mount)',
      labelNames: ['state'],
      registers,
      collect() {
        const counts = state ? mountStates(state(), alive) : undefined;
        for (const s of MOUNT_STATES) this.set({ state: s }, counts?.[s] ?? 0);
      },
    });
    this.reconcile = new Counter({
      name: 'bucketmount_node_reconcile_total',
      help: 'What reconciling recorded mounts did, by outcome (adopted, resumed, restored, target_dropped, dead_cleaned, orphan_cleaned, failed)',
      labelNames: ['outcome'],
      registers,
    });
    this.refreshes = new Counter({
      name: 'bucketmount_credential_refreshes_total',
      help: 'Temporary credentials pushed into running mounts (ok) and refreshes that failed (failed)',
      labelNames: ['result'],
      registers,
    });
    this.scrapeErrors = new Counter({
      name: 'bucketmount_node_scrape_errors_total',
      help: 'Mount processes that did not answer a metrics scrape in time or answered garbage (left out of that scrape)',
      registers,
    });
    for (const result of ['ok', 'failed']) this.refreshes.inc({ result }, 0);
  }

  /** A finished CSI Node call. */
  observeCall(operation: string, result: CallResult, seconds: number): void {
    this.operations.inc({ operation, result });
    this.durations.observe({ operation }, seconds);
  }

  reconciled(outcome: ReconcileOutcome): void {
    this.reconcile.inc({ outcome });
  }

  credentialRefresh(ok: boolean): void {
    this.refreshes.inc({ result: ok ? 'ok' : 'failed' });
  }

  /** Every live share's families, labelled; a share that fails counts a scrape error and is left out. */
  async scrapeMounts(): Promise<MetricFamily[][]> {
    if (!this.opts.state) return [];
    const targets = scrapeTargets(this.opts.state(), this.opts.alive);
    const timeout = this.opts.scrapeTimeoutMs ?? DEFAULT_SCRAPE_TIMEOUT_MS;
    const scrape = this.opts.scrape ?? scrapeMountMetrics;
    const results = await Promise.allSettled(
      targets.map(async (t) => withLabels(checkFamilies(await scrape(t.socket, timeout)), t.labels)),
    );
    const out: MetricFamily[][] = [];
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') {
        out.push(r.value);
        return;
      }
      this.scrapeErrors.inc();
      this.opts.logger?.warn('mount metrics scrape failed; leaving that mount out', {
        socket: targets[i]!.socket,
        volumeId: targets[i]!.labels.volume_id,
        error: (r.reason as Error).message,
      });
    });
    return out;
  }

  /** The plugin's own families followed by every mount's. */
  async families(): Promise<MetricFamily[][]> {
    const mounts = await this.scrapeMounts();
    return [(await this.registry.getMetricsAsJSON()) as MetricFamily[], ...mounts];
  }
}

/** The text exposition of several family lists (the plugin's registries, the mounts). */
export async function exposition(sources: readonly (readonly MetricFamily[])[]): Promise<string> {
  return combine(sources).metrics();
}
