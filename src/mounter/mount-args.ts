// The mount command's configuration: parsing `bucketmount mount` flags into a MountConfig,
// turning a MountConfig back into argv (the CSI node spawns the mount process with it), and
// normalising Kubernetes-style mount options ("uid=1000", "allow-other") into flags.
// This module is the single contract between the CSI node and the FUSE mount process. Who may
// set which option (pod / volume / node) is the table in option-authority.ts.
import { parseArgs } from 'node:util';
import { AUTHOR_DESCRIPTION, OPTION_AUTHORITY, mayAuthorSet, type OptionAuthor } from './option-authority.js';
import { CONTROL_CHARS, quote } from '../bounded-text.js';

export interface MountConfig {
  bucket: string;
  /** '' for the whole bucket, otherwise ends with '/'. */
  prefix: string;
  mountPoint: string;
  region?: string;
  endpointUrl?: string;
  forcePathStyle: boolean;
  readOnly: boolean;
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
  foreground: boolean;
  /** Multipart part size for uploads (bytes). */
  partSize: number;
  /** Largest read-ahead window for one open file (bytes). */
  maxPrefetch: number;
  /** Global memory budget for read-ahead buffers across all handles (bytes). */
  prefetchBudget: number;
  /** Most objects a directory rename may copy before failing with a clear error. */
  dirRenameLimit: number;
  /** JSON file (mode 0600) holding credentials; re-read when it changes. */
  credentialsFile?: string;
  /** Volume id, only used to label logs. */
  volumeId?: string;
  logLevel: string;
  logFile?: string;
  /**
   * How long one S3 request is retried after retryable failures (ms; outages up to this are ridden
   * out); undefined = MOUNT_DEFAULTS.retryTimeoutMs (optional so existing share keys do not change).
   */
  retryTimeoutMs?: number;
  /** File recording this mount's unfinished multipart uploads; left-overs of a dead predecessor are aborted at start. */
  uploadJournal?: string;
  /** Where to read other processes' descriptors (a forked writer's close): default /proc; a node plugin passes the host's. */
  procRoot?: string;
  /** FUSE implementation serving the mount (--fuse-layer); undefined = fuse-native. */
  fuseLayer?: FuseLayer;
}

/** FUSE implementations the mount command can serve with (docs/fuse3.md). */
export const FUSE_LAYERS = ['fuse-native', 'fuse3'] as const;
export type FuseLayer = (typeof FUSE_LAYERS)[number];

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
  partSize: 8 * 1024 * 1024,
  maxPrefetch: 64 * 1024 * 1024,
  prefetchBudget: 512 * 1024 * 1024,
  dirRenameLimit: 10000,
  logLevel: 'info',
  retryTimeoutMs: 60_000,
} as const;

export class MountArgsError extends Error {
  override name = 'MountArgsError';
}

/** Flags, their types and help text. Order here is the order in `--help`. */
const FLAGS = {
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
  'allow-other': { type: 'boolean', help: 'let users other than the mounter access the mount (implies --default-permissions)' },
  'default-permissions': { type: 'boolean', help: 'let the kernel check file modes (always on with --allow-other)' },
  cache: { type: 'string', help: 'keep a local cache of object data in a fresh subdirectory of this directory' },
  'data-cache': { type: 'string', help: 'keep a local data cache (in --cache, else the temp dir); "false" to turn off' },
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
  'upload-journal': { type: 'string', help: 'file recording unfinished multipart uploads; a dead mount\'s are aborted at start' },
  'proc-root': { type: 'string', help: 'procfs showing the processes that write to the mount (default /proc)' },
  'fuse-layer': { type: 'string', help: 'FUSE implementation: fuse-native (default) or fuse3 (libfuse3 low-level addon)' },
} as const satisfies Record<string, { type: 'string' | 'boolean'; short?: string; help: string }>;

export type FlagName = keyof typeof FLAGS;

/** Every flag name, in --help order (the option-authority table must cover each). */
export const FLAG_NAMES = Object.keys(FLAGS) as FlagName[];

export function mountUsage(): string {
  const lines = ['usage: bucketmount mount <bucket | s3://bucket/prefix/> <directory> [flags]', '', 'flags:'];
  for (const [name, spec] of Object.entries(FLAGS)) {
    const short = 'short' in spec ? `-${spec.short}, ` : '    ';
    const arg = spec.type === 'string' ? ' <value>' : '';
    lines.push(`  ${short}--${name}${arg}`.padEnd(40) + spec.help);
  }
  return lines.join('\n');
}

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
  if (!/^0?[0-7]{3}$/.test(v)) throw new MountArgsError(`--${name} must be octal permission bits from 000 to 0777 like 0644, got "${v}"`);
  return parseInt(v, 8);
}

/**
 * Longest prefix: S3 keys are at most 1,024 bytes, and a prefix must leave room for the names
 * below it (a 255-byte file name and its "/").
 */
export const MAX_PREFIX_BYTES = 1024 - 256;

/** Validate a prefix: '' or a relative key prefix ending in '/', without control characters. */
export function validatePrefix(prefix: string): string {
  if (prefix === '') return '';
  const bytes = Buffer.byteLength(prefix);
  if (bytes > MAX_PREFIX_BYTES) {
    throw new MountArgsError(`prefix ${quote(prefix)} is ${bytes} bytes, more than ${MAX_PREFIX_BYTES} (S3 keys are at most 1024 bytes and the prefix must leave room for file names)`);
  }
  if (CONTROL_CHARS.test(prefix)) throw new MountArgsError(`prefix ${quote(prefix)} must not contain control characters`);
  if (!prefix.endsWith('/')) throw new MountArgsError(`prefix ${quote(prefix)} must end with "/"`);
  if (prefix.startsWith('/')) throw new MountArgsError(`prefix ${quote(prefix)} must not start with "/"`);
  if (prefix.split('/').slice(0, -1).some((p) => p === '' || p === '.' || p === '..')) {
    throw new MountArgsError(`prefix ${quote(prefix)} must not contain empty, "." or ".." segments`);
  }
  return prefix;
}

/** Prefixes and suffixes S3 reserves (access points, Object Lambda, directory/table buckets, …). */
const RESERVED_BUCKET_PREFIXES = ['xn--', 'sthree-', 'amzn-s3-demo-'];
const RESERVED_BUCKET_SUFFIXES = ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3'];

/**
 * Bucket names per the S3 naming rules: 3-63 characters of lowercase letters, digits, dots and
 * hyphens, starting and ending with a letter or digit, no "..", not shaped like an IPv4
 * address, none of the reserved prefixes / suffixes.
 */
export function validateBucketName(bucket: string): string {
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) || bucket.includes('..')) {
    throw new MountArgsError(
      `bucket name ${quote(bucket)} is not valid: 3-63 characters of lowercase letters, digits, "." and "-", starting and ending with a letter or digit`,
    );
  }
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(bucket)) throw new MountArgsError(`bucket name ${quote(bucket)} is not valid: S3 bucket names must not be formatted as an IP address`);
  const start = RESERVED_BUCKET_PREFIXES.find((p) => bucket.startsWith(p));
  if (start) throw new MountArgsError(`bucket name ${quote(bucket)} is not valid: S3 reserves names starting with "${start}"`);
  const end = RESERVED_BUCKET_SUFFIXES.find((p) => bucket.endsWith(p));
  if (end) throw new MountArgsError(`bucket name ${quote(bucket)} is not valid: S3 reserves names ending with "${end}"`);
  return bucket;
}

/** Parse the source argument: "bucket", "bucket/prefix/" or "s3://bucket/prefix/". */
export function parseSource(source: string): { bucket: string; prefix: string } {
  const s = source.startsWith('s3://') ? source.slice(5) : source;
  const slash = s.indexOf('/');
  const bucket = slash < 0 ? s : s.slice(0, slash);
  const prefix = slash < 0 ? '' : s.slice(slash + 1);
  return { bucket: validateBucketName(bucket), prefix: validatePrefix(prefix) };
}

/** Bare boolean-ish flags whose value is optional ("--allow-delete" alone means true). */
const OPTIONAL_VALUE_FLAGS = new Set<FlagName>(['allow-delete', 'allow-overwrite', 'data-cache']);

/**
 * Parse argv after "mount" (positionals: source, directory). Throws MountArgsError with a
 * message that says what to fix.
 */
export function parseMountArgs(argv: readonly string[]): MountConfig {
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
    throw new MountArgsError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 2) {
    throw new MountArgsError(`expected <bucket> and <directory>, got ${positionals.length} argument(s)\n${mountUsage()}`);
  }
  const str = (k: FlagName): string | undefined => {
    const v = values[k];
    return typeof v === 'string' ? v : undefined;
  };
  const bool = (k: FlagName): boolean => values[k] === true;
  const src = parseSource(positionals[0]!);
  const flagPrefix = str('prefix');
  if (flagPrefix !== undefined && src.prefix !== '') {
    throw new MountArgsError('give the prefix either in the source (s3://bucket/prefix/) or with --prefix, not both');
  }
  const prefix = flagPrefix !== undefined ? validatePrefix(flagPrefix) : src.prefix;
  const checksums = str('upload-checksums') ?? 'crc32';
  if (checksums !== 'crc32' && checksums !== 'off') {
    throw new MountArgsError(`--upload-checksums must be "crc32" or "off", got "${checksums}"`);
  }
  const endpointUrl = str('endpoint-url');
  if (endpointUrl !== undefined) {
    let u: URL;
    try {
      u = new URL(endpointUrl);
    } catch {
      throw new MountArgsError(`--endpoint-url "${endpointUrl}" is not a URL (expected e.g. https://s3.example.com)`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new MountArgsError(`--endpoint-url must use http or https, got "${u.protocol}"`);
    }
  }
  const ttlSeconds = str('metadata-ttl');
  let metadataTtlMs: number = MOUNT_DEFAULTS.metadataTtlMs;
  if (ttlSeconds !== undefined) {
    const n = Number(ttlSeconds);
    if (!Number.isFinite(n) || n < 0 || n > 60) {
      throw new MountArgsError(`--metadata-ttl must be seconds between 0 and 60, got "${ttlSeconds}"`);
    }
    metadataTtlMs = Math.round(n * 1000);
  }
  const MiB = 1024 * 1024;
  const cacheDir = str('cache');
  const dataCache = parseBool('data-cache', str('data-cache'), cacheDir !== undefined);
  if (!dataCache && cacheDir !== undefined) throw new MountArgsError('--cache <dir> turns the data cache on; drop --data-cache=false');
  const cacheMax = str('cache-max-size');
  const cfg: MountConfig = {
    bucket: src.bucket,
    prefix,
    mountPoint: positionals[1]!,
    region: str('region'),
    endpointUrl,
    forcePathStyle: bool('force-path-style'),
    readOnly: bool('read-only'),
    allowDelete: parseBool('allow-delete', str('allow-delete'), MOUNT_DEFAULTS.allowDelete),
    allowOverwrite: parseBool('allow-overwrite', str('allow-overwrite'), MOUNT_DEFAULTS.allowOverwrite),
    uid: parseIntFlag('uid', str('uid'), process.getuid?.() ?? 0, 0, 2 ** 32 - 2),
    gid: parseIntFlag('gid', str('gid'), process.getgid?.() ?? 0, 0, 2 ** 32 - 2),
    fileMode: parseMode('file-mode', str('file-mode'), MOUNT_DEFAULTS.fileMode),
    dirMode: parseMode('dir-mode', str('dir-mode'), MOUNT_DEFAULTS.dirMode),
    allowOther: bool('allow-other'),
    defaultPermissions: bool('default-permissions') || bool('allow-other'),
    dataCache,
    cacheDir,
    cacheMaxBytes: cacheMax === undefined ? undefined : parseIntFlag('cache-max-size', cacheMax, 0, 1, 16 * 1024 * 1024) * MiB,
    spoolDir: str('spool-dir'),
    metadataTtlMs,
    requesterPays: bool('requester-pays'),
    storageClass: str('storage-class'),
    uploadChecksums: checksums === 'crc32',
    foreground: bool('foreground'),
    partSize: parseIntFlag('part-size', str('part-size'), MOUNT_DEFAULTS.partSize / MiB, 5, 5120) * MiB,
    maxPrefetch: parseIntFlag('max-prefetch', str('max-prefetch'), MOUNT_DEFAULTS.maxPrefetch / MiB, 1, 4096) * MiB,
    prefetchBudget: parseIntFlag('prefetch-budget', str('prefetch-budget'), MOUNT_DEFAULTS.prefetchBudget / MiB, 8, 65536) * MiB,
    dirRenameLimit: parseIntFlag('dir-rename-limit', str('dir-rename-limit'), MOUNT_DEFAULTS.dirRenameLimit, 0, 10_000_000),
    credentialsFile: str('credentials-file'),
    volumeId: str('volume-id'),
    logLevel: str('log-level') ?? MOUNT_DEFAULTS.logLevel,
    logFile: str('log-file'),
    retryTimeoutMs: str('retry-timeout') === undefined ? undefined : parseIntFlag('retry-timeout', str('retry-timeout'), 0, 0, 3600) * 1000,
    uploadJournal: str('upload-journal'),
    procRoot: str('proc-root'),
  };
  const layer = str('fuse-layer');
  if (layer !== undefined) {
    if (!(FUSE_LAYERS as readonly string[]).includes(layer)) throw new MountArgsError(`--fuse-layer must be ${FUSE_LAYERS.join(' or ')}, got "${layer}"`);
    cfg.fuseLayer = layer as FuseLayer;
  }
  if (!['error', 'warn', 'info', 'debug'].includes(cfg.logLevel)) {
    throw new MountArgsError(`--log-level must be error, warn, info or debug, got "${cfg.logLevel}"`);
  }
  return cfg;
}

/** Turn a MountConfig back into argv for `bucketmount mount` (inverse of parseMountArgs). */
export function mountConfigToArgs(cfg: MountConfig): string[] {
  const MiB = 1024 * 1024;
  const args = [`${cfg.bucket}${cfg.prefix ? '/' + cfg.prefix : ''}`, cfg.mountPoint];
  const opt = (name: FlagName, v: string | undefined): void => {
    if (v !== undefined) args.push(`--${name}=${v}`);
  };
  const flag = (name: FlagName, v: boolean): void => {
    if (v) args.push(`--${name}`);
  };
  opt('region', cfg.region);
  opt('endpoint-url', cfg.endpointUrl);
  flag('force-path-style', cfg.forcePathStyle);
  flag('read-only', cfg.readOnly);
  opt('allow-delete', String(cfg.allowDelete));
  opt('allow-overwrite', String(cfg.allowOverwrite));
  opt('uid', String(cfg.uid));
  opt('gid', String(cfg.gid));
  opt('file-mode', '0' + cfg.fileMode.toString(8));
  opt('dir-mode', '0' + cfg.dirMode.toString(8));
  flag('allow-other', cfg.allowOther);
  flag('default-permissions', cfg.defaultPermissions === true && !cfg.allowOther);
  opt('cache', cfg.cacheDir);
  if (cfg.dataCache && cfg.cacheDir === undefined) args.push('--data-cache');
  opt('cache-max-size', cfg.cacheMaxBytes === undefined ? undefined : String(cfg.cacheMaxBytes / MiB));
  opt('spool-dir', cfg.spoolDir);
  opt('metadata-ttl', String(cfg.metadataTtlMs / 1000));
  flag('requester-pays', cfg.requesterPays);
  opt('storage-class', cfg.storageClass);
  opt('upload-checksums', cfg.uploadChecksums ? 'crc32' : 'off');
  opt('part-size', String(cfg.partSize / MiB));
  opt('max-prefetch', String(cfg.maxPrefetch / MiB));
  opt('prefetch-budget', String(cfg.prefetchBudget / MiB));
  opt('dir-rename-limit', String(cfg.dirRenameLimit));
  opt('credentials-file', cfg.credentialsFile);
  opt('volume-id', cfg.volumeId);
  opt('log-level', cfg.logLevel);
  opt('log-file', cfg.logFile);
  flag('foreground', cfg.foreground);
  opt('retry-timeout', cfg.retryTimeoutMs === undefined ? undefined : String(cfg.retryTimeoutMs / 1000));
  opt('upload-journal', cfg.uploadJournal);
  opt('proc-root', cfg.procRoot);
  opt('fuse-layer', cfg.fuseLayer);
  return args;
}

/** A mount option its author may not set (the CSI node answers PERMISSION_DENIED). */
export class MountOptionAuthorityError extends MountArgsError {
  override name = 'MountOptionAuthorityError';
}

const BOOL_WORDS = /^(true|false|yes|no|1|0)$/i;

/**
 * Normalise Kubernetes mount options (PV `mountOptions`, StorageClass `mountOptions`, or the
 * `mountOptions` volume attribute) into mount-command flags. Accepts "uid=1000", "--uid=1000",
 * "allow-other", "ro", and comma- or space-separated lists. `author` is who wrote them (see
 * option-authority.ts): options above the author's tier throw MountOptionAuthorityError, values
 * over the table's ceiling too; unknown options throw MountArgsError. The volume form of `cache`
 * is a switch (cache, cache=true|false) that becomes --data-cache; a path is refused: host paths
 * are the node's (--cache-root).
 */
export function normaliseMountOptions(options: readonly string[], author: OptionAuthor): string[] {
  const out: string[] = [];
  for (const raw of options.flatMap((o) => o.split(/[\s,]+/)).filter((o) => o !== '')) {
    const body = raw.replace(/^--?/, '');
    if (body === 'ro' || body === 'rw') continue; // read-only is decided by the CSI readonly field
    const eq = body.indexOf('=');
    let name = (eq < 0 ? body : body.slice(0, eq)).replace(/_/g, '-');
    let value = eq < 0 ? undefined : body.slice(eq + 1);
    if (!(name in FLAGS)) throw new MountArgsError(`unknown mount option "${raw}"`);
    if (name === 'cache' && author !== 'node') {
      if (value !== undefined && !BOOL_WORDS.test(value)) {
        throw new MountOptionAuthorityError(
          `mount option "${raw}" chooses a host path, which ${AUTHOR_DESCRIPTION.node} may do (--cache-root); a volume may only turn the data cache on or off: "cache" or "cache=false"`,
        );
      }
      name = 'data-cache';
      value = value?.toLowerCase();
    }
    const flag = name as FlagName;
    const rule = OPTION_AUTHORITY[flag];
    if (!mayAuthorSet(flag, author)) {
      throw new MountOptionAuthorityError(`mount option "${raw}" may be set by ${AUTHOR_DESCRIPTION[rule.author]}; it came from ${author === 'pod' ? 'an inline volume (pod author)' : 'a PV/StorageClass (volume author)'}`);
    }
    if ('ceiling' in rule && author !== 'node' && value !== undefined && /^\d+$/.test(value) && Number(value) > rule.ceiling) {
      throw new MountOptionAuthorityError(`mount option "${raw}" is over ${rule.ceiling}, the most a volume may set (${rule.why})`);
    }
    out.push(value === undefined ? `--${name}` : `--${name}=${value}`);
  }
  return out;
}
