// Target path resolution (src/mounter/target-path.ts): parents resolved with realpath, the last
// component never followed, missing components kept as given.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveParents, resolveTarget } from '../../src/mounter/target-path.js';

test('resolveTarget: symlinked parents resolved, a symlinked last component reported, missing parts kept', async () => {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'bm-target-path-')));
  try {
    mkdirSync(join(root, 'real', 'pod'), { recursive: true });
    symlinkSync(join(root, 'real'), join(root, 'kubelet'));
    assert.deepEqual(await resolveTarget(join(root, 'kubelet', 'pod')), {
      path: join(root, 'real', 'pod'),
      kind: 'dir',
    });
    assert.deepEqual(await resolveTarget(join(root, 'kubelet', 'pod', 'a', 'b')), {
      path: join(root, 'real', 'pod', 'a', 'b'),
      kind: 'missing',
    });
    symlinkSync(join(root, 'real', 'pod'), join(root, 'real', 'link'));
    assert.deepEqual(await resolveTarget(join(root, 'kubelet', 'link')), {
      path: join(root, 'real', 'link'),
      kind: 'symlink',
    });
    symlinkSync(join(root, 'nowhere'), join(root, 'real', 'dangling'));
    assert.equal((await resolveTarget(join(root, 'real', 'dangling'))).kind, 'symlink');
    writeFileSync(join(root, 'real', 'file'), 'x');
    assert.equal((await resolveTarget(join(root, 'real', 'file'))).kind, 'other');
    assert.equal((await resolveTarget(join(root, 'real', 'file', 'below'))).kind, 'missing');
    assert.equal(await resolveParents(join(root, 'kubelet', '..', 'kubelet', 'pod')), join(root, 'real', 'pod'));
    assert.equal(await resolveParents('/'), '/');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
