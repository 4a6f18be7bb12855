// Keeps the README's POSIX semantics table honest: every row has a behaviour and at least one
// "tested by" entry, every entry names a test that exists in test/fs/<file>.test.ts (by its
// exact name, or the template of a name generated in a loop), and every test file is cited.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Names of the tests declared in a test file: test('name', ...) / test(`tmpl ${x}`, ...). */
export function testNames(source: string): Set<string> {
  const names = new Set<string>();
  const re = /\btest\(\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|`((?:[^`\\]|\\.)*)`)/g;
  for (const m of source.matchAll(re)) names.add((m[1] ?? m[2] ?? m[3])!.replace(/\\(.)/g, '$1'));
  return names;
}

export interface TableRow {
  operation: string;
  behaviour: string;
  testedBy: Array<{ file: string; name: string }>;
}

export function semanticsTable(readme: string): TableRow[] {
  const start = readme.indexOf('<!-- section:semantics -->');
  const end = readme.indexOf('<!-- /section:semantics -->');
  assert.ok(start >= 0 && end > start, 'README has the semantics section markers');
  const lines = readme
    .slice(start, end)
    .split('\n')
    .filter((l) => l.startsWith('|'));
  assert.ok(lines.length >= 3, 'the semantics section has a table');
  const header = lines[0]!.split('|').map((c) => c.trim());
  assert.deepEqual(header.slice(1, 4), ['operation', 'behaviour', 'tested by']);
  return lines.slice(2).map((line) => {
    // split on | that are not inside backticks
    const cells: string[] = [];
    let cur = '';
    let inCode = false;
    for (const ch of line.slice(1)) {
      if (ch === '`') inCode = !inCode;
      if (ch === '|' && !inCode) {
        cells.push(cur.trim());
        cur = '';
      } else cur += ch;
    }
    const testedBy = [...(cells[2] ?? '').matchAll(/`([\w-]+\.test\.ts): ([^`]+)`/g)].map((m) => ({ file: m[1]!, name: m[2]! }));
    return { operation: cells[0] ?? '', behaviour: cells[1] ?? '', testedBy };
  });
}

test('README semantics table rows each name a test that exists', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const rows = semanticsTable(readme);
  assert.ok(rows.length >= 20, `table has ${rows.length} rows`);
  const dir = join(ROOT, 'test', 'fs');
  const files = readdirSync(dir).filter((f) => f.endsWith('.test.ts') && !['semantics-table.test.ts', 'fault-proxy.test.ts'].includes(f));
  const namesByFile = new Map(files.map((f) => [f, testNames(readFileSync(join(dir, f), 'utf8'))]));
  const cited = new Set<string>();
  const problems: string[] = [];
  for (const row of rows) {
    if (!row.operation) problems.push(`a row without an operation: ${JSON.stringify(row)}`);
    if (!row.behaviour) problems.push(`row "${row.operation}" has no behaviour`);
    if (row.testedBy.length === 0) problems.push(`row "${row.operation}" names no test`);
    for (const t of row.testedBy) {
      const names = namesByFile.get(t.file);
      if (!names) problems.push(`row "${row.operation}": test/fs/${t.file} does not exist`);
      else if (!names.has(t.name)) problems.push(`row "${row.operation}": no test "${t.name}" in test/fs/${t.file}`);
      cited.add(t.file);
    }
  }
  for (const f of files) if (!cited.has(f)) problems.push(`test/fs/${f} is not cited in the README semantics table`);
  assert.deepEqual(problems, []);
});

test('the table checker finds names in literals and templates', () => {
  const names = testNames("test('a b', () => {}); test(\"c\", T, x); test(`t ${n} u`, T, async () => {}); test('it\\'s', f)");
  assert.deepEqual([...names].sort(), ['a b', 'c', "it's", 't ${n} u']);
  const rows = semanticsTable(
    '<!-- section:semantics -->\n| operation | behaviour | tested by |\n|---|---|---|\n| x | `a|b` y | `r.test.ts: n 1`, `w.test.ts: m` |\n<!-- /section:semantics -->',
  );
  assert.deepEqual(rows, [{ operation: 'x', behaviour: '`a|b` y', testedBy: [{ file: 'r.test.ts', name: 'n 1' }, { file: 'w.test.ts', name: 'm' }] }]);
});
