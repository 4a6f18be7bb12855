// Volume options: what a mount serves (MountSource: bucket, prefix and MountOptions) as opposed
// to the plumbing of one mount process (args.ts). The CSI node builds a MountSource from a
// volume's flags with parseMountOptions (no argv, no mount point), the mounter shares a mount
// process between publishes whose MountSource is equal, and the mount process reads it back from
// its argv (args.ts). optionArgs is the inverse of parseMountOptions.
import { MiB } from '../util/units.js';
import { MountArgsError, parseFlags, type FlagName, type ParsedFlags } from './flags.js';

/** How a volume is served (every flag of `bucketmount mount` but the source and the per-process plumbing). */
export interface MountOptions {
  region?: string;
  endpointUrl?: string;
  forcePathStyle: boolean;
  allowDelete: boolean;
  allowOverwrite: boolean;
  uid: number;
  gid: number;
  fileMode: number;
  dirMode: number;
  allowOther: boolean;
  /** Kernel checks file modes (always with allowOther). */
  defaultPermissions?: boolean;
  /**
   * Local data cache on (--cache <dir> or --data-cache). The cache lives in a fresh 0700
   * directory made inside cacheDir (default: the temp dir) and removed at unmount.
   */
  dataCache?: boolean;
  /** Directory in which the data cache makes its own subdirectory (standalone --cache; CSI: <cache-root>/<share>). */
  cacheDir?: string;
  /** Most bytes the data cache keeps (LRU eviction); undefined = 10% of the cache file system. */
  cacheMaxBytes?: number;
  /** Local directory where files written at offsets / appended are staged before upload. */
  spoolDir?: string;
  metadataTtlMs: number;
  requesterPays: boolean;
  storageClass?: string;
  uploadChecksums: boolean;
  /** Multipart part size for uploads (bytes). */
  partSize: number;
  /** Largest read-ahead window for one open file (bytes). */
  maxPrefetch: number;
  /** Global memory budget for read-ahead buffers across all handles (bytes). */
  prefetchBudget: number;
  /** Most objects a directory rename may copy before failing with a clear error. */
  dirRenameLimit: number;
  logLevel: string;
  /**
   * How long one S3 request is retried after retryable failures (ms; outages up to this are ridden
   * out); undefined = MOUNT_DEFAULTS.retryTimeoutMs (optional so existing share keys do not change).
   */
  retryTimeoutMs?: number;
  /** File recording this mount's unfinished multipart uploads; left-overs of a dead predecessor are aborted at start. */
  uploadJournal?: string;
  /** Where to read other processes' descriptors (a forked writer's close): default /proc; a node plugin passes the host's. */
  procRoot?: string;
  /** Unix socket serving this mount's metrics (src/metrics/mount-endpoint.ts); undefined = no metrics are kept. */
  metricsSocket?: string;
  /** --supervise: a supervisor holds the FUSE connection and restarts a crashed server on it. */
  supervise?: boolean;
  /** --write-back: close() returns before the upload finished (docs/write-back.md); undefined = off. */
  writeBack?: boolean;
  /** Most bytes of write-back uploads pending at once (node ceiling); undefined = MOUNT_DEFAULTS.writeBackMaxBytes. */
  writeBackMaxBytes?: number;
  /** Most files with a write-back upload pending at once (node ceiling); undefined = MOUNT_DEFAULTS.writeBackMaxFiles. */
  writeBackMaxFiles?: number;
  /** --kernel-writeback-cache: the kernel caches writes and sends them in batches (FUSE writeback cache). */
  kernelWritebackCache?: boolean;
  /** --fuse-interrupts: interrupted requests answer EINTR (docs/fuse3.md#interrupts); undefined = off. */
  fuseInterrupts?: boolean;
}

/** The FUSE layer serving every mount: our libfuse3 low-level addon (docs/fuse3.md). */
export const FUSE_LAYER = 'fuse3';

/**
 * Check a `--fuse-layer` value of an older version (the mount command's deprecated flag, the
 * node plugin's `--fuse-layer`/BUCKETMOUNT_FUSE_LAYER): `fuse3` is accepted and changes nothing,
 * `fuse-native` was removed, anything else is a typo. Throws MountArgsError saying what to do.
 */
export function checkLegacyFuseLayer(value: string, flag = '--fuse-layer'): void {
  if (value === FUSE_LAYER) return;
  if (value === 'fuse-native')
    throw new MountArgsError(
      `${flag}=fuse-native is no longer supported: fuse-native (libfuse 2) was removed and every mount is served by the libfuse3 layer (docs/fuse3.md); drop the flag`,
    );
  throw new MountArgsError(
    `${flag} is deprecated and only accepts ${FUSE_LAYER} (the only FUSE layer now), got "${value}"`,
  );
}

/** What a mount serves: the bucket, the prefix and the options (the mounter's sharing identity). */
export interface MountSource extends MountOptions {
  bucket: string;
  /** '' for the whole bucket, otherwise ends with '/'. */
  prefix: string;
}

export const MOUNT_DEFAULTS = {
  forcePathStyle: false,
  readOnly: false,
  allowDelete: true,
  allowOverwrite: true,
  uid: 0,
  gid: 0,
  fileMode: 0o644,
  dirMode: 0o755,
  allowOther: false,
  metadataTtlMs: 1000,
  requesterPays: false,
  uploadChecksums: true,
  foreground: false,
  partSize: 8 * MiB,
  maxPrefetch: 64 * MiB,
  prefetchBudget: 512 * MiB,
  dirRenameLimit: 10000,
  logLevel: 'info',
  retryTimeoutMs: 60_000,
  writeBackMaxBytes: 256 * MiB,
  writeBackMaxFiles: 1000,
} as const;

/** Flags that are not volume options: the source (args.ts) and the plumbing of one process. */
export const NOT_OPTION_FLAGS = [
  'prefix',
  'read-only',
  'foreground',
  'credentials-file',
  'log-file',
  'volume-id',
] as const satisfies readonly FlagName[];

function parseBool(name: string, v: string | undefined, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (v === '' || v === 'true' || v === '1' || v === 'yes') return true;
  if (v === 'false' || v === '0' || v === 'no') return false;
  throw new MountArgsError(`--${name} takes true or false, got "${v}"`);
}

function parseIntFlag(name: string, v: string | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v)) throw new MountArgsError(`--${name} must be a whole number, got "${v}"`);
  const n = Number(v);
  if (n < min || n > max) throw new MountArgsError(`--${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

function parseMode(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  // No setuid/setgid/sticky bits: a volume must not be able to show a setuid-root file.
  if (!/^0?[0-7]{3}$/.test(v))
    throw new MountArgsError(`--${name} must be octal permission bits from 000 to 0777 like 0644, got "${v}"`);
  return parseInt(v, 8);
}

/**
 * A storage class is a name like STANDARD_IA (AWS, R2), NEARLINE (GCS) or a Ceph placement class:
 * letters, digits, `_`, `-`, `.`, at most 64. A pod author sets it and it becomes a request header,
 * so anything else (a line break above all) is refused here, before anything is mounted.
 */
function parseStorageClass(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(v))
    throw new MountArgsError(
      `--storage-class must be a storage class name like STANDARD_IA (letters, digits, _ - .; at most 64), got ${JSON.stringify(v).slice(0, 80)}`,
    );
  return v;
}

/** The options of parsed flags (args.ts reads the source and the plumbing itself). */
export function readMountOptions(f: ParsedFlags): MountOptions {
  const checksums = f.str('upload-checksums') ?? 'crc32';
  if (checksums !== 'crc32' && checksums !== 'off') {
    throw new MountArgsError(`--upload-checksums must be "crc32" or "off", got "${checksums}"`);
  }
  const endpointUrl = f.str('endpoint-url');
  if (endpointUrl !== undefined) {
    let u: URL;
    try {
      u = new URL(endpointUrl);
    } catch (err) {
      throw new MountArgsError(`--endpoint-url "${endpointUrl}" is not a URL (expected e.g. https://s3.example.com)`, {
        cause: err,
      });
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new MountArgsError(`--endpoint-url must use http or https, got "${u.protocol}"`);
    }
  }
  const ttlSeconds = f.str('metadata-ttl');
  let metadataTtlMs: number = MOUNT_DEFAULTS.metadataTtlMs;
  if (ttlSeconds !== undefined) {
    const n = Number(ttlSeconds);
    if (!Number.isFinite(n) || n < 0 || n > 60) {
      throw new MountArgsError(`--metadata-ttl must be seconds between 0 and 60, got "${ttlSeconds}"`);
    }
    metadataTtlMs = Math.round(n * 1000);
  }
  const cacheDir = f.str('cache');
  const dataCache = parseBool('data-cache', f.str('data-cache'), cacheDir !== undefined);
  if (!dataCache && cacheDir !== undefined)
    throw new MountArgsError('--cache <dir> turns the data cache on; drop --data-cache=false');
  const cacheMax = f.str('cache-max-size');
  const retry = f.str('retry-timeout');
  const opts: MountOptions = {
    region: f.str('region'),
    endpointUrl,
    forcePathStyle: f.bool('force-path-style'),
    allowDelete: parseBool('allow-delete', f.str('allow-delete'), MOUNT_DEFAULTS.allowDelete),
    allowOverwrite: parseBool('allow-overwrite', f.str('allow-overwrite'), MOUNT_DEFAULTS.allowOverwrite),
    uid: parseIntFlag('uid', f.str('uid'), process.getuid?.() ?? 0, 0, 2 ** 32 - 2),
    gid: parseIntFlag('gid', f.str('gid'), process.getgid?.() ?? 0, 0, 2 ** 32 - 2),
    fileMode: parseMode('file-mode', f.str('file-mode'), MOUNT_DEFAULTS.fileMode),
    dirMode: parseMode('dir-mode', f.str('dir-mode'), MOUNT_DEFAULTS.dirMode),
    allowOther: f.bool('allow-other'),
    defaultPermissions: f.bool('default-permissions') || f.bool('allow-other'),
    dataCache,
    cacheDir,
    cacheMaxBytes:
      cacheMax === undefined ? undefined : parseIntFlag('cache-max-size', cacheMax, 0, 1, 16 * 1024 * 1024) * MiB,
    spoolDir: f.str('spool-dir'),
    metadataTtlMs,
    requesterPays: f.bool('requester-pays'),
    storageClass: parseStorageClass(f.str('storage-class')),
    uploadChecksums: checksums === 'crc32',
    partSize: parseIntFlag('part-size', f.str('part-size'), MOUNT_DEFAULTS.partSize / MiB, 5, 5120) * MiB,
    maxPrefetch: parseIntFlag('max-prefetch', f.str('max-prefetch'), MOUNT_DEFAULTS.maxPrefetch / MiB, 1, 4096) * MiB,
    prefetchBudget:
      parseIntFlag('prefetch-budget', f.str('prefetch-budget'), MOUNT_DEFAULTS.prefetchBudget / MiB, 8, 65536) * MiB,
    dirRenameLimit: parseIntFlag(
      'dir-rename-limit',
      f.str('dir-rename-limit'),
      MOUNT_DEFAULTS.dirRenameLimit,
      0,
      10_000_000,
    ),
    logLevel: f.str('log-level') ?? MOUNT_DEFAULTS.logLevel,
    retryTimeoutMs: retry === undefined ? undefined : parseIntFlag('retry-timeout', retry, 0, 0, 3600) * 1000,
    uploadJournal: f.str('upload-journal'),
    procRoot: f.str('proc-root'),
    metricsSocket: f.str('metrics-socket'),
  };
  const layer = f.str('fuse-layer');
  if (layer !== undefined) checkLegacyFuseLayer(layer); // deprecated; not an option of the volume
  if (f.bool('supervise')) opts.supervise = true;
  // Optional fields only when given, so existing share keys (and argv) do not change.
  if (parseBool('write-back', f.str('write-back'), false)) opts.writeBack = true;
  const wbBytes = f.str('write-back-max-size');
  if (wbBytes !== undefined)
    opts.writeBackMaxBytes = parseIntFlag('write-back-max-size', wbBytes, 0, 0, 1024 * 1024) * MiB;
  const wbFiles = f.str('write-back-max-files');
  if (wbFiles !== undefined) opts.writeBackMaxFiles = parseIntFlag('write-back-max-files', wbFiles, 0, 0, 1_000_000);
  if (parseBool('kernel-writeback-cache', f.str('kernel-writeback-cache'), false)) opts.kernelWritebackCache = true;
  if (parseBool('fuse-interrupts', f.str('fuse-interrupts'), false)) opts.fuseInterrupts = true;
  if (!['error', 'warn', 'info', 'debug'].includes(opts.logLevel)) {
    throw new MountArgsError(`--log-level must be error, warn, info or debug, got "${opts.logLevel}"`);
  }
  return opts;
}

/**
 * The volume options of mount-command flags (e.g. normalised Kubernetes mount options plus the
 * node's own flags), validated exactly as the mount process will read them. Positionals, the
 * source (--prefix) and per-process flags are refused: they are not the volume's to give.
 */
export function parseMountOptions(flags: readonly string[]): MountOptions {
  const f = parseFlags(flags);
  if (f.positionals.length > 0)
    throw new MountArgsError(`mount options take flags only, got ${JSON.stringify(f.positionals[0]).slice(0, 100)}`);
  const plumbing = NOT_OPTION_FLAGS.find((n) => f.given(n));
  if (plumbing)
    throw new MountArgsError(
      `--${plumbing} is not a volume option: the source and the per-process settings are the mounter's`,
    );
  return readMountOptions(f);
}

/** Flags that give back `opts` (inverse of parseMountOptions). */
export function optionArgs(opts: MountOptions): string[] {
  const args: string[] = [];
  const opt = (name: FlagName, v: string | undefined): void => {
    if (v !== undefined) args.push(`--${name}=${v}`);
  };
  const flag = (name: FlagName, v: boolean): void => {
    if (v) args.push(`--${name}`);
  };
  opt('region', opts.region);
  opt('endpoint-url', opts.endpointUrl);
  flag('force-path-style', opts.forcePathStyle);
  opt('allow-delete', String(opts.allowDelete));
  opt('allow-overwrite', String(opts.allowOverwrite));
  opt('uid', String(opts.uid));
  opt('gid', String(opts.gid));
  opt('file-mode', '0' + opts.fileMode.toString(8));
  opt('dir-mode', '0' + opts.dirMode.toString(8));
  flag('allow-other', opts.allowOther);
  flag('default-permissions', opts.defaultPermissions === true && !opts.allowOther);
  opt('cache', opts.cacheDir);
  if (opts.dataCache && opts.cacheDir === undefined) args.push('--data-cache');
  opt('cache-max-size', opts.cacheMaxBytes === undefined ? undefined : String(opts.cacheMaxBytes / MiB));
  opt('spool-dir', opts.spoolDir);
  opt('metadata-ttl', String(opts.metadataTtlMs / 1000));
  flag('requester-pays', opts.requesterPays);
  opt('storage-class', opts.storageClass);
  opt('upload-checksums', opts.uploadChecksums ? 'crc32' : 'off');
  opt('part-size', String(opts.partSize / MiB));
  opt('max-prefetch', String(opts.maxPrefetch / MiB));
  opt('prefetch-budget', String(opts.prefetchBudget / MiB));
  opt('dir-rename-limit', String(opts.dirRenameLimit));
  opt('log-level', opts.logLevel);
  opt('retry-timeout', opts.retryTimeoutMs === undefined ? undefined : String(opts.retryTimeoutMs / 1000));
  opt('upload-journal', opts.uploadJournal);
  opt('proc-root', opts.procRoot);
  opt('metrics-socket', opts.metricsSocket);
  flag('supervise', opts.supervise === true);
  flag('write-back', opts.writeBack === true);
  opt('write-back-max-size', opts.writeBackMaxBytes === undefined ? undefined : String(opts.writeBackMaxBytes / MiB));
  opt('write-back-max-files', opts.writeBackMaxFiles === undefined ? undefined : String(opts.writeBackMaxFiles));
  flag('kernel-writeback-cache', opts.kernelWritebackCache === true);
  flag('fuse-interrupts', opts.fuseInterrupts === true);
  return args;
}
