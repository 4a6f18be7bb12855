// The fd keeper (src/mounter/fd-keeper.ts), real MinIO + real FUSE + the real `bucketmount
// fd-keeper` process: what a restart of the node plugin's container does to a mount.
// 1. Every process of the "container" dies at once (supervisor and server SIGKILLed, the mounter
//    dropped): a reader in a loop on the pod-side target sees no error; a new mounter on the same
//    state dir resumes the mount on the connection the keeper held (reconcile outcome `resumed`),
//    writes after it reach the bucket, and unpublish releases the keeper's copy.
// 1b. The keeper restarted alone: every supervisor re-sends its descriptor within HOLD_REFRESH_MS,
//    and a container kill after that is survived as in 1.
// 2. Supervisor and server killed while the plugin runs: the plugin resumes the mount itself
//    (RESUME_CHECK_MS), the reader sees no error.
// 3. A container stop with the keeper: SIGQUIT parks the mount (a file closed before is in the
//    bucket, the staging mount stays, nothing serves it for a while); the next mounter resumes it;
//    the reader again sees no error.
// 4. Nobody comes back: the keeper closes the connection after its hold timeout and the mount
//    answers ENOTCONN instead of hanging.
// 5. Without a keeper (no --fd-keeper) the same kill leaves a dead mount, as before: the test can fail.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { silentLogger } from '../../src/log.js';
import { addonPath } from '../../src/fs/kernel/native.js';
import { FdKeeperClient } from '../../src/fs/kernel/fd-keeper-client.js';
import { HOLD_REFRESH_MS } from '../../src/fs/kernel/fd-keeper-protocol.js';
import { childPids, processAlive, sendSignal } from '../../src/mounter/proc.js';
import { createProcessMounter, type ProcessMounter, type ReconcileOutcome } from '../../src/mounter/process-mounter.js';
import { isFuse, topMountAt } from '../../src/util/mountinfo.js';
import { startMinio, type MinioServer } from '../support/minio.js';
import {
  forceCleanup,
  leftovers,
  makeWorkDir,
  NOTHING_LEFT,
  publishRequest,
  READ_LOOP_DATA,
  sleep,
  startReadLoop,
  waitFor,
  type ReadLoopResult,
} from './helpers.js';

const built = existsSync(addonPath());
const CLI = fileURLToPath(new URL('../../cmd/bucketmount.js', import.meta.url));
const BUCKET = 'keeper';
const HOLD_TIMEOUT_S = 10;
/** What a FUSE mount whose connection is gone answers (ECONNABORTED on this kernel once every descriptor closed). */
const DEAD_MOUNT = (err: NodeJS.ErrnoException): boolean => err.code === 'ENOTCONN' || err.code === 'ECONNABORTED';

const work = makeWorkDir();
const keeperSocket = join(work.root, 'keeper', 'keeper.sock');
let minio: MinioServer;
let keeper: ChildProcess | undefined;
let keeperLog = '';

function startKeeper(): void {
  keeper = spawn(process.execPath, [CLI, 'fd-keeper', `--socket=${keeperSocket}`, `--hold-timeout=${HOLD_TIMEOUT_S}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  keeper.stderr!.setEncoding('utf8').on('data', (d: string) => (keeperLog += d));
}

function mounterWith(outcomes: ReconcileOutcome[], fdKeeper: string | undefined = keeperSocket): ProcessMounter {
  return createProcessMounter({
    stateDir: work.stateDir,
    logger: silentLogger(),
    readyTimeoutMs: 20_000,
    unmountTimeoutMs: 20_000,
    ...(fdKeeper ? { fdKeeper } : {}),
    observer: { reconciled: (o) => outcomes.push(o) },
  });
}

/** The read loop of a pod on `target` (helpers.ts). */
function startReader(target: string, name: string): () => Promise<ReadLoopResult> {
  return startReadLoop(target, join(work.root, `stop-${name}`));
}

/**
 * What a kill of the plugin's container does to a mount: supervisor and server SIGKILLed at once,
 * the mounter (the plugin) dropped with them; resolves once both are gone.
 */
async function killContainer(m: ProcessMounter, supervisor: number): Promise<void> {
  const server = childPids(supervisor)[0];
  assert.ok(server !== undefined && server > 0, 'the supervisor runs a server');
  sendSignal(supervisor, 'SIGKILL');
  sendSignal(server, 'SIGKILL');
  await m.close();
  await waitFor('supervisor and server gone', () => !processAlive(supervisor) && !processAlive(server));
}

/** A plugin (mounter) on the state dir, reconciled; `outcomes` collects what its reconcile did. */
async function startPlugin(
  fdKeeper: string | undefined = keeperSocket,
): Promise<{ m: ProcessMounter; outcomes: ReconcileOutcome[] }> {
  const outcomes: ReconcileOutcome[] = [];
  const m = mounterWith(outcomes, fdKeeper);
  await m.reconcile();
  return { m, outcomes };
}

/** Unpublish the last target and check that nothing is left behind. */
async function endWith(m: ProcessMounter, target: string): Promise<void> {
  await m.unpublish(target);
  await m.close();
  assert.deepEqual(leftovers(work.root, work.stateDir), NOTHING_LEFT);
}

async function objectText(key: string): Promise<string> {
  const r = await minio.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return r.Body!.transformToString();
}

/** Publish a supervised volume at pods/<pod>/vol and wait until the keeper holds its connection. */
async function publishKept(
  m: ProcessMounter,
  pod: string,
): Promise<{ target: string; staging: string; supervisor: number }> {
  const target = join(work.podsDir, pod, 'vol');
  await m.publish(publishRequest(minio, BUCKET, target, { volumeId: `vol-${pod}` }));
  writeFileSync(join(target, 'data.txt'), READ_LOOP_DATA);
  const share = Object.values(m.snapshot().shares).find((s) => s.volumeId === `vol-${pod}`)!;
  await waitFor('the keeper holds the connection', () => keeperLog.includes(share.stagingPath));
  return { target, staging: share.stagingPath, supervisor: share.pid };
}

before(async () => {
  minio = await startMinio({ buckets: [BUCKET] });
  if (built) startKeeper();
});

after(async () => {
  keeper?.kill('SIGTERM');
  forceCleanup(work.root, work.stateDir);
  await minio?.stop();
});

test(
  "every process of the plugin's container killed: the reader sees no error, the next plugin resumes the mount from the keeper",
  { timeout: 120_000, skip: !built && 'fuse3 addon not built' },
  async (t) => {
    const { m: first } = await startPlugin();
    const { target, staging, supervisor } = await publishKept(first, 'crash');
    const stopReader = startReader(target, 'crash');
    await sleep(500);
    await killContainer(first, supervisor);
    assert.ok(isFuse(topMountAt(staging)), 'the staging mount is still there (the keeper holds its connection)');
    await sleep(1500); // the new container starting
    const { m: second, outcomes } = await startPlugin();
    assert.deepEqual(outcomes, ['resumed', 'adopted'], keeperLog);
    const resumed = (await second.lookup(target))!;
    assert.equal(resumed.healthy, true);
    assert.notEqual(resumed.pid, supervisor);
    await stat(target);
    writeFileSync(join(target, 'after.txt'), 'written after the resume');
    await sleep(500);
    const res = await stopReader();
    assert.deepEqual(res.errors, [], res.out);
    assert.ok(res.n > 5, res.out);
    t.diagnostic(`reader: ${res.n} rounds, no error, longest round ${res.longest} s (the gap)`);
    assert.equal(await objectText('after.txt'), 'written after the resume');
    await endWith(second, target);
    await waitFor('the keeper released it', () => /closed the connection \(its mount ended\)/.test(keeperLog));
    assert.equal(new FdKeeperClient(keeperSocket).take(staging, 1000), undefined);
  },
);

test(
  'a restarted keeper has every live mount again within the refresh period; a container kill after it is still survived',
  { timeout: 120_000, skip: !built && 'fuse3 addon not built' },
  async () => {
    const { m: first } = await startPlugin();
    const { target, staging, supervisor } = await publishKept(first, 'rekept');
    const stopped = new Promise((r) => keeper!.once('exit', r));
    keeper!.kill('SIGTERM');
    await stopped;
    keeperLog = '';
    const restartedAt = Date.now();
    startKeeper();
    await waitFor('the supervisor re-sent its descriptor', () => keeperLog.includes(staging), 15_000);
    assert.ok(Date.now() - restartedAt <= HOLD_REFRESH_MS + 2_000, 'within the refresh period');
    await killContainer(first, supervisor);
    const { m: second, outcomes } = await startPlugin();
    assert.deepEqual(outcomes, ['resumed', 'adopted'], keeperLog);
    await stat(target);
    await endWith(second, target);
  },
);

test(
  'supervisor and server killed while the plugin runs: the plugin resumes the mount from the keeper, the reader sees no error',
  { timeout: 120_000, skip: !built && 'fuse3 addon not built' },
  async (t) => {
    const { m: plugin } = await startPlugin();
    const { target, supervisor } = await publishKept(plugin, 'live');
    const stopReader = startReader(target, 'live');
    await sleep(500);
    const server = childPids(supervisor)[0]!;
    sendSignal(supervisor, 'SIGKILL');
    sendSignal(server, 'SIGKILL');
    await waitFor('a new supervisor', async () => {
      const pid = (await plugin.lookup(target))?.pid;
      return pid !== undefined && pid !== supervisor && processAlive(pid);
    });
    await stat(target);
    await sleep(500);
    const res = await stopReader();
    assert.deepEqual(res.errors, [], res.out);
    t.diagnostic(`reader: ${res.n} rounds, no error, longest round ${res.longest} s`);
    await endWith(plugin, target);
  },
);

test(
  'a container stop parks the mount (SIGQUIT): written files are in the bucket, the next plugin resumes it, the reader sees no error',
  { timeout: 120_000, skip: !built && 'fuse3 addon not built' },
  async () => {
    const { m: first } = await startPlugin();
    const { target, staging, supervisor } = await publishKept(first, 'park');
    const server = childPids(supervisor)[0]!;
    writeFileSync(join(target, 'before.txt'), 'closed before the park');
    const stopReader = startReader(target, 'park');
    await sleep(500);
    sendSignal(supervisor, 'SIGQUIT');
    await waitFor('the supervisor and its server exit', () => !processAlive(supervisor) && !processAlive(server));
    await first.close();
    assert.equal(await objectText('before.txt'), 'closed before the park');
    assert.ok(isFuse(topMountAt(staging)), 'parked: still mounted');
    const supervisorLog = readFileSync(Object.values(first.snapshot().shares)[0]!.logFile, 'utf8');
    assert.match(supervisorLog, /parked; the fd keeper holds the connection/);
    await sleep(1000);
    const { m: second, outcomes } = await startPlugin();
    assert.deepEqual(outcomes, ['resumed', 'adopted'], keeperLog);
    await sleep(500);
    const res = await stopReader();
    assert.deepEqual(res.errors, [], res.out);
    await endWith(second, target);
  },
);

test(
  'nobody takes the connection back: the keeper closes it after its hold timeout and the mount answers ENOTCONN',
  { timeout: 120_000, skip: !built && 'fuse3 addon not built' },
  async () => {
    const { m: first } = await startPlugin();
    const { target, staging, supervisor } = await publishKept(first, 'gone');
    await killContainer(first, supervisor);
    const killedAt = Date.now();
    await waitFor(
      'the keeper closes it',
      () => keeperLog.includes(`no supervisor re-sent it for ${HOLD_TIMEOUT_S} s`),
      (HOLD_TIMEOUT_S + 10) * 1000,
    );
    assert.ok(Date.now() - killedAt >= (HOLD_TIMEOUT_S - 6) * 1000, 'held for about the hold timeout');
    await assert.rejects(stat(join(target, 'data.txt')), DEAD_MOUNT);
    // The next plugin finds a dead mount and cleans it up as before.
    const { m: second, outcomes } = await startPlugin();
    assert.deepEqual(outcomes, ['dead_cleaned'], keeperLog);
    assert.ok(!isFuse(topMountAt(staging)));
    await endWith(second, target);
  },
);

test(
  'without a keeper the same kill leaves a dead mount (what the keeper changes)',
  { timeout: 120_000, skip: !built && 'fuse3 addon not built' },
  async () => {
    const { m: first } = await startPlugin(undefined);
    const target = join(work.podsDir, 'nokeeper', 'vol');
    await first.publish(publishRequest(minio, BUCKET, target, { volumeId: 'vol-nokeeper' }));
    await killContainer(first, (await first.lookup(target))!.pid!);
    await assert.rejects(stat(target), DEAD_MOUNT);
    const { m: second, outcomes } = await startPlugin(undefined);
    assert.deepEqual(outcomes, ['dead_cleaned']);
    await second.unpublish(target);
    await second.close();
  },
);
