// The README's `helm template` commands, run as written (placeholders filled in, output to a temp
// file): a helm built by scripts/setup.d/deploy.sh must render the chart without --kube-version,
// as a helm release binary does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findTool } from './k8s-schemas.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');

/** Shell commands in the README's sh blocks that start with `helm template` (continuation lines joined). */
function readmeHelmTemplateCommands(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const commands: string[] = [];
  for (const block of readme.matchAll(/```sh\n([\s\S]*?)```/g)) {
    const joined = block[1]!.replace(/\\\n\s*/g, '');
    for (const line of joined.split('\n')) if (line.startsWith('helm template ')) commands.push(line);
  }
  return commands;
}

test('the README renders the chart with `helm template` exactly as written (no --kube-version)', () => {
  const commands = readmeHelmTemplateCommands();
  assert.ok(commands.length >= 1, 'the README shows a helm template command');
  const helmDir = dirname(findTool('helm'));
  const dir = mkdtempSync(join(tmpdir(), 'bm-readme-helm-'));
  try {
    for (const command of commands) {
      assert.ok(!command.includes('--kube-version'), `${command}: the README command should not need --kube-version`);
      const filled = command.replace(/<registry>/g, 'registry.example').replace(/> *(\S+)$/, (_m, f: string) => `> ${join(dir, f)}`);
      const r = spawnSync('sh', ['-c', filled], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, PATH: `${helmDir}:${process.env.PATH ?? ''}` } });
      assert.equal(r.status, 0, `${filled}\n${r.stderr}`);
      const out = readFileSync(join(dir, 'bucketmount.yaml'), 'utf8');
      assert.match(out, /kind: DaemonSet/);
      assert.match(out, /image: "?registry\.example\/bucketmount:0\.1\.0"?/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
