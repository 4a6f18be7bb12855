// Unit tests of interrupted FUSE requests (src/fs/kernel/interrupts.ts, the adapter's use of it,
// and a READ's abort reaching range-fetch.ts), with a fake addon that keeps slots like the real
// one (an id is live from the request until its first reply; ids are reused): an interrupted
// request is answered EINTR exactly once and its late result is dropped, even when its id was
// reused meanwhile; a request answered first ignores a late interrupt; requests that change
// something are never answered early; one reader's interrupt does not disturb another reader of
// the same GET.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { InFlight, interruptible, type Reply } from '../../src/fs/kernel/interrupts.js';
import { KernelAdapter } from '../../src/fs/kernel/adapter.js';
import { Op, type Fuse3Addon, type Session } from '../../src/fs/kernel/native.js';
import type { FuseOps } from '../../src/fs/ops.js';
import { silentLogger } from '../../src/log.js';
import { RangeFetch } from '../../src/fs/range-fetch.js';
import { Errno } from '../../src/fs/errno.js';
import { fakeFs } from '../support/fake-context.js';

const SESSION = {} as Session;

interface Sent {
  fn: string;
  id: number;
  args: unknown[];
}

/** Replies recorded; an id answers only while "live" (as the addon's slot table). */
function fakeAddon(): { addon: Fuse3Addon; sent: Sent[]; live: Set<number> } {
  const sent: Sent[] = [];
  const live = new Set<number>();
  const reply =
    (fn: string, fail: unknown = false) =>
    (_s: Session, id: number, ...args: unknown[]): unknown => {
      if (!live.delete(id)) return fail;
      sent.push({ fn, id, args });
      return fn === 'replyDir' ? 0 : true;
    };
  const addon = {
    replyErr: reply('replyErr'),
    replyEntry: reply('replyEntry'),
    replyCreate: reply('replyCreate'),
    replyAttr: reply('replyAttr'),
    replyOpen: reply('replyOpen'),
    replyWrite: reply('replyWrite'),
    replyBuf: reply('replyBuf'),
    replyReadlink: reply('replyReadlink'),
    replyStatfs: reply('replyStatfs'),
    replyDir: reply('replyDir', -1),
  } as unknown as Fuse3Addon;
  return { addon, sent, live };
}

test('which requests are answered EINTR when interrupted', () => {
  for (const op of [Op.READ, Op.LOOKUP, Op.GETATTR, Op.READDIR, Op.READDIRPLUS]) assert.ok(interruptible(op, 0));
  assert.ok(interruptible(Op.OPEN, 0), 'open for reading');
  assert.ok(!interruptible(Op.OPEN, 1), 'open for writing (may truncate)');
  assert.ok(!interruptible(Op.OPEN, 2));
  for (const op of [
    Op.WRITE,
    Op.FLUSH,
    Op.FSYNC,
    Op.RELEASE,
    Op.CREATE,
    Op.MKDIR,
    Op.UNLINK,
    Op.RMDIR,
    Op.RENAME,
    Op.SETATTR,
    Op.OPENDIR,
  ])
    assert.ok(!interruptible(op, 0), `op ${op}`);
});

test('interrupt before the result: EINTR once, the late result is dropped, the signal fires', () => {
  const f = fakeAddon();
  const inf = new InFlight();
  const addon = inf.wrap(f.addon);
  f.live.add(7);
  const r: Reply = { session: SESSION, id: 7, abort: new AbortController() };
  inf.track(r);
  assert.equal(inf.interrupt(7), true);
  assert.deepEqual(f.sent, [{ fn: 'replyErr', id: 7, args: [4] }]);
  assert.ok(r.abort!.signal.aborted);
  assert.equal(inf.interrupt(7), false, 'a second interrupt of the same request does nothing');
  assert.equal(addon.replyBuf(r.session, r.id, Buffer.alloc(1), 1), false, 'the late reply is refused');
  assert.equal(f.sent.length, 1);
  assert.equal(inf.size, 0);
  assert.equal(inf.interrupted, 1);
});

test('result before interrupt: the interrupt is ignored', () => {
  const f = fakeAddon();
  const inf = new InFlight();
  const addon = inf.wrap(f.addon);
  f.live.add(3);
  const r: Reply = { session: SESSION, id: 3 };
  inf.track(r);
  assert.equal(addon.replyAttr(r.session, r.id, new Float64Array(11), 1), true);
  assert.equal(inf.size, 0);
  assert.equal(inf.interrupt(3), false);
  assert.deepEqual(
    f.sent.map((x) => x.fn),
    ['replyAttr'],
  );
});

test('an id reused after an EINTR answer: the old late result never answers the new request', () => {
  const f = fakeAddon();
  const inf = new InFlight();
  const addon = inf.wrap(f.addon);
  f.live.add(5);
  const old: Reply = { session: SESSION, id: 5 };
  inf.track(old);
  inf.interrupt(5);
  f.live.add(5); // the addon gives id 5 to the next request
  const next: Reply = { session: SESSION, id: 5 };
  inf.track(next);
  assert.equal(addon.replyErr(old.session, old.id, 2), false, 'the old request is disarmed (id 0)');
  assert.equal(inf.size, 1, 'the new request is still tracked');
  assert.equal(addon.replyEntry(next.session, next.id, new Float64Array(11), 1, 1), true);
  assert.deepEqual(
    f.sent.map((x) => [x.fn, x.id]),
    [
      ['replyErr', 5],
      ['replyEntry', 5],
    ],
  );
});

test('an untracked request (one that changes something) is not answered by an interrupt', () => {
  const f = fakeAddon();
  const inf = new InFlight();
  inf.wrap(f.addon);
  f.live.add(9);
  assert.equal(inf.interrupt(9), false);
  assert.equal(f.sent.length, 0);
});

/** A KernelAdapter over `ops` (interrupts on unless `interrupts` is false), its session and the fake addon. */
function adapter(ops: FuseOps, interrupts = true): { a: KernelAdapter; f: ReturnType<typeof fakeAddon> } {
  const f = fakeAddon();
  const a = new KernelAdapter(f.addon, ops, { ttlS: 1, keepCache: false, interrupts }, silentLogger());
  a.session = SESSION;
  return { a, f };
}

test('adapter: an interrupted READ is answered EINTR once, its signal reaches the read, its late bytes are dropped', () => {
  let done: ((n: number) => void) | undefined;
  let signal: AbortSignal | undefined;
  const { a, f } = adapter({
    read: (_p, _fd, _buf, _len, _pos, cb, sig) => {
      done = cb;
      signal = sig;
    },
  });
  a.nodes.ensure('/f');
  const ino = a.nodes.idOf('/f')!;
  f.live.add(11);
  a.handle(Op.READ, 11, ino, 1, 4096, 0, undefined, undefined, undefined);
  assert.ok(signal && !signal.aborted);
  a.handle(Op.INTERRUPT, 11, 0, -1, -1, -1, undefined, undefined, undefined);
  assert.ok(signal.aborted);
  assert.deepEqual(f.sent, [{ fn: 'replyErr', id: 11, args: [4] }]);
  f.live.add(11); // id reused by another request meanwhile
  done!(4096);
  assert.equal(f.sent.length, 1, 'the late bytes answered nothing');
  assert.ok(f.live.has(11), 'the new owner of id 11 is still unanswered');
});

test('adapter: an interrupted FSYNC or open-for-write runs to completion and is answered once with its result', () => {
  let fsynced: ((e: number) => void) | undefined;
  let opened: ((e: number, fd?: number) => void) | undefined;
  const { a, f } = adapter({
    fsync: (_p, _ds, _fd, cb) => (fsynced = cb),
    open: (_p, _flags, cb) => (opened = cb),
  });
  a.nodes.ensure('/f');
  const ino = a.nodes.idOf('/f')!;
  f.live.add(1);
  f.live.add(2);
  a.handle(Op.FSYNC, 1, ino, 1, 0, -1, undefined, undefined, undefined);
  a.handle(Op.OPEN, 2, ino, 1 /* O_WRONLY */, -1, -1, undefined, undefined, undefined);
  a.handle(Op.INTERRUPT, 1, 0, -1, -1, -1, undefined, undefined, undefined);
  a.handle(Op.INTERRUPT, 2, 0, -1, -1, -1, undefined, undefined, undefined);
  assert.equal(f.sent.length, 0, 'nothing answered early');
  fsynced!(0);
  opened!(0, 3);
  assert.deepEqual(
    f.sent.map((x) => [x.fn, x.id, x.args[0]]),
    [
      ['replyErr', 1, 0],
      ['replyOpen', 2, 2 ** 32 + 3],
    ],
  );
});

test('adapter: an interrupted LOOKUP whose HEAD answers later takes no lookup count', () => {
  let answer: ((e: number, st?: unknown) => void) | undefined;
  const { a, f } = adapter({ getattr: (_p, cb) => (answer = cb as typeof answer) });
  f.live.add(4);
  a.handle(Op.LOOKUP, 4, 1, -1, -1, -1, 'name', undefined, undefined);
  a.handle(Op.INTERRUPT, 4, 0, -1, -1, -1, undefined, undefined, undefined);
  answer!(0, { mode: 0o100644, uid: 0, gid: 0, size: 1, mtime: 0, atime: 0, ctime: 0 });
  assert.deepEqual(
    f.sent.map((x) => [x.fn, x.id]),
    [['replyErr', 4]],
  );
  const id = a.nodes.idOf('/name');
  assert.ok(id === undefined || a.nodes.lookupsOf(id) === 0, 'the kernel never got the entry: no lookup counted');
});

test('range fetch: one reader giving up does not disturb another waiting for the same GET', async (t) => {
  const s = fakeFs({}, { bodyChunkSize: 1000 });
  t.after(s.dispose);
  const data = randomBytes(5000);
  const etag = s.s3.put('obj', data);
  const g = s.faults.hold('GetObject');
  const f = new RangeFetch(s.ctx, 'obj', 0, 5000, etag);
  const ac = new AbortController();
  const a = f.wait(5000, ac.signal)!;
  const b = f.wait(5000)!;
  assert.equal(f.waiting, 2);
  ac.abort();
  await assert.rejects(a, (e: { errno?: number }) => e.errno === Errno.EINTR);
  assert.equal(f.waiting, 1);
  assert.equal(f.cancel(), false, 'not cancelled while another reader waits');
  g.open();
  await b;
  assert.deepEqual(f.buf, data);
});

test('adapter without --fuse-interrupts (the default): an interrupted READ waits for its bytes and gets them', () => {
  let done: ((n: number) => void) | undefined;
  let signal: AbortSignal | undefined;
  const { a, f } = adapter(
    {
      read: (_p, _fd, _buf, _len, _pos, cb, sig) => {
        done = cb;
        signal = sig;
      },
    },
    false,
  );
  a.nodes.ensure('/f');
  const ino = a.nodes.idOf('/f')!;
  f.live.add(11);
  a.handle(Op.READ, 11, ino, 1, 4096, 0, undefined, undefined, undefined);
  a.handle(Op.INTERRUPT, 11, 0, -1, -1, -1, undefined, undefined, undefined);
  assert.equal(f.sent.length, 0, 'no EINTR');
  assert.equal(signal, undefined, 'no abort signal handed to the read');
  done!(4096);
  assert.equal(f.sent.length, 1, 'the real reply, once');
  assert.equal(f.sent[0]!.fn, 'replyBuf');
});
