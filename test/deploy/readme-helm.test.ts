// The install commands of the README and docs/install.md, checked as written: the `helm template`
// lines run (placeholders filled in, output to a temp file) with a helm built by
// scripts/setup.d/deploy.sh and must render the chart without --kube-version, as a helm release
// binary does; every `kubectl apply -k <dir>` names a kustomization that `kustomize build` renders
// and every `kubectl apply -f <file>` a file that exists; the README's StorageClass → PVC → Pod
// example is what deploy/ ships (so manifests.test.ts's kubeconform and driver-parser checks cover it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAll } from 'js-yaml';
import { findTool } from './k8s-schemas.js';
import { codeBlocks } from '../support/markdown.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
/** The files whose sh blocks hold install commands. */
const DOCS = ['README.md', 'docs/install.md'];

/** Shell lines of the sh blocks of `file` (continuation lines joined, comments and blanks dropped). */
function shellLines(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return codeBlocks(text)
    .filter((b) => b.lang === 'sh')
    .flatMap((b) => b.body.replace(/\\\n\s*/g, '').split('\n'))
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

for (const file of DOCS) {
  test(`${file} renders the chart with \`helm template\` exactly as written (no --kube-version)`, () => {
    const commands = shellLines(file).filter((l) => l.startsWith('helm template '));
    assert.ok(commands.length >= 1, `${file} shows a helm template command`);
    const helmDir = dirname(findTool('helm'));
    const dir = mkdtempSync(join(tmpdir(), 'bm-readme-helm-'));
    try {
      for (const command of commands) {
        assert.ok(!command.includes('--kube-version'), `${command}: the command should not need --kube-version`);
        const filled = command
          .replace(/<registry>/g, 'registry.example')
          .replace(/> *(\S+)$/, (_m, f: string) => `> ${join(dir, f)}`);
        const r = spawnSync('sh', ['-c', filled], {
          cwd: ROOT,
          encoding: 'utf8',
          env: { ...process.env, PATH: `${helmDir}:${process.env.PATH ?? ''}` },
        });
        assert.equal(r.status, 0, `${filled}\n${r.stderr}`);
        const out = readFileSync(join(dir, 'bucketmount.yaml'), 'utf8');
        assert.match(out, /kind: DaemonSet/);
        assert.match(out, /image: "?registry\.example\/bucketmount:0\.1\.0"?/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`${file}: every \`kubectl apply -k\` directory builds with kustomize and every \`-f\` file exists`, () => {
    const kustomize = findTool('kustomize');
    const lines = shellLines(file).filter((l) => /^kubectl (-n \S+ )?apply /.test(l));
    assert.ok(lines.length >= 1 || file !== 'README.md', 'the README shows kubectl apply commands');
    for (const line of lines) {
      for (const m of line.matchAll(/ -k (\S+)/g)) {
        const r = spawnSync(kustomize, ['build', m[1]!], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
        assert.equal(r.status, 0, `${line}: kustomize build ${m[1]}\n${r.stderr}`);
      }
      for (const m of line.matchAll(/ -f (\S+)/g)) assert.ok(existsSync(join(ROOT, m[1]!)), `${line}: ${m[1]} exists`);
    }
  });
}

type Obj = { [key: string]: unknown };

/** Where `part` differs from `whole` when every key and list element of `part` must be in `whole` with the same value. */
function notContained(part: unknown, whole: unknown, path: string): string[] {
  if (Array.isArray(part)) {
    if (!Array.isArray(whole) || whole.length !== part.length)
      return [`${path}: ${JSON.stringify(whole)} is not a list of ${part.length}`];
    return part.flatMap((p, i) => notContained(p, whole[i], `${path}[${i}]`));
  }
  if (part !== null && typeof part === 'object') {
    if (whole === null || typeof whole !== 'object') return [`${path}: missing in the shipped manifest`];
    return Object.entries(part as Obj).flatMap(([k, v]) => notContained(v, (whole as Obj)[k], `${path}.${k}`));
  }
  return part === whole ? [] : [`${path}: README ${JSON.stringify(part)}, shipped ${JSON.stringify(whole)}`];
}

test("the README's StorageClass → PVC → Pod example is what deploy/ ships", () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const shipped = ['deploy/storageclasses/prefix-per-volume.yaml', 'deploy/examples/dynamic-pvc-pod.yaml'].flatMap(
    (f) => loadAll(readFileSync(join(ROOT, f), 'utf8')) as Obj[],
  );
  const name = (o: Obj): string => `${String(o.kind)}/${String((o.metadata as Obj | undefined)?.name)}`;
  const example = codeBlocks(readme)
    .filter((b) => b.lang === 'yaml')
    .flatMap((b) => loadAll(b.body) as Obj[])
    .filter((o) => o !== null && o !== undefined);
  assert.deepEqual(example.map(name).sort(), [
    'PersistentVolumeClaim/scratch',
    'Pod/writer',
    'StorageClass/bucketmount-prefix',
  ]);
  for (const obj of example) {
    const match = shipped.find((s) => name(s) === name(obj));
    assert.ok(match, `${name(obj)} is shipped in deploy/`);
    assert.deepEqual(notContained(obj, match, name(obj)), []);
  }
});
