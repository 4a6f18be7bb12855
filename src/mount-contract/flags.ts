// The flags of `bucketmount mount`: the one table (name, type, help text; `--help` lists them in
// this order, option-authority.ts says who may set each), the error a bad flag raises, and the
// strict parse of argv into raw values that options.ts and args.ts turn into typed settings.
import { parseArgs } from 'node:util';

/** A bad flag, value or source argument; the message says what to fix. */
export class MountArgsError extends Error {
  override name = 'MountArgsError';
}

/** Flags, their types and help text. Order here is the order in `--help`. */
export const FLAGS = {
  prefix: { type: 'string', help: 'only expose keys under this prefix (must end with "/")' },
  region: { type: 'string', help: 'AWS region (detected with HeadBucket when absent)' },
  'endpoint-url': { type: 'string', help: 'S3 endpoint URL (MinIO, R2, GCS, Ceph)' },
  'force-path-style': { type: 'boolean', help: 'use path-style addressing (http://host/bucket/key)' },
  'read-only': { type: 'boolean', help: 'mount read-only; every mutation returns EROFS' },
  'allow-delete': { type: 'string', help: 'allow unlink/rmdir (default true; "false" to forbid)' },
  'allow-overwrite': { type: 'string', help: 'allow replacing existing objects (default true)' },
  uid: { type: 'string', help: 'owner uid of every file (default: the mounting user)' },
  gid: { type: 'string', help: 'owner gid of every file (default: the mounting group)' },
  'file-mode': { type: 'string', help: 'octal permission bits for files (default 0644)' },
  'dir-mode': { type: 'string', help: 'octal permission bits for directories (default 0755)' },
  'allow-other': {
    type: 'boolean',
    help: 'let users other than the mounter access the mount (implies --default-permissions)',
  },
  'default-permissions': { type: 'boolean', help: 'let the kernel check file modes (always on with --allow-other)' },
  cache: { type: 'string', help: 'keep a local cache of object data in a fresh subdirectory of this directory' },
  'data-cache': {
    type: 'string',
    help: 'keep a local data cache (in --cache, else the temp dir); "false" to turn off',
  },
  'cache-max-size': { type: 'string', help: 'most MiB the data cache keeps, LRU (default 10% of its file system)' },
  'spool-dir': { type: 'string', help: 'directory for staging random/append writes (default: a temp dir)' },
  'metadata-ttl': { type: 'string', help: 'seconds to cache attributes and listings (default 1, max 60)' },
  'requester-pays': { type: 'boolean', help: 'send x-amz-request-payer: requester' },
  'storage-class': { type: 'string', help: 'storage class for new objects (e.g. STANDARD_IA)' },
  'upload-checksums': { type: 'string', help: '"crc32" (default) or "off" for R2/GCS compatibility' },
  'part-size': { type: 'string', help: 'multipart part size in MiB (default 8, 5..5120)' },
  'max-prefetch': { type: 'string', help: 'largest read-ahead window per open file in MiB (default 64)' },
  'prefetch-budget': { type: 'string', help: 'total read-ahead memory in MiB (default 512)' },
  'dir-rename-limit': { type: 'string', help: 'most objects a directory rename may copy (default 10000)' },
  'credentials-file': { type: 'string', help: 'JSON credentials file (mode 0600), re-read on change' },
  'volume-id': { type: 'string', help: 'volume id to label logs with' },
  'log-level': { type: 'string', help: 'error|warn|info|debug (default info)' },
  'log-file': { type: 'string', help: 'write JSON logs here instead of stderr' },
  foreground: { type: 'boolean', short: 'f', help: 'stay in the foreground (default: daemonize)' },
  'retry-timeout': { type: 'string', help: 'seconds to retry a failing S3 request before EIO (default 60, 0..3600)' },
  'upload-journal': {
    type: 'string',
    help: "file recording unfinished multipart uploads; a dead mount's are aborted at start",
  },
  'proc-root': { type: 'string', help: 'procfs showing the processes that write to the mount (default /proc)' },
  'metrics-socket': {
    type: 'string',
    help: "serve this mount's metrics (Prometheus text at /metrics, JSON at /metrics.json) on a unix socket here",
  },
  'fuse-layer': {
    type: 'string',
    help: 'deprecated, no effect: only "fuse3" is accepted (fuse-native was removed; the libfuse3 layer serves every mount)',
  },
  supervise: {
    type: 'boolean',
    help: 'keep the FUSE connection in this process and restart a crashed server on it',
  },
  'write-back': {
    type: 'string',
    help: 'close() returns before the upload finished; fsync and unmount wait for it ("false" to turn off)',
  },
  'write-back-max-size': {
    type: 'string',
    help: 'most MiB of write-back uploads pending at once; beyond it close() waits (default 256)',
  },
  'write-back-max-files': {
    type: 'string',
    help: 'most files with a write-back upload pending at once; beyond it close() waits (default 1000)',
  },
  'kernel-writeback-cache': {
    type: 'string',
    help: 'let the kernel cache writes and send them in batches (FUSE writeback cache; "false" to turn off)',
  },
  'fuse-interrupts': {
    type: 'string',
    help: 'answer requests the kernel interrupts (a signal to the caller) with EINTR and stop their S3 reads ("false" to turn off; default off)',
  },
  'fuse-fd': {
    type: 'string',
    help: 'internal: serve this inherited /dev/fuse fd (a supervised server; with --supervise: take over a mounted connection)',
  },
  'fuse-state': {
    type: 'string',
    help: 'internal: private dir holding the hand-off state (set by --supervise for its server; given to --supervise by the node plugin)',
  },
  'fd-keeper': {
    type: 'string',
    help: "with --supervise: the node's fd keeper socket; the supervisor keeps a duplicate of the connection there (a restart of the plugin's container does not end the mount)",
  },
} as const satisfies Record<string, { type: 'string' | 'boolean'; short?: string; help: string }>;

export type FlagName = keyof typeof FLAGS;

/** Every flag name, in --help order (the option-authority table must cover each). */
export const FLAG_NAMES = Object.keys(FLAGS) as FlagName[];

export function isFlagName(name: string): name is FlagName {
  return Object.prototype.hasOwnProperty.call(FLAGS, name);
}

export function mountUsage(): string {
  const lines = ['usage: bucketmount mount <bucket | s3://bucket/prefix/> <directory> [flags]', '', 'flags:'];
  for (const [name, spec] of Object.entries(FLAGS)) {
    const short = 'short' in spec ? `-${spec.short}, ` : '    ';
    const arg = spec.type === 'string' ? ' <value>' : '';
    lines.push(`  ${short}--${name}${arg}`.padEnd(40) + spec.help);
  }
  return lines.join('\n');
}

/** Bare boolean-ish flags whose value is optional ("--allow-delete" alone means true). */
const OPTIONAL_VALUE_FLAGS = new Set<FlagName>([
  'allow-delete',
  'allow-overwrite',
  'data-cache',
  'write-back',
  'kernel-writeback-cache',
  'fuse-interrupts',
]);

/** argv split into positionals and flag values (string flags: the last value given; boolean flags: true). */
export interface ParsedFlags {
  positionals: string[];
  /** The value of a string flag, undefined when not given. */
  str(name: FlagName): string | undefined;
  /** Whether a boolean flag was given. */
  bool(name: FlagName): boolean;
  /** Whether the flag was given at all. */
  given(name: FlagName): boolean;
}

/** Parse argv strictly against FLAGS; unknown flags throw MountArgsError. */
export function parseFlags(argv: readonly string[]): ParsedFlags {
  const normalised = argv.map((a) => {
    const m = /^--([a-z-]+)$/.exec(a);
    return m && OPTIONAL_VALUE_FLAGS.has(m[1] as FlagName) ? `${a}=true` : a;
  });
  let parsed;
  try {
    parsed = parseArgs({
      args: normalised,
      options: Object.fromEntries(
        Object.entries(FLAGS).map(([k, v]) => [k, 'short' in v ? { type: v.type, short: v.short } : { type: v.type }]),
      ),
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new MountArgsError((err as Error).message, { cause: err });
  }
  const { values, positionals } = parsed;
  return {
    positionals,
    str: (k) => {
      const v = values[k];
      return typeof v === 'string' ? v : undefined;
    },
    bool: (k) => values[k] === true,
    given: (k) => values[k] !== undefined,
  };
}
