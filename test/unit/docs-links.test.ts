// The documentation holds together: every relative link and #anchor in README.md and docs/**/*.md
// resolves; the README stays short (≤ 200 lines) and reaches every section moved out of it in one
// click; each moved doc opens with a table of contents; docs/README.md indexes every doc; the
// README keeps its two-command quick start, its "Tested on" line, and install commands that are
// copies of docs/install.md's (which test/deploy/readme-helm.test.ts runs). Milliseconds, no network.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { anchors, codeBlocks, headings, isExternal, links, section } from '../support/markdown.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');

/** The docs the README's sections moved to; each must open with a contents list and be reachable section by section. */
const MOVED = [
  'install',
  'configuration',
  'credentials',
  'semantics',
  'mount-command',
  'architecture',
  'benchmarks',
  'development',
].map((name) => `docs/${name}.md`);

function markdownFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    const rel = join(dir, name);
    if (statSync(join(ROOT, rel)).isDirectory()) out.push(...markdownFiles(rel));
    else if (name.endsWith('.md')) out.push(rel);
  }
  return out;
}

const read = (rel: string): string => readFileSync(join(ROOT, rel), 'utf8');
const FILES = ['README.md', ...markdownFiles('docs')];
const README = read('README.md');

/** Repository-relative path and anchor a link in `from` points at. */
function resolveLink(from: string, target: string): { path: string; anchor: string | undefined } {
  const hash = target.indexOf('#');
  const file = hash < 0 ? target : target.slice(0, hash);
  const anchor = hash < 0 ? undefined : decodeURIComponent(target.slice(hash + 1));
  const path = file === '' ? from : relative(ROOT, resolve(ROOT, dirname(from), decodeURIComponent(file)));
  return { path, anchor };
}

test('every relative link and #anchor in README.md and docs/**/*.md resolves', () => {
  const broken: string[] = [];
  for (const from of FILES) {
    for (const { target, line } of links(read(from))) {
      if (isExternal(target)) continue;
      const { path, anchor } = resolveLink(from, target);
      if (path.startsWith('..') || !existsSync(join(ROOT, path))) {
        broken.push(`${from}:${line}: ${target} → ${path} does not exist`);
        continue;
      }
      if (anchor === undefined || anchor === '') continue;
      if (!path.endsWith('.md')) broken.push(`${from}:${line}: ${target} → an anchor into a file that is not Markdown`);
      else if (!anchors(read(path)).has(anchor))
        broken.push(`${from}:${line}: ${target} → ${path} has no heading #${anchor}`);
    }
  }
  assert.deepEqual(broken, []);
});

test('the README is at most 200 lines', () => {
  const lines = README.replace(/\n$/, '').split('\n').length;
  assert.ok(lines <= 200, `README.md has ${lines} lines; move detail to docs/`);
});

test('every section of the moved docs is one click from the README', () => {
  const linked = new Set(links(README).map((l) => l.target));
  const missing: string[] = [];
  for (const doc of MOVED) {
    const target = relative(ROOT, join(ROOT, doc));
    if (!linked.has(target)) missing.push(target);
    for (const h of headings(read(doc)))
      if (h.level === 2 || h.level === 3)
        if (!linked.has(`${target}#${h.anchor}`)) missing.push(`${target}#${h.anchor}`);
  }
  assert.deepEqual(missing, [], 'link these from the README');
});

test('each moved doc opens with a table of contents of its sections', () => {
  for (const doc of MOVED) {
    const text = read(doc);
    const hs = headings(text);
    assert.equal(hs[0]?.level, 1, `${doc} starts with a title`);
    const second = hs.find((h) => h.level > 1);
    if (second === undefined) continue;
    const intro = text.slice(0, text.indexOf(`\n${'#'.repeat(second.level)} ${second.text}`));
    const listed = new Set(links(intro).map((l) => l.target));
    for (const h of hs)
      if (h.level === 2) assert.ok(listed.has(`#${h.anchor}`), `${doc}: the contents at the top link #${h.anchor}`);
  }
});

test('docs/README.md indexes every doc', () => {
  const index = 'docs/README.md';
  const listed = new Set(links(read(index)).map((l) => resolveLink(index, l.target).path));
  const missing = FILES.filter((f) => f.startsWith('docs/') && f !== index && !listed.has(f));
  assert.deepEqual(missing, [], 'add these to docs/README.md');
  assert.ok(
    links(README).some((l) => l.target === index),
    'the README links the docs index',
  );
});

test('the README keeps its two-command quick start and its "Tested on" line', () => {
  const quick = section(README, 'Quick start');
  assert.ok(quick, 'README has a "Quick start" section');
  const sh = codeBlocks(quick).filter((b) => b.lang === 'sh');
  assert.equal(sh.length, 1, 'one sh block in the quick start');
  const commands = sh[0]!.body
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.replace(/\s+#.*$/, ''));
  assert.deepEqual(commands, ['npm run demo', 'npm test'], 'one command runs the demo, one the whole suite');
  assert.match(README, /^\*\*Tested on:\*\* Kubernetes v\d+\.\d+\.\d+/m);
});

test('the README install commands are copies of the ones in docs/install.md', () => {
  const install = read('docs/install.md');
  const isInstall = (body: string): boolean => /^(helm install|kubectl apply -k deploy\/)/m.test(body);
  const blocks = codeBlocks(README).filter((b) => b.lang === 'sh' && isInstall(b.body));
  assert.ok(
    blocks.some((b) => b.body.includes('helm install')),
    'README shows the Helm install',
  );
  assert.ok(
    blocks.some((b) => b.body.includes('kubectl apply -k deploy/')),
    'README shows the kubectl install',
  );
  for (const b of blocks)
    assert.ok(install.includes(b.body), `docs/install.md has the README block verbatim:\n${b.body}`);
});
