// 50 publish/unpublish cycles run five at a time against one ProcessMounter (real MinIO, real
// FUSE): publishes of the same volume share a mount process and race with unpublishes that drop
// it. Afterwards no mount, mount process, share dir or state record may be left, and every file
// written through a cycle's mount must be in its bucket. A second run kill -9s the mount process
// in every cycle (each worker has its own volume): republish restores, unpublish cleans up.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { startMinio, type MinioServer } from '../support/minio.js';
import { createProcessMounter, type ProcessMounter } from '../../src/mounter/process-mounter.js';
import { silentLogger } from '../../src/log.js';
import { processAlive, sendSignal } from '../../src/mounter/proc.js';
import { publishRequest, makeWorkDir, leftovers, NOTHING_LEFT, forceCleanup, waitFor } from './helpers.js';

const CYCLES = 50;
const CONCURRENCY = 5;
const BUCKETS = ['cycle-a', 'cycle-b', 'cycle-c'];

let minio: MinioServer;
const work = makeWorkDir();
let mounter: ProcessMounter;

before(async () => {
  minio = await startMinio({ buckets: BUCKETS });
  mounter = createProcessMounter({
    stateDir: work.stateDir,
    logger: silentLogger(),
    readyTimeoutMs: 60_000,
    unmountTimeoutMs: 30_000,
  });
  await mounter.reconcile();
});

after(async () => {
  await mounter?.close();
  forceCleanup(work.root, work.stateDir);
  await minio?.stop();
});

test(`${CYCLES} publish/unpublish cycles, ${CONCURRENCY} at a time, leave nothing behind`, async (t) => {
  const pids = new Set<number>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < CYCLES) {
      const i = next++;
      const bucket = BUCKETS[i % BUCKETS.length]!;
      const target = join(work.podsDir, `pod-${i}`, 'vol');
      await mounter.publish(publishRequest(minio, bucket, target));
      const info = await mounter.lookup(target);
      assert.equal(info?.healthy, true, `cycle ${i}: published mount serves`);
      pids.add(info!.pid!);
      writeFileSync(join(target, `cycle-${i}.txt`), `cycle ${i}`);
      assert.equal(readFileSync(join(target, `cycle-${i}.txt`), 'utf8'), `cycle ${i}`);
      await mounter.unpublish(target);
      assert.ok(!existsSync(target), `cycle ${i}: target removed`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  assert.deepEqual(leftovers(work.root, work.stateDir), NOTHING_LEFT);
  assert.deepEqual(mounter.snapshot().shares, {});
  assert.deepEqual(mounter.snapshot().targets, {});
  for (let i = 0; i < CYCLES; i++) {
    const r = await minio.client.send(
      new GetObjectCommand({ Bucket: BUCKETS[i % BUCKETS.length]!, Key: `cycle-${i}.txt` }),
    );
    assert.equal(await r.Body!.transformToString(), `cycle ${i}`);
  }
  t.diagnostic(`${pids.size} mount processes served ${CYCLES} publishes`);
});

test('cycles with kill -9 of the mount process: republish restores, unpublish cleans up, nothing left', async () => {
  const PER_WORKER = 4;
  const worker = async (w: number): Promise<void> => {
    for (let j = 0; j < PER_WORKER; j++) {
      const target = join(work.podsDir, `chaos-${w}-${j}`, 'vol');
      const req = publishRequest(minio, BUCKETS[w % BUCKETS.length]!, target, { volumeId: `chaos-vol-${w}` });
      await mounter.publish(req);
      const key = `chaos-${w}-${j}.txt`;
      writeFileSync(join(target, key), key);
      const pid = (await mounter.lookup(target))!.pid!;
      sendSignal(pid, 'SIGKILL');
      await waitFor('mount process gone', () => !processAlive(pid));
      assert.equal((await mounter.lookup(target))?.healthy, false);
      if (j % 2 === 0) {
        await mounter.publish(req);
        assert.equal((await mounter.lookup(target))?.healthy, true);
        assert.equal(readFileSync(join(target, key), 'utf8'), key);
      }
      await mounter.unpublish(target);
      assert.ok(!existsSync(target));
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, w) => worker(w)));
  assert.deepEqual(leftovers(work.root, work.stateDir), NOTHING_LEFT);
  assert.deepEqual(mounter.snapshot().targets, {});
});
