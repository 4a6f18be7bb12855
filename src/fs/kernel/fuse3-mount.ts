// Mounts a BucketFs through our libfuse3 low-level addon (--fuse-layer fuse3): builds the mount
// options and INIT parameters (1 MiB requests, kernel read-ahead, timeouts from --metadata-ttl),
// starts the session with the KernelAdapter as its request handler, and unmounts. `closed`
// resolves when the session ends, whoever unmounted it.
import type { FuseOps } from 'fuse-native';
import type { Logger } from '../../log.js';
import type { MountConfig } from '../../mount-contract/args.js';
import { KernelAdapter } from './adapter.js';
import { loadFuse3, type Fuse3Addon, type InitOptions, type Session } from './native.js';

/** Largest READ/WRITE request: 1 MiB (256 pages; libfuse sets max_pages from max_write). */
export const FUSE3_MAX_IO = 1024 * 1024;

/** libfuse3 mount options for `cfg` (comma-separated, for fuse_session_new's -o). */
export function fuse3MountOptions(cfg: Pick<MountConfig, 'bucket' | 'allowOther' | 'defaultPermissions' | 'readOnly'>): string {
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

  constructor(
    private readonly mnt: string,
    ops: FuseOps,
    private readonly cfg: MountConfig,
    private readonly log: Logger,
    private readonly init: InitOptions = { maxWrite: FUSE3_MAX_IO, maxReadahead: FUSE3_MAX_IO, maxBackground: 64, congestionThreshold: 48, timeGranNs: 1_000_000 },
  ) {
    this.addon = loadFuse3();
    this.adapter = new KernelAdapter(this.addon, ops, { ttlS: cfg.metadataTtlMs / 1000, keepCache: true }, log);
    this.closed = new Promise<void>((res) => (this.markClosed = res));
    this.adapter.onClosed = () => {
      if (this.session) this.addon.destroy(this.session);
      this.markClosed();
    };
  }

  /** Mount and start serving (throws when libfuse refuses the options or the mount). */
  mount(): void {
    this.session = this.addon.open(this.mnt, fuse3MountOptions(this.cfg), this.init, this.adapter.handle);
    this.adapter.session = this.session;
  }

  /** Unmount and wait until the session ended. */
  async unmount(): Promise<void> {
    if (!this.session) return;
    this.log.info('fuse3: unmounting', { pending: this.pending, nodes: this.adapter.nodes.size });
    this.addon.unmount(this.session);
    await this.closed;
  }

  /** Requests handed to the adapter and not answered yet. */
  get pending(): number {
    return this.session ? this.addon.pending(this.session) : 0;
  }
}
