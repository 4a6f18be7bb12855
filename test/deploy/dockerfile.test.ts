// Static checks of the container image recipe (no container runtime is available in CI): every
// file the Dockerfile copies exists and is not excluded by .dockerignore, the runtime stage is
// node:20-bookworm-slim with the FUSE packages, runs as non-root by default, and ships the two
// entry points and the node supervisor the manifests start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n')
  .map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));

/** Logical Dockerfile lines (continuations joined, comments dropped). */
function instructions(): string[] {
  const out: string[] = [];
  let cur = '';
  for (const raw of dockerfile.split('\n')) {
    if (raw.trim().startsWith('#') && cur === '') continue;
    cur += raw.replace(/\\$/, ' ');
    if (!raw.endsWith('\\')) {
      if (cur.trim() !== '') out.push(cur.trim());
      cur = '';
    }
  }
  return out;
}

function isIgnored(path: string): boolean {
  return ignored.some((pattern) => {
    const p = pattern.replace(/^\*\*\//, '').replace(/\/$/, '');
    return path === p || path.startsWith(`${p}/`);
  });
}

test('every COPY source from the build context exists and is not excluded by .dockerignore', () => {
  const copies = instructions().filter((l) => /^COPY\s/.test(l) && !/--from=/.test(l));
  assert.ok(copies.length >= 5);
  for (const line of copies) {
    const parts = line.split(/\s+/).slice(1).filter((p) => !p.startsWith('--'));
    for (const src of parts.slice(0, -1)) {
      assert.ok(existsSync(join(ROOT, src)), `COPY source ${src} exists`);
      assert.ok(!isIgnored(src), `COPY source ${src} is not in .dockerignore`);
    }
  }
  // The entry points the image promises are compiled from these sources.
  for (const src of ['cmd/csi-driver.ts', 'cmd/bucketmount.ts', 'proto/csi.proto', 'deploy/image/node-supervisor.sh']) {
    assert.ok(existsSync(join(ROOT, src)), `${src} exists`);
  }
});

test('runtime stage: slim Node 20, FUSE packages, tini, non-root default user, only dist + production modules', () => {
  const lines = instructions();
  const froms = lines.filter((l) => l.startsWith('FROM '));
  assert.equal(froms.length, 2, 'two stages');
  assert.match(froms[0], /^FROM node:20-bookworm AS build$/);
  assert.equal(froms[1], 'FROM node:20-bookworm-slim');
  const runtime = lines.slice(lines.indexOf(froms[1]));
  const install = runtime.find((l) => l.includes('apt-get install')) ?? '';
  for (const pkg of ['fuse3', 'libfuse2', 'tini', 'ca-certificates']) assert.match(install, new RegExp(`\\b${pkg}\\b`), `installs ${pkg}`);
  assert.ok(runtime.some((l) => /^USER 1000(:1000)?$/.test(l)), 'non-root default user');
  assert.ok(runtime.some((l) => l.startsWith('COPY --from=build /src/dist/cmd ')), 'ships dist/cmd');
  assert.ok(!runtime.some((l) => /COPY --from=build \/src\/dist\/test|COPY --from=build \/src\/dist /.test(`${l} `)), 'tests are not shipped');
  assert.ok(runtime.some((l) => l.includes('deploy/image/node-supervisor.sh /app/bin/node-supervisor')), 'node supervisor at /app/bin');
  const build = lines.slice(lines.indexOf(froms[0]), lines.indexOf(froms[1]));
  assert.ok(build.some((l) => l.includes('npm ci')), 'npm ci in the build stage');
  assert.ok(build.some((l) => l.includes('npm prune --omit=dev')), 'dev dependencies pruned');
  for (const p of ['node_modules', 'dist', '.git']) assert.ok(isIgnored(p), `.dockerignore excludes ${p}`);
});
