// The upload journal through the real ProcessMounter (real MinIO, real FUSE): the node gives each
// share's mount process a journal under <stateDir>/upload-journals/ (outside the share dir, which
// goes with the share); a mount process killed mid-write leaves its multipart upload there, and
// the republish that restores the mount aborts it, while another writer's upload stays.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
} from '@aws-sdk/client-s3';
import { processAlive, sendSignal } from '../../src/mounter/proc.js';
import { publishRequest, leftovers, NOTHING_LEFT, mounterSuite, waitFor } from './helpers.js';
import { MiB } from '../../src/util/units.js';

const suite = mounterSuite(['journal']);
const work = suite.work;

async function uploadIds(key: string): Promise<string[]> {
  const out = await suite.minio.client.send(new ListMultipartUploadsCommand({ Bucket: 'journal', Prefix: key }));
  return (out.Uploads ?? []).map((u) => u.UploadId!);
}

test(
  "a killed mount process: its multipart upload is aborted by the republish, another writer's is not",
  { timeout: 180_000 },
  async () => {
    const target = join(work.podsDir, 'p1', 'vol');
    // Unsupervised: the one mount process is the whole mount (a supervised server's crash is
    // covered by test/fs/supervise.test.ts; killing only a supervisor leaves its server serving).
    const req = publishRequest(suite.minio, 'journal', target, { flags: ['--part-size=5'], supervise: false });
    await suite.mounter.publish(req);
    const pid = (await suite.mounter.lookup(target))!.pid!;
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const flag = cmdline.find((a) => a.startsWith('--upload-journal='));
    assert.ok(flag, 'the node passes --upload-journal');
    const journal = flag.slice('--upload-journal='.length);
    assert.equal(journal.startsWith(join(work.stateDir, 'upload-journals') + '/'), true, journal);

    const other = await suite.minio.client.send(
      new CreateMultipartUploadCommand({ Bucket: 'journal', Key: 'other.bin' }),
    );
    const fh = await open(join(target, 'big.bin'), 'w');
    const chunk = Buffer.alloc(MiB, 3);
    for (let i = 0; i < 16; i++) await fh.write(chunk);
    await waitFor('multipart upload started', async () => (await uploadIds('big.bin')).length === 1, 20_000);
    const [ours] = await uploadIds('big.bin');
    assert.match(readFileSync(journal, 'utf8'), new RegExp(ours!.replace(/[^A-Za-z0-9]/g, '.')));
    assert.equal(statSync(journal).mode & 0o777, 0o600);

    sendSignal(pid, 'SIGKILL');
    await waitFor('mount process gone', () => !processAlive(pid));
    await fh.close().catch(() => undefined);
    assert.deepEqual(await uploadIds('big.bin'), [ours], 'the killed process left its upload');

    await suite.mounter.publish(req); // kubelet's republish restores the mount: same share key, same journal
    assert.equal((await suite.mounter.lookup(target))?.healthy, true);
    assert.deepEqual(await uploadIds('big.bin'), [], 'the left-over upload was aborted');
    assert.deepEqual(await uploadIds('other.bin'), [other.UploadId], "another writer's upload is untouched");

    await suite.mounter.unpublish(target);
    assert.deepEqual(leftovers(work.root, work.stateDir), NOTHING_LEFT);
    assert.deepEqual(readdirSync(join(work.stateDir, 'upload-journals')), [], 'a clean exit removes the empty journal');
    await suite.minio.client.send(
      new AbortMultipartUploadCommand({ Bucket: 'journal', Key: 'other.bin', UploadId: other.UploadId }),
    );
  },
);
