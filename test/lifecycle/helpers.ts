// Shared helpers for the lifecycle tests: publish requests against a MinIO server, leak checks
// (mounts, mount processes, state entries and files under a state dir) and last-resort cleanup
// that runs even when a test fails.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, mkdtempSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { startMinio, type MinioServer } from '../support/minio.js';
import { silentLogger } from '../../src/log.js';
import { createProcessMounter, type ProcessMounter } from '../../src/mounter/process-mounter.js';
import { parseMountOptions, type MountSource } from '../../src/mount-contract/options.js';
import type { PublishRequest } from '../../src/mounter/types.js';
import { mountsUnder, readMountInfo } from '../../src/util/mountinfo.js';
import { pidsWithArg, sendSignal } from '../../src/mounter/proc.js';

export function mountSource(minio: MinioServer, bucket: string, extraFlags: string[] = []): MountSource {
  return {
    bucket,
    prefix: '',
    ...parseMountOptions([
      `--endpoint-url=${minio.endpoint}`,
      '--force-path-style',
      '--metadata-ttl=0',
      '--region=us-east-1',
      ...extraFlags,
    ]),
  };
}

/**
 * A publish as the node plugin makes it. `supervise` (default true, as the plugin's
 * --supervise-mounts) adds `--supervise`; tests of the unsupervised path set it false.
 */
export function publishRequest(
  minio: MinioServer,
  bucket: string,
  targetPath: string,
  over: Partial<PublishRequest> & { flags?: string[]; supervise?: boolean } = {},
): PublishRequest {
  const { flags = [], supervise = true, ...rest } = over;
  return {
    volumeId: `vol-${bucket}`,
    targetPath,
    readOnly: false,
    source: mountSource(minio, bucket, supervise && !flags.includes('--supervise') ? [...flags, '--supervise'] : flags),
    credentials: { accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey },
    credentialIdentity: `static:${minio.accessKey}`,
    capabilityFingerprint: 'mount:rw:single-node-writer',
    ...rest,
  };
}

/** A temp dir holding `state/` (the mounter's state dir) and `pods/` (targets). */
export function makeWorkDir(): { root: string; stateDir: string; podsDir: string } {
  const root = mkdtempSync(join(tmpdir(), 'bm-lifecycle-'));
  return { root, stateDir: join(root, 'state'), podsDir: join(root, 'pods') };
}

export interface Leftovers {
  mounts: string[];
  processes: number[];
  shares: string[];
  stateEntries: number;
}

/** What is left behind under a work dir: mounts, mount processes, share dirs, state records. */
export function leftovers(root: string, stateDir: string): Leftovers {
  const mounts = mountsUnder(root, readMountInfo()).map((m) => m.mountPoint);
  const processes = pidsWithArg(stateDir + '/');
  const sharesDir = join(stateDir, 'shares');
  const shares = existsSync(sharesDir) ? readdirSync(sharesDir) : [];
  let stateEntries = 0;
  const file = join(stateDir, 'state.json');
  if (existsSync(file)) {
    const st = JSON.parse(readFileSync(file, 'utf8')) as { shares: object; targets: object };
    stateEntries = Object.keys(st.shares).length + Object.keys(st.targets).length;
  }
  return { mounts, processes, shares, stateEntries };
}

export const NOTHING_LEFT: Leftovers = { mounts: [], processes: [], shares: [], stateEntries: 0 };

/** Last-resort cleanup: kill mount processes, lazily unmount everything under root, remove it. */
export function forceCleanup(root: string, stateDir: string): void {
  for (const pid of pidsWithArg(stateDir + '/')) sendSignal(pid, 'SIGKILL');
  for (const m of mountsUnder(root, readMountInfo()).reverse()) {
    try {
      execFileSync('umount', ['-l', m.mountPoint], { stdio: 'ignore' });
    } catch {
      /* already gone */
    }
  }
  if (mountsUnder(root, readMountInfo()).length === 0) rmSync(root, { recursive: true, force: true });
  else {
    try {
      rmdirSync(root);
    } catch {
      /* leave it rather than recurse into a mount */
    }
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/**
 * One test file's real MinIO (with these buckets) and ProcessMounter on a fresh state dir:
 * registers the before/after hooks (after: close, last-resort cleanup, MinIO stopped).
 */
export function mounterSuite(buckets: string[]): {
  work: ReturnType<typeof makeWorkDir>;
  readonly minio: MinioServer;
  readonly mounter: ProcessMounter;
} {
  const work = makeWorkDir();
  let minio: MinioServer | undefined;
  let mounter: ProcessMounter | undefined;
  before(async () => {
    minio = await startMinio({ buckets });
    mounter = createProcessMounter({
      stateDir: work.stateDir,
      logger: silentLogger(),
      readyTimeoutMs: 20_000,
      unmountTimeoutMs: 20_000,
    });
    await mounter.reconcile();
  });
  after(async () => {
    await mounter?.close();
    forceCleanup(work.root, work.stateDir);
    await minio?.stop();
  });
  return {
    work,
    get minio() {
      if (!minio) throw new Error('MinIO is not started yet (use it inside a test)');
      return minio;
    },
    get mounter() {
      if (!mounter) throw new Error('the mounter is not created yet (use it inside a test)');
      return mounter;
    },
  };
}

/** The content a read loop expects in `<target>/data.txt` (write it before starting one). */
export const READ_LOOP_DATA = 'survives\n'.repeat(1000);

const READ_LOOP = String.raw`
import os, sys, time, json, errno
root, stop = sys.argv[1], sys.argv[2]
errors, n, longest = [], 0, 0.0
while not os.path.exists(stop):
    t = time.monotonic()
    try:
        with open(os.path.join(root, 'data.txt')) as f:
            if f.read() != 'survives\n' * 1000: errors.append('wrong bytes')
        os.listdir(root)
        n += 1
    except OSError as e:
        errors.append(errno.errorcode.get(e.errno, str(e.errno)))
    longest = max(longest, time.monotonic() - t)
    time.sleep(0.01)
print(json.dumps({'errors': errors, 'n': n, 'longest': round(longest, 2)}))
`;

export interface ReadLoopResult {
  errors: string[];
  n: number;
  /** Longest round (read + listing), seconds. */
  longest: number;
  /** What the loop printed. */
  out: string;
}

/**
 * A process reading `<target>/data.txt` and listing `target` in a loop, as a pod would, counting
 * every error; the returned function stops it (through `stopFile`) and resolves its result.
 */
export function startReadLoop(target: string, stopFile: string): () => Promise<ReadLoopResult> {
  const reader = spawn('python3', ['-c', READ_LOOP, target, stopFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  reader.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  reader.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const done = new Promise<number | null>((res) => reader.on('exit', (c) => res(c)));
  return async () => {
    writeFileSync(stopFile, '');
    const code = await done;
    if (code !== 0) throw new Error(`the read loop exited with ${code}: ${out}`);
    return { ...(JSON.parse(out.trim().split('\n').pop()!) as Omit<ReadLoopResult, 'out'>), out };
  };
}
