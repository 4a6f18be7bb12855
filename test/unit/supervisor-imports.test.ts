// The supervisor process stays lean (docs/fuse3.md "Memory"): the modules it loads — the static
// import graph of dist/cmd/bucketmount.js plus dist/src/fs/supervisor.js, which the command
// imports on demand — never reach the AWS SDK, prom-client, winston, the file system
// (filesystem.ts) or the native addon; those belong to the server. Walks the compiled JS (tsc output) statically:
// `import … from`, `export … from` and bare `import '…'`, never `import(…)` (loaded on demand).
// The same walk from mount-process.js must find the SDK (the walk itself works). Milliseconds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const DIST = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const STATIC_IMPORT = /(?:^|[;\n])\s*(?:import|export)\s+(?:[^;'"]*?\s+from\s+)?['"]([^'"]+)['"]/g;

/** Relative files (absolute paths) and packages (their names) statically reachable from `roots`. */
function staticGraph(roots: string[]): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const todo = roots.map((r) => resolve(DIST, r));
  while (todo.length) {
    const file = todo.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    for (const m of readFileSync(file, 'utf8').matchAll(STATIC_IMPORT)) {
      const spec = m[1]!;
      if (spec.startsWith('.')) todo.push(resolve(dirname(file), spec));
      else if (!spec.startsWith('node:'))
        packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    }
  }
  return { files, packages };
}

const rel = (files: Set<string>): string[] => [...files].map((f) => f.slice(DIST.length + 1)).sort();

test('the supervisor process does not load the SDK, prom-client, winston, the file system or the addon', () => {
  const g = staticGraph(['cmd/bucketmount.js', 'src/fs/supervisor.js']);
  for (const pkg of g.packages) {
    assert.ok(!/^@aws-sdk\/|^@smithy\/|^prom-client$|^winston$/.test(pkg), `the supervisor loads ${pkg}`);
  }
  const files = rel(g.files);
  for (const banned of [
    'src/fs/filesystem.js',
    'src/fs/mount-process.js',
    'src/fs/kernel/native.js',
    'src/metrics/mount-metrics.js',
    'src/mounter/status-command.js',
  ]) {
    assert.ok(!files.includes(banned), `the supervisor loads ${banned}: ${files.join(' ')}`);
  }
});

test('the walk finds what the server loads', () => {
  const g = staticGraph(['src/fs/mount-process.js']);
  assert.ok(g.packages.has('@aws-sdk/client-s3'));
  assert.ok(rel(g.files).includes('src/fs/filesystem.js'));
});
