// Mount-command flags that change what is sent to S3 or how the mount looks, checked on real
// FUSE mounts against real MinIO: --region detection with HeadBucket (MinIO with a site region),
// --storage-class, --requester-pays and --upload-checksums (request headers recorded by the
// fault proxy, which here only forwards), a rename of an object above the 5 GiB CopyObject limit
// (multipart UploadPartCopy), --allow-other with --uid/--gid/--file-mode seen by another user,
// and the exact errnos of --read-only, --allow-delete=false and --allow-overwrite=false.
// (Plain uid/gid/mode flags and the basic read-only/allow-* cases are in metadata.test.ts.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { statfsSync } from 'node:fs';
import {
  appendFile,
  mkdir,
  open,
  readFile,
  readdir,
  rename,
  rmdir,
  stat,
  truncate,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  UploadPartCopyCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { errnoOf, fsSuite, patternBytes, run, sha256, writeStream } from './helpers.js';
import { startFaultProxy, type FaultProxy, type RecordedRequest } from '../support/fault-proxy.js';
import { mountBucket, type MountBucketOptions, type MountedBucket } from '../support/mount.js';
import { startMinio } from '../support/minio.js';
import { createS3Client } from '../../src/s3/client.js';
import { MiB } from '../../src/util/units.js';

const s = fsSuite({ bucket: 'options', mount: false });
const T = { timeout: 180_000 };
const GiB = 1024 * MiB;

let proxy: FaultProxy;

before(async () => {
  await s.ready;
  proxy = await startFaultProxy(s.minio.endpoint);
});
after(async () => {
  await proxy?.close();
});

/**
 * Mount through the recording proxy (or straight to MinIO), run fn, unmount. The proxy lives in
 * this process: fn must use async fs calls only on a proxied mount (a sync call would deadlock).
 */
async function withMount(
  opts: Partial<MountBucketOptions> & { direct?: boolean },
  fn: (mnt: MountedBucket, p: (x: string) => string) => Promise<void>,
): Promise<void> {
  const mnt = await s.mount({ ...(opts.direct ? {} : { endpointUrl: proxy.endpoint }), ...opts });
  try {
    await fn(mnt, (x) => join(mnt.dir, x));
  } finally {
    const r = await mnt.unmount();
    assert.equal(r.leftMounted, false, 'the mount went away');
  }
}

/** Requests the proxy recorded from index `mark` on. */
const since = (mark: number): RecordedRequest[] => proxy.requests.slice(mark);

/** SigV4 region of a request (from `Credential=<key>/<date>/<region>/s3/aws4_request`). */
function signedRegion(r: RecordedRequest): string | undefined {
  return /Credential=[^/]+\/\d{8}\/([^/]+)\/s3\/aws4_request/.exec(String(r.headers.authorization ?? ''))?.[1];
}

const header = (r: RecordedRequest, name: string): string | undefined => {
  const v = r.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
};

/** JSON log lines of a mount with the given message. */
function logLines(mnt: MountedBucket, message: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of mnt.logs().split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const o = JSON.parse(line) as Record<string, unknown>;
      if (o.message === message) out.push(o);
    } catch {
      /* not a log line */
    }
  }
  return out;
}

/**
 * Writes through the mount that together use every upload path: a small file (PutObject), a
 * 12 MiB file with 5 MiB parts (CreateMultipartUpload, UploadPart, CompleteMultipartUpload), an
 * append (staged, PutObject again) and a rename (CopyObject + DeleteObject).
 */
async function uploadMix(p: (x: string) => string, dir: string): Promise<{ small: string; big: Buffer }> {
  await mkdir(p(dir), { recursive: true });
  await writeFile(p(`${dir}/small.txt`), 'small\n');
  const big = patternBytes(12 * MiB + 5, 77);
  await writeStream(p(`${dir}/big.bin`), big);
  await appendFile(p(`${dir}/small.txt`), 'more\n');
  await rename(p(`${dir}/small.txt`), p(`${dir}/moved.txt`));
  return { small: 'small\nmore\n', big };
}

const UPLOAD_OPS = new Set([
  'PutObject',
  'CreateMultipartUpload',
  'UploadPart',
  'CompleteMultipartUpload',
  'CopyObject',
  'UploadPartCopy',
]);

// --- --region ---------------------------------------------------------------------------------

test(
  '--region absent: the region comes from HeadBucket (x-amz-bucket-region) and every request is signed for it',
  T,
  async () => {
    const REGION = 'eu-west-3';
    const minio = await startMinio({ env: { MINIO_SITE_REGION: REGION } });
    const regional = createS3Client({
      endpointUrl: minio.endpoint,
      region: REGION,
      forcePathStyle: true,
      credentials: { accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey },
    });
    const rp = await startFaultProxy(minio.endpoint);
    try {
      await regional.send(new CreateBucketCommand({ Bucket: 'regional' }));
      // no AWS_REGION in the environment: the mount must find the region itself
      const env = { AWS_REGION: '', AWS_DEFAULT_REGION: '' };
      const mnt = await mountBucket({ minio, bucket: 'regional', endpointUrl: rp.endpoint, env });
      try {
        await writeFile(join(mnt.dir, 'hello.txt'), 'bonjour');
        assert.equal(await readFile(join(mnt.dir, 'hello.txt'), 'utf8'), 'bonjour');
        assert.deepEqual(await readdir(mnt.dir), ['hello.txt']);
        const ok = logLines(mnt, 'bucket access ok');
        assert.equal(ok.length, 1, mnt.logs());
        assert.equal(ok[0]!.region, REGION, 'the log names the detected region');
      } finally {
        await mnt.unmount();
      }
      const reqs = rp.requests;
      assert.equal(reqs[0]?.op, 'HeadBucket', 'the first request is the HeadBucket probe');
      assert.equal(signedRegion(reqs[0]!), 'us-east-1', 'the probe is signed for the default region');
      assert.equal(reqs.filter((r) => r.op === 'HeadBucket').length, 1, 'one probe');
      const rest = reqs.slice(1);
      assert.ok(
        rest.some((r) => r.op === 'PutObject') && rest.some((r) => r.op === 'GetObject'),
        'writes and reads went through the proxy',
      );
      for (const r of rest) assert.equal(signedRegion(r), REGION, `${r.op} ${r.path} signed for ${REGION}`);
      // (404s of lookups for the new name are expected; a wrong region would be 400/403)
      const refused = rest.filter((r) => r.status === undefined || (r.status >= 400 && r.status !== 404));
      assert.deepEqual(
        refused.map((r) => `${r.op} ${r.status}`),
        [],
        'no request was refused',
      );

      // --region given: no probe, requests signed for it
      rp.resetCounts();
      const mnt2 = await mountBucket({
        minio,
        bucket: 'regional',
        endpointUrl: rp.endpoint,
        env,
        flags: [`--region=${REGION}`],
      });
      try {
        assert.equal(await readFile(join(mnt2.dir, 'hello.txt'), 'utf8'), 'bonjour');
      } finally {
        await mnt2.unmount();
      }
      assert.equal(rp.count({ op: 'HeadBucket' }), 0, 'no HeadBucket when --region is given');
      assert.ok(rp.requests.length > 0);
      for (const r of rp.requests) assert.equal(signedRegion(r), REGION, `${r.op} signed for ${REGION}`);
    } finally {
      regional.destroy();
      await rp.close();
      await minio.stop();
    }
  },
);

test('--region absent and HeadBucket names no region: us-east-1 is used', T, async () => {
  // the proxy answers the probe with a bare 403 (no x-amz-bucket-region), as some servers do
  const rule = proxy.inject({
    op: 'HeadBucket',
    action: { kind: 'respond', respond: () => ({ status: 403, body: '' }) },
  });
  const mark = proxy.requests.length;
  try {
    await withMount({ env: { AWS_REGION: '', AWS_DEFAULT_REGION: '' } }, async (mnt, p) => {
      await writeFile(p('region-default.txt'), 'x');
      assert.equal(logLines(mnt, 'bucket access ok')[0]?.region, 'us-east-1');
    });
  } finally {
    rule.remove();
  }
  const reqs = since(mark);
  assert.equal(reqs[0]?.op, 'HeadBucket');
  assert.ok(reqs.length > 1);
  for (const r of reqs.slice(1)) assert.equal(signedRegion(r), 'us-east-1', `${r.op} signed for us-east-1`);
  assert.equal(await s.getText('region-default.txt'), 'x');
});

// --- --storage-class --------------------------------------------------------------------------

test(
  '--storage-class is sent on PutObject, CreateMultipartUpload and CopyObject and the objects have it',
  T,
  async () => {
    const mark = proxy.requests.length;
    let expect!: { small: string; big: Buffer };
    await withMount(
      { flags: ['--storage-class=REDUCED_REDUNDANCY', '--part-size=5', '--region=us-east-1'] },
      async (_mnt, p) => {
        expect = await uploadMix(p, 'sc');
      },
    );
    const reqs = since(mark);
    for (const op of ['PutObject', 'CreateMultipartUpload', 'CopyObject'] as const) {
      const of = reqs.filter((r) => r.op === op && !r.path.endsWith('/'));
      assert.ok(of.length > 0, `${op} was used`);
      for (const r of of) assert.equal(header(r, 'x-amz-storage-class'), 'REDUCED_REDUNDANCY', `${op} ${r.path}`);
    }
    for (const key of ['sc/moved.txt', 'sc/big.bin']) {
      assert.equal((await s.head(key))?.StorageClass, 'REDUCED_REDUNDANCY', key);
    }
    assert.equal(await s.getText('sc/moved.txt'), expect.small);
    assert.equal(sha256(await s.getBytes('sc/big.bin')), sha256(expect.big));

    // without the flag: no header, the bucket default (STANDARD, which HeadObject leaves out)
    const mark2 = proxy.requests.length;
    await withMount({ flags: ['--part-size=5', '--region=us-east-1'] }, async (_mnt, p) => {
      await uploadMix(p, 'sc-default');
    });
    for (const r of since(mark2)) assert.equal(header(r, 'x-amz-storage-class'), undefined, `${r.op} ${r.path}`);
    for (const key of ['sc-default/moved.txt', 'sc-default/big.bin']) {
      const sc = (await s.head(key))?.StorageClass;
      assert.ok(sc === undefined || sc === 'STANDARD', `${key}: ${sc}`);
    }
  },
);

// --- --requester-pays -------------------------------------------------------------------------

test('--requester-pays sends x-amz-request-payer: requester on every request', T, async () => {
  await s.put('rp/existing.txt', 'existing');
  await s.put('rp/gone.txt', 'to delete');
  const ops = async (p: (x: string) => string): Promise<void> => {
    assert.deepEqual((await readdir(p('rp'))).sort(), ['existing.txt', 'gone.txt']);
    assert.equal(await readFile(p('rp/existing.txt'), 'utf8'), 'existing');
    await stat(p('rp/existing.txt'));
    await uploadMix(p, 'rp/w');
    await truncate(p('rp/w/moved.txt'), 3);
    await unlink(p('rp/gone.txt'));
    await mkdir(p('rp/d'));
    await rmdir(p('rp/d'));
    assert.equal(await errnoOf(stat(p('rp/missing'))), 'ENOENT');
    await rename(p('rp/w'), p('rp/w2'));
  };
  const mark = proxy.requests.length;
  await withMount(
    { flags: ['--requester-pays', '--part-size=5', '--region=us-east-1', '--metadata-ttl=0'] },
    async (_mnt, p) => ops(p),
  );
  const reqs = since(mark);
  const seen = new Set(reqs.map((r) => r.op));
  for (const op of [
    'ListObjects',
    'HeadObject',
    'GetObject',
    'PutObject',
    'CreateMultipartUpload',
    'UploadPart',
    'CompleteMultipartUpload',
    'CopyObject',
    'DeleteObject',
  ]) {
    assert.ok(seen.has(op as RecordedRequest['op']), `${op} was exercised (seen: ${[...seen].join(' ')})`);
  }
  const missing = reqs
    .filter((r) => header(r, 'x-amz-request-payer') !== 'requester')
    .map((r) => `${r.method} ${r.op} ${r.path}`);
  assert.deepEqual(missing, [], 'requests without x-amz-request-payer: requester');
  assert.equal(await s.getText('rp/w2/moved.txt'), 'sma');
  assert.equal(await s.exists('rp/gone.txt'), false);

  // and a mount without the flag sends it on nothing
  const mark2 = proxy.requests.length;
  await withMount({ flags: ['--region=us-east-1'] }, async (_mnt, p) => {
    assert.equal(await readFile(p('rp/existing.txt'), 'utf8'), 'existing');
    await writeFile(p('rp/plain.txt'), 'plain');
  });
  for (const r of since(mark2)) assert.equal(header(r, 'x-amz-request-payer'), undefined, `${r.op} ${r.path}`);
});

// --- --upload-checksums -----------------------------------------------------------------------

const isChecksumHeader = (name: string): boolean =>
  name.startsWith('x-amz-checksum-') || name === 'x-amz-sdk-checksum-algorithm' || name === 'x-amz-trailer';

test(
  '--upload-checksums: crc32 (default) sends CRC32 checksums on uploads, off sends no checksum headers at all',
  T,
  async () => {
    // default (crc32)
    const mark = proxy.requests.length;
    let expect!: { small: string; big: Buffer };
    await withMount({ flags: ['--part-size=5', '--region=us-east-1'] }, async (_mnt, p) => {
      expect = await uploadMix(p, 'ck-on');
    });
    let reqs = since(mark);
    const puts = reqs.filter((r) => r.op === 'PutObject' && !r.path.endsWith('/'));
    const parts = reqs.filter((r) => r.op === 'UploadPart');
    const creates = reqs.filter((r) => r.op === 'CreateMultipartUpload');
    assert.ok(
      puts.length >= 2 && parts.length >= 3 && creates.length >= 1,
      'small, staged and multipart uploads happened',
    );
    for (const r of [...puts, ...parts]) {
      const crc =
        header(r, 'x-amz-checksum-crc32') ?? (/crc32/i.test(header(r, 'x-amz-trailer') ?? '') ? 'trailer' : undefined);
      assert.ok(crc, `${r.op} ${r.path} carries a CRC32 (headers: ${Object.keys(r.headers).join(' ')})`);
    }
    for (const r of creates)
      assert.equal(header(r, 'x-amz-checksum-algorithm')?.toUpperCase(), 'CRC32', `CreateMultipartUpload ${r.path}`);
    const headed = await s.minio.client.send(
      new HeadObjectCommand({ Bucket: s.bucket, Key: 'ck-on/moved.txt', ChecksumMode: 'ENABLED' }),
    );
    assert.ok(headed.ChecksumCRC32, 'a PutObject made with --upload-checksums=crc32 stores a CRC32');

    // off
    const mark2 = proxy.requests.length;
    await withMount({ flags: ['--upload-checksums=off', '--part-size=5', '--region=us-east-1'] }, async (_mnt, p) => {
      await uploadMix(p, 'ck-off');
    });
    reqs = since(mark2);
    assert.ok(
      reqs.some((r) => r.op === 'UploadPart') &&
        reqs.some((r) => r.op === 'PutObject') &&
        reqs.some((r) => r.op === 'CopyObject'),
    );
    const withSums = reqs
      .filter((r) => Object.keys(r.headers).some(isChecksumHeader))
      .map((r) => `${r.op} ${r.path}: ${Object.keys(r.headers).filter(isChecksumHeader).join(',')}`);
    assert.deepEqual(withSums, [], 'no request carries flexible-checksum headers');
    for (const r of reqs.filter((x) => UPLOAD_OPS.has(x.op))) {
      assert.doesNotMatch(
        header(r, 'content-encoding') ?? '',
        /aws-chunked/,
        `${r.op}: no aws-chunked trailer encoding`,
      );
    }
    assert.equal(await s.getText('ck-off/moved.txt'), expect.small);
    assert.equal(sha256(await s.getBytes('ck-off/big.bin')), sha256(expect.big));
    assert.equal(sha256(await s.getBytes('ck-on/big.bin')), sha256(expect.big));
  },
);

// --- rename above the 5 GiB CopyObject limit ----------------------------------------------------

const SEED = 64 * MiB;
const SEED_COUNT = 81; // 81 × 64 MiB = 5 GiB + 64 MiB

/** md5 of bytes [start, end) of an object made of the seed repeated. */
function md5OfRange(seed: Buffer, start: number, end: number): Buffer {
  const h = createHash('md5');
  let pos = start;
  while (pos < end) {
    const off = pos % seed.length;
    const n = Math.min(seed.length - off, end - pos);
    h.update(seed.subarray(off, off + n));
    pos += n;
  }
  return h.digest();
}

/** The source and its copy exist together for a moment: ~10.2 GiB in MinIO's data dir (under tmpdir). */
function hugeSkip(): string | false {
  const sf = statfsSync(tmpdir());
  const free = sf.bavail * sf.bsize;
  return free < 14 * GiB
    ? `needs 14 GiB free under ${tmpdir()} for a 5.06 GiB object and its copy, has ${(free / GiB).toFixed(1)} GiB`
    : false;
}

test(
  'rename of an object above 5 GiB uses a multipart UploadPartCopy and the copy is exact',
  { timeout: 300_000, skip: hugeSkip() },
  async () => {
    const c = s.minio.client;
    const bucket = s.bucket;
    const seed = patternBytes(SEED, 5150);
    await s.put('huge/seed.bin', seed);
    // build the > 5 GiB source server-side (no 5 GiB upload from this process)
    const up = await c.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'huge/src.bin' }));
    const built: CompletedPart[] = [];
    let next = 1;
    const worker = async (): Promise<void> => {
      while (next <= SEED_COUNT) {
        const n = next++;
        const r = await c.send(
          new UploadPartCopyCommand({
            Bucket: bucket,
            Key: 'huge/src.bin',
            UploadId: up.UploadId,
            PartNumber: n,
            CopySource: `${bucket}/huge/seed.bin`,
          }),
        );
        built.push({ PartNumber: n, ETag: r.CopyPartResult?.ETag });
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    built.sort((a, b) => a.PartNumber! - b.PartNumber!);
    await c.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: 'huge/src.bin',
        UploadId: up.UploadId,
        MultipartUpload: { Parts: built },
      }),
    );
    await s.del('huge/seed.bin');
    const size = SEED * SEED_COUNT;
    assert.equal((await s.head('huge/src.bin'))?.ContentLength, size);
    assert.ok(size > 5 * GiB);

    const mark = proxy.requests.length;
    try {
      await withMount({ flags: ['--region=us-east-1'] }, async (_mnt, p) => {
        assert.equal((await stat(p('huge/src.bin'))).size, size);
        await rename(p('huge/src.bin'), p('huge/dst.bin'));
        assert.equal((await stat(p('huge/dst.bin'))).size, size);
        assert.equal(await errnoOf(stat(p('huge/src.bin'))), 'ENOENT');
      });
      const reqs = since(mark);
      assert.equal(reqs.filter((r) => r.op === 'CopyObject').length, 0, 'no single CopyObject (its limit is 5 GiB)');
      const copies = reqs.filter((r) => r.op === 'UploadPartCopy' && (r.status ?? 0) < 300);
      assert.ok(copies.length >= 2, `UploadPartCopy used (${copies.length} parts)`);
      // the ranges cover the source exactly, each within the 5 GiB part limit, in part order
      const ranges = copies
        .map((r) => {
          const m = /^bytes=(\d+)-(\d+)$/.exec(header(r, 'x-amz-copy-source-range') ?? '');
          assert.ok(m, `range header on ${r.path}`);
          const part = Number(new URL(r.path, 'http://x').searchParams.get('partNumber'));
          return { part, start: Number(m[1]), end: Number(m[2]) + 1 };
        })
        .sort((a, b) => a.part - b.part);
      let pos = 0;
      for (const [i, r] of ranges.entries()) {
        assert.equal(r.part, i + 1);
        assert.equal(r.start, pos, `part ${r.part} starts where the previous ended`);
        assert.ok(r.end - r.start <= 5 * GiB, `part ${r.part} ≤ 5 GiB`);
        pos = r.end;
      }
      assert.equal(pos, size, 'the parts cover the whole object');
      assert.equal(proxy.count({ op: 'CompleteMultipartUpload' }) > 0, true);
      // the result: right size, source gone, and a multipart ETag that matches the seed's bytes
      const head = await s.head('huge/dst.bin');
      assert.equal(head?.ContentLength, size);
      assert.equal(await s.exists('huge/src.bin'), false);
      const expected =
        createHash('md5')
          .update(Buffer.concat(ranges.map((r) => md5OfRange(seed, r.start, r.end))))
          .digest('hex') + `-${ranges.length}`;
      assert.equal(head?.ETag?.replace(/"/g, ''), expected, 'ETag of the parts matches the expected bytes');
    } finally {
      for (const k of ['huge/src.bin', 'huge/dst.bin', 'huge/seed.bin'])
        await c.send(new DeleteObjectCommand({ Bucket: bucket, Key: k }));
    }
  },
);

// --- --allow-other with --uid/--gid/--file-mode -----------------------------------------------

/** Run a command as another user (no supplementary groups). */
function runAs(uid: number, gid: number, cmd: string, args: string[]): ReturnType<typeof run> {
  return run('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--', cmd, ...args]);
}

function superOptions(dir: string): string[] {
  const r = run('findmnt', ['-n', '-o', 'VFS-OPTIONS,FS-OPTIONS', '--mountpoint', dir]);
  return r.stdout.trim().split(/[\s,]+/);
}

test(
  '--allow-other lets other users in (with default_permissions checking --uid/--gid/--file-mode); without it they are refused',
  T,
  async () => {
    await s.put('ao/public.txt', 'for everyone');
    const NOBODY = 65534;
    // without --allow-other: another user cannot even stat the mount
    await withMount({ direct: true }, async (mnt, p) => {
      assert.ok(!superOptions(mnt.dir).includes('allow_other'));
      const r = runAs(NOBODY, NOBODY, 'cat', [p('ao/public.txt')]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /Permission denied/);
    });
    // with it, as root-owned 0644/0755: others read, but cannot write
    await withMount({ direct: true, flags: ['--allow-other'] }, async (mnt, p) => {
      const opts = superOptions(mnt.dir);
      assert.ok(opts.includes('allow_other') && opts.includes('default_permissions'), opts.join(','));
      const r = runAs(NOBODY, NOBODY, 'cat', [p('ao/public.txt')]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'for everyone');
      const st = runAs(NOBODY, NOBODY, 'stat', ['-c', '%u %g %a', p('ao/public.txt')]);
      assert.equal(st.stdout.trim(), `${process.getuid!()} ${process.getgid!()} 644`);
      const w = runAs(NOBODY, NOBODY, 'sh', ['-c', 'echo x > "$1"', 'sh', p('ao/by-nobody.txt')]);
      assert.notEqual(w.code, 0);
      assert.match(w.stderr, /Permission denied/);
      assert.equal(await s.exists('ao/by-nobody.txt'), false);
    });
    // owned by nobody with private modes: nobody reads and writes, a third user is refused
    await withMount(
      {
        direct: true,
        flags: ['--allow-other', `--uid=${NOBODY}`, `--gid=${NOBODY}`, '--file-mode=0600', '--dir-mode=0700'],
      },
      async (_mnt, p) => {
        const st = runAs(NOBODY, NOBODY, 'stat', ['-c', '%u %g %a', p('ao/public.txt'), p('ao')]);
        assert.equal(st.code, 0, st.stderr);
        assert.deepEqual(st.stdout.trim().split('\n'), [`${NOBODY} ${NOBODY} 600`, `${NOBODY} ${NOBODY} 700`]);
        const r = runAs(NOBODY, NOBODY, 'cat', [p('ao/public.txt')]);
        assert.equal(r.code, 0, r.stderr);
        const w = runAs(NOBODY, NOBODY, 'sh', ['-c', 'printf mine > "$1"', 'sh', p('ao/by-nobody.txt')]);
        assert.equal(w.code, 0, w.stderr);
        const other = runAs(NOBODY - 1, NOBODY - 1, 'cat', [p('ao/public.txt')]);
        assert.notEqual(other.code, 0);
        assert.match(other.stderr, /Permission denied/);
      },
    );
    assert.equal(await s.getText('ao/by-nobody.txt'), 'mine');
  },
);

// --- --read-only, --allow-delete, --allow-overwrite: exact documented errnos ------------------

test('--allow-delete=false: unlink, rmdir and rename give EPERM; creating and overwriting still work', T, async () => {
  await s.put('nd/file.txt', 'keep');
  await s.put('nd/empty/', '');
  await s.put('nd/sub/inner.txt', 'inner');
  await withMount({ direct: true, flags: ['--allow-delete=false'] }, async (_mnt, p) => {
    assert.equal(await errnoOf(unlink(p('nd/file.txt'))), 'EPERM', 'unlink');
    assert.equal(await errnoOf(rmdir(p('nd/empty'))), 'EPERM', 'rmdir');
    assert.equal(await errnoOf(rename(p('nd/file.txt'), p('nd/renamed.txt'))), 'EPERM', 'rename file');
    assert.equal(await errnoOf(rename(p('nd/sub'), p('nd/sub2'))), 'EPERM', 'rename dir');
    await writeFile(p('nd/new.txt'), 'new');
    await writeFile(p('nd/file.txt'), 'replaced'); // --allow-overwrite defaults to true
    await mkdir(p('nd/made'));
  });
  assert.deepEqual(await s.keys('nd/'), ['nd/empty/', 'nd/file.txt', 'nd/made/', 'nd/new.txt', 'nd/sub/inner.txt']);
  assert.equal(await s.getText('nd/file.txt'), 'replaced');
});

test(
  '--allow-overwrite=false: O_TRUNC, truncate, append, open r+ and rename over an existing object give EPERM; new files and deletes work',
  T,
  async () => {
    await s.put('no/file.txt', 'original');
    await s.put('no/del.txt', 'delete me');
    await withMount({ direct: true, flags: ['--allow-overwrite=false'] }, async (_mnt, p) => {
      assert.equal(await errnoOf(writeFile(p('no/file.txt'), 'x')), 'EPERM', 'O_TRUNC');
      assert.equal(await errnoOf(truncate(p('no/file.txt'), 2)), 'EPERM', 'truncate');
      assert.equal(await errnoOf(appendFile(p('no/file.txt'), 'x')), 'EPERM', 'append');
      assert.equal(
        await errnoOf(async () => (await open(p('no/file.txt'), 'r+')).close()),
        'EPERM',
        'open r+ (write in place)',
      );
      await writeFile(p('no/other.txt'), 'other');
      assert.equal(
        await errnoOf(rename(p('no/other.txt'), p('no/file.txt'))),
        'EPERM',
        'rename over an existing object',
      );
      assert.equal(await readFile(p('no/file.txt'), 'utf8'), 'original');
      await writeFile(p('no/new.txt'), 'fresh');
      await unlink(p('no/del.txt')); // --allow-delete defaults to true
    });
    assert.deepEqual(await s.keys('no/'), ['no/file.txt', 'no/new.txt', 'no/other.txt']);
    assert.equal(await s.getText('no/file.txt'), 'original');
  },
);

test(
  '--read-only wins over --allow-delete/--allow-overwrite (EROFS, not EPERM); bare --allow-delete and =true mean allowed',
  T,
  async () => {
    await s.put('rof/file.txt', 'ro');
    await withMount(
      { direct: true, flags: ['--read-only', '--allow-delete=false', '--allow-overwrite=false'] },
      async (mnt, p) => {
        assert.ok(superOptions(mnt.dir).includes('ro'), 'mounted ro');
        assert.equal(await errnoOf(unlink(p('rof/file.txt'))), 'EROFS', 'unlink');
        assert.equal(await errnoOf(writeFile(p('rof/file.txt'), 'x')), 'EROFS', 'overwrite');
        assert.equal(await errnoOf(writeFile(p('rof/new.txt'), 'x')), 'EROFS', 'create');
        assert.equal(
          await errnoOf(async () => (await open(p('rof/file.txt'), 'r')).close()),
          undefined,
          'open for reading',
        );
        assert.equal(await readFile(p('rof/file.txt'), 'utf8'), 'ro');
      },
    );
    await withMount(
      { direct: true, flags: ['--read-only', '--allow-delete', '--allow-overwrite=true'] },
      async (_mnt, p) => {
        assert.equal(await errnoOf(unlink(p('rof/file.txt'))), 'EROFS', 'read-only with deletes allowed');
      },
    );
    // bare --allow-delete (then another flag) and --allow-overwrite=true: both allowed
    await withMount(
      { direct: true, flags: ['--allow-delete', '--allow-overwrite=true', '--metadata-ttl=0'] },
      async (_mnt, p) => {
        await writeFile(p('rof/file.txt'), 'rw');
        await writeFile(p('rof/tmp.txt'), 'tmp');
        await unlink(p('rof/tmp.txt'));
      },
    );
    assert.deepEqual(await s.keys('rof/'), ['rof/file.txt']);
    assert.equal(await s.getText('rof/file.txt'), 'rw');
  },
);
