// Memory of a mount (issue 15: at rest ≤ 60 MiB, peak ≤ prefetch budget + a constant), measured
// against a real MinIO on loopback with the real mount command. Not a test: it asserts nothing
// and prints numbers (docs/fuse3.md "Memory"). For each run it measures, from /proc/<pid>/status:
//   - unsupervised server: VmRSS 5 s after mounting, then after a few reads and 8 s of rest (the
//     read buffers are released after 5 s idle)
//     (and again after --idle seconds, when the idle release of buffers has run);
//   - supervised (`--supervise`): the same for the server child, and the supervisor's VmRSS;
//   - peak: VmHWM of an unsupervised server while N `dd bs=1M` readers each read their own object
//     of S MiB in parallel, against the prefetch budget (default 512 MiB).
// With --metrics, every mount gets --metrics-socket (what the node plugin passes) and the line
// also shows the V8 heap used/total and external memory from the socket.
// Usage: node dist/test/bench/memory.js [runs=1] [readers=20] [objectMiB=128] [budgetMiB=512]
//   [--metrics] [--idle=<s>] [--node-flags="--max-semi-space-size=1 ..."] [--skip-peak] [--skip-rest]
//   [--bin=<dist/cmd/bucketmount.js of another build, e.g. the code before a change>]
//   [--seq=<rounds>]: also read one object alone with `dd bs=1M` that many times on one mount and
//   print MB/s and the server's CPU seconds (did a memory setting cost speed?)
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { startMinio, type MinioServer } from '../support/minio.js';
import { MOUNT_BIN, mountBucket, type MountedBucket } from '../support/mount.js';
import { patternBytes } from '../fs/helpers.js';
import { scrapeMountMetrics } from '../../src/metrics/mount-endpoint.js';
import { POOL_IDLE_MS } from '../../src/fs/buffer-pool.js';

/** Rest after activity: longer than the pool's idle release (and its one garbage collection). */
const REST_MS = POOL_IDLE_MS + 3000;

const run = promisify(execFile);
const flagArgs = process.argv.slice(2).filter((a) => a.startsWith('--'));
const pos = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const runs = Number(pos[0] ?? 1);
const readers = Number(pos[1] ?? 20);
const objectMiB = Number(pos[2] ?? 128);
const budgetMiB = Number(pos[3] ?? 512);
const flag = (name: string): string | undefined =>
  flagArgs.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ??
  (flagArgs.includes(`--${name}`) ? '' : undefined);
const withMetrics = flag('metrics') !== undefined;
const idleS = Number(flag('idle') ?? 0);
const nodeFlags = (flag('node-flags') ?? '').split(' ').filter((f) => f !== '');
const skipPeak = flag('skip-peak') !== undefined;
const skipRest = flag('skip-rest') !== undefined;
const seqRounds = Number(flag('seq') ?? 0);
const mountBin = flag('bin') ?? MOUNT_BIN;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const MiBf = (kib: number | undefined): string => (kib === undefined ? '?' : `${(kib / 1024).toFixed(1)} MiB`);

/** A field of /proc/<pid>/status in KiB (VmRSS, VmHWM), undefined when the process is gone. */
function statusKiB(pid: number, field: 'VmRSS' | 'VmHWM' | 'RssAnon' | 'RssFile'): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** VmRSS, with the anonymous part (heap, buffers; the rest is file-backed, mostly the node binary's pages shared between processes). */
const rssLine = (pid: number): string =>
  `${MiBf(statusKiB(pid, 'VmRSS'))} (anonymous ${MiBf(statusKiB(pid, 'RssAnon'))})`;

/** The child of a supervisor (its server), if it has exactly one. */
function childOf(pid: number): number | undefined {
  try {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    return kids.length ? Number(kids[0]) : undefined;
  } catch {
    return undefined;
  }
}

async function heapLine(socket: string | undefined): Promise<string> {
  if (!socket) return '';
  try {
    const fams = await scrapeMountMetrics(socket);
    const v = (name: string): number | undefined => {
      const f = fams.find((m) => m.name === `bucketmount_mount_${name}`);
      return f?.values[0]?.value;
    };
    const m = (n: number | undefined): string => (n === undefined ? '?' : `${(n / 1048576).toFixed(1)}`);
    return ` (heap used/total ${m(v('nodejs_heap_size_used_bytes'))}/${m(v('nodejs_heap_size_total_bytes'))} MiB, external ${m(v('nodejs_external_memory_bytes'))} MiB)`;
  } catch (err) {
    return ` (metrics: ${(err as Error).message})`;
  }
}

async function mount(minio: MinioServer, supervise: boolean, socketDir: string, tag: string) {
  const socket = withMetrics ? join(socketDir, `${tag}.sock`) : undefined;
  const flags = [
    ...(supervise ? ['--supervise'] : []),
    ...(socket ? [`--metrics-socket=${socket}`] : []),
    `--prefetch-budget=${budgetMiB}`,
  ];
  const mb = await mountBucket({
    minio,
    bucket: 'mem',
    flags,
    command: [process.execPath, [...nodeFlags, mountBin, 'mount']],
  });
  return { mb, socket };
}

/** A few reads: a listing, ten small files, one 32 MiB file read whole. */
async function someReads(mb: MountedBucket): Promise<void> {
  readdirSync(mb.dir);
  for (let i = 0; i < 10; i++) readFileSync(join(mb.dir, `small-${i}.txt`));
  await run('dd', [`if=${mb.dir}/mid.bin`, 'of=/dev/null', 'bs=1M', 'status=none']);
}

async function atRest(minio: MinioServer, supervise: boolean, socketDir: string): Promise<void> {
  const { mb, socket } = await mount(minio, supervise, socketDir, supervise ? 'sup' : 'plain');
  try {
    const server = supervise ? childOf(mb.pid) : mb.pid;
    if (server === undefined) throw new Error('supervised mount without a server child');
    const what = supervise ? 'supervised server' : 'unsupervised server';
    await sleep(5000);
    process.stdout.write(`${what}: at rest after mount ${rssLine(server)}${await heapLine(socket)}\n`);
    if (supervise) process.stdout.write(`supervisor: ${rssLine(mb.pid)}\n`);
    await someReads(mb);
    await sleep(REST_MS);
    process.stdout.write(
      `${what}: at rest after reads ${rssLine(server)} (peak ${MiBf(statusKiB(server, 'VmHWM'))})${await heapLine(socket)}\n`,
    );
    if (idleS > 0) {
      await sleep(idleS * 1000);
      process.stdout.write(`${what}: after ${idleS} s more idle ${rssLine(server)}${await heapLine(socket)}\n`);
    }
    if (supervise) process.stdout.write(`supervisor: ${rssLine(mb.pid)}\n`);
  } finally {
    await mb.unmount();
  }
}

/** user+sys CPU seconds of a process (clock ticks are 100 Hz on Linux). */
function cpuOf(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

async function seqRead(minio: MinioServer, socketDir: string): Promise<void> {
  const { mb } = await mount(minio, false, socketDir, 'seq');
  try {
    for (let i = 0; i < seqRounds; i++) {
      const c0 = cpuOf(mb.pid);
      const t0 = Date.now();
      await run('dd', [`if=${mb.dir}/big-${i % readers}.bin`, 'of=/dev/null', 'bs=1M', 'status=none']);
      const s = (Date.now() - t0) / 1000;
      process.stdout.write(
        `seq: ${objectMiB} MiB alone: ${((objectMiB * 1.048576) / s).toFixed(0)} MB/s, server CPU ${(cpuOf(mb.pid) - c0).toFixed(2)} s, VmHWM ${MiBf(statusKiB(mb.pid, 'VmHWM'))}\n`,
      );
    }
  } finally {
    await mb.unmount();
  }
}

async function peak(minio: MinioServer, socketDir: string): Promise<void> {
  const { mb, socket } = await mount(minio, false, socketDir, 'peak');
  try {
    let maxRss = 0;
    const sampler = setInterval(() => (maxRss = Math.max(maxRss, statusKiB(mb.pid, 'VmRSS') ?? 0)), 100);
    const t0 = Date.now();
    try {
      await Promise.all(
        Array.from({ length: readers }, (_, i) =>
          run('dd', [`if=${mb.dir}/big-${i}.bin`, 'of=/dev/null', 'bs=1M', 'status=none']),
        ),
      );
    } finally {
      clearInterval(sampler);
    }
    const s = (Date.now() - t0) / 1000;
    const hwm = statusKiB(mb.pid, 'VmHWM') ?? 0;
    const mbps = (readers * objectMiB * 1.048576) / s;
    process.stdout.write(
      `peak: ${readers} readers × ${objectMiB} MiB in ${s.toFixed(1)} s (${mbps.toFixed(0)} MB/s): VmHWM ${MiBf(hwm)}, ` +
        `largest sampled VmRSS ${MiBf(maxRss)}; budget ${budgetMiB} MiB, VmHWM − budget = ${(hwm / 1024 - budgetMiB).toFixed(0)} MiB${await heapLine(socket)}\n`,
    );
    await sleep(REST_MS);
    process.stdout.write(`peak: ${REST_MS / 1000} s after the readers ${rssLine(mb.pid)}${await heapLine(socket)}\n`);
    if (idleS > 0) {
      await sleep(idleS * 1000);
      process.stdout.write(`peak: after ${idleS} s more idle ${rssLine(mb.pid)}\n`);
    }
  } finally {
    await mb.unmount();
  }
}

const loadavg = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
process.stdout.write(
  `${mountBin}, node ${process.version}, node flags [${nodeFlags.join(' ')}], metrics ${withMetrics ? 'on' : 'off'}, load average ${loadavg()}\n`,
);
const minio = await startMinio({ buckets: ['mem'] });
const socketDir = mkdtempSync(join(tmpdir(), 'bm-mem-'));
try {
  const put = (Key: string, Body: Buffer) => minio.client.send(new PutObjectCommand({ Bucket: 'mem', Key, Body }));
  for (let i = 0; i < 10; i++) await put(`small-${i}.txt`, patternBytes(4096, i));
  await put('mid.bin', patternBytes(32 * 1048576, 3));
  if (!skipPeak || seqRounds > 0) {
    const big = patternBytes(objectMiB * 1048576, 7);
    for (let i = 0; i < readers; i++) await put(`big-${i}.bin`, big);
  }
  for (let r = 0; r < runs; r++) {
    process.stdout.write(`--- run ${r + 1} (load average ${loadavg()})\n`);
    if (!skipRest) {
      await atRest(minio, false, socketDir);
      await atRest(minio, true, socketDir);
    }
    if (seqRounds > 0) await seqRead(minio, socketDir);
    if (!skipPeak) await peak(minio, socketDir);
  }
} finally {
  await minio.stop();
  rmSync(socketDir, { recursive: true, force: true });
}
