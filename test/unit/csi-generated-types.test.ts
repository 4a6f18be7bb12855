// The committed CSI types (src/csi/generated/) are what scripts/gen-proto-types.sh makes from
// proto/ today, with the loader options the driver decodes with: a .proto edit without
// `npm run gen:proto` fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOADER_OPTIONS } from '../../src/csi/proto.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

function filesUnder(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p, 'utf8'));
    }
  };
  walk(dir);
  return out;
}

test('src/csi/generated is current (npm run gen:proto)', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'bm-gen-'));
  try {
    const r = spawnSync('bash', [join(repoRoot, 'scripts/gen-proto-types.sh'), join(tmp, 'out')], { encoding: 'utf8' });
    assert.equal(r.status, 0, `gen-proto-types.sh failed: ${r.stderr}`);
    const fresh = filesUnder(join(tmp, 'out'));
    const committed = filesUnder(join(repoRoot, 'src/csi/generated'));
    assert.ok(fresh.size > 80, `only ${fresh.size} files generated`);
    assert.deepEqual(
      [...committed.keys()].sort(),
      [...fresh.keys()].sort(),
      'generated file set differs: run npm run gen:proto',
    );
    const stale = [...fresh].filter(([f, text]) => committed.get(f) !== text).map(([f]) => f);
    assert.deepEqual(stale, [], 'generated files differ: run npm run gen:proto');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('the generator flags match the options the driver decodes with', () => {
  const script = readFileSync(join(repoRoot, 'scripts/gen-proto-types.sh'), 'utf8');
  assert.deepEqual(
    { ...LOADER_OPTIONS },
    { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true },
  );
  for (const flag of ['--longs=Number', '--enums=String', '--defaults', '--oneofs'])
    assert.ok(script.includes(flag), `gen-proto-types.sh lacks ${flag}`);
  assert.ok(!script.includes('--keepCase'), 'the driver decodes camelCase fields');
});
