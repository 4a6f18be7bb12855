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
  /**
   * With --supervise: --fuse-state names the supervisor's hand-off state dir (default: a new
   * private dir under /run/bucketmount); --fuse-fd adds an inherited, already mounted connection
   * to take over (the node plugin resuming a mount the fd keeper held).
   */
  supervision?: { stateDir: string; adoptFd?: number };
  /** With --supervise: the node's fd keeper socket (src/mounter/fd-keeper.ts). */
  fdKeeper?: string;
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
  const opts = readMountOptions(f);
  const supervision = opts.supervise ? readSupervision(f.str('fuse-fd'), f.str('fuse-state')) : undefined;
  const handoff = opts.supervise ? undefined : readHandoff(f.str('fuse-fd'), f.str('fuse-state'));
  const fdKeeper = f.str('fd-keeper');
  if (fdKeeper !== undefined && !opts.supervise) throw new MountArgsError('--fd-keeper needs --supervise');
  if (fdKeeper !== undefined && !fdKeeper.startsWith('/'))
    throw new MountArgsError(`--fd-keeper must be an absolute path, got "${fdKeeper}"`);
  return {
    bucket: src.bucket,
    prefix,
    ...opts,
    ...(handoff ? { handoff } : {}),
    ...(supervision ? { supervision } : {}),
    ...(fdKeeper !== undefined ? { fdKeeper } : {}),
    mountPoint: f.positionals[1]!,
    readOnly: f.bool('read-only'),
    foreground: f.bool('foreground'),
    credentialsFile: f.str('credentials-file'),
    logFile: f.str('log-file'),
    volumeId: f.str('volume-id'),
  };
}

function readFd(fd: string): number {
  if (!/^\d{1,4}$/.test(fd) || Number(fd) < 3)
    throw new MountArgsError(`--fuse-fd must be a descriptor number >= 3, got "${fd}"`);
  return Number(fd);
}

function readStateDir(state: string): string {
  if (!state.startsWith('/')) throw new MountArgsError(`--fuse-state must be an absolute path, got "${state}"`);
  return state;
}

/** A server: --fuse-fd and --fuse-state come together: a descriptor number >= 3 and an absolute directory. */
function readHandoff(fd: string | undefined, state: string | undefined): MountProcessArgs['handoff'] {
  if (fd === undefined && state === undefined) return undefined;
  if (fd === undefined || state === undefined) throw new MountArgsError('--fuse-fd and --fuse-state go together');
  return { fd: readFd(fd), stateDir: readStateDir(state) };
}

/** A supervisor: --fuse-state alone (its state dir), or with --fuse-fd (a connection to take over). */
function readSupervision(fd: string | undefined, state: string | undefined): MountProcessArgs['supervision'] {
  if (state === undefined) {
    if (fd !== undefined)
      throw new MountArgsError('--supervise with --fuse-fd needs --fuse-state (the saved hand-off state)');
    return undefined;
  }
  return { stateDir: readStateDir(state), ...(fd !== undefined ? { adoptFd: readFd(fd) } : {}) };
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
  if (cfg.supervision) {
    if (cfg.supervision.adoptFd !== undefined) args.push(`--fuse-fd=${cfg.supervision.adoptFd}`);
    args.push(`--fuse-state=${cfg.supervision.stateDir}`);
  }
  if (cfg.fdKeeper !== undefined) args.push(`--fd-keeper=${cfg.fdKeeper}`);
  return args;
}
