// One-off comparison of FUSE layers on a real mount (docs/fuse3.md): one MinIO, one object of
// --size MiB, then for each round and each layer a fresh mount reads it once with `dd bs=1M`
// (cold: new mount, empty page cache for it). Prints MB/s and the mount process's CPU seconds for
// the read (user+sys from /proc; steadier than MB/s on a shared machine), and medians. The layers:
// ours (the mount command, libfuse3) and fuse-native, the former layer, when BENCH_FUSE_NATIVE_DIR
// gives it (fuse-native.ts, served by fuse-native-mount.ts); otherwise its row says it is missing.
// Usage: node dist/test/bench/layer-seq-read.js [sizeMiB=512] [rounds=3]
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { startMinio } from '../support/minio.js';
import { mountBucket } from '../support/mount.js';
import { patternBytes } from '../fs/helpers.js';
import { fuseNativeMissing } from './fuse-native.js';

const sizeMiB = Number(process.argv[2] ?? 512);
const rounds = Number(process.argv[3] ?? 3);
const FUSE_NATIVE_MOUNT = fileURLToPath(new URL('./fuse-native-mount.js', import.meta.url));
const nativeMissing = fuseNativeMissing();
const layers = nativeMissing ? (['fuse3'] as const) : (['fuse-native', 'fuse3'] as const);
const commandOf = (layer: (typeof layers)[number]): [string, string[]] | undefined =>
  layer === 'fuse-native' ? [process.execPath, [FUSE_NATIVE_MOUNT]] : undefined;

const minio = await startMinio({ buckets: ['layers'] });
const results: Record<string, number[]> = { 'fuse-native': [], fuse3: [] };
const cpu: Record<string, number[]> = { 'fuse-native': [], fuse3: [] };
/** user+sys CPU seconds of a process (clock ticks are 100 Hz on Linux). */
const cpuOf = (pid: number): number => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};
try {
  await minio.client.send(
    new PutObjectCommand({ Bucket: 'layers', Key: 'big.bin', Body: patternBytes(sizeMiB * 1024 * 1024, 5) }),
  );
  for (let r = 0; r < rounds; r++) {
    for (const layer of layers) {
      const mb = await mountBucket({ minio, bucket: 'layers', command: commandOf(layer) });
      try {
        const c0 = cpuOf(mb.pid);
        const t0 = process.hrtime.bigint();
        execFileSync('dd', [`if=${mb.dir}/big.bin`, 'of=/dev/null', 'bs=1M', 'status=none']);
        const s = Number(process.hrtime.bigint() - t0) / 1e9;
        const c = cpuOf(mb.pid) - c0;
        const mbps = (sizeMiB * 1.048576) / s;
        results[layer]!.push(mbps);
        cpu[layer]!.push(c);
        process.stdout.write(`round ${r + 1} ${layer}: ${mbps.toFixed(0)} MB/s, mount process CPU ${c.toFixed(2)} s\n`);
      } finally {
        await mb.unmount();
      }
    }
  }
} finally {
  await minio.stop();
}
const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
for (const l of layers) {
  process.stdout.write(
    `${l}: median ${median(results[l]!).toFixed(0)} MB/s, ${median(cpu[l]!).toFixed(2)} CPU s, over ${rounds} cold reads of ${sizeMiB} MiB\n`,
  );
}
if (nativeMissing) process.stdout.write(`fuse-native: missing (${nativeMissing})\n`);
