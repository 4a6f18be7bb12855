// The Mounter the CSI node uses: one detached FUSE mount process per share (a per-volume staging
// mount under the state dir, shared by publishes whose volume/source/options/read-only/credential
// identity match exactly), bind-mounted into each target. State is kept on disk so a restarted
// plugin adopts healthy mounts (reconcile), and dead mounts (ENOTCONN) are cleaned or restored.
//
//   CSI plugin ──spawn (detached, own session)──▶ bucketmount mount <src> <stateDir>/shares/<id>/mnt
//        │                                            │ FUSE
//        └── mount --bind <stateDir>/shares/<id>/mnt ─┴──▶ <target 1>, <target 2>, …
import { mkdir, readdir, rm, rmdir, unlink } from 'node:fs/promises';
import { closeSync, existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'winston';
import type { S3Credentials } from '../credentials/types.js';
import { writeCredentialsFile } from '../credentials/credentials-file.js';
import {
  legacySupervisedShareKey,
  newShareId,
  shareKey,
  StateStore,
  type MounterState,
  type ShareState,
  type TargetState,
} from './state-store.js';
import { KeyedMutex } from '../util/keyed-mutex.js';
import { settleWithin } from '../util/deadline.js';
import {
  describeMount,
  isFuse,
  mountsAt,
  mountsUnder,
  readMountInfo,
  topMountAt,
  type MountInfoEntry,
} from '../util/mountinfo.js';
import { bindMount, isBucketmountFuse, probeMount, unmountAll, unmountTop, type ProbeResult } from './mount-ops.js';
import { resolveTarget } from './target-path.js';
import { childPids, pidsWithArg, processAlive, procStartTime, sendSignal, waitGone } from './proc.js';
import { mountProcessEnv, PASSED_FD, spawnMount } from './spawn-mount.js';
import { FdKeeperClient } from '../fs/kernel/fd-keeper-client.js';
import { isSuccessor } from '../fs/kernel/handoff.js';
import { MountError, type Mounter, type PublishedVolume, type PublishRequest, type VolumeUsage } from './types.js';
import type { MountConfig } from '../mount-contract/args.js';
import type { TargetWorkload } from './state-store.js';

/** A target named in a mount observer's report (workload: who it serves, when the publish said). */
export interface ObservedTarget {
  targetPath: string;
  volumeId: string;
  workload?: TargetWorkload;
}

/**
 * Told when a mount dies or is restored (the node plugin turns these into Kubernetes Events).
 * Called synchronously and never awaited; a throwing observer is ignored. mountDied may be
 * reported more than once for one death (watcher, then republish or reconcile): pid + shareId
 * identify it.
 */
export interface MountObserver {
  mountDied?(e: { shareId: string; pid: number; volumeId: string; targets: ObservedTarget[]; detail: string }): void;
  /** A republish restored a target whose mount process had died. */
  mountRestored?(e: { shareId: string; pid: number; target: ObservedTarget }): void;
  /** What reconcile() did (metrics: bucketmount_node_reconcile_total); must be cheap. */
  reconciled?(outcome: ReconcileOutcome): void;
}
import { assessHealth, DEFAULT_HEALTH_THRESHOLDS, degradedMessage, type HealthThresholds } from './health.js';
import { metricsSocketOf, shareHealthSignals } from './health-signals.js';
import { socketPathFits } from '../metrics/mount-endpoint.js';

/** What reconcile() did, one count per share or target (metrics: bucketmount_node_reconcile_total). */
export type ReconcileOutcome =
  | 'adopted' // a live mount recorded on disk was taken over
  | 'restored' // a missing bind mount of an adopted share's target was made again
  | 'target_dropped' // a target record whose bind mount could not be restored was forgotten
  | 'dead_cleaned' // a recorded mount whose process is gone was cleaned up
  | 'resumed' // a mount whose processes were gone was served again on the connection the fd keeper held
  | 'orphan_cleaned' // a mount process or mount no recorded share owns was stopped
  | 'failed'; // the reconcile run itself failed

/**
 * How long a --write-back share may take to drain its pending uploads and exit after SIGTERM
 * (at least; --unmount-timeout may be longer). Past it the process is killed with an error log.
 */
export const WRITE_BACK_STOP_MS = 10 * 60_000;

/** How long the stop path waits for a share's mount process after SIGTERM before SIGKILL. */
export function stopWaitMs(source: { writeBack?: boolean }, unmountTimeoutMs: number): number {
  return source.writeBack ? Math.max(unmountTimeoutMs, WRITE_BACK_STOP_MS) : unmountTimeoutMs;
}

export interface ProcessMounterOptions {
  stateDir: string;
  logger: Logger;
  /** argv prefix of the mount command; default [node, <repo>/dist/cmd/bucketmount.js]. */
  mountCommand?: string[];
  /** How long publish waits for a new mount to serve (default 30 s). */
  readyTimeoutMs?: number;
  /** How long a dropped share may take to flush uploads and exit after SIGTERM (default 60 s). */
  unmountTimeoutMs?: number;
  /** Bound for one stat() health probe (default 3 s). */
  probeTimeoutMs?: number;
  /** Second, longer bound before a mount that did not answer is declared hung (default 20 s). */
  hungProbeTimeoutMs?: number;
  /** Environment for mount processes (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Where shares' data caches live (<cacheRoot>/<share id>; default <stateDir>/cache). */
  cacheRoot?: string;
  /** Told about dead and restored mounts (Events) and reconcile outcomes (metrics); optional. */
  observer?: MountObserver;
  /**
   * With an observer of deaths (mountDied): how often the recorded shares' pids are checked so a death between kubelet
   * calls is noticed (default 30 s; 0 = only at reconcile and publish). No probes, only /proc.
   */
  watchIntervalMs?: number;
  /** When a serving mount is reported degraded by usage() (default DEFAULT_HEALTH_THRESHOLDS). */
  health?: HealthThresholds;
  /** Each mount process serves its metrics on <share dir>/metrics.sock (default true; false = mounts keep no metrics). */
  mountMetrics?: boolean;
  /** Version of the mount command on disk, recorded per share; upgradeMounts() hands over servers of other versions. */
  serverVersion?: string;
  /**
   * The node's fd keeper socket (src/mounter/fd-keeper.ts): supervised mounts keep a duplicate of
   * their connection there, and reconcile resumes a mount whose processes are gone on it.
   */
  fdKeeper?: string;
}

/** With an fd keeper: how often shares whose processes all died are looked for (and resumed). */
export const RESUME_CHECK_MS = 2_000;

export const DEFAULT_MOUNT_COMMAND = [
  process.execPath,
  fileURLToPath(new URL('../../cmd/bucketmount.js', import.meta.url)),
];

export interface ProcessMounter extends Mounter {
  readonly stateDir: string;
  /** A copy of the current state (tests, debugging). */
  snapshot(): MounterState;
  /**
   * Ask every supervised share's supervisor whose server runs another version than
   * `serverVersion` (all of them when it is unset) to hand the mount over to a server started
   * from the command on disk (SIGUSR2, docs/fuse3.md). Returns the share ids asked.
   */
  upgradeMounts(): Promise<string[]>;
}

/** A share whose mount process is a supervisor (`--supervise`); shares of older versions are not. */
function isSupervised(share: ShareState): boolean {
  return share.source.supervise === true;
}

export function createProcessMounter(opts: ProcessMounterOptions): ProcessMounter {
  return new ProcessMounterImpl(opts);
}

class ProcessMounterImpl implements ProcessMounter {
  readonly stateDir: string;
  private readonly store: StateStore;
  private readonly log: Logger;
  private readonly command: string[];
  private readonly readyTimeoutMs: number;
  private readonly unmountTimeoutMs: number;
  private readonly probeTimeoutMs: number;
  private readonly hungProbeTimeoutMs: number;
  private readonly env: NodeJS.ProcessEnv;
  private readonly cacheRoot: string;
  private readonly health: HealthThresholds;
  private readonly mountMetrics: boolean;
  /** The "socket path too long" warning is logged once. */
  private warnedSocketPath = false;
  private readonly serverVersion: string | undefined;
  private readonly keeper: FdKeeperClient | undefined;
  private readonly targetLocks = new KeyedMutex();
  private readonly shareLocks = new KeyedMutex();
  /** Settles when the latest reconcile() has finished; every other operation waits for it. */
  private reconciled: Promise<void> = Promise.resolve();
  private readonly observer: MountObserver | undefined;
  private watchTimer: NodeJS.Timeout | undefined;
  private resumeTimer: NodeJS.Timeout | undefined;
  private resuming = false;
  /** Shares the keeper had no descriptor for: the periodic check does not ask again (a take blocks briefly). */
  private readonly notKept = new Set<string>();

  constructor(opts: ProcessMounterOptions) {
    this.stateDir = resolve(opts.stateDir);
    this.store = new StateStore(this.stateDir);
    this.log = opts.logger.child({ component: 'mounter' });
    this.command = opts.mountCommand ?? DEFAULT_MOUNT_COMMAND;
    this.readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;
    this.unmountTimeoutMs = opts.unmountTimeoutMs ?? 60_000;
    this.probeTimeoutMs = opts.probeTimeoutMs ?? 3_000;
    this.hungProbeTimeoutMs = opts.hungProbeTimeoutMs ?? 20_000;
    this.env = opts.env ?? process.env;
    this.cacheRoot = resolve(opts.cacheRoot ?? join(this.stateDir, 'cache'));
    this.health = opts.health ?? DEFAULT_HEALTH_THRESHOLDS;
    this.mountMetrics = opts.mountMetrics ?? true;
    this.serverVersion = opts.serverVersion;
    this.keeper = opts.fdKeeper !== undefined ? new FdKeeperClient(opts.fdKeeper) : undefined;
    this.store.load();
    this.observer = opts.observer;
    const every = opts.watchIntervalMs ?? 30_000;
    if (this.observer?.mountDied && every > 0) {
      this.watchTimer = setInterval(() => this.checkSharePids(), every);
      this.watchTimer.unref();
    }
    if (this.keeper && every > 0) {
      this.resumeTimer = setInterval(() => void this.resumeDeadShares(), Math.min(every, RESUME_CHECK_MS));
      this.resumeTimer.unref();
    }
  }

  /**
   * With an fd keeper: a supervised share whose supervisor and server are both gone while the
   * plugin runs (killed together, OOM) is resumed on the kept connection within RESUME_CHECK_MS,
   * so its pods see a pause instead of waiting for the next republish. One pass at a time.
   */
  private async resumeDeadShares(): Promise<void> {
    if (this.resuming) return;
    this.resuming = true;
    try {
      await this.reconciled;
      for (const share of this.store.shares()) {
        if (share.pid <= 0 || !isSupervised(share) || this.notKept.has(share.id)) continue;
        if (processAlive(share.pid, share.pidStartTime)) continue;
        await this.shareLocks.run(share.key, async () => {
          if (this.store.share(share.id) === share && (await this.resumeFromKeeper(share)))
            this.log.warn("a supervised mount's processes died while the plugin ran; resumed it from the fd keeper", {
              share: share.id,
            });
        });
      }
    } catch (err) {
      this.log.error('resuming dead mounts from the fd keeper failed', { error: (err as Error).message });
    } finally {
      this.resuming = false;
    }
  }

  /** Report recorded shares whose mount process is gone (the watcher; cheap: /proc only). */
  checkSharePids(): void {
    for (const share of this.store.shares()) {
      if (share.pid > 0 && !processAlive(share.pid, share.pidStartTime))
        this.reportDied(share, 'the mount process exited');
    }
  }

  private observed(target: string): ObservedTarget {
    const t = this.store.target(target);
    return { targetPath: target, volumeId: t?.volumeId ?? '', ...(t?.workload ? { workload: t.workload } : {}) };
  }

  private notify(f: (o: MountObserver) => void): void {
    if (!this.observer) return;
    try {
      f(this.observer);
    } catch (err) {
      this.log.debug('mount observer failed', { error: (err as Error).message });
    }
  }

  private reportDied(share: ShareState, detail: string): void {
    const targets = share.targets.map((t) => this.observed(t));
    this.notify((o) => o.mountDied?.({ shareId: share.id, pid: share.pid, volumeId: share.volumeId, targets, detail }));
  }

  snapshot(): MounterState {
    return this.store.snapshot();
  }

  private save(): Promise<void> {
    return this.store.save();
  }

  /**
   * stat() probe of a mount. A mount that does not answer in probeTimeoutMs gets a second, longer
   * chance (hungProbeTimeoutMs): a busy but live mount process must not be mistaken for a dead one
   * and replaced (that would cut off every other target of its share).
   */
  private async probe(path: string): Promise<{ result: ProbeResult; detail: string }> {
    const p = await probeMount(path, this.probeTimeoutMs);
    if (p.result !== 'hung') return p;
    this.log.warn('mount is slow to answer; probing again with a longer timeout', {
      path,
      timeoutMs: this.hungProbeTimeoutMs,
    });
    return probeMount(path, this.hungProbeTimeoutMs);
  }

  private async shareServes(share: ShareState): Promise<boolean> {
    if (!processAlive(share.pid, share.pidStartTime) && !this.adoptOrphanServer(share)) return false;
    if (!isFuse(topMountAt(share.stagingPath))) return false;
    return this.serves(share.stagingPath, share);
  }

  /**
   * Does the mount at `path` (the staging mount or a target of `share`) answer? For a supervised
   * share the recorded pid is the supervisor's: while it lives and holds the mount, a stat that
   * does not answer means its server is being replaced (crash or upgrade hand-off; requests wait
   * in the kernel), so we wait for the successor instead of declaring the mount dead. A server
   * that is alive but still does not answer after readyTimeoutMs is killed so that the
   * supervisor starts a successor on the same connection (the targets keep their mount).
   */
  private async serves(path: string, share: ShareState): Promise<boolean> {
    if (!isSupervised(share)) return (await this.probe(path)).result === 'serving';
    // One stat at a time (a hung stat holds a libuv thread until the mount answers).
    const probe = probeMount(path, this.readyTimeoutMs);
    const quick = await settleWithin(probe, this.probeTimeoutMs, () => undefined);
    if (quick === undefined && this.supervisorHolds(share)) {
      this.log.warn("supervised mount does not answer; waiting for its supervisor's server hand-off", {
        share: share.id,
        supervisor: share.pid,
        server: childPids(share.pid)[0],
        timeoutMs: this.readyTimeoutMs,
      });
    }
    const p = await probe;
    if (p.result === 'serving') return true;
    if (p.result !== 'hung' || !this.supervisorHolds(share)) return false;
    const server = childPids(share.pid)[0];
    if (server === undefined) return false;
    this.log.warn('the server of a supervised mount is hung; killing it so its supervisor starts a successor', {
      share: share.id,
      server,
      waitedMs: this.readyTimeoutMs,
    });
    sendSignal(server, 'SIGKILL');
    return (await probeMount(path, this.readyTimeoutMs)).result === 'serving';
  }

  /**
   * A supervised share whose supervisor died while its server lives on (the server holds the
   * connection too, so the mount still serves): record the server as the share's process, without
   * supervision from now on (its own crash is final, as for an unsupervised mount), rather than
   * replacing a mount that serves. False when there is no such server.
   */
  private adoptOrphanServer(share: ShareState): boolean {
    if (!isSupervised(share)) return false;
    const servers = pidsWithArg(this.store.shareDir(share.id) + '/').filter((p) => p !== share.pid);
    const server = servers.length === 1 ? servers[0]! : undefined;
    const startTime = server === undefined ? undefined : procStartTime(server);
    if (server === undefined || startTime === undefined) return false;
    this.log.warn("a supervised mount's supervisor died; its server still serves: adopting it without supervision", {
      share: share.id,
      supervisor: share.pid,
      server,
    });
    share.pid = server;
    share.pidStartTime = startTime;
    share.source = { ...share.source, supervise: undefined };
    void this.save();
    return true;
  }

  /** A supervised share whose supervisor is alive and still holds the staging mount (the FUSE connection lives). */
  private supervisorHolds(share: ShareState): boolean {
    return isSupervised(share) && processAlive(share.pid, share.pidStartTime) && isFuse(topMountAt(share.stagingPath));
  }

  /** Refuse to replace a supervised mount whose supervisor still holds the connection. */
  private refuseToReplace(share: ShareState, target: string): never {
    throw new MountError(
      'unavailable',
      `the mount of ${target} does not answer, but its supervisor (process ${share.pid}) holds the FUSE connection and restarts its server on it; not replacing the mount (retry later)`,
    );
  }

  /** The target is a bind mount of this (serving) share and answers stat. */
  private async targetServes(target: string, share: ShareState): Promise<boolean> {
    const table = readMountInfo();
    const t = topMountAt(target, table);
    const s = topMountAt(share.stagingPath, table);
    if (!t || !s || t.device !== s.device || !isFuse(t)) return false;
    if (!processAlive(share.pid, share.pidStartTime)) return false;
    return this.serves(target, share);
  }

  // ---------------------------------------------------------------- reconcile

  reconcile(): Promise<void> {
    const run = this.reconciled.then(() => this.reconcileNow());
    this.reconciled = run.catch(() => this.note('failed'));
    return run;
  }

  private note(outcome: ReconcileOutcome): void {
    this.notify((o) => o.reconciled?.(outcome));
  }

  private async reconcileNow(): Promise<void> {
    this.store.load();
    const log = this.log;
    log.info('reconciling mount state', { shares: this.store.shares().length, targets: this.store.targets().length });
    for (const legacy of this.store.legacyFuseLayers) {
      if (legacy.fuseLayer === 'fuse3') log.info('share of an older version: its recorded FUSE layer dropped', legacy);
      else log.warn('share of an older version on a removed FUSE layer: kept while its process lives', legacy);
    }
    for (const share of this.store.shares()) {
      await this.shareLocks.run(share.key, async () => {
        if ((await this.shareServes(share)) || (await this.resumeFromKeeper(share))) {
          log.info('adopting healthy mount', {
            share: share.id,
            pid: share.pid,
            volumeId: share.volumeId,
            targets: share.targets.length,
          });
          this.note('adopted');
          for (const target of [...share.targets]) {
            if (await this.targetServes(target, share)) continue;
            const left = await this.removeOurMounts(target, true, { lazyOnly: true }).catch((err: Error) => {
              log.error('cannot take the broken bind mount off a target', { target, error: err.message });
              return undefined;
            });
            if (left?.blockedBy) continue; // a foreign mount on top: leave it all to unpublish (which reports it)
            if (left && left.foreign.length === 0 && existsSync(target)) {
              try {
                await bindMount(share.stagingPath, target, false);
                log.warn('restored missing bind mount of an adopted share', { target, share: share.id });
                this.note('restored');
                continue;
              } catch (err) {
                log.error('cannot restore bind mount', { target, error: (err as Error).message });
              }
            }
            this.store.removeTarget(target);
            this.note('target_dropped');
          }
          if (share.targets.length === 0) await this.dropShare(share, 'adopted share has no targets left');
        } else if (this.supervisorHolds(share)) {
          // Never replaced while its supervisor holds the connection: the targets keep this mount.
          log.warn('recorded supervised mount does not answer yet; keeping it (its supervisor holds the connection)', {
            share: share.id,
            pid: share.pid,
            volumeId: share.volumeId,
          });
        } else {
          // Dead: its targets keep the dead (ENOTCONN) bind mount until kubelet republishes (the
          // host-side target is restored; running containers keep their dead view until they
          // restart) or unpublishes (cleaned); we never leave an empty local dir in its place.
          log.warn('recorded mount is dead; cleaning it up', {
            share: share.id,
            pid: share.pid,
            volumeId: share.volumeId,
          });
          this.reportDied(share, 'found dead when the plugin started');
          await this.dropShare(share, 'dead at reconcile');
          this.note('dead_cleaned');
        }
      });
    }
    // Stale target records: no share and nothing there any more.
    for (const t of this.store.targets()) {
      if (!this.store.share(t.shareId) && !existsSync(t.targetPath) && !topMountAt(t.targetPath))
        this.store.removeTarget(t.targetPath);
    }
    await this.cleanOrphans();
    await this.save();
  }

  /** Mounts, processes and directories under the shares dir that no recorded share owns. */
  private async cleanOrphans(): Promise<void> {
    const live = new Set(this.store.shares().map((s) => s.id));
    // A supervised share's server is the supervisor's child: it names the share's path too.
    const livePids = new Set(this.store.shares().flatMap((s) => [s.pid, ...(isSupervised(s) ? childPids(s.pid) : [])]));
    for (const pid of pidsWithArg(this.store.sharesDir + '/')) {
      if (livePids.has(pid)) continue;
      this.log.warn('killing orphan mount process', { pid });
      this.note('orphan_cleaned');
      sendSignal(pid, 'SIGTERM');
      if (!(await waitGone(pid, undefined, Math.min(this.unmountTimeoutMs, 10_000)))) sendSignal(pid, 'SIGKILL');
    }
    for (const m of mountsUnder(this.store.sharesDir).reverse()) {
      const id = m.mountPoint.slice(this.store.sharesDir.length + 1).split('/')[0]!;
      if (!live.has(id)) {
        await unmountAll(m.mountPoint, { lazyOnly: true });
        this.note('orphan_cleaned');
      }
    }
    for (const id of await readdir(this.store.sharesDir).catch(() => [] as string[])) {
      if (!live.has(id)) await this.removeShareFiles(id);
    }
  }

  // ---------------------------------------------------------------- publish

  /** The recorded form of a target path: parents resolved with realpath, last component as given. */
  private async targetKey(targetPath: string): Promise<string> {
    return (await resolveTarget(resolve(targetPath))).path;
  }

  /** Credential identity a target was published with (older state files: its share's). */
  private identityOf(t: TargetState): string | undefined {
    return t.credentialIdentity ?? this.store.share(t.shareId)?.credentialIdentity;
  }

  /**
   * Is this mount one this plugin made? A mount of a share's FUSE file system (same device as a
   * staging mount under <stateDir>/shares), or a bucketmount FUSE mount that is a recorded target
   * or dead (its share is gone: nobody serves it). Anything else (a tmpfs, a foreign bind, a live
   * bucketmount mount of someone else) is not ours.
   */
  private async isOurs(m: MountInfoEntry, table: MountInfoEntry[], recorded: boolean): Promise<boolean> {
    const shareDevices = new Set(mountsUnder(this.store.sharesDir, table).map((x) => x.device));
    if (shareDevices.has(m.device)) return true;
    if (!isBucketmountFuse(m)) return false;
    if (recorded) return true;
    return (await probeMount(m.mountPoint, this.probeTimeoutMs)).result === 'dead';
  }

  /**
   * Take our mounts off a target, top first, stopping at the first mount that is not ours.
   * Returns what is left: `blockedBy` when a foreign mount sits on top of one of ours (we would
   * have to remove it to reach ours), `foreign` for the mounts left (none of ours among them
   * unless blockedBy), `removed` how many of ours went.
   */
  private async removeOurMounts(
    target: string,
    recorded: boolean,
    opts: { lazyOnly?: boolean } = {},
  ): Promise<{ removed: number; foreign: MountInfoEntry[]; blockedBy?: MountInfoEntry }> {
    let removed = 0;
    for (let round = 0; round < 16; round++) {
      const table = readMountInfo();
      const stack = mountsAt(target, table);
      const top = stack[stack.length - 1];
      if (!top) return { removed, foreign: [] };
      if (!(await this.isOurs(top, table, recorded))) {
        let oursBelow = false;
        for (const m of stack.slice(0, -1)) if (await this.isOurs(m, table, recorded)) oursBelow = true;
        return { removed, foreign: stack, ...(oursBelow ? { blockedBy: top } : {}) };
      }
      if (!(await unmountTop(target, top, opts))) {
        throw new MountError(
          'internal',
          `cannot unmount ${target} (${describeMount(top)}): umount, fusermount3 -u -z and umount -l all failed`,
        );
      }
      removed++;
    }
    throw new MountError('internal', `cannot unmount ${target}: mounts keep reappearing`);
  }

  async lookup(targetPath: string): Promise<PublishedVolume | undefined> {
    await this.reconciled;
    const target = await this.targetKey(targetPath);
    const t = this.store.target(target);
    if (!t) return undefined;
    const share = this.store.share(t.shareId);
    const healthy = share ? await this.targetServes(target, share) : false;
    return {
      volumeId: t.volumeId,
      targetPath: target,
      readOnly: t.readOnly,
      capabilityFingerprint: t.capabilityFingerprint,
      healthy,
      pid: share?.pid,
      credentialIdentity: this.identityOf(t),
      ...(t.staleSince ? { staleSince: t.staleSince } : {}),
    };
  }

  async publish(req: PublishRequest): Promise<void> {
    if (!req.volumeId) throw new MountError('invalid-argument', 'volume id is missing');
    if (!req.targetPath || !isAbsolute(req.targetPath)) {
      throw new MountError('invalid-argument', `target path "${req.targetPath}" must be an absolute path`);
    }
    const resolved = await resolveTarget(resolve(req.targetPath));
    const target = resolved.path;
    if (resolved.kind === 'symlink') {
      throw new MountError(
        'invalid-argument',
        `target path ${target} is a symbolic link; refusing to mount at the link's destination (give the real directory)`,
      );
    }
    if (resolved.kind === 'other')
      throw new MountError('invalid-argument', `target path ${target} exists and is not a directory`);
    if (target === this.stateDir || target.startsWith(this.stateDir + '/')) {
      throw new MountError(
        'invalid-argument',
        `target path ${target} may not be inside the driver's state dir ${this.stateDir}`,
      );
    }
    const key = shareKey(req.volumeId, req.source, req.readOnly, req.credentialIdentity);
    await this.reconciled;
    await this.targetLocks.run(target, async () => {
      const existing = this.store.target(target);
      /** Set when the mount this target's containers use is replaced (see TargetState.staleSince). */
      let stale: { since: string; reason: string } | undefined;
      /** This publish restores a target whose mount died (observer: mountRestored). */
      let restoring = false;
      if (existing) {
        const oldIdentity = this.identityOf(existing);
        const otherIdentityOnly =
          existing.shareKey !== key &&
          oldIdentity !== undefined &&
          shareKey(req.volumeId, req.source, req.readOnly, oldIdentity) === existing.shareKey;
        const sameKey =
          existing.shareKey === key ||
          existing.shareKey ===
            legacySupervisedShareKey(req.volumeId, req.source, req.readOnly, req.credentialIdentity);
        if ((!sameKey && !otherIdentityOnly) || existing.capabilityFingerprint !== req.capabilityFingerprint) {
          throw new MountError(
            'already-exists',
            `target ${target} is already published for volume ${existing.volumeId} with different ${existing.volumeId !== req.volumeId ? 'volume' : existing.shareKey !== key ? 'source, options or read-only flag' : 'access mode/capability'}; unpublish it first`,
          );
        }
        const share = this.store.share(existing.shareId);
        // Its processes died but the fd keeper holds the connection: serve it again first.
        if (share) await this.shareLocks.run(share.key, () => this.resumeFromKeeper(share));
        const serves = share !== undefined && (await this.targetServes(target, share));
        if (serves && !otherIdentityOnly) {
          if (req.credentials && share.credentialsFile)
            await writeCredentialsFile(share.credentialsFile, req.credentials);
          return; // idempotent
        }
        if (serves && (await this.takeIdentityInPlace(share, existing, req, key))) return;
        if (serves) {
          // Other targets use this share: they keep it, this target gets a mount of its own identity.
          this.log.info('republish with another credential identity: moving the target to a mount of that identity', {
            target,
            volumeId: req.volumeId,
            from: share.id,
          });
          stale = {
            since: new Date().toISOString(),
            reason: 'republished with another credential identity; the target now has a mount of its own',
          };
        } else {
          const died = share === undefined || !(await this.shareServes(share));
          if (died && share && this.supervisorHolds(share)) this.refuseToReplace(share, target);
          this.log.warn(
            'republish of a dead or missing mount: restoring it on the host; running containers keep the dead mount until they restart',
            { target, volumeId: req.volumeId },
          );
          if (died) stale = { since: new Date().toISOString(), reason: 'the mount process that served it died' };
          restoring = true;
          if (share && died) this.reportDied(share, 'found dead at a republish');
        }
        if (existing.staleSince)
          stale = { since: existing.staleSince, reason: existing.staleReason ?? stale?.reason ?? 'replaced' };
        await this.clearTarget(target, true);
        if (share) {
          await this.shareLocks.run(share.key, async () => {
            this.store.removeTarget(target);
            // A mount of another identity that no target uses any more stops (the same key is reused below).
            if (share.key !== key && share.targets.length === 0 && this.store.share(share.id) === share)
              await this.dropShare(share, 'its last target moved to another credential identity');
          });
        } else {
          this.store.removeTarget(target);
        }
      } else if (topMountAt(target)) {
        await this.clearTarget(target, false);
      }
      await this.shareLocks.run(key, async () => {
        let share = this.store.findShare(key);
        if (share && !(await this.shareServes(share)) && !(await this.resumeFromKeeper(share))) {
          if (this.supervisorHolds(share)) this.refuseToReplace(share, target);
          this.log.warn('shared mount is dead; replacing it', { share: share.id, pid: share.pid });
          this.reportDied(share, 'found dead at a publish');
          // Its other targets are dead too; they get restored on their own republish.
          await this.dropShare(share, 'dead');
          share = undefined;
        }
        if (!share) share = await this.startShare(req, key);
        else if (req.credentials && share.credentialsFile)
          await writeCredentialsFile(share.credentialsFile, req.credentials);
        try {
          await mkdir(target, { recursive: true });
          const again = await resolveTarget(target);
          if (again.path !== target || again.kind !== 'dir')
            throw new MountError(
              'invalid-argument',
              `target path ${target} changed while publishing (now ${again.kind} at ${again.path})`,
            );
          await bindMount(share.stagingPath, target, false);
          const p = await this.probe(target);
          if (p.result !== 'serving') throw new Error(`the bind mount does not serve (${p.detail})`);
        } catch (err) {
          await this.removeOurMounts(target, true, { lazyOnly: true }).catch(() => undefined);
          if (share.targets.length === 0) await this.dropShare(share, 'publish failed');
          throw err instanceof MountError
            ? err
            : new MountError('internal', `publishing ${target} failed: ${(err as Error).message}`, { cause: err });
        }
        this.store.addTarget({
          targetPath: target,
          volumeId: req.volumeId,
          shareId: share.id,
          shareKey: key,
          readOnly: req.readOnly,
          capabilityFingerprint: req.capabilityFingerprint,
          credentialIdentity: req.credentialIdentity,
          ...(stale ? { staleSince: stale.since, staleReason: stale.reason } : {}),
          ...(req.workload ? { workload: req.workload } : {}),
        });
        await this.save();
        if (restoring) {
          const restored = share;
          this.notify((o) =>
            o.mountRestored?.({ shareId: restored.id, pid: restored.pid, target: this.observed(target) }),
          );
        }
        this.log.info('published', {
          target,
          volumeId: req.volumeId,
          share: share.id,
          pid: share.pid,
          shared: share.targets.length > 1,
        });
      });
    });
  }

  /**
   * Take our mounts off a target before (re)binding it; refuse when a mount this plugin did not
   * make is there (we never unmount it, and binding over it would hide it).
   */
  private async clearTarget(target: string, recorded: boolean): Promise<void> {
    const left = await this.removeOurMounts(target, recorded, { lazyOnly: true });
    const top = left.foreign[left.foreign.length - 1];
    if (top)
      throw new MountError(
        'already-exists',
        `something this driver did not mount (${describeMount(top)}) is mounted at ${target}; unmount it first`,
      );
  }

  /**
   * A republish of a share's only target with another credential identity: nobody else uses the
   * mount, so it takes the new identity in place (same process, new credentials file), as a
   * secret rotation expects. False when that is not possible (other targets, or a switch
   * between driver credentials and volume credentials): the caller moves the target instead.
   */
  private async takeIdentityInPlace(
    share: ShareState,
    existing: TargetState,
    req: PublishRequest,
    key: string,
  ): Promise<boolean> {
    if (!req.credentials || !share.credentialsFile) return false;
    const credentialsFile = share.credentialsFile;
    const credentials = req.credentials;
    return this.shareLocks.run(share.key, async () => {
      if (
        this.store.share(share.id) !== share ||
        share.targets.length !== 1 ||
        share.targets[0] !== existing.targetPath
      )
        return false;
      await writeCredentialsFile(credentialsFile, credentials);
      this.store.rekeyShare(share.id, key, req.credentialIdentity);
      await this.save();
      this.log.info("republish with another credential identity: the sole target's mount takes it in place", {
        target: existing.targetPath,
        share: share.id,
      });
      return true;
    });
  }

  /** Where a share's mount process serves its metrics; undefined when mounts keep none or the path cannot be a socket. */
  private metricsSocketIn(shareDir: string): string | undefined {
    if (!this.mountMetrics) return undefined;
    const path = metricsSocketOf(shareDir);
    if (socketPathFits(path)) return path;
    if (!this.warnedSocketPath) {
      this.warnedSocketPath = true;
      this.log.warn(
        'the state dir path is too long for a unix socket: mounts run without metrics (use a shorter --state-dir)',
        {
          path,
          bytes: Buffer.byteLength(path),
        },
      );
    }
    return undefined;
  }

  /** Where a supervised share's supervisor keeps its hand-off state: with the share on the node, so the next plugin container finds it. */
  private supervisorStateDir(share: ShareState): string {
    return join(this.store.shareDir(share.id), 'supervise');
  }

  /** The argv of a share's mount process, from its record (a new mount, or a supervisor resuming it). */
  private mountConfigOf(share: ShareState): MountConfig {
    const dir = this.store.shareDir(share.id);
    const supervised = isSupervised(share);
    return {
      ...share.source,
      // Spool files live with the share, so they go with it even after a kill -9.
      spoolDir: share.source.spoolDir ?? join(dir, 'spool'),
      // A data cache gets its own 0700 dir per share, removed with the share (removeShareFiles).
      cacheDir: share.source.cacheDir === undefined ? undefined : join(share.source.cacheDir, share.id),
      mountPoint: share.stagingPath,
      readOnly: share.readOnly,
      foreground: true,
      credentialsFile: share.credentialsFile,
      logFile: share.logFile,
      volumeId: share.volumeId,
      // Outside the share dir (removed with the share), keyed like the share: a crashed mount's successor aborts its uploads.
      uploadJournal: join(this.stateDir, 'upload-journals', `${share.key}.json`),
      // The node plugin scrapes it (src/metrics/node-metrics.ts); 0600 in the 0700 share dir.
      metricsSocket: share.metricsSocket,
      ...(supervised ? { supervision: { stateDir: this.supervisorStateDir(share) } } : {}),
      ...(supervised && this.keeper ? { fdKeeper: this.keeper.socketPath } : {}),
    };
  }

  /**
   * A supervised share whose processes are gone (the plugin's container was restarted or killed)
   * while its staging mount is still there: take the connection back from the fd keeper and start
   * a supervisor on it, which starts a successor server at once (requests that waited are
   * replayed). The keeper's descriptor must belong to the mount now at the staging path (same
   * device). True when the mount serves again. Caller holds the share lock.
   */
  private async resumeFromKeeper(share: ShareState): Promise<boolean> {
    if (!this.keeper || !isSupervised(share) || processAlive(share.pid, share.pidStartTime)) return false;
    const mounted = topMountAt(share.stagingPath);
    const stateDir = this.supervisorStateDir(share);
    if (!isFuse(mounted) || !isSuccessor(stateDir)) return false;
    // A server that outlived its supervisor still serves the connection: never a second one on it.
    if (pidsWithArg(this.store.shareDir(share.id) + '/').length > 0) return false;
    const taken = this.keeper.take(share.stagingPath);
    if (!taken) {
      this.notKept.add(share.id);
      return false;
    }
    const log = this.log;
    try {
      if (taken.dev !== mounted!.device) {
        log.warn('the fd keeper holds another connection for this mount point; not resuming', {
          share: share.id,
          held: taken.dev,
          mounted: mounted!.device,
        });
        this.keeper.release(share.stagingPath);
        return false;
      }
      log.info('resuming a mount on the connection the fd keeper held', { share: share.id, device: taken.dev });
      const cfg = this.mountConfigOf(share);
      await spawnMount({
        command: this.command,
        cfg: { ...cfg, supervision: { stateDir, adoptFd: PASSED_FD } },
        passFd: taken.fd,
        outputFile: share.logFile,
        env: mountProcessEnv(this.env, share.credentialsFile !== undefined),
        readyTimeoutMs: this.readyTimeoutMs,
        logger: log,
        onSpawn: async (pid, startTime) => {
          share.pid = pid;
          share.pidStartTime = startTime;
          // Its server runs the command on disk: this plugin's version (no upgrade hand-off needed).
          if (this.serverVersion !== undefined) share.serverVersion = this.serverVersion;
          await this.save();
        },
      });
      this.note('resumed');
      return true;
    } catch (err) {
      log.error('resuming the mount from the fd keeper failed', { share: share.id, error: (err as Error).message });
      return false;
    } finally {
      closeSync(taken.fd);
    }
  }

  /** Start a new mount process for a share and wait until it serves. Caller holds the share lock. */
  private async startShare(req: PublishRequest, key: string): Promise<ShareState> {
    const id = newShareId(key);
    const dir = await this.store.createShareDir(id);
    const share: ShareState = {
      id,
      key,
      volumeId: req.volumeId,
      readOnly: req.readOnly,
      source: req.source,
      credentialIdentity: req.credentialIdentity,
      pid: 0,
      stagingPath: join(dir, 'mnt'),
      logFile: join(dir, 'mount.log'),
      credentialsFile: req.credentials ? join(dir, 'credentials.json') : undefined,
      metricsSocket: this.metricsSocketIn(dir),
      targets: [],
      createdAt: new Date().toISOString(),
      ...(this.serverVersion !== undefined ? { serverVersion: this.serverVersion } : {}),
    };
    this.store.putShare(share);
    try {
      await this.save();
      if (req.credentials && share.credentialsFile) await writeCredentialsFile(share.credentialsFile, req.credentials);
      const cfg = this.mountConfigOf(share);
      await spawnMount({
        command: this.command,
        cfg,
        outputFile: share.logFile,
        env: mountProcessEnv(this.env, share.credentialsFile !== undefined),
        readyTimeoutMs: this.readyTimeoutMs,
        logger: this.log,
        onSpawn: async (pid, startTime) => {
          share.pid = pid;
          share.pidStartTime = startTime;
          await this.save();
        },
      });
      return share;
    } catch (err) {
      this.store.removeShare(id);
      await this.save();
      await this.removeShareFiles(id, req.source.cacheDir);
      throw err;
    }
  }

  /**
   * Stop a share: SIGTERM (the mount process flushes pending uploads, unmounts, exits), bounded
   * wait, SIGKILL fallback, then remove the staging mount (fusermount3 -u / umount -l) and files.
   * Caller holds the share lock.
   */
  private async dropShare(share: ShareState, reason: string): Promise<void> {
    this.log.info('stopping mount process', { share: share.id, pid: share.pid, reason });
    if (processAlive(share.pid, share.pidStartTime)) {
      sendSignal(share.pid, 'SIGTERM');
      // A --write-back mount drains its pending uploads first (docs/write-back.md): give it longer.
      const waitMs = stopWaitMs(share.source, this.unmountTimeoutMs);
      if (!(await waitGone(share.pid, share.pidStartTime, waitMs))) {
        this.log.error('mount process did not exit after SIGTERM; killing it (pending uploads may be lost)', {
          share: share.id,
          pid: share.pid,
          waitedMs: waitMs,
          writeBack: share.source.writeBack === true,
        });
        sendSignal(share.pid, 'SIGKILL');
        await waitGone(share.pid, share.pidStartTime, 5000);
      }
    }
    // A supervised share's server outlives a supervisor that was killed: stop it too (it holds the upload journal).
    for (const pid of pidsWithArg(this.store.shareDir(share.id) + '/')) {
      this.log.warn('stopping a process left of the share', { share: share.id, pid });
      sendSignal(pid, 'SIGTERM');
      if (!(await waitGone(pid, undefined, this.unmountTimeoutMs))) sendSignal(pid, 'SIGKILL');
    }
    const left = await unmountAll(share.stagingPath);
    if (left.length) this.log.error('staging mount could not be removed', { share: share.id, path: share.stagingPath });
    // A supervisor releases its connection when it ends; one that was killed could not.
    this.keeper?.release(share.stagingPath);
    this.notKept.delete(share.id);
    this.store.removeShare(share.id);
    await this.save();
    if (!left.length) await this.removeShareFiles(share.id, share.source.cacheDir);
  }

  /** Remove a share's files (and its data cache under cacheRoot) without ever recursing into a (possibly still mounted) directory. */
  private async removeShareFiles(id: string, cacheRoot = this.cacheRoot): Promise<void> {
    await rm(join(cacheRoot, id), { recursive: true, force: true }).catch(() => undefined);
    const dir = this.store.shareDir(id);
    if (mountsUnder(dir).length) {
      this.log.error('not removing share dir: something is still mounted in it', { dir });
      return;
    }
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const p = join(dir, name);
      if (name === 'mnt') {
        await rmdir(p).catch(() => undefined); // never recurse into a mount point
        continue;
      }
      await unlink(p).catch(async (err: NodeJS.ErrnoException) => {
        // Directories other than mnt (spool): nothing is mounted under dir (checked above).
        if (err.code === 'EISDIR' || err.code === 'EPERM')
          await rm(p, { recursive: true, force: true }).catch(() => undefined);
      });
    }
    await rmdir(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') this.log.warn('cannot remove share dir', { dir, error: err.code });
    });
  }

  // ---------------------------------------------------------------- unpublish etc.

  async unpublish(targetPath: string): Promise<void> {
    if (!targetPath || !isAbsolute(targetPath)) {
      throw new MountError('invalid-argument', `target path "${targetPath}" must be an absolute path`);
    }
    const { path: target, kind } = await resolveTarget(resolve(targetPath));
    await this.reconciled;
    await this.targetLocks.run(target, async () => {
      const t = this.store.target(target);
      // Only what this plugin mounted goes; a foreign mount stays, and so does its directory.
      const left = await this.removeOurMounts(target, t !== undefined);
      if (left.blockedBy) {
        throw new MountError(
          'failed-precondition',
          `a mount this driver did not make (${describeMount(left.blockedBy)}) sits on top of the bucketmount mount at ${target}; unmount it first, then retry`,
        );
      }
      if (left.foreign.length) {
        this.log.warn('leaving mounts this driver did not make at the target', {
          target,
          mounts: left.foreign.map(describeMount),
        });
      } else if ((t || left.removed > 0) && (kind === 'dir' || kind === 'mount')) {
        await rmdir(target).catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return;
          if (err.code === 'ENOTEMPTY') this.log.warn('target dir is not empty after unmount; leaving it', { target });
          else
            throw new MountError('internal', `cannot remove target dir ${target}: ${err.code ?? err.message}`, {
              cause: err,
            });
        });
      }
      if (!t) return;
      const share = this.store.share(t.shareId);
      if (share) {
        await this.shareLocks.run(share.key, async () => {
          this.store.removeTarget(target);
          if (share.targets.length === 0 && this.store.share(share.id) === share)
            await this.dropShare(share, 'last target unpublished');
        });
      } else {
        this.store.removeTarget(target);
      }
      await this.save();
      this.log.info('unpublished', { target, volumeId: t.volumeId });
    });
  }

  async updateCredentials(targetPath: string, credentials: S3Credentials, credentialIdentity: string): Promise<void> {
    const target = await this.targetKey(targetPath);
    await this.reconciled;
    await this.targetLocks.run(target, async () => {
      const t = this.store.target(target);
      if (!t) throw new MountError('not-found', `nothing is published at ${target}`);
      const share = this.store.share(t.shareId);
      if (!share) throw new MountError('not-found', `the mount at ${target} is dead; republish it`);
      if (!share.credentialsFile) {
        throw new MountError(
          'invalid-argument',
          `the mount at ${target} uses the driver's own credentials and cannot take volume credentials; republish it`,
        );
      }
      if (share.credentialIdentity !== credentialIdentity) {
        // E.g. a refresh of the identity this target had before a republish moved it.
        throw new MountError(
          'failed-precondition',
          `the mount at ${target} serves another credential identity; not writing these credentials into it (republish the target)`,
        );
      }
      // The mount process's credential provider re-reads the file when its inode changes
      // (atomic rename), so the running mount signs its next request with these credentials.
      await writeCredentialsFile(share.credentialsFile, credentials);
      this.log.info('credentials updated', { target, share: share.id });
    });
  }

  async usage(targetPath: string): Promise<VolumeUsage> {
    await this.reconciled;
    const target = await this.targetKey(targetPath);
    const t = this.store.target(target);
    if (!t) throw new MountError('not-found', `nothing is published at ${target}`);
    const share = this.store.share(t.shareId);
    if (!share || !(await this.targetServes(target, share))) {
      const probe = await probeMount(target, this.probeTimeoutMs);
      return {
        abnormal: true,
        message: `mount of volume ${t.volumeId} is not serving (${share ? `process ${share.pid}` : 'process gone'}; ${probe.detail}); the next NodePublishVolume restores it on the host, but running containers keep the dead mount until they restart`,
      };
    }
    if (t.staleSince) {
      return {
        abnormal: true,
        message: `the mount this volume's containers started with was replaced at ${t.staleSince} (${t.staleReason ?? 'replaced'}); the host-side target serves (process ${share.pid}), but a running container keeps its own view of the old mount (a dead one answers "Transport endpoint is not connected") until it restarts: restart the pod (a liveness probe that stats the mount path does this automatically)`,
      };
    }
    // Serving: degraded when S3 keeps failing or its credentials run out (src/mounter/health.ts decides).
    const signals = await shareHealthSignals(this.store.shareDir(share.id), share.credentialsFile);
    const verdict = assessHealth(signals, this.health, Date.now());
    if (verdict.degraded)
      return { abnormal: true, degraded: true, message: degradedMessage(t.volumeId, share.pid, verdict) };
    return {
      abnormal: false,
      message: `mount serves (process ${share.pid}); used bytes are unknown: S3 has no cheap size query`,
    };
  }

  async upgradeMounts(): Promise<string[]> {
    await this.reconciled;
    const asked: string[] = [];
    for (const share of this.store.shares()) {
      await this.shareLocks.run(share.key, async () => {
        if (this.store.share(share.id) !== share) return;
        if (this.serverVersion !== undefined && share.serverVersion === this.serverVersion) return;
        if (!isSupervised(share)) {
          this.log.info('not upgrading an unsupervised mount (its process cannot hand the mount over)', {
            share: share.id,
            pid: share.pid,
            serverVersion: share.serverVersion,
          });
          return;
        }
        if (!this.supervisorHolds(share)) return;
        this.log.info("upgrading a mount's server: the supervisor hands the mount to the command on disk", {
          share: share.id,
          supervisor: share.pid,
          from: share.serverVersion,
          to: this.serverVersion,
        });
        if (!sendSignal(share.pid, 'SIGUSR2')) return;
        if (this.serverVersion !== undefined) share.serverVersion = this.serverVersion;
        asked.push(share.id);
      });
    }
    await this.save();
    return asked;
  }

  async close(): Promise<void> {
    if (this.watchTimer) clearInterval(this.watchTimer);
    if (this.resumeTimer) clearInterval(this.resumeTimer);
    await this.store.save();
  }
}
