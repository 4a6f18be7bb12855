// The file systems under test: how to mount the benchmark bucket with ours (bucketmount), s3fs,
// rclone mount, goofys, geesefs and Mountpoint for Amazon S3 (`mount-s3`), plus the no-op zero file
// system on our FUSE layer (FUSE ceiling). Peers are found on PATH only; the bench builds and installs
// nothing (a peer that is not on PATH is reported as missing). Every mount runs in the foreground so
// the spawned pid is the FUSE server (for peak RSS). Credentials go through env or a 0600 file, never argv.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { guardUntilExit, isFuseMounted, lazyUnmountSync, MOUNT_BIN, waitExit } from '../support/mount.js';
import { mountsUnder } from '../../src/util/mountinfo.js';
import type { PeerName } from './options.js';
import { peakRssKiB, sleep } from './proc.js';

/** Where and as whom to reach the shared MinIO bucket. */
export interface BenchTarget {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  region: string;
  bucket: string;
  /** Private scratch directory (passwd files, rclone config). */
  workDir: string;
  partSizeMiB: number;
}

export interface MountOptions {
  /** Run ours under `node --cpu-prof` writing the profile into this directory. */
  cpuProfDir?: string;
  /** Bytes served by the zero file system. */
  zeroSize?: number;
}

export interface ActiveMount {
  name: string;
  dir: string;
  /** pid of the FUSE server process. */
  pid: number;
  /** Peak RSS (VmHWM, KiB) so far. */
  peakRss(): number | undefined;
  logs(): string;
  /** Unmount and wait for the server to exit; returns its final peak RSS. Idempotent. */
  unmount(): Promise<number | undefined>;
}

export interface MountTool {
  name: string;
  /** Undefined when usable, otherwise why not (missing binary, did not build). */
  unavailable(): string | undefined;
  /** One line for the benchmark report: version and flags used. */
  describe(): string;
  mount(t: BenchTarget, dir: string, o?: MountOptions): Promise<ActiveMount>;
}

const NOOP_FUSE = fileURLToPath(new URL('./noop-fuse.js', import.meta.url));

function baseEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.AWS_PROFILE;
  delete env.NODE_OPTIONS;
  // rclone (and Go SDKs) refuse a custom CA bundle on their transport; MinIO here is plain HTTP.
  delete env.AWS_CA_BUNDLE;
  return env;
}

function s3Env(t: BenchTarget): Record<string, string> {
  return { AWS_ACCESS_KEY_ID: t.accessKey, AWS_SECRET_ACCESS_KEY: t.secretKey, AWS_REGION: t.region };
}

/** First executable named `name` in a directory of $PATH (the only place peers are looked for). */
export function findBinary(name: string): string | undefined {
  for (const d of (process.env.PATH ?? '').split(':').filter(Boolean)) {
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

/** Why a peer binary cannot be used: undefined when it is on PATH. */
function notOnPath(bin: string, hint: string): string | undefined {
  return findBinary(bin) ? undefined : `${bin} not on PATH (${hint})`;
}

/** Where docs/benchmarks.md says how the peers that Debian does not package were built. */
const BUILT_BY_HAND =
  'not packaged by Debian: build it by hand outside the repository, see docs/benchmarks.md#how-it-measures, "Peers"';

function versionLine(bin: string, args: string[]): string {
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 10_000 });
  return (
    `${r.stdout ?? ''}${r.stderr ?? ''}`
      .split('\n')
      .find((l) => l.trim())
      ?.trim() ?? '?'
  );
}

/** Every server process started here (each also killed and lazily unmounted if the bench process dies). */
const live = new Map<{ proc: ChildProcess; dir: string }, () => void>();
const forget = (m: { proc: ChildProcess; dir: string }): void => {
  live.get(m)?.();
  live.delete(m);
};

/** Unmount every mount still active (called from the runner's cleanup). */
export async function unmountAll(): Promise<void> {
  for (const m of [...live.keys()]) {
    if (m.proc.exitCode === null && m.proc.signalCode === null) {
      m.proc.kill('SIGTERM');
      if (!(await waitExit(m.proc, 10_000))) m.proc.kill('SIGKILL');
    }
    lazyUnmountSync(m.dir);
    forget(m);
  }
}

type StopStyle = 'sigterm' | 'fusermount';

/** Spawn a foreground FUSE server and wait until `dir` is a serving FUSE mount. */
async function spawnMount(
  name: string,
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  dir: string,
  stop: StopStyle,
): Promise<ActiveMount> {
  mkdirSync(dir, { recursive: true });
  const proc = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const entry = { proc, dir };
  live.set(entry, guardUntilExit(entry));
  let output = '';
  const keep = (d: string): void => {
    output = (output + d).slice(-16_384);
  };
  proc.stdout!.setEncoding('utf8').on('data', keep);
  proc.stderr!.setEncoding('utf8').on('data', keep);
  let lastRss: number | undefined;
  const peakRss = (): number | undefined => {
    const v = peakRssKiB(proc.pid!);
    if (v !== undefined) lastRss = Math.max(lastRss ?? 0, v);
    return lastRss;
  };
  let stopped = false;
  const unmount = async (): Promise<number | undefined> => {
    if (stopped) return lastRss;
    stopped = true;
    peakRss();
    if (proc.exitCode === null && proc.signalCode === null) {
      if (stop === 'fusermount') spawnSync('fusermount3', ['-u', dir], { stdio: 'ignore' });
      else proc.kill('SIGTERM');
      if (!(await waitExit(proc, 60_000))) {
        lazyUnmountSync(dir);
        proc.kill('SIGKILL');
        await waitExit(proc, 5_000);
      }
    }
    lazyUnmountSync(dir);
    forget(entry);
    return lastRss;
  };
  const deadline = Date.now() + 30_000;
  while (true) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      await unmount();
      throw new Error(
        `${name} exited (code ${proc.exitCode}, signal ${proc.signalCode}) before serving: ${output.slice(-2000)}`,
      );
    }
    if (isFuseMounted(dir)) {
      const r = spawnSync('stat', ['-c', '%F', dir], { encoding: 'utf8', timeout: 10_000 });
      if (r.status === 0 && r.stdout.includes('directory')) break;
    }
    if (Date.now() > deadline) {
      await unmount();
      throw new Error(`${name} did not serve at ${dir} within 30 s: ${output.slice(-2000)}`);
    }
    await sleep(50);
  }
  return { name, dir, pid: proc.pid!, peakRss, logs: () => output, unmount };
}

let metricsSocketSeq = 0;

/** The variants of our mount: defaults, with metrics kept, with --write-back. */
type OursVariant = 'ours' | 'ours-metrics' | 'ours-writeback';

const OURS_DESCRIPTION: Record<OursVariant, string> = {
  ours: 'bucketmount (this repo), defaults: `--part-size 8` MiB, 4 parts in flight, prefetch up to 64 MiB per handle, `--metadata-ttl 1`',
  'ours-metrics':
    'ours with `--metrics-socket` (every metric kept and served on the socket; not scraped during the run)',
  'ours-writeback':
    'ours with `--write-back` (close returns before the upload; default ceilings 256 MiB / 1000 files pending, then close waits)',
};

/**
 * Ours; `ours-metrics` is the same mount keeping metrics (`--metrics-socket` in the scratch dir;
 * nothing scrapes it during the run): the "metrics on vs off" rows of issue 17; `ours-writeback`
 * adds --write-back (issue 15).
 */
const oursTool = (variant: OursVariant): MountTool => ({
  name: variant,
  unavailable: () => (existsSync(MOUNT_BIN) ? undefined : `${MOUNT_BIN} missing (run npm run build)`),
  describe: () => OURS_DESCRIPTION[variant],
  mount(t, dir, o = {}) {
    const prof = o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] : [];
    const args = [
      ...prof,
      MOUNT_BIN,
      'mount',
      t.bucket,
      dir,
      `--endpoint-url=${t.endpoint}`,
      '--force-path-style',
      `--region=${t.region}`,
      `--part-size=${t.partSizeMiB}`,
      '--foreground',
      '--log-level=warn',
      `--spool-dir=${join(t.workDir, 'spool')}`,
    ];
    if (variant === 'ours-metrics')
      args.push(`--metrics-socket=${join(t.workDir, `metrics-${++metricsSocketSeq}.sock`)}`);
    if (variant === 'ours-writeback') args.push('--write-back');
    return spawnMount(variant, process.execPath, args, baseEnv(s3Env(t)), dir, 'sigterm');
  },
});

const s3fs: MountTool = {
  name: 's3fs',
  unavailable: () => notOnPath('s3fs', 'Debian package s3fs, installed by scripts/setup.sh'),
  describe: () =>
    `${versionLine('s3fs', ['--version'])}; \`-o use_path_request_style\`, otherwise defaults (no local cache)`,
  mount(t, dir) {
    const passwd = join(t.workDir, 's3fs.passwd');
    writeFileSync(passwd, `${t.accessKey}:${t.secretKey}\n`, { mode: 0o600 });
    const args = [
      t.bucket,
      dir,
      '-f',
      '-o',
      `url=${t.endpoint}`,
      '-o',
      'use_path_request_style',
      '-o',
      `passwd_file=${passwd}`,
      '-o',
      `endpoint=${t.region}`,
    ];
    return spawnMount('s3fs', findBinary('s3fs')!, args, baseEnv(), dir, 'fusermount');
  },
};

const rclone: MountTool = {
  name: 'rclone',
  unavailable: () => notOnPath('rclone', 'Debian package rclone, installed by scripts/setup.sh'),
  describe: () =>
    `${versionLine('rclone', ['version'])}; \`rclone mount --vfs-cache-mode off\` (writes stream to S3 and close() returns once the object exists; \`writes\` mode would return from close() before the upload)`,
  mount(t, dir) {
    const conf = join(t.workDir, 'rclone.conf');
    writeFileSync(conf, '', { mode: 0o600 });
    const env = baseEnv({
      RCLONE_CONFIG: conf,
      RCLONE_CONFIG_BENCH_TYPE: 's3',
      RCLONE_CONFIG_BENCH_PROVIDER: 'Minio',
      RCLONE_CONFIG_BENCH_ENV_AUTH: 'false',
      RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: t.accessKey,
      RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: t.secretKey,
      RCLONE_CONFIG_BENCH_ENDPOINT: t.endpoint,
      RCLONE_CONFIG_BENCH_REGION: t.region,
    });
    const args = ['mount', `bench:${t.bucket}`, dir, '--vfs-cache-mode', 'off', '--log-level', 'ERROR'];
    return spawnMount('rclone', findBinary('rclone')!, args, env, dir, 'sigterm');
  },
};

function goPeer(name: 'goofys' | 'geesefs'): MountTool {
  return {
    name,
    unavailable: () => notOnPath(name, BUILT_BY_HAND),
    describe: () =>
      `${versionLine(findBinary(name) ?? name, ['--version'])}; \`-f --endpoint --region\`, otherwise defaults`,
    mount(t, dir) {
      const args = ['-f', '--endpoint', t.endpoint, '--region', t.region, t.bucket, dir];
      return spawnMount(name, findBinary(name)!, args, baseEnv(s3Env(t)), dir, 'sigterm');
    },
  };
}

/**
 * Mountpoint for Amazon S3. Without `--allow-delete` it refuses `unlink` and without
 * `--allow-overwrite` it refuses to replace an object; both are needed for the write rows.
 */
const mountS3: MountTool = {
  name: 'mount-s3',
  unavailable: () => notOnPath('mount-s3', BUILT_BY_HAND),
  describe: () =>
    `${versionLine(findBinary('mount-s3') ?? 'mount-s3', ['--version'])}; \`--force-path-style --allow-delete --allow-overwrite\`, otherwise defaults (no cache)`,
  mount(t, dir) {
    const args = [
      t.bucket,
      dir,
      '--foreground',
      `--endpoint-url=${t.endpoint}`,
      `--region=${t.region}`,
      '--force-path-style',
      '--allow-delete',
      '--allow-overwrite',
    ];
    return spawnMount('mount-s3', findBinary('mount-s3')!, args, baseEnv(s3Env(t)), dir, 'sigterm');
  },
};

export const PEERS: Record<PeerName, MountTool> = {
  ours: oursTool('ours'),
  'ours-metrics': oursTool('ours-metrics'),
  'ours-writeback': oursTool('ours-writeback'),
  s3fs,
  rclone,
  goofys: goPeer('goofys'),
  geesefs: goPeer('geesefs'),
  'mount-s3': mountS3,
};

/** The no-op file system on our libfuse3 layer serving one file `/zero` of zeros: the FUSE read ceiling. */
export const ZERO_FS: MountTool = {
  name: 'fuse-ceiling',
  unavailable: () => (existsSync(NOOP_FUSE) ? undefined : `${NOOP_FUSE} missing`),
  describe: () =>
    'no-op file system on our libfuse3 layer (same request sizes as ours) answering every read with zeros',
  mount(_t, dir, o = {}) {
    const args = [NOOP_FUSE, dir, String(o.zeroSize ?? 0)];
    return spawnMount('fuse-ceiling', process.execPath, args, baseEnv(), dir, 'sigterm');
  },
};

/** Remove the scratch directory, but never while anything is still mounted below it. */
export function removeWorkDir(dir: string): boolean {
  const below = (): string[] =>
    mountsUnder(dir)
      .map((m) => m.mountPoint)
      .filter((mp) => mp.startsWith(dir + '/'));
  for (const mp of below()) lazyUnmountSync(mp);
  if (below().length) return false;
  rmSync(dir, { recursive: true, force: true });
  return true;
}
