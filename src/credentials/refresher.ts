// Keeps temporary credentials of running mounts fresh. The CSI node calls track() after every
// NodePublishVolume (first publish and each kubelet republish with requiresRepublish, which
// brings a fresh service-account token) and untrack() on NodeUnpublishVolume. Before the
// current credentials expire the refresher re-exchanges the latest token it has and hands
// the new credentials to the callback (the node passes mounter.updateCredentials), so the
// mount keeps working without a remount.
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { CredentialsError } from './errors.js';
import {
  resolveCredentials,
  type CredentialRequest,
  type ResolveOptions,
  type ResolvedCredentials,
} from './resolve.js';
import type { S3Credentials } from './types.js';

export type CredentialsUpdate = (credentials: S3Credentials) => Promise<void>;

export interface RefresherOptions {
  /** Re-resolves a request (default: resolveCredentials with forceRefresh). */
  resolve?: (req: CredentialRequest, opts: ResolveOptions) => Promise<ResolvedCredentials>;
  now?: () => number;
  /** Timer hooks (unit tests drive a fake clock). */
  schedule?: (fn: () => void, ms: number) => () => void;
  logger?: Logger;
  /** Never refresh earlier than this after obtaining credentials (default 1 s). */
  minDelayMs?: number;
  /** Told about every failed refresh (the node records a CredentialRefreshFailed Event); must not throw. */
  onRefreshFailed?: (e: RefreshFailure) => void;
}

/** A refresh that failed: the mount keeps its current credentials until they expire. */
export interface RefreshFailure {
  targetPath: string;
  request: CredentialRequest;
  error: Error;
  /** When the mount's current credentials expire (ISO-8601), if they do. */
  expiration?: string;
  /** Consecutive failures so far. */
  failures: number;
}

interface Entry {
  request: CredentialRequest;
  current: S3Credentials;
  obtainedAt: number;
  onUpdate: CredentialsUpdate;
  cancel?: () => void;
  failures: number;
  generation: number;
}

/**
 * When to refresh credentials obtained at `obtainedAt` that expire at `expiresAt` (ms epoch):
 * the earlier of 80 % of their lifetime and 5 minutes before expiry, but not before half of
 * the lifetime has passed (so short-lived credentials are not refreshed in a tight loop).
 */
export function refreshAt(obtainedAt: number, expiresAt: number): number {
  const lifetime = Math.max(0, expiresAt - obtainedAt);
  const at = Math.min(obtainedAt + 0.8 * lifetime, expiresAt - 5 * 60_000);
  return Math.max(at, obtainedAt + 0.5 * lifetime);
}

/** Delay before retrying a failed refresh: backoff, but never later than expiry allows. */
export function retryDelay(failures: number, msToExpiry: number): number {
  const backoff = Math.min(60_000, 1_000 * 2 ** Math.min(failures - 1, 6));
  return Math.max(1_000, Math.min(backoff, msToExpiry > 0 ? msToExpiry / 4 : backoff));
}

function sameCredentials(a: S3Credentials, b: S3Credentials): boolean {
  return (
    a.accessKeyId === b.accessKeyId &&
    a.secretAccessKey === b.secretAccessKey &&
    (a.sessionToken ?? '') === (b.sessionToken ?? '')
  );
}

export class CredentialRefresher {
  private readonly entries = new Map<string, Entry>();
  private readonly resolve: (req: CredentialRequest, opts: ResolveOptions) => Promise<ResolvedCredentials>;
  private readonly now: () => number;
  private readonly schedule: (fn: () => void, ms: number) => () => void;
  private readonly log: Logger;
  private readonly minDelay: number;
  private readonly onRefreshFailed: ((e: RefreshFailure) => void) | undefined;

  constructor(opts: RefresherOptions = {}) {
    this.resolve = opts.resolve ?? ((req, o) => resolveCredentials(req, o));
    this.now = opts.now ?? Date.now;
    this.schedule =
      opts.schedule ??
      ((fn, ms) => {
        const t = setTimeout(fn, Math.min(ms, 2 ** 31 - 1));
        t.unref();
        return () => clearTimeout(t);
      });
    this.log = opts.logger ?? silentLogger();
    this.minDelay = opts.minDelayMs ?? 1_000;
    this.onRefreshFailed = opts.onRefreshFailed;
  }

  /**
   * Remember the latest request (and so the latest pod token) for targetPath. When `resolved`
   * holds credentials different from the ones the mount has, onUpdate is called right away
   * (republish path). Credentials without an expiration are tracked but never refreshed.
   * Resolves after onUpdate finished; rejects when it failed.
   */
  async track(
    targetPath: string,
    request: CredentialRequest,
    resolved: ResolvedCredentials,
    onUpdate: CredentialsUpdate,
  ): Promise<void> {
    const creds = resolved.credentials;
    if (!creds) {
      this.untrack(targetPath);
      return;
    }
    const prev = this.entries.get(targetPath);
    if (prev && sameCredentials(prev.current, creds)) {
      prev.request = request;
      prev.onUpdate = onUpdate;
      return;
    }
    prev?.cancel?.();
    const entry: Entry = {
      request,
      current: creds,
      obtainedAt: this.now(),
      onUpdate,
      failures: 0,
      generation: (prev?.generation ?? 0) + 1,
    };
    this.entries.set(targetPath, entry);
    this.arm(targetPath, entry);
    if (prev) {
      this.log.info('credentials replaced on republish', {
        targetPath,
        volumeId: request.volumeId,
        expiration: creds.expiration,
      });
      await onUpdate(creds);
    }
  }

  /** Stop refreshing targetPath (NodeUnpublishVolume). */
  untrack(targetPath: string): void {
    const e = this.entries.get(targetPath);
    e?.cancel?.();
    this.entries.delete(targetPath);
  }

  /** Targets currently tracked. */
  tracked(): string[] {
    return [...this.entries.keys()];
  }

  /** When the next refresh of targetPath is due (ms epoch), if one is scheduled. */
  nextRefresh(targetPath: string): number | undefined {
    const e = this.entries.get(targetPath);
    return e ? this.dueAt(e) : undefined;
  }

  /** Re-exchange now and push the result (also what the timer does). */
  async refreshNow(targetPath: string): Promise<void> {
    const e = this.entries.get(targetPath);
    if (!e) throw new CredentialsError('FAILED_PRECONDITION', `no credentials tracked for ${targetPath}`);
    const gen = e.generation;
    e.cancel?.();
    e.cancel = undefined;
    try {
      const r = await this.resolve(e.request, { forceRefresh: true });
      if (this.entries.get(targetPath) !== e || e.generation !== gen) return; // replaced meanwhile
      if (!r.credentials) throw new CredentialsError('FAILED_PRECONDITION', 'refresh returned no credentials');
      await e.onUpdate(r.credentials);
      e.current = r.credentials;
      e.obtainedAt = this.now();
      e.failures = 0;
      this.log.info('credentials refreshed', {
        targetPath,
        volumeId: e.request.volumeId,
        expiration: r.credentials.expiration,
      });
      this.arm(targetPath, e);
    } catch (err) {
      if (this.entries.get(targetPath) !== e) return;
      e.failures++;
      const left = e.current.expiration ? Date.parse(e.current.expiration) - this.now() : 0;
      const delay = retryDelay(e.failures, left);
      this.log.warn('credential refresh failed; will retry', {
        targetPath,
        volumeId: e.request.volumeId,
        code: err instanceof CredentialsError ? err.code : 'UNKNOWN',
        error: (err as Error).message,
        retryInMs: delay,
      });
      e.cancel = this.schedule(() => void this.refreshNow(targetPath).catch(() => undefined), delay);
      try {
        this.onRefreshFailed?.({
          targetPath,
          request: e.request,
          error: err as Error,
          expiration: e.current.expiration,
          failures: e.failures,
        });
      } catch {
        // an observer's failure is not the refresh's
      }
      throw err;
    }
  }

  /** Cancel every timer (plugin shutdown). */
  close(): void {
    for (const e of this.entries.values()) e.cancel?.();
    this.entries.clear();
  }

  private dueAt(e: Entry): number | undefined {
    if (!e.current.expiration) return undefined;
    const exp = Date.parse(e.current.expiration);
    if (Number.isNaN(exp)) return undefined;
    return Math.max(refreshAt(e.obtainedAt, exp), e.obtainedAt + this.minDelay);
  }

  private arm(targetPath: string, e: Entry): void {
    e.cancel?.();
    e.cancel = undefined;
    const due = this.dueAt(e);
    if (due === undefined) return;
    e.cancel = this.schedule(
      () => void this.refreshNow(targetPath).catch(() => undefined),
      Math.max(0, due - this.now()),
    );
  }
}
