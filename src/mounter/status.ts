// `bucketmount status`: what the node plugin's mounter has on this node, read-only. Reads the
// state file (never through StateStore, which creates and chmods the state dir), looks at each
// share's process, mount and targets (stat probes, bounded), scrapes its metrics socket for
// counters and the S3 failure gauge, and reads the last error line of its log. It never mounts,
// unmounts, signals or writes anything. The table form lives in status-format.ts.
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseState, type MounterState, type ShareState, type TargetState } from './state-store.js';
import { processAlive } from './proc.js';
import { probeMount } from './mount-ops.js';
import { isFuse, readMountInfo, topMountAt, type MountInfoEntry } from '../util/mountinfo.js';
import { assessHealth, DEFAULT_HEALTH_THRESHOLDS, type HealthThresholds } from './health.js';
import { metricValue, scrapeShare, shareHealthSignals } from './health-signals.js';
import type { MetricFamily } from '../metrics/mount-endpoint.js';

export type ShareHealth = 'healthy' | 'degraded' | 'dead';
export type TargetHealth = ShareHealth | 'stale';

export interface TargetStatus {
  targetPath: string;
  state: TargetHealth;
  /** namespace/name of the pod it was published for, when the publish carried pod info. */
  pod?: string;
  pv?: string;
  pvc?: string;
  staleSince?: string;
}

export interface ShareCounters {
  fuseReadBytes?: number;
  fuseWrittenBytes?: number;
  s3Requests?: number;
  /** S3 requests that ended in a 5xx or a network error (`bucketmount_s3_requests_total{outcome=5xx|network}`). */
  s3Failures?: number;
  s3FailedLastMinute?: number;
}

export interface LastError {
  /** ISO time (from the log line, or the last-error metric when the log has none). */
  at?: string;
  message?: string;
}

export interface ShareStatus {
  /** Share id, or the id a dead target still names after its share was cleaned up. */
  shareId: string;
  /** false: only target records name this share (its process died and reconcile removed it). */
  recorded: boolean;
  volumeId: string;
  bucket?: string;
  prefix?: string;
  pid?: number;
  alive: boolean;
  state: ShareHealth;
  /** Why dead or degraded. */
  reasons: string[];
  targets: TargetStatus[];
  /** Metrics scraped from the mount's socket (false: no socket, or it did not answer). */
  metrics: boolean;
  counters: ShareCounters;
  lastError?: LastError;
  logFile?: string;
}

export interface StatusReport {
  stateDir: string;
  at: string;
  shares: ShareStatus[];
}

export interface StatusOptions {
  stateDir: string;
  thresholds?: HealthThresholds;
  probeTimeoutMs?: number;
  now?: () => number;
}

/** The state file of a state dir, read-only (an absent file is an empty state). */
export function readStateReadOnly(stateDir: string): MounterState {
  const file = join(stateDir, 'state.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, shares: {}, targets: {} };
    throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
      cause: err,
    });
  }
  return parseState(text, file);
}

const MAX_MESSAGE = 240;

function clip(s: string): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > MAX_MESSAGE ? one.slice(0, MAX_MESSAGE - 1) + '…' : one;
}

/**
 * The last error line of a mount log's text: a JSON line with level "error" (its message and
 * timestamp only; other fields may hold request detail) or the mount command's
 * "bucketmount: error: …" line.
 */
export function lastErrorInLog(text: string): LastError | undefined {
  const lines = text.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    if (line.startsWith('bucketmount: error:')) return { message: clip(line.slice('bucketmount: error:'.length)) };
    if (!line.startsWith('{')) continue;
    try {
      const o = JSON.parse(line) as { level?: unknown; message?: unknown; timestamp?: unknown };
      if (o.level !== 'error') continue;
      return {
        ...(typeof o.timestamp === 'string' ? { at: o.timestamp } : {}),
        message: clip(typeof o.message === 'string' ? o.message : 'error'),
      };
    } catch {
      /* a partial line at the start of the tail */
    }
  }
  return undefined;
}

/** The last `bytes` of a file as text ('' when it cannot be read). */
function readTail(file: string, bytes = 64 * 1024): string {
  try {
    const size = statSync(file).size;
    const fd = openSync(file, 'r');
    try {
      const len = Math.min(size, bytes);
      const buf = Buffer.alloc(len);
      readSync(fd, buf, 0, len, size - len);
      return buf.toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return '';
  }
}

/** Counters of a mount from its metric families. */
export function countersOf(families: readonly MetricFamily[]): ShareCounters & { lastErrorSeconds?: number } {
  const failed = (l: Record<string, string | number>): boolean => l.outcome === '5xx' || l.outcome === 'network';
  const out: ShareCounters & { lastErrorSeconds?: number } = {};
  const put = <K extends keyof typeof out>(k: K, v: number | undefined): void => {
    if (v !== undefined) out[k] = v;
  };
  put('fuseReadBytes', metricValue(families, 'bucketmount_fuse_read_bytes_total'));
  put('fuseWrittenBytes', metricValue(families, 'bucketmount_fuse_written_bytes_total'));
  put('s3Requests', metricValue(families, 'bucketmount_s3_requests_total'));
  put('s3Failures', metricValue(families, 'bucketmount_s3_requests_total', failed));
  put('s3FailedLastMinute', metricValue(families, 'bucketmount_s3_failed_requests_last_minute'));
  const last = metricValue(families, 'bucketmount_last_error_timestamp_seconds');
  if (last !== undefined && last > 0) out.lastErrorSeconds = last;
  return out;
}

function workloadOf(t: TargetState): Pick<TargetStatus, 'pod' | 'pv' | 'pvc'> {
  const w = t.workload;
  if (!w) return {};
  return {
    ...(w.podName ? { pod: `${w.podNamespace ?? '?'}/${w.podName}` } : {}),
    ...(w.pvName ? { pv: w.pvName } : {}),
    ...(w.pvcName ? { pvc: `${w.pvcNamespace ?? w.podNamespace ?? '?'}/${w.pvcName}` } : {}),
  };
}

async function targetState(
  t: TargetState,
  shareState: ShareHealth,
  staging: MountInfoEntry | undefined,
  table: MountInfoEntry[],
  probeTimeoutMs: number,
): Promise<TargetHealth> {
  if (shareState === 'dead') return 'dead';
  const top = topMountAt(t.targetPath, table);
  if (!top || !staging || top.device !== staging.device) return 'dead';
  if ((await probeMount(t.targetPath, probeTimeoutMs)).result === 'dead') return 'dead';
  if (t.staleSince) return 'stale';
  return shareState;
}

async function shareStatus(
  stateDir: string,
  share: ShareState,
  targets: TargetState[],
  table: MountInfoEntry[],
  opts: Required<Omit<StatusOptions, 'stateDir'>>,
): Promise<ShareStatus> {
  const shareDir = join(stateDir, 'shares', share.id);
  const alive = share.pid > 0 && processAlive(share.pid, share.pidStartTime);
  const staging = topMountAt(share.stagingPath, table);
  const reasons: string[] = [];
  let state: ShareHealth = 'healthy';
  if (!alive) {
    state = 'dead';
    reasons.push(share.pid > 0 ? `mount process ${share.pid} is gone` : 'mount process was never started');
  } else if (!isFuse(staging)) {
    state = 'dead';
    reasons.push(`nothing is FUSE-mounted at ${share.stagingPath}`);
  } else {
    const p = await probeMount(share.stagingPath, opts.probeTimeoutMs);
    if (p.result === 'dead' || p.result === 'error') {
      state = 'dead';
      reasons.push(p.detail);
    } else if (p.result === 'hung') {
      state = 'degraded';
      reasons.push(p.detail);
    }
  }
  const families = alive ? await scrapeShare(shareDir) : undefined;
  if (state !== 'dead') {
    const verdict = assessHealth(
      await shareHealthSignals(shareDir, share.credentialsFile, families ?? []),
      opts.thresholds,
      opts.now(),
    );
    if (verdict.degraded) {
      state = 'degraded';
      reasons.push(...verdict.reasons);
    }
  }
  const counters = families ? countersOf(families) : {};
  const { lastErrorSeconds, ...shown } = counters as ShareCounters & { lastErrorSeconds?: number };
  let lastError = lastErrorInLog(readTail(share.logFile));
  if (lastErrorSeconds !== undefined) {
    const at = new Date(lastErrorSeconds * 1000).toISOString();
    if (!lastError) lastError = { at };
    else if (!lastError.at || Date.parse(lastError.at) < lastErrorSeconds * 1000 - 1000)
      lastError = { ...lastError, at };
  }
  const targetStatuses: TargetStatus[] = [];
  for (const t of targets) {
    targetStatuses.push({
      targetPath: t.targetPath,
      state: await targetState(t, state, staging, table, opts.probeTimeoutMs),
      ...workloadOf(t),
      ...(t.staleSince ? { staleSince: t.staleSince } : {}),
    });
  }
  return {
    shareId: share.id,
    recorded: true,
    volumeId: share.volumeId,
    bucket: share.source.bucket,
    prefix: share.source.prefix,
    pid: share.pid,
    alive,
    state,
    reasons,
    targets: targetStatuses,
    metrics: families !== undefined,
    counters: shown,
    ...(lastError ? { lastError } : {}),
    logFile: share.logFile,
  };
}

/** The status of every share and target recorded in the state dir. Read-only. */
export async function collectStatus(opts: StatusOptions): Promise<StatusReport> {
  const full = {
    thresholds: opts.thresholds ?? DEFAULT_HEALTH_THRESHOLDS,
    probeTimeoutMs: opts.probeTimeoutMs ?? 3000,
    now: opts.now ?? Date.now,
  };
  const state = readStateReadOnly(opts.stateDir);
  const table = readMountInfo();
  const targets = Object.values(state.targets);
  const shares: ShareStatus[] = [];
  for (const share of Object.values(state.shares).sort((a, b) => a.createdAt.localeCompare(b.createdAt))) {
    const mine = targets.filter((t) => t.shareId === share.id);
    shares.push(await shareStatus(opts.stateDir, share, mine, table, full));
  }
  // Targets whose share is gone (its process died and was cleaned up): dead until republished or unpublished.
  const orphans = new Map<string, TargetState[]>();
  for (const t of targets) {
    if (state.shares[t.shareId]) continue;
    orphans.set(t.shareId, [...(orphans.get(t.shareId) ?? []), t]);
  }
  for (const [shareId, ts] of orphans) {
    shares.push({
      shareId,
      recorded: false,
      volumeId: ts[0]!.volumeId,
      alive: false,
      state: 'dead',
      reasons: ['its mount process died and the share was cleaned up; the next NodePublishVolume restores it'],
      targets: ts.map((t) => ({
        targetPath: t.targetPath,
        state: 'dead' as const,
        ...workloadOf(t),
        ...(t.staleSince ? { staleSince: t.staleSince } : {}),
      })),
      metrics: false,
      counters: {},
    });
  }
  return { stateDir: opts.stateDir, at: new Date(full.now()).toISOString(), shares };
}
