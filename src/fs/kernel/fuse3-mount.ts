// Mounts a BucketFs through our libfuse3 low-level addon (the only FUSE layer): builds the mount
// options and INIT parameters (1 MiB requests, kernel read-ahead, timeouts from --metadata-ttl),
// starts the session with the KernelAdapter as its request handler, and unmounts. `closed`
// resolves when the session ends, whoever unmounted it.
//
// Hand-off mode (a server under `--supervise`, docs/fuse3.md): the /dev/fuse fd is inherited from
// the supervisor. The first server mounts it with mount(2) and saves the kernel's INIT request in
// the private state dir; a successor finds that file, restores the node table from its journal,
// serves the same fd without a new INIT and asks the kernel to resend what its predecessor had
// read but not answered.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FuseOps } from '../ops.js';
import type { Logger } from '../../log.js';
import type { MountConfig } from '../../mount-contract/args.js';
import { NO_METRICS, type MountMetrics } from '../../metrics/mount-metrics.js';
import { KernelAdapter } from './adapter.js';
import { loadFuse3, type Fuse3Addon, type InitOptions, type Session } from './native.js';
import { loadNodes, NodeJournal } from './node-journal.js';
import { NodeTable } from './node-table.js';
import { INIT_FILE, isSuccessor } from './handoff.js';

/** How long a stopping mount waits for processes that still use the detached mount (see unmount). */
export const UNMOUNT_GRACE_MS = 10_000;

/** Files of the hand-off state dir (INIT_FILE and isSuccessor live in handoff.ts, which the light supervisor loads). */
export { INIT_FILE, isSuccessor } from './handoff.js';
export const GENERATION_FILE = 'generation';
export const INFLIGHT_FILE = 'inflight.map';

/** Kernel mount options of a mount(2) made on an fd (fsname/subtype go to source and type). */
export function fuse3KernelOptions(cfg: Pick<MountConfig, 'allowOther' | 'defaultPermissions'>): string {
  const o: string[] = [];
  if (cfg.allowOther) o.push('allow_other');
  if (cfg.allowOther || cfg.defaultPermissions) o.push('default_permissions');
  return o.join(',');
}

function writePrivate(path: string, data: string | Buffer): void {
  writeFileSync(`${path}.tmp`, data, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}

/** Largest READ/WRITE request: 1 MiB (256 pages; libfuse sets max_pages from max_write). */
export const FUSE3_MAX_IO = 1024 * 1024;
/**
 * WRITE payload slots of FUSE3_MAX_IO bytes (native payloadArena): WRITEs in flight at once
 * beyond this many get a buffer of their own. Memory is touched only by slots in use (one per
 * concurrent writer), so a sequential writer keeps 1 MiB resident.
 */
export const PAYLOAD_SLOTS = 8;

/** libfuse3 mount options for `cfg` (comma-separated, for fuse_session_new's -o). */
export function fuse3MountOptions(
  cfg: Pick<MountConfig, 'bucket' | 'allowOther' | 'defaultPermissions' | 'readOnly'>,
): string {
  const o = [`fsname=bucketmount:${cfg.bucket.replace(/[,\\]/g, '_')}`, 'subtype=bucketmount'];
  if (cfg.allowOther) o.push('allow_other');
  if (cfg.allowOther || cfg.defaultPermissions) o.push('default_permissions');
  if (cfg.readOnly) o.push('ro');
  return o.join(',');
}

export class Fuse3Mount {
  private session: Session | undefined;
  private readonly addon: Fuse3Addon;
  readonly adapter: KernelAdapter;
  readonly closed: Promise<void>;
  private markClosed!: () => void;
  /** Hand-off mode: this server takes over a predecessor's connection. */
  readonly successor: boolean = false;
  readonly generation: number = 0;
  private readonly journal: NodeJournal | undefined;

  constructor(
    private readonly mnt: string,
    ops: FuseOps,
    private readonly cfg: MountConfig,
    private readonly log: Logger,
    /** The mount's metrics (NO_METRICS without --metrics-socket). */
    metrics: MountMetrics = NO_METRICS,
    private readonly init: InitOptions = {
      maxWrite: FUSE3_MAX_IO,
      maxReadahead: FUSE3_MAX_IO,
      maxBackground: 64,
      congestionThreshold: 48,
      timeGranNs: 1_000_000,
      // --kernel-writeback-cache (docs/fuse3.md): negotiated at INIT only when the kernel offers it.
      writebackCache: cfg.kernelWritebackCache === true,
      payloadSlots: PAYLOAD_SLOTS,
    },
  ) {
    this.addon = loadFuse3();
    const h = cfg.handoff;
    let nodes = new NodeTable();
    if (h) {
      this.successor = isSuccessor(h.stateDir);
      const genFile = join(h.stateDir, GENERATION_FILE);
      this.generation = this.successor && existsSync(genFile) ? Number(readFileSync(genFile, 'utf8')) + 1 : 0;
      if (!Number.isSafeInteger(this.generation) || this.generation >= 2 ** 20)
        throw new Error(`bad hand-off generation in ${genFile}`);
      const saved = this.successor ? loadNodes(h.stateDir) : undefined;
      this.journal = new NodeJournal(h.stateDir);
      nodes = new NodeTable(this.journal);
      if (saved) nodes.restore(saved);
      else this.journal.compact([], 1);
      writePrivate(genFile, String(this.generation));
    }
    this.adapter = new KernelAdapter(
      this.addon,
      ops,
      { ttlS: cfg.metadataTtlMs / 1000, keepCache: true, interrupts: cfg.fuseInterrupts === true },
      log,
      nodes,
      this.generation,
      metrics,
    );
    metrics.serverRestarts(this.generation);
    if (h) this.adapter.onInit = (raw) => writePrivate(join(h.stateDir, INIT_FILE), raw);
    this.closed = new Promise<void>((res) => (this.markClosed = res));
    this.adapter.onClosed = () => {
      if (this.session) this.addon.destroy(this.session);
      this.markClosed();
    };
  }

  /** Hand the opened session to the adapter: the addon's payload slots are maxWrite bytes each. */
  private attach(session: Session): void {
    this.adapter.attach(session, this.init.maxWrite ?? 0);
  }

  /** Mount and start serving (throws when libfuse refuses the options or the mount). */
  mount(): void {
    const h = this.cfg.handoff;
    if (!h) {
      this.session = this.addon.open(this.mnt, fuse3MountOptions(this.cfg), this.init, this.adapter.handle);
      this.attach(this.session);
      return;
    }
    if (!this.successor) {
      this.addon.mountFd(
        h.fd,
        this.mnt,
        `bucketmount:${this.cfg.bucket}`,
        fuse3KernelOptions(this.cfg),
        this.cfg.readOnly,
      );
      this.session = this.addon.open(this.mnt, fuse3MountOptions(this.cfg), this.init, this.adapter.handle, {
        fd: h.fd,
        inflightPath: join(h.stateDir, INFLIGHT_FILE),
      });
      this.attach(this.session);
      return;
    }
    const resumeInit = readFileSync(join(h.stateDir, INIT_FILE));
    this.session = this.addon.open(this.mnt, fuse3MountOptions(this.cfg), this.init, this.adapter.handle, {
      fd: h.fd,
      resumeInit,
      inflightPath: join(h.stateDir, INFLIGHT_FILE),
    });
    this.attach(this.session);
    // BUCKETMOUNT_FUSE3_NO_RESEND=1 (tests): take the fallback path as on a kernel < 6.9.
    const res = process.env.BUCKETMOUNT_FUSE3_NO_RESEND === '1' ? -38 : this.addon.notifyResend(this.session);
    const failed = res === 0 ? 0 : this.addon.failStale(this.session);
    this.log.info('fuse3: took over the mount from the previous server (crash or hand-off)', {
      generation: this.generation,
      nodes: this.adapter.nodes.size,
      resend:
        res === 0 ? 'ok' : `refused (errno ${-res}): ${failed} request(s) the previous server held answered with EIO`,
    });
  }

  /**
   * Unmount and wait until the session ended, at most `graceMs`. A lazily detached mount ends only
   * when no process uses it any more (an open file, a cwd): after the grace this returns false and
   * the caller exits, which ends the connection (its last /dev/fuse descriptor closes; a supervisor
   * exits with its server) — that process's open files then fail with ENOTCONN.
   */
  async unmount(graceMs = UNMOUNT_GRACE_MS): Promise<boolean> {
    if (!this.session) return true;
    this.log.info('fuse3: unmounting', { pending: this.pending, nodes: this.adapter.nodes.size });
    if (this.cfg.handoff) {
      // libfuse does not know the mount point of an inherited fd: detach it ourselves; the
      // kernel then ends the connection and the reader sees ENODEV.
      try {
        execFileSync('umount', ['-l', this.mnt], { stdio: 'ignore' });
      } catch (err) {
        this.log.warn('fuse3: umount failed', { error: String(err) });
      }
    } else this.addon.unmount(this.session);
    let timer: NodeJS.Timeout | undefined;
    const ended = await Promise.race([
      this.closed.then(() => true),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), graceMs))),
    ]);
    clearTimeout(timer);
    this.journal?.close();
    return ended;
  }

  /** Requests handed to the adapter and not answered yet. */
  get pending(): number {
    return this.session ? this.addon.pending(this.session) : 0;
  }
}
