// Keeps the POSIX semantics table in docs/semantics.md honest. The table is CHECKED, not generated: every
// row has a `checked` cell (a short result such as `ok`, `EROFS`, `ENOTEMPTY`), and this file
// holds one probe per row that performs the operation through a real FUSE mount against real
// MinIO (behind the fault proxy, so error rows can be provoked) and returns what it observed.
// A row fails when the observed result differs from the table cell, when a row has no probe or
// a probe has no row. References to other tests in the table (`file.test.ts: test name`) must
// name tests that exist. `SEMANTICS_PRINT=1` prints the observed column, to update the table.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import {
  appendFile,
  chmod,
  chown,
  mkdir,
  mkdtemp,
  open,
  readFile,
  readdir,
  rename,
  rm,
  rmdir,
  stat,
  statfs,
  unlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import { errnoOf, fsSuite, patternBytes, python, released, sha256, sleep, type ShResult } from './helpers.js';
import { startFaultProxy, Faults, fakeListing, type FaultProxy, type S3Op } from '../support/fault-proxy.js';
import type { MountedBucket } from '../support/mount.js';
import { MiB } from '../../src/util/units.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const T = { timeout: 120_000 };

// ---- table parsing --------------------------------------------------------------------------

/** Names of the tests declared in a test file: test('name', ...) / test(`tmpl ${x}`, ...). */
export function testNames(source: string): Set<string> {
  const names = new Set<string>();
  const re = /\btest\(\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|`((?:[^`\\]|\\.)*)`)/g;
  for (const m of source.matchAll(re)) names.add((m[1] ?? m[2] ?? m[3])!.replace(/\\(.)/g, '$1'));
  return names;
}

export interface TableRow {
  operation: string;
  /** The `checked` cell without backticks. */
  checked: string;
  cells: Record<string, string>;
  /** `file.test.ts: name` references anywhere in the row. */
  refs: Array<{ file: string; name: string }>;
}

/** Split a Markdown table line on | outside backticks. */
function splitRow(line: string): string[] {
  const cells: string[] = [];
  let cur = '';
  let inCode = false;
  for (const ch of line.trim().replace(/^\|/, '').replace(/\|$/, '')) {
    if (ch === '`') inCode = !inCode;
    if (ch === '|' && !inCode) {
      cells.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  cells.push(cur.trim());
  return cells;
}

export function semanticsTable(doc: string): TableRow[] {
  const start = doc.indexOf('<!-- section:semantics -->');
  const end = doc.indexOf('<!-- /section:semantics -->');
  assert.ok(start >= 0 && end > start, 'docs/semantics.md has the semantics section markers');
  const lines = doc
    .slice(start, end)
    .split('\n')
    .filter((l) => l.startsWith('|'));
  assert.ok(lines.length >= 3, 'the semantics section has a table');
  const header = splitRow(lines[0]!);
  for (const h of ['operation', 'behaviour here', 'checked'])
    assert.ok(header.includes(h), `table header has "${h}": ${header.join(' | ')}`);
  return lines.slice(2).map((line) => {
    const cells = splitRow(line);
    const byName: Record<string, string> = {};
    header.forEach((h, i) => (byName[h] = cells[i] ?? ''));
    const refs = [...line.matchAll(/`([\w-]+\.test\.ts): ([^`]+)`/g)].map((m) => ({ file: m[1]!, name: m[2]! }));
    return { operation: byName.operation!, checked: byName.checked!.replace(/`/g, '').trim(), cells: byName, refs };
  });
}

// ---- fixtures -------------------------------------------------------------------------------

const s = fsSuite({ bucket: 'semantics', mount: false });
let proxy: FaultProxy;
let mnt: MountedBucket;
let local: string;
const m = (p: string): string => join(mnt.dir, p);
const TTL_MS = 1000;
/** Every mount of this file stages under `local`, so even a crashed mount leaves nothing behind. */
const spoolFlag = (): string => `--spool-dir=${join(local, 'spool')}`;
/** Objects written with the SDK (another client) show up once the mount's listing TTL passed. */
const settle = (): Promise<void> => sleep(TTL_MS + 200);
const UPLOAD_OPS: S3Op[] = ['PutObject', 'CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload'];

before(async () => {
  // node 20 runs root-level before() hooks concurrently: wait for fsSuite's MinIO first
  for (let i = 0; !s.minio && i < 3000; i++) await sleep(20);
  local = await mkdtemp(join(tmpdir(), 'fs-semantics-'));
  proxy = await startFaultProxy(s.minio.endpoint, { seed: 3 });
  mnt = await s.mount({
    endpointUrl: proxy.endpoint,
    flags: [
      '--part-size=5',
      '--dir-rename-limit=20',
      `--metadata-ttl=${TTL_MS / 1000}`,
      spoolFlag(),
      '--retry-timeout=3',
    ],
  });
});
afterEach(() => proxy.clearRules());
after(async () => {
  await mnt?.unmount();
  await proxy?.close();
  if (local) await rm(local, { recursive: true, force: true });
});

// The fault proxy lives in this process, so tools must run asynchronously: a spawnSync would
// block the proxy while the tool waits for the mount, which waits for the proxy (deadlock).
function run(cmd: string, args: string[], timeoutMs = 120_000): Promise<ShResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => (stderr += String(err)));
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function runOk(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const py = (script: string, args: string[]): Promise<string> => runOk(python(), ['-c', script, ...args]);

/** Read `len` bytes at `pos` with one pread. */
async function pread(path: string, pos: number, len: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(len);
    const { bytesRead } = await fh.read(buf, 0, len, pos);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** Errno names of several operations run in python (symlink, link, xattr, ...). */
async function pyErrnos(exprs: string[], args: string[]): Promise<string> {
  return (
    await py(
      [
        'import os, sys, errno',
        'def e(f):',
        '    try:',
        '        f(); return "ok"',
        '    except OSError as x:',
        '        return errno.errorcode.get(x.errno, str(x.errno))',
        `print(" ".join([${exprs.map((x) => `e(lambda: ${x})`).join(', ')}]))`,
      ].join('\n'),
      args,
    )
  ).trim();
}

// ---- one probe per table row ----------------------------------------------------------------

const probes: Array<[string, () => Promise<string>]> = [
  [
    'sequential read',
    async () => {
      const data = patternBytes(12 * MiB + 7, 1);
      await s.put('seq.bin', data);
      await settle();
      return sha256(await readFile(m('seq.bin'))) === sha256(data) ? 'ok' : 'wrong bytes';
    },
  ],
  [
    'random read',
    async () => {
      const data = patternBytes(9 * MiB, 2);
      await s.put('rand.bin', data);
      await settle();
      const checks = [
        [5 * MiB + 3, 70_000],
        [17, 4096],
        [9 * MiB - 10, 100],
        [2 * MiB, 1],
      ] as const;
      for (const [pos, len] of checks) {
        const got = await pread(m('rand.bin'), pos, len);
        if (!got.equals(data.subarray(pos, pos + len))) return `wrong bytes at ${pos}`;
      }
      return (await pread(m('rand.bin'), 9 * MiB + 5, 10)).length === 0 ? 'ok' : 'read past EOF returned data';
    },
  ],
  [
    'write a new file',
    async () => {
      const data = patternBytes(11 * MiB + 5, 3);
      const fh = await open(m('new.bin'), 'w');
      let streamed = false;
      try {
        for (let off = 0; off < data.length; off += MiB) await fh.write(data.subarray(off, off + MiB));
        // parts are sent while the file is still open
        for (let i = 0; i < 300 && !streamed; i++) {
          streamed = proxy.count({ op: 'UploadPart', path: /new\.bin/ }) > 0;
          if (!streamed) await sleep(50);
        }
      } finally {
        await fh.close();
      }
      await released(mnt.dir);
      if (sha256(await s.getBytes('new.bin')) !== sha256(data)) return 'wrong bytes in the bucket';
      return streamed ? 'ok, streamed' : 'ok, uploaded at close';
    },
  ],
  [
    'empty file (`touch`)',
    async () => {
      await runOk('touch', [m('empty.txt')]);
      const h = await s.head('empty.txt');
      return h?.ContentLength === 0 && (await stat(m('empty.txt'))).size === 0
        ? 'ok'
        : `object: ${JSON.stringify(h?.ContentLength)}`;
    },
  ],
  [
    'overwrite (`O_TRUNC`, `>`)',
    async () => {
      await s.put('ow.txt', 'old content that is longer than the new one');
      await settle();
      await writeFile(m('ow.txt'), 'new');
      return (await s.getText('ow.txt')) === 'new' ? 'ok' : 'old bytes remain';
    },
  ],
  [
    'append (`O_APPEND`, `>>`)',
    async () => {
      await s.put('app.log', 'one\n');
      await settle();
      await appendFile(m('app.log'), 'two\n');
      await runOk('sh', ['-c', 'echo three >> "$1"', 'sh', m('app.log')]);
      return (await s.getText('app.log')) === 'one\ntwo\nthree\n'
        ? 'ok'
        : `got ${JSON.stringify(await s.getText('app.log'))}`;
    },
  ],
  [
    'write at an offset',
    async () => {
      const base = patternBytes(200_000, 4);
      await s.put('off.bin', base);
      await settle();
      const fh = await open(m('off.bin'), 'r+');
      try {
        await fh.write(Buffer.from('PATCH'), 0, 5, 100_000);
      } finally {
        await fh.close();
      }
      const want = Buffer.from(base);
      want.write('PATCH', 100_000);
      return (await s.getBytes('off.bin')).equals(want) ? 'ok' : 'wrong bytes';
    },
  ],
  [
    'write past the end',
    async () => {
      await s.put('hole.bin', 'abc');
      await settle();
      const fh = await open(m('hole.bin'), 'r+');
      try {
        await fh.write(Buffer.from('Z'), 0, 1, 10);
      } finally {
        await fh.close();
      }
      return (await s.getBytes('hole.bin')).equals(Buffer.from('abc\0\0\0\0\0\0\0Z', 'binary')) ? 'ok' : 'wrong bytes';
    },
  ],
  [
    'truncate, `ftruncate`',
    async () => {
      await s.put('tr.bin', patternBytes(100_000, 5));
      await settle();
      await runOk('truncate', ['-s', '10', m('tr.bin')]);
      const a = (await s.getBytes('tr.bin')).equals(patternBytes(100_000, 5).subarray(0, 10));
      const fh = await open(m('tr.bin'), 'r+');
      try {
        await fh.truncate(20);
      } finally {
        await fh.close();
      }
      const b = (await s.getBytes('tr.bin')).equals(Buffer.concat([patternBytes(10, 5), Buffer.alloc(10)]));
      return a && b ? 'ok' : `shrink ${a}, extend ${b}`;
    },
  ],
  [
    'read and write on one descriptor',
    async () => {
      const fh = await open(m('rw.txt'), 'w+');
      try {
        await fh.write('hello world', 0);
        const buf = Buffer.alloc(11);
        await fh.read(buf, 0, 11, 0);
        await fh.write('W', 6);
        const buf2 = Buffer.alloc(11);
        await fh.read(buf2, 0, 11, 0);
        if (buf.toString() !== 'hello world' || buf2.toString() !== 'hello World') return `read back ${buf} / ${buf2}`;
      } finally {
        await fh.close();
      }
      return (await s.getText('rw.txt')) === 'hello World' ? 'ok' : 'wrong object';
    },
  ],
  [
    '`fsync`',
    async () => {
      const fh = await open(m('sync.txt'), 'w');
      try {
        await fh.write('durable');
        await fh.sync();
        const inBucket = (await s.exists('sync.txt')) && (await s.getText('sync.txt')) === 'durable';
        await fh.write(' and more');
        await fh.sync();
        const again = (await s.getText('sync.txt')) === 'durable and more';
        return inBucket && again
          ? 'durable, writes continue'
          : `after fsync: ${inBucket}, after second fsync: ${again}`;
      } finally {
        await fh.close();
      }
    },
  ],
  [
    '`close` of a copy of a descriptor (fork)',
    async () => {
      // 6 MiB, then a child that inherits the descriptor and closes its copy, then 1 MiB more:
      // parts were already sent (5 MiB parts), so the file is being streamed. python3 runs it
      // (asynchronously: the fault proxy lives in this process) while HEAD polls the object.
      const script = [
        'import subprocess, sys',
        'with open(sys.argv[1], "wb") as f:',
        '    f.write(bytes(range(256)) * (6 * 4096)); f.flush()',
        '    subprocess.run(["true"], close_fds=False, pass_fds=(f.fileno(),))',
        '    f.write(bytes(range(256)) * 4096)',
      ].join('\n');
      let done = false;
      const writer = run(python(), ['-c', script, m('fork.bin')]).finally(() => (done = true));
      const seen = new Set<number>();
      while (!done) {
        const size = (await s.head('fork.bin'))?.ContentLength;
        if (size !== undefined) seen.add(size);
        await sleep(5);
      }
      const r = await writer;
      if (r.code !== 0) return `writer failed: ${r.stderr}`;
      await released(mnt.dir);
      const want = Buffer.concat(
        Array.from({ length: 7 * 4096 }, () => Buffer.from(Array.from({ length: 256 }, (_, k) => k))),
      );
      const whole = sha256(await s.getBytes('fork.bin')) === sha256(want);
      const early = [...seen].filter((n) => n !== want.length);
      if (early.length > 0) return `a child's close published ${early.join(', ')} bytes`;
      return whole ? 'not published, complete at the last close' : 'wrong bytes in the bucket';
    },
  ],
  [
    'operation right after `close`',
    async () => {
      // python3 without pauses: write 10 bytes, close, truncate to 4 at once (100 files)
      await mkdir(m('after-close'), { recursive: true });
      await py(
        [
          'import os, sys',
          'for i in range(100):',
          '    p = os.path.join(sys.argv[1], "f%d" % i)',
          '    with open(p, "wb") as f: f.write(b"0123456789")',
          '    os.truncate(p, 4)',
        ].join('\n'),
        [m('after-close')],
      );
      const lost: number[] = [];
      for (let i = 0; i < 100; i++) if ((await s.getText(`after-close/f${i}`)) !== '0123') lost.push(i);
      return lost.length === 0 ? 'sees every earlier close' : `${lost.length} of 100 truncates lost`;
    },
  ],
  [
    'upload fails for good',
    async () => {
      proxy.inject({ action: Faults.internalError, op: UPLOAD_OPS, path: /lost-/ });
      const closeErr = await errnoOf(writeFile(m('lost-close.txt'), 'must not be reported as saved'));
      const fh = await open(m('lost-fsync.txt'), 'w');
      let fsyncErr: string | undefined;
      try {
        await fh.write('x');
        fsyncErr = await errnoOf(fh.sync());
      } finally {
        await errnoOf(fh.close());
      }
      proxy.clearRules();
      const stored = (await s.exists('lost-close.txt')) || (await s.exists('lost-fsync.txt'));
      return `close ${closeErr ?? 'ok'}, fsync ${fsyncErr ?? 'ok'}${stored ? ', but stored' : ''}`;
    },
  ],
  [
    'transient S3 errors',
    async () => {
      const data = patternBytes(7 * MiB + 1, 6);
      await s.put('tr-get.bin', data);
      await settle();
      const rules = [
        proxy.inject({ action: Faults.internalError, op: 'GetObject', path: /tr-get/, count: 1 }),
        proxy.inject({ action: Faults.reset, op: 'GetObject', path: /tr-get/, count: 1 }),
        proxy.inject({ action: Faults.slowDown, op: 'PutObject', path: /tr-put/, count: 1 }),
        proxy.inject({ action: Faults.serviceUnavailable, op: 'PutObject', path: /tr-put/, count: 1 }),
        proxy.inject({ action: Faults.reset, op: 'UploadPart', path: /tr-mp/, count: 1 }),
        proxy.inject({ action: Faults.internalError, op: 'CompleteMultipartUpload', path: /tr-mp/, count: 1 }),
        proxy.inject({ action: Faults.slowDown, op: 'ListObjects', count: 1 }),
      ];
      const read = sha256(await readFile(m('tr-get.bin'))) === sha256(data);
      await writeFile(m('tr-put.txt'), 'small');
      await writeFile(m('tr-mp.bin'), data);
      await readdir(mnt.dir);
      const wrote =
        (await s.getText('tr-put.txt')) === 'small' && sha256(await s.getBytes('tr-mp.bin')) === sha256(data);
      const hits = rules.filter((r) => r.hits > 0).length;
      return read && wrote
        ? `retried (${hits >= 5 ? 'faults hit' : `only ${hits} faults hit`})`
        : `read ${read}, write ${wrote}`;
    },
  ],
  [
    'S3 unreachable during a lookup',
    async () => {
      await s.put('down.txt', 'keep me');
      await settle();
      proxy.inject({ action: Faults.serviceUnavailable, op: ['HeadObject', 'ListObjects'] });
      await settle(); // whatever the mount has cached has expired: the lookup must ask S3
      const st = await errnoOf(stat(m('down.txt')));
      const create = await errnoOf(open(m('down.txt'), 'wx'));
      proxy.clearRules();
      const kept = (await s.getText('down.txt')) === 'keep me';
      return `stat ${st ?? 'ok'}, create ${create ?? 'ok'}${kept ? '' : ', object clobbered'}`;
    },
  ],
  [
    'S3 answers 403',
    async () => {
      await s.put('denied.txt', 'secret');
      await settle();
      proxy.inject({ action: Faults.accessDenied, op: 'GetObject', path: /denied/ });
      proxy.inject({ action: Faults.accessDenied, op: UPLOAD_OPS, path: /denied/ });
      const r = await errnoOf(readFile(m('denied.txt')));
      const w = await errnoOf(writeFile(m('denied-new.txt'), 'x'));
      return `read ${r ?? 'ok'}, write ${w ?? 'ok'}`;
    },
  ],
  [
    'read after own write',
    async () => {
      await mkdir(m('own'));
      await readdir(m('own'));
      await writeFile(m('own/f.txt'), 'first version');
      await stat(m('own/f.txt'));
      await writeFile(m('own/f.txt'), 'second, longer version');
      const st = await stat(m('own/f.txt'));
      const body = await readFile(m('own/f.txt'), 'utf8');
      const listed = (await readdir(m('own'))).includes('f.txt');
      await unlink(m('own/f.txt'));
      const gone = !(await readdir(m('own'))).includes('f.txt') && (await errnoOf(stat(m('own/f.txt')))) === 'ENOENT';
      return st.size === 22 && body === 'second, longer version' && listed && gone
        ? 'fresh'
        : `size ${st.size}, body ${body}, listed ${listed}, gone ${gone}`;
    },
  ],
  [
    'change by another client',
    async () => {
      await s.put('ext.txt', 'v1');
      await settle();
      await readFile(m('ext.txt'));
      await s.put('ext.txt', 'version 2');
      await sleep(TTL_MS + 300);
      const body = await readFile(m('ext.txt'), 'utf8');
      await s.put('ext-dir/new.txt', 'n');
      await s.del('ext.txt');
      await sleep(TTL_MS + 300);
      const listed = (await readdir(mnt.dir)).includes('ext-dir');
      const gone = (await errnoOf(stat(m('ext.txt')))) === 'ENOENT';
      return body === 'version 2' && listed && gone
        ? 'seen after the TTL'
        : `body ${body}, new dir ${listed}, deleted ${gone}`;
    },
  ],
  [
    'append right after another client created the key',
    async () => {
      // a long TTL, so a slow machine cannot let the cached listing expire between the two steps
      const cached = await s.mount({ flags: ['--metadata-ttl=30', spoolFlag()] });
      try {
        await readdir(cached.dir); // the root listing is now cached
        await s.put('race.log', 'written elsewhere\n');
        await appendFile(join(cached.dir, 'race.log'), 'appended here\n');
      } finally {
        await cached.unmount();
      }
      const body = await s.getText('race.log');
      return body === 'written elsewhere\nappended here\n'
        ? 'appends'
        : body === 'appended here\n'
          ? 'replaces the object (within the TTL)'
          : `object: ${JSON.stringify(body)}`;
    },
  ],
  [
    '`mkdir`',
    async () => {
      await mkdir(m('made'));
      const marker = await s.exists('made/');
      const again = await errnoOf(mkdir(m('made')));
      return `${marker ? 'marker made/' : 'no marker'}, again ${again ?? 'ok'}`;
    },
  ],
  [
    'create a file in a new directory',
    async () => {
      await runOk('sh', ['-c', 'cd "$1" && mkdir -p a/b/c && echo hi > a/b/c/f', 'sh', mnt.dir]);
      return (await s.getText('a/b/c/f')) === 'hi\n' ? 'ok' : 'missing';
    },
  ],
  [
    '`rmdir`',
    async () => {
      await mkdir(m('rd-empty'));
      const empty = await errnoOf(rmdir(m('rd-empty')));
      await mkdir(m('rd-full'));
      await writeFile(m('rd-full/f'), 'x');
      const full = await errnoOf(rmdir(m('rd-full')));
      const file = await errnoOf(rmdir(m('rd-full/f')));
      const markerGone = !(await s.exists('rd-empty/'));
      return `${empty ?? 'ok'}${markerGone ? '' : ' (marker left)'}, non-empty ${full ?? 'ok'}, file ${file ?? 'ok'}`;
    },
  ],
  [
    '`unlink`',
    async () => {
      await writeFile(m('ul.txt'), 'x');
      await unlink(m('ul.txt'));
      const missing = await errnoOf(unlink(m('ul.txt')));
      return !(await s.exists('ul.txt')) ? `ok, again ${missing ?? 'ok'}` : 'object still there';
    },
  ],
  [
    'unlink an open file',
    async () => {
      // on its own mount, so a crash here cannot take the other rows down with it
      await s.put('ul-open-r.txt', 'still readable');
      const own = await s.mount({ flags: [spoolFlag()] });
      const p = (x: string): string => join(own.dir, x);
      try {
        const r = await open(p('ul-open-r.txt'), 'r');
        const w = await open(p('ul-open-w.txt'), 'w');
        await w.write('never uploaded');
        await unlink(p('ul-open-r.txt'));
        await unlink(p('ul-open-w.txt'));
        const buf = Buffer.alloc(14);
        const readErr = await errnoOf(r.read(buf, 0, 14, 0));
        const reads =
          readErr === undefined && buf.toString() === 'still readable'
            ? 'keeps reading'
            : `gets ${readErr ?? 'wrong bytes'}`;
        const closeW = await errnoOf(w.close());
        const closeR = await errnoOf(r.close());
        const uploaded = await s.exists('ul-open-w.txt');
        const alive = (await errnoOf(stat(own.dir))) === undefined;
        return `open reader ${reads}, writer close ${closeW ?? 'ok'}${closeR ? `, reader close ${closeR}` : ''}${uploaded ? ', re-uploaded' : ', nothing uploaded'}${alive ? '' : ', mount died'}`;
      } finally {
        await own.unmount();
      }
    },
  ],
  [
    'two mounts write the same key',
    async () => {
      const other = await s.mount({ flags: [spoolFlag()] });
      try {
        const a = await open(m('shared.txt'), 'w');
        const b = await open(join(other.dir, 'shared.txt'), 'w');
        await a.write('from mount A');
        await b.write('from mount B');
        await b.close();
        await a.close();
        return (await s.getText('shared.txt')) === 'from mount A'
          ? 'last close wins'
          : `object: ${await s.getText('shared.txt')}`;
      } finally {
        await other.unmount();
      }
    },
  ],
  [
    '`readdir`, `ls -l`',
    async () => {
      const keys = Array.from({ length: 1001 }, (_, i) => `many/k${String(i).padStart(4, '0')}`);
      for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => s.put(k, 'x')));
      await settle();
      // a long TTL on this mount, so a slow machine cannot let the listing expire half-way
      const slow = await s.mount({ endpointUrl: proxy.endpoint, flags: ['--metadata-ttl=30', spoolFlag()] });
      const heads = proxy.count({ op: 'HeadObject' });
      const lists = proxy.count({ op: 'ListObjects' });
      let names: number;
      try {
        names = (await runOk('ls', ['-l', join(slow.dir, 'many')]))
          .split('\n')
          .filter((l) => / k\d{4}$/.test(l)).length;
      } finally {
        await slow.unmount();
      }
      const headsDuring = proxy.count({ op: 'HeadObject' }) - heads;
      const listsDuring = proxy.count({ op: 'ListObjects' }) - lists;
      if (names !== 1001) return `${names} entries`;
      return headsDuring <= 2 && listsDuring >= 2
        ? 'paged, no HEAD per entry'
        : `${headsDuring} HEADs, ${listsDuring} LISTs`;
    },
  ],
  [
    'file and directory with the same name',
    async () => {
      // MinIO will not list `fp/both/inner.txt` next to an object `fp/both`: the proxy answers the
      // listings of fp/ the way S3 does, the object fp/both itself is real
      await s.put('fp/both', 'file body');
      const objects = ['fp/both', 'fp/both/inner.txt'].map((key) => ({ key, size: 9 }));
      proxy.inject({ action: fakeListing(s.bucket, objects), op: 'ListObjects', path: /prefix=fp%2F/ });
      await settle();
      const st = await stat(m('fp/both'));
      const names = await readdir(m('fp'));
      const inner = await readdir(m('fp/both'));
      const ok = st.isDirectory() && names.join() === 'both' && inner.join() === 'inner.txt';
      return ok ? 'directory wins' : `isDirectory ${st.isDirectory()}, fp: ${names.join()}, fp/both: ${inner.join()}`;
    },
  ],
  [
    'keys with `//`, `.`, `..`',
    async () => {
      // MinIO refuses these keys, so the proxy lists them the way S3 would
      await s.put('hid/ok', 'x');
      const objects = ['hid//x', 'hid/./y', 'hid/../z', 'hid/.', 'hid/..', 'hid/ok'].map((key) => ({ key, size: 1 }));
      proxy.inject({ action: fakeListing(s.bucket, objects), op: 'ListObjects', path: /prefix=hid%2F/ });
      await settle();
      const names = (await readdir(m('hid'))).sort();
      return names.join(',') === 'ok' ? 'hidden' : `listed: ${JSON.stringify(names)}`;
    },
  ],
  [
    'key ending in `/`',
    async () => {
      await s.put('marker-only/', '');
      await settle();
      const st = await stat(m('marker-only'));
      return st.isDirectory() && (await readdir(m('marker-only'))).length === 0 ? 'empty directory' : 'not a directory';
    },
  ],
  [
    'rename a file',
    async () => {
      await writeFile(m('rn-a.txt'), 'a');
      await rename(m('rn-a.txt'), m('rn-b.txt'));
      await writeFile(m('rn-c.txt'), 'c');
      await rename(m('rn-c.txt'), m('rn-b.txt'));
      const ok =
        !(await s.exists('rn-a.txt')) && !(await s.exists('rn-c.txt')) && (await s.getText('rn-b.txt')) === 'c';
      return ok ? 'ok, replaces the target' : 'wrong keys';
    },
  ],
  [
    'rename a directory',
    async () => {
      await mkdir(m('rdir/src/sub'), { recursive: true });
      for (let i = 0; i < 5; i++) await writeFile(m(`rdir/src/sub/f${i}`), String(i));
      await rename(m('rdir/src'), m('rdir/dst'));
      const keys = await s.keys('rdir/');
      const files = keys.filter((k) => !k.endsWith('/'));
      return files.length === 5 &&
        files.every((k) => k.startsWith('rdir/dst/sub/')) &&
        !keys.some((k) => k.startsWith('rdir/src/'))
        ? 'ok'
        : keys.join(',');
    },
  ],
  [
    'rename a directory past `--dir-rename-limit`',
    async () => {
      for (let i = 0; i < 25; i++) await s.put(`big-dir/f${i}`, String(i));
      await settle();
      const code = await errnoOf(rename(m('big-dir'), m('big-dir-2')));
      const unchanged = (await s.keys('big-dir/')).length === 25 && (await s.keys('big-dir-2/')).length === 0;
      const mv = await run('mv', [m('big-dir'), m('big-dir-3')]);
      const files = async (prefix: string): Promise<number> =>
        (await s.keys(prefix)).filter((k) => !k.endsWith('/')).length;
      const moved = mv.code === 0 && (await files('big-dir-3/')) === 25 && (await s.keys('big-dir/')).length === 0;
      return `${code ?? 'ok'}${unchanged ? '' : ' (changed)'}, mv ${moved ? 'copies' : `fails (exit ${mv.code})`}`;
    },
  ],
  [
    '`chmod`, `chown`, `utimes`',
    async () => {
      await s.put('meta.txt', 'x');
      await settle();
      const before = await stat(m('meta.txt'));
      const a = await errnoOf(chmod(m('meta.txt'), 0o600));
      const b = await errnoOf(chown(m('meta.txt'), 1234, 1234));
      const c = await errnoOf(utimes(m('meta.txt'), new Date('2001-01-01'), new Date('2001-01-01')));
      const after = await stat(m('meta.txt'));
      const same = after.mode === before.mode && after.uid === before.uid && after.mtimeMs === before.mtimeMs;
      return a || b || c ? `${a} ${b} ${c}` : same ? 'accepted, no effect' : 'accepted, changed';
    },
  ],
  [
    'symlink, hard link',
    async () => {
      await writeFile(m('link-src.txt'), 'x');
      return await pyErrnos(
        [
          'os.symlink("link-src.txt", sys.argv[1] + "/sl")',
          'os.link(sys.argv[1] + "/link-src.txt", sys.argv[1] + "/hl")',
        ],
        [mnt.dir],
      );
    },
  ],
  [
    'extended attributes',
    async () => {
      await writeFile(m('xattr.txt'), 'x');
      return await pyErrnos(
        ['os.setxattr(sys.argv[1], "user.k", b"v")', 'os.getxattr(sys.argv[1], "user.k")'],
        [m('xattr.txt')],
      );
    },
  ],
  [
    'owner and mode',
    async () => {
      await writeFile(m('own.txt'), 'x');
      const f = await stat(m('own.txt'));
      const d = await stat(m('a'));
      const user = f.uid === process.getuid!() && f.gid === process.getgid!();
      return `${(f.mode & 0o7777).toString(8)} / ${(d.mode & 0o7777).toString(8)}${user ? ', mounting user' : `, uid ${f.uid}`}`;
    },
  ],
  [
    'size and mtime',
    async () => {
      await s.put('sz.bin', patternBytes(12_345, 7));
      await settle();
      const h = await s.head('sz.bin');
      const st = await stat(m('sz.bin'));
      const dt = Math.abs(st.mtimeMs - h!.LastModified!.getTime());
      return st.size === 12_345 && dt < 1000 ? 'from the object' : `size ${st.size}, mtime off by ${dt} ms`;
    },
  ],
  [
    '`statfs` (`df`)',
    async () => {
      const st = await statfs(mnt.dir);
      return st.blocks > 0 && (await run('df', [mnt.dir])).code === 0 ? 'ok' : 'fails';
    },
  ],
  [
    '`mmap` (read)',
    async () => {
      const data = patternBytes(300_000, 8);
      await s.put('mm.bin', data);
      await settle();
      const out = await py(
        'import mmap, sys, hashlib\nf = open(sys.argv[1], "rb")\nm = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)\nprint(hashlib.sha256(m[:]).hexdigest())',
        [m('mm.bin')],
      );
      return out.trim() === sha256(data) ? 'ok' : 'wrong bytes';
    },
  ],
  [
    'read-only mount (`--read-only`)',
    async () => {
      await s.put('ro/f.txt', 'readable');
      const ro = await s.mount({ flags: ['--read-only', spoolFlag()] });
      try {
        const p = (x: string): string => join(ro.dir, x);
        const codes = new Set([
          await errnoOf(writeFile(p('ro/new.txt'), 'x')),
          await errnoOf(writeFile(p('ro/f.txt'), 'x')),
          await errnoOf(appendFile(p('ro/f.txt'), 'x')),
          await errnoOf(mkdir(p('ro/d'))),
          await errnoOf(unlink(p('ro/f.txt'))),
          await errnoOf(rename(p('ro/f.txt'), p('ro/g.txt'))),
          await errnoOf(rmdir(p('ro'))),
          await errnoOf(chmod(p('ro/f.txt'), 0o600)),
        ]);
        const readable = (await readFile(p('ro/f.txt'), 'utf8')) === 'readable';
        return `${[...codes].join(' ')}${readable ? ', reads work' : ', reads fail'}`;
      } finally {
        await ro.unmount();
      }
    },
  ],
  [
    '`--allow-delete=false`, `--allow-overwrite=false`',
    async () => {
      await s.put('nd/f.txt', 'keep');
      const nd = await s.mount({ flags: ['--allow-delete=false', '--allow-overwrite=false', spoolFlag()] });
      try {
        const p = (x: string): string => join(nd.dir, x);
        const del = await errnoOf(unlink(p('nd/f.txt')));
        const over = await errnoOf(writeFile(p('nd/f.txt'), 'x'));
        const create = await errnoOf(writeFile(p('nd/new.txt'), 'x'));
        return `unlink ${del ?? 'ok'}, overwrite ${over ?? 'ok'}, new file ${create ?? 'ok'}`;
      } finally {
        await nd.unmount();
      }
    },
  ],
  [
    'errno mapping',
    async () => {
      await writeFile(m('en.txt'), 'x');
      await mkdir(m('en-dir'));
      const codes = [
        await errnoOf(readFile(m('en-missing.txt'))),
        await errnoOf(open(m('en.txt'), 'wx')),
        await errnoOf(stat(m('en.txt/child'))),
        await errnoOf(writeFile(m('en-dir'), 'x')),
        await errnoOf(rmdir(mnt.dir)),
      ];
      return codes.map((c) => c ?? 'ok').join(' ');
    },
  ],
  [
    '`np.savez`, TensorBoard logs, torch checkpoints',
    async () => {
      const out = await py(
        [
          'import sys, os, numpy as np, pickle',
          'd = sys.argv[1]; os.makedirs(d, exist_ok=True)',
          'a = np.arange(50000.0)',
          'np.savez(d + "/x.npz", a=a); assert np.array_equal(np.load(d + "/x.npz")["a"], a)',
          'for i in range(20):',
          '    with open(d + "/events.tfevents", "ab") as f: f.write(b"rec%03d" % i); f.flush()',
          'assert open(d + "/events.tfevents", "rb").read() == b"".join(b"rec%03d" % i for i in range(20))',
          'with open(d + "/ckpt.pt.tmp", "wb") as f: pickle.dump({"w": a}, f); f.flush(); os.fsync(f.fileno())',
          'os.replace(d + "/ckpt.pt.tmp", d + "/ckpt.pt")',
          'print(sorted(os.listdir(d)))',
        ].join('\n'),
        [m('ml')],
      );
      return out.trim() === "['ckpt.pt', 'events.tfevents', 'x.npz']" ? 'ok' : out.trim();
    },
  ],
  [
    'shell tools',
    async () => {
      const src = join(local, 'tools');
      await mkdir(join(src, 'd'), { recursive: true });
      await writeFile(join(src, 'd/f.bin'), patternBytes(100_000, 9));
      await writeFile(join(src, 'g.txt'), 'g');
      await runOk('cp', ['-r', src, m('t-cp')]);
      await runOk('mv', [m('t-cp'), m('t-mv')]);
      await runOk('dd', [`if=${join(src, 'd/f.bin')}`, `of=${m('t-dd.bin')}`, 'bs=64k', 'status=none']);
      await runOk('dd', [
        `if=${join(src, 'g.txt')}`,
        `of=${m('t-dd.bin')}`,
        'seek=5',
        'bs=1',
        'conv=notrunc',
        'status=none',
      ]);
      await runOk('tar', ['-cf', m('t.tar'), '-C', src, '.']);
      await mkdir(m('t-untar'));
      await runOk('tar', ['-xf', m('t.tar'), '-C', m('t-untar')]);
      await runOk('rsync', ['-a', src + '/', m('t-rsync') + '/']);
      const want = sha256(patternBytes(100_000, 9));
      const dd = patternBytes(100_000, 9);
      dd.write('g', 5);
      const ok =
        sha256(await s.getBytes('t-mv/d/f.bin')) === want &&
        sha256(await s.getBytes('t-untar/d/f.bin')) === want &&
        sha256(await s.getBytes('t-rsync/d/f.bin')) === want &&
        sha256(await s.getBytes('t-dd.bin')) === sha256(dd);
      return ok ? 'ok' : 'wrong bytes';
    },
  ],
];

// ---- the checks -----------------------------------------------------------------------------

const doc = readFileSync(join(ROOT, 'docs', 'semantics.md'), 'utf8');
let rows: TableRow[] = [];
let parseError: string | undefined;
try {
  rows = semanticsTable(doc);
} catch (err) {
  parseError = String(err);
}
const rowByOp = new Map(rows.map((r) => [r.operation, r]));
const observed: Array<[string, string]> = [];

for (const [operation, probe] of probes) {
  test(`row: ${operation}`, T, async () => {
    const got = await probe();
    observed.push([operation, got]);
    const row = rowByOp.get(operation);
    assert.ok(row, `docs/semantics.md has no row "${operation}" (observed: ${got})`);
    assert.equal(
      got,
      row.checked,
      `docs/semantics.md says "${row.checked}" for "${operation}", the mount did "${got}"`,
    );
  });
}

after(() => {
  if (process.env.SEMANTICS_PRINT) {
    process.stdout.write(
      '\nobserved semantics:\n' + observed.map(([op, got]) => `| ${op} | \`${got}\` |`).join('\n') + '\n',
    );
  }
});

test('every table row has a probe, and every cited test exists', () => {
  assert.equal(parseError, undefined, 'the semantics table in docs/semantics.md parses');
  const problems: string[] = [];
  const probeOps = new Set(probes.map(([op]) => op));
  const dir = join(ROOT, 'test', 'fs');
  const files = readdirSync(dir).filter((f) => f.endsWith('.test.ts'));
  const namesByFile = new Map(files.map((f) => [f, testNames(readFileSync(join(dir, f), 'utf8'))]));
  for (const row of rows) {
    if (!probeOps.has(row.operation)) problems.push(`row "${row.operation}" has no probe in semantics-table.test.ts`);
    if (!row.checked) problems.push(`row "${row.operation}" has an empty "checked" cell`);
    if (!row.cells['behaviour here']) problems.push(`row "${row.operation}" has no behaviour`);
    for (const t of row.refs) {
      const names = namesByFile.get(t.file);
      if (!names) problems.push(`row "${row.operation}": test/fs/${t.file} does not exist`);
      else if (!names.has(t.name)) problems.push(`row "${row.operation}": no test "${t.name}" in test/fs/${t.file}`);
    }
  }
  assert.deepEqual(problems, []);
});

test('the table parser handles code spans, references and templates', () => {
  const names = testNames(
    "test('a b', () => {}); test(\"c\", T, x); test(`t ${n} u`, T, async () => {}); test('it\\'s', f)",
  );
  assert.deepEqual([...names].sort(), ['a b', 'c', "it's", 't ${n} u']);
  const parsed = semanticsTable(
    '<!-- section:semantics -->\n| operation | behaviour here | checked | notes |\n|---|---|---|---|\n| x `a|b` | y | `ok, z` | see `r.test.ts: n 1` |\n<!-- /section:semantics -->',
  );
  assert.equal(parsed.length, 1);
  assert.equal(parsed[0]!.operation, 'x `a|b`');
  assert.equal(parsed[0]!.checked, 'ok, z');
  assert.deepEqual(parsed[0]!.refs, [{ file: 'r.test.ts', name: 'n 1' }]);
});
