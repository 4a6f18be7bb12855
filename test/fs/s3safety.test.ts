// Data safety against real MinIO and the real mount: (1) an endpoint outage of 20 s in the
// middle of a multipart write (and of a read) is ridden out by retrying by time
// (--retry-timeout), and a shorter --retry-timeout turns it into EIO; (2) a mount process killed
// mid-write leaves its multipart upload in --upload-journal and the next mount on that journal
// aborts it — and only it; (3) parts of the growing schedule that are too big for memory are
// spooled to disk, uploaded (with retries) and the object is exact.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, open, readFile, readdir, rm, stat } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  UploadPartCommand,
  HeadObjectCommand,
  type MultipartUpload,
} from '@aws-sdk/client-s3';
import { errnoOf, fsSuite, patternBytes, sha256, sleep } from './helpers.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { createS3Client, signDataBodiesUnsigned } from '../../src/s3/client.js';
import { parseMountArgs } from '../../src/mount-contract/args.js';
import { createLogger } from '../../src/log.js';
import { ObjectUploader } from '../../src/fs/uploader.js';
import type { FsContext } from '../../src/fs/context.js';
import { MiB } from '../../src/util/units.js';

const s = fsSuite({ bucket: 's3safety', mount: false });
const T = { timeout: 300_000 };

let proxy: FaultProxy;
let work: string;

before(async () => {
  await s.ready;
  proxy = await startFaultProxy(s.minio.endpoint, { seed: 3 });
  work = await mkdtemp(join(tmpdir(), 's3safety-'));
});
after(async () => {
  await proxy?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

/** Write `data` through an open handle in 1 MiB write() calls. */
async function writeAll(fh: Awaited<ReturnType<typeof open>>, data: Buffer, from: number, to: number): Promise<void> {
  for (let off = from; off < to; off += MiB) await fh.write(data, off, Math.min(MiB, to - off), off);
}

/** Unfinished uploads of exactly this key (MinIO lists uploads per object name, not per folder prefix). */
async function uploads(prefix: string): Promise<MultipartUpload[]> {
  const out = await s.minio.client.send(new ListMultipartUploadsCommand({ Bucket: s.bucket, Prefix: prefix }));
  return out.Uploads ?? [];
}

test(
  'a 20 s endpoint outage in the middle of a multipart write: write and close complete, the object is exact',
  T,
  async () => {
    const mnt = await s.mount({ endpointUrl: proxy.endpoint, flags: ['--part-size=5'] });
    const data = patternBytes(30 * MiB + 5, 61);
    const path = join(mnt.dir, 'outage-write.bin');
    const fh = await open(path, 'w');
    await writeAll(fh, data, 0, 12 * MiB); // two parts on their way, the third filling
    await proxy.refuse();
    const t0 = Date.now();
    let finished = 0;
    const rest = (async () => {
      await writeAll(fh, data, 12 * MiB, data.length);
      await fh.close();
      finished = Date.now();
    })();
    rest.catch(() => undefined);
    // the mount stays responsive meanwhile: the node plugin's health probe (stat of the root, 3 s) answers
    await sleep(3_000);
    const probeStart = Date.now();
    assert.ok((await stat(mnt.dir)).isDirectory());
    assert.ok(Date.now() - probeStart < 3_000, 'stat of the mount root answers during the outage');
    await sleep(Math.max(0, 20_000 - (Date.now() - t0)));
    assert.equal(finished, 0, 'nothing can complete while the endpoint refuses connections');
    await proxy.accept();
    await rest;
    assert.ok(finished - t0 >= 20_000);
    assert.equal(sha256(await s.getBytes('outage-write.bin')), sha256(data));
    await mnt.unmount();
  },
);

test('a 10 s outage during a read: the read waits and returns the exact bytes', T, async () => {
  const data = patternBytes(6 * MiB + 1, 62);
  await s.put('outage-read.bin', data);
  const mnt = await s.mount({ endpointUrl: proxy.endpoint, flags: ['--metadata-ttl=0'] });
  await proxy.refuse();
  const reading = readFile(join(mnt.dir, 'outage-read.bin'));
  reading.catch(() => undefined);
  await sleep(10_000);
  await proxy.accept();
  assert.equal(sha256(await reading), sha256(data));
  await mnt.unmount();
});

test('--retry-timeout bounds the wait: with 2 s, an 8 s outage fails the write with EIO', T, async () => {
  const mnt = await s.mount({ endpointUrl: proxy.endpoint, flags: ['--part-size=5', '--retry-timeout=2'] });
  const data = patternBytes(12 * MiB, 63);
  const fh = await open(join(mnt.dir, 'outage-short.bin'), 'w');
  await writeAll(fh, data, 0, 6 * MiB);
  await proxy.refuse();
  const t0 = Date.now();
  const code = await errnoOf(async () => {
    try {
      await writeAll(fh, data, 6 * MiB, data.length);
    } finally {
      await fh.close();
    }
  });
  const took = Date.now() - t0;
  await sleep(Math.max(0, 8_000 - took));
  await proxy.accept();
  assert.equal(code, 'EIO');
  assert.ok(took < 8_000, `failed after ${took} ms, within the outage`);
  await mnt.unmount();
});

test(
  'kill -9 mid-write: the next mount on the same --upload-journal aborts that upload, and only that one',
  T,
  async () => {
    const journal = join(work, 'journals', 'vol-1.json');
    const mnt = await s.mount({ flags: ['--part-size=5', `--upload-journal=${journal}`] });
    // another client's unfinished upload in the same bucket (another node, another tool)
    const other = await s.minio.client.send(
      new CreateMultipartUploadCommand({ Bucket: s.bucket, Key: 'crash/other-writer.bin' }),
    );
    await s.minio.client.send(
      new UploadPartCommand({
        Bucket: s.bucket,
        Key: 'crash/other-writer.bin',
        UploadId: other.UploadId,
        PartNumber: 1,
        Body: patternBytes(5 * MiB, 9),
      }),
    );
    const data = patternBytes(30 * MiB, 64);
    await mkdir(join(mnt.dir, 'crash'));
    const fh = await open(join(mnt.dir, 'crash', 'big.bin'), 'w');
    // write slowly: parts are uploaded while the file is still open
    for (let off = 0; off < 16 * MiB; off += MiB) {
      await fh.write(data, off, MiB, off);
      await sleep(50);
    }
    let ours: MultipartUpload | undefined;
    for (let i = 0; i < 200 && !ours; i++) {
      ours = (await uploads('crash/big.bin'))[0];
      if (!ours) await sleep(50);
    }
    assert.ok(ours?.UploadId, 'the mount has a multipart upload in progress');
    const recorded = JSON.parse(await readFile(journal, 'utf8')) as { uploads: { key: string; uploadId: string }[] };
    assert.deepEqual(
      recorded.uploads.map((u) => [u.key, u.uploadId]),
      [['crash/big.bin', ours.UploadId]],
    );
    assert.equal(statSync(journal).mode & 0o777, 0o600, 'journal is mode 0600');
    await mnt.kill(); // kill -9: no flush, no abort
    await fh.close().catch(() => undefined);
    const crashUploads = async (): Promise<(string | undefined)[]> =>
      [...(await uploads('crash/big.bin')), ...(await uploads('crash/other-writer.bin'))].map((u) => u.UploadId).sort();
    const left = await crashUploads();
    assert.deepEqual(left, [ours.UploadId, other.UploadId].sort(), 'both uploads are left unfinished');

    const again = await s.mount({ flags: ['--part-size=5', `--upload-journal=${journal}`] });
    assert.deepEqual(
      await crashUploads(),
      [other.UploadId],
      "ours was aborted, the other client's upload is untouched",
    );
    assert.deepEqual((JSON.parse(await readFile(journal, 'utf8')) as { uploads: unknown[] }).uploads, []);
    assert.match(again.logs(), /aborted left-over multipart upload/);
    // a clean unmount with nothing pending removes the journal
    await again.unmount();
    assert.equal(await errnoOf(stat(journal)), 'ENOENT');
    await s.minio.client.send(
      new AbortMultipartUploadCommand({ Bucket: s.bucket, Key: 'crash/other-writer.bin', UploadId: other.UploadId }),
    );
  },
);

test(
  "a second live mount on the same --upload-journal is refused (it would abort the first one's uploads)",
  T,
  async () => {
    const journal = join(work, 'journals', 'shared.json');
    const first = await s.mount({ flags: [`--upload-journal=${journal}`] });
    await assert.rejects(
      s.mount({ flags: [`--upload-journal=${journal}`], timeoutMs: 20_000 }),
      /belongs to the running process/,
    );
    await first.unmount();
  },
);

for (const checksums of ['crc32', 'off'] as const) {
  test(
    `parts above the memory limit are spooled to disk and uploaded exactly, with retries (checksums ${checksums})`,
    T,
    async () => {
      const spoolDir = await mkdtemp(join(work, 'spool-'));
      const cfg = {
        ...parseMountArgs(['s3safety', '/nonexistent', `--upload-checksums=${checksums}`, '--retry-timeout=20']),
      };
      const s3 = createS3Client({
        endpointUrl: proxy.endpoint,
        forcePathStyle: true,
        region: s.minio.region,
        credentials: { accessKeyId: s.minio.accessKey, secretAccessKey: s.minio.secretKey },
        retryTimeoutMs: 20_000,
      });
      if (checksums === 'crc32') signDataBodiesUnsigned(s3);
      const ctx: FsContext = { s3, bucket: s.bucket, prefix: '', cfg, log: createLogger({ level: 'error' }), spoolDir };
      const key = `spooled-${checksums}.bin`;
      // parts 5, 5, 10, 10, 20, 20 MiB: parts 3-6 are spooled (above the 5 MiB memory limit of this schedule)
      const up = new ObjectUploader(ctx, key, 5 * MiB, 4, {
        partsPerStep: 2,
        memoryPartMax: 5 * MiB,
        inflightBytes: 20 * MiB,
      });
      const data = patternBytes(62 * MiB + 7, 65);
      // the first attempt of two spooled parts is cut off: a file body must be re-read for the retry
      const rule = proxy.inject({
        action: { kind: 'reset' },
        op: 'UploadPart',
        path: /partNumber=(3|5)(&|$)/,
        count: 2,
      });
      for (let off = 0; off < data.length; off += 3 * MiB + 1)
        await up.append(data.subarray(off, Math.min(data.length, off + 3 * MiB + 1)));
      const r = await up.complete();
      assert.equal(rule.hits, 2);
      assert.equal(r.size, data.length);
      assert.equal(sha256(await s.getBytes(key)), sha256(data));
      const head = await s.minio.client.send(new HeadObjectCommand({ Bucket: s.bucket, Key: key }));
      assert.match(head.ETag ?? '', /-6"$/, 'six parts of growing size');
      assert.deepEqual(await readdir(spoolDir), [], 'spooled parts are removed after upload');
      s3.destroy();
    },
  );
}
