// Unit tests of how the bench finds its peers: on PATH only (never in $GOBIN, $(go env GOPATH)/bin
// or ~/go/bin unless PATH names them), every peer name has a mount tool, and a missing peer is
// reported as "not on PATH" with where it comes from. Nothing is mounted here.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { PEER_NAMES, parsePeers } from './options.js';
import { findBinary, PEERS } from './peers.js';

/** Run `fn` with PATH (and GOBIN) set as given, restoring both afterwards. */
function withPath<T>(path: string, gobin: string | undefined, fn: () => T): T {
  const saved = { PATH: process.env.PATH, GOBIN: process.env.GOBIN };
  process.env.PATH = path;
  if (gobin === undefined) delete process.env.GOBIN;
  else process.env.GOBIN = gobin;
  try {
    return fn();
  } finally {
    process.env.PATH = saved.PATH;
    if (saved.GOBIN === undefined) delete process.env.GOBIN;
    else process.env.GOBIN = saved.GOBIN;
  }
}

function fakeBinary(dir: string, name: string, mode = 0o755): string {
  mkdirSync(dir, { recursive: true });
  const p = join(dir, name);
  writeFileSync(p, '#!/bin/sh\necho fake 1.0\n');
  chmodSync(p, mode);
  return p;
}

test('every peer name has a mount tool, mount-s3 included', () => {
  assert.ok(PEER_NAMES.includes('mount-s3'));
  assert.deepEqual(Object.keys(PEERS).sort(), [...PEER_NAMES].sort());
  assert.deepEqual(parsePeers('ours,goofys,geesefs,mount-s3'), ['ours', 'goofys', 'geesefs', 'mount-s3']);
});

test('peers are found on PATH only', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-peers-'));
  try {
    const onPath = join(dir, 'bin');
    const gobin = join(dir, 'gobin');
    const goofys = fakeBinary(onPath, 'goofys');
    fakeBinary(gobin, 'geesefs');
    fakeBinary(onPath, 'mount-s3', 0o644); // not executable: not a usable binary
    withPath(`${join(dir, 'empty')}:${onPath}`, gobin, () => {
      assert.equal(findBinary('goofys'), goofys);
      assert.equal(PEERS.goofys.unavailable(), undefined);
      assert.equal(findBinary('geesefs'), undefined, 'GOBIN is not searched');
      assert.match(
        PEERS.geesefs.unavailable() ?? '',
        /^geesefs not on PATH \(not packaged by Debian: build it by hand .*docs\/benchmarks\.md/,
      );
      assert.equal(findBinary('mount-s3'), undefined);
      assert.match(PEERS['mount-s3'].unavailable() ?? '', /^mount-s3 not on PATH /);
      assert.match(PEERS.s3fs.unavailable() ?? '', /^s3fs not on PATH \(Debian package s3fs/);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
