// The argv of one mount process: `bucketmount mount <source> <directory> [flags]` parsed into a
// MountConfig (the MountSource of options.ts plus the plumbing of this one process: mount point,
// read-only, foreground, credentials and log files, log label), and a MountConfig turned back
// into argv (the CSI node's mounter spawns the mount process with it).
import { validateBucketName, validatePrefix, S3NameError } from '../s3/names.js';
import { MountArgsError, mountUsage, parseFlags } from './flags.js';
import { optionArgs, readMountOptions, type MountSource } from './options.js';

/** Per-process plumbing: set by whoever starts this one mount process, never by a volume. */
export interface MountProcessArgs {
  mountPoint: string;
  readOnly: boolean;
  foreground: boolean;
  /** JSON file (mode 0600) holding credentials; re-read when it changes. */
  credentialsFile?: string;
  logFile?: string;
  /** Volume id, only used to label logs. */
  volumeId?: string;
  /** --fuse-fd + --fuse-state: serve an inherited /dev/fuse fd (a supervised server). */
  handoff?: { fd: number; stateDir: string };
}

/** Everything one mount process runs with. */
export type MountConfig = MountSource & MountProcessArgs;

/** A bucket or prefix name error, as the mount command reports it (a bad argument). */
function named<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof S3NameError) throw new MountArgsError(err.message, { cause: err });
    throw err;
  }
}

/** Parse the source argument: "bucket", "bucket/prefix/" or "s3://bucket/prefix/". */
export function parseSource(source: string): { bucket: string; prefix: string } {
  const s = source.startsWith('s3://') ? source.slice(5) : source;
  const slash = s.indexOf('/');
  const bucket = slash < 0 ? s : s.slice(0, slash);
  const prefix = slash < 0 ? '' : s.slice(slash + 1);
  return named(() => ({ bucket: validateBucketName(bucket), prefix: validatePrefix(prefix) }));
}

/**
 * Parse argv after "mount" (positionals: source, directory). Throws MountArgsError with a
 * message that says what to fix.
 */
export function parseMountArgs(argv: readonly string[]): MountConfig {
  const f = parseFlags(argv);
  if (f.positionals.length !== 2) {
    throw new MountArgsError(
      `expected <bucket> and <directory>, got ${f.positionals.length} argument(s)\n${mountUsage()}`,
    );
  }
  const src = parseSource(f.positionals[0]!);
  const flagPrefix = f.str('prefix');
  if (flagPrefix !== undefined && src.prefix !== '') {
    throw new MountArgsError('give the prefix either in the source (s3://bucket/prefix/) or with --prefix, not both');
  }
  const prefix = flagPrefix !== undefined ? named(() => validatePrefix(flagPrefix)) : src.prefix;
  const handoff = readHandoff(f.str('fuse-fd'), f.str('fuse-state'));
  const opts = readMountOptions(f);
  if (opts.supervise && handoff) throw new MountArgsError('--supervise and --fuse-fd are exclusive');
  return {
    bucket: src.bucket,
    prefix,
    ...opts,
    ...(handoff ? { handoff } : {}),
    mountPoint: f.positionals[1]!,
    readOnly: f.bool('read-only'),
    foreground: f.bool('foreground'),
    credentialsFile: f.str('credentials-file'),
    logFile: f.str('log-file'),
    volumeId: f.str('volume-id'),
  };
}

/** --fuse-fd and --fuse-state come together: a non-negative fd number and an absolute directory. */
function readHandoff(fd: string | undefined, state: string | undefined): MountProcessArgs['handoff'] {
  if (fd === undefined && state === undefined) return undefined;
  if (fd === undefined || state === undefined) throw new MountArgsError('--fuse-fd and --fuse-state go together');
  if (!/^\d{1,4}$/.test(fd) || Number(fd) < 3)
    throw new MountArgsError(`--fuse-fd must be a descriptor number >= 3, got "${fd}"`);
  if (!state.startsWith('/')) throw new MountArgsError(`--fuse-state must be an absolute path, got "${state}"`);
  return { fd: Number(fd), stateDir: state };
}

/** Turn a MountConfig back into argv for `bucketmount mount` (inverse of parseMountArgs). */
export function mountConfigToArgs(cfg: MountConfig): string[] {
  const args = [`${cfg.bucket}${cfg.prefix ? '/' + cfg.prefix : ''}`, cfg.mountPoint, ...optionArgs(cfg)];
  if (cfg.readOnly) args.push('--read-only');
  if (cfg.credentialsFile !== undefined) args.push(`--credentials-file=${cfg.credentialsFile}`);
  if (cfg.volumeId !== undefined) args.push(`--volume-id=${cfg.volumeId}`);
  if (cfg.logFile !== undefined) args.push(`--log-file=${cfg.logFile}`);
  if (cfg.foreground) args.push('--foreground');
  if (cfg.handoff) args.push(`--fuse-fd=${cfg.handoff.fd}`, `--fuse-state=${cfg.handoff.stateDir}`);
  return args;
}
