// A supervised fuse3 mount published through the ProcessMounter (what the CSI node plugin does
// with --supervise-mounts), real MinIO + real FUSE: a process reading through
// the pod-side target in a loop sees no error while the mount's server child is kill -9ed twice,
// the mounter keeps reporting the share healthy (its process is the supervisor), and unpublish
// still flushes, unmounts and leaves nothing behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addonPath } from '../../src/fs/kernel/native.js';
import { processAlive, sendSignal } from '../../src/mounter/proc.js';
import { publishRequest, leftovers, NOTHING_LEFT, mounterSuite, waitFor } from './helpers.js';

const built = existsSync(addonPath());
const suite = mounterSuite(['life-sup']);
const work = suite.work;

const READER = String.raw`
import os, sys, time, json, errno
root, stop = sys.argv[1], sys.argv[2]
errors, n = [], 0
while not os.path.exists(stop):
    try:
        with open(os.path.join(root, 'data.txt')) as f:
            if f.read() != 'survives\n' * 1000: errors.append('wrong bytes')
        os.listdir(root)
        n += 1
    except OSError as e:
        errors.append(errno.errorcode.get(e.errno, str(e.errno)))
    time.sleep(0.01)
print(json.dumps({'errors': errors, 'n': n}))
`;

function serverOf(supervisor: number): number | undefined {
  try {
    return readFileSync(`/proc/${supervisor}/task/${supervisor}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number)[0];
  } catch {
    return undefined;
  }
}

test(
  "a pod-side reader sees no error while a supervised mount's server is kill -9ed twice",
  { timeout: 120_000, skip: !built && 'fuse3 addon not built' },
  async () => {
    const target = join(work.podsDir, 'p1', 'vol');
    await suite.mounter.publish(publishRequest(suite.minio, 'life-sup', target, { flags: ['--supervise'] }));
    writeFileSync(join(target, 'data.txt'), 'survives\n'.repeat(1000));
    const supervisor = (await suite.mounter.lookup(target))!.pid!;
    const stop = join(work.root, 'stop');
    const reader = spawn('python3', ['-c', READER, target, stop], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    reader.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    reader.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const done = new Promise<number | null>((res) => reader.on('exit', (c) => res(c)));
    for (let i = 0; i < 2; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      const server = serverOf(supervisor);
      assert.ok(server !== undefined, 'the supervisor runs a server child');
      sendSignal(server, 'SIGKILL');
      await waitFor('a successor', () => {
        const s = serverOf(supervisor);
        return s !== undefined && s !== server;
      });
    }
    await new Promise((r) => setTimeout(r, 1000));
    writeFileSync(stop, '');
    assert.equal(await done, 0, out);
    const res = JSON.parse(out.trim().split('\n').pop()!) as { errors: string[]; n: number };
    assert.deepEqual(res.errors, [], out);
    assert.ok(res.n > 10, out);
    assert.equal((await suite.mounter.lookup(target))?.healthy, true);
    assert.equal((await suite.mounter.usage(target)).abnormal, false);
    const last = serverOf(supervisor)!;
    await suite.mounter.unpublish(target);
    assert.ok(!existsSync(target));
    assert.ok(!processAlive(supervisor) && !processAlive(last));
    assert.deepEqual(leftovers(work.root, work.stateDir), NOTHING_LEFT);
  },
);
