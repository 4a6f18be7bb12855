// Tests of the native libfuse3 addon's request/reply plumbing (native/fuse3), without S3: a tiny
// in-memory file system written straight against the addon is mounted in a temp dir, and the
// test drives it with asynchronous fs calls (synchronous ones would block the event loop that
// answers). Checks: lookups/getattr/readdirplus/read/write/create/unlink arrive with the right
// arguments, replies may come later from timers, 1 MiB WRITE/READ requests (max_pages), errno
// replies, a second reply to one request is refused, FORGET balances lookups, and unmount ends
// the session (CLOSED) with no request left pending. Interrupts: a signalled process blocked in a
// LOOKUP makes the addon report INTERRUPT with that request's id; an EINTR reply frees it. Skipped when the addon is not built or
// FUSE cannot be mounted here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { open, readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ATTR_FIELDS,
  A,
  Op,
  addonPath,
  loadFuse3,
  type OpCode,
  type RequestHandler,
  type Session,
} from '../../src/fs/kernel/native.js';

const skip = !existsSync(addonPath())
  ? 'fuse3 addon not built (npm run build:native)'
  : !existsSync('/dev/fuse')
    ? 'no /dev/fuse'
    : process.getuid?.() !== 0
      ? 'needs root to mount'
      : false;

const MiB = 1024 * 1024;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

interface MemFile {
  ino: number;
  data: Buffer;
}

test('addon: requests arrive on the event loop and late replies answer them', { skip }, async () => {
  const addon = loadFuse3();
  const dir = mkdtempSync(join(tmpdir(), 'fuse3-addon-'));
  const files = new Map<string, MemFile>([['hello', { ino: 2, data: Buffer.from('hello world\n') }]]);
  let nextIno = 3;
  const lookups = new Map<number, number>();
  const seen = new Map<OpCode, number>();
  let maxWrite = 0;
  let maxRead = 0;
  let doubleReply: boolean | undefined;
  let closed!: () => void;
  const closedP = new Promise<void>((r) => (closed = r));
  const attr = (ino: number, dirNode: boolean, size: number): Float64Array => {
    const a = new Float64Array(ATTR_FIELDS);
    a[A.INO] = ino;
    a[A.MODE] = dirNode ? S_IFDIR | 0o755 : S_IFREG | 0o644;
    a[A.NLINK] = dirNode ? 2 : 1;
    a[A.SIZE] = size;
    a[A.BLKSIZE] = 4096;
    a[A.MTIME] = a[A.ATIME] = a[A.CTIME] = 1_700_000_000_123;
    return a;
  };
  const byIno = (ino: number): [string, MemFile] | undefined => [...files].find(([, f]) => f.ino === ino);
  const later = (fn: () => void): void => void setTimeout(fn, 1); // every reply is asynchronous
  const box: { session?: Session } = {};
  const handler = (
    op: OpCode,
    id: number,
    ino: number,
    a1: number,
    a2: number,
    a3: number,
    name?: string,
    _n2?: string,
    data?: Buffer | Float64Array | number,
  ): void => {
    seen.set(op, (seen.get(op) ?? 0) + 1);
    const s = box.session!;
    switch (op) {
      case Op.CLOSED:
        return closed();
      case Op.FORGET:
        lookups.set(ino, (lookups.get(ino) ?? 0) - a1);
        return;
      case Op.LOOKUP:
        return later(() => {
          const f = ino === 1 ? files.get(name!) : undefined;
          if (!f) return void addon.replyErr(s, id, 2);
          if (addon.replyEntry(s, id, attr(f.ino, false, f.data.length), 1, 1))
            lookups.set(f.ino, (lookups.get(f.ino) ?? 0) + 1);
        });
      case Op.GETATTR:
        return later(() => {
          const f = byIno(ino)?.[1];
          if (ino === 1) addon.replyAttr(s, id, attr(1, true, 4096), 1);
          else if (f) addon.replyAttr(s, id, attr(ino, false, f.data.length), 1);
          else addon.replyErr(s, id, 2);
        });
      case Op.SETATTR: {
        const f = byIno(ino)?.[1];
        if (f && a1 & 8)
          f.data = Buffer.concat([
            f.data,
            Buffer.alloc(Math.max(0, (data as Float64Array)[0]! - f.data.length)),
          ]).subarray(0, (data as Float64Array)[0]!);
        return later(() => void addon.replyAttr(s, id, attr(ino, false, f?.data.length ?? 0), 1));
      }
      case Op.OPENDIR:
      case Op.OPEN:
        return later(() => void addon.replyOpen(s, id, 7, 0));
      case Op.READDIRPLUS:
      case Op.READDIR: {
        const names = ['.', '..', ...files.keys()];
        const attrs = new Float64Array(names.length * ATTR_FIELDS);
        names.forEach((n, i) =>
          attrs.set(
            n === '.' || n === '..' ? attr(1, true, 4096) : attr(files.get(n)!.ino, false, files.get(n)!.data.length),
            i * ATTR_FIELDS,
          ),
        );
        return later(() => {
          const fit = addon.replyDir(
            s,
            id,
            op === Op.READDIRPLUS,
            a2,
            a3,
            names.slice(a3),
            attrs.subarray(a3 * ATTR_FIELDS),
            1,
            1,
          );
          if (op === Op.READDIRPLUS)
            for (const n of names.slice(a3, a3 + fit))
              if (n !== '.' && n !== '..') lookups.set(files.get(n)!.ino, (lookups.get(files.get(n)!.ino) ?? 0) + 1);
        });
      }
      case Op.READ: {
        maxRead = Math.max(maxRead, a2);
        const f = byIno(ino)![1];
        const chunk = f.data.subarray(a3, a3 + a2);
        return later(() => {
          addon.replyBuf(s, id, chunk, chunk.length);
          doubleReply ??= addon.replyBuf(s, id, chunk, chunk.length);
        });
      }
      case Op.WRITE: {
        const buf = data as Buffer;
        maxWrite = Math.max(maxWrite, buf.length);
        const f = byIno(ino)![1];
        const end = a2 + buf.length;
        if (f.data.length < end) f.data = Buffer.concat([f.data, Buffer.alloc(end - f.data.length)]);
        buf.copy(f.data, a2);
        return later(() => void addon.replyWrite(s, id, buf.length));
      }
      case Op.CREATE:
        return later(() => {
          const f = { ino: nextIno++, data: Buffer.alloc(0) };
          files.set(name!, f);
          if (addon.replyCreate(s, id, attr(f.ino, false, 0), 1, 1, 9, 0))
            lookups.set(f.ino, (lookups.get(f.ino) ?? 0) + 1);
        });
      case Op.UNLINK:
        return later(() => void addon.replyErr(s, id, files.delete(name!) ? 0 : 2));
      case Op.FLUSH:
      case Op.RELEASE:
      case Op.RELEASEDIR:
      case Op.FSYNC:
      case Op.ACCESS:
        return later(() => void addon.replyErr(s, id, 0));
      case Op.STATFS:
        return later(() => void addon.replyStatfs(s, id, [4096, 4096, 100, 50, 50, 10, 5, 5, 0, 0, 255]));
      default:
        return later(() => void addon.replyErr(s, id, 38));
    }
  };
  const session = (box.session = addon.open(
    dir,
    'fsname=addontest,subtype=bucketmount',
    { maxWrite: MiB, maxReadahead: MiB },
    handler,
  ));
  try {
    assert.ok(addon.fd(session) >= 0);
    assert.equal(addon.replyErr(session, 12345, 0), false, 'an unknown request id is refused');
    assert.equal(await readFile(join(dir, 'hello'), 'utf8'), 'hello world\n');
    assert.equal(doubleReply, false, 'a second reply to the same request is refused');
    assert.deepEqual((await readdir(dir)).sort(), ['hello']);
    await assert.rejects(stat(join(dir, 'nope')), { code: 'ENOENT' });
    const big = Buffer.alloc(4 * MiB, 7);
    const fh = await open(join(dir, 'big'), 'w');
    await fh.write(big, 0, big.length, 0);
    await fh.close();
    assert.equal(maxWrite, MiB, '1 MiB WRITE requests (max_write/max_pages)');
    assert.equal((await stat(join(dir, 'big'))).size, 4 * MiB);
    const rh = await open(join(dir, 'big'), 'r');
    const back = Buffer.alloc(4 * MiB);
    await rh.read(back, 0, back.length, 0);
    await rh.close();
    assert.ok(back.equals(big));
    assert.ok(maxRead >= 128 * 1024, `READ requests larger than fuse-native's 128 KiB arrive (${maxRead})`);
    await writeFile(join(dir, 'small'), 'x');
    await unlink(join(dir, 'small'));
    assert.ok((seen.get(Op.READDIRPLUS) ?? 0) > 0, 'READDIRPLUS is used');
  } finally {
    addon.unmount(session);
    await closedP;
    addon.destroy(session);
    rmdirSync(dir);
  }
  assert.equal(addon.pending(session), 0, 'no request left unanswered');
  assert.equal(addon.replyErr(session, 1, 0), false, 'replies after destroy are refused');
});

test('addon: a signal to a process blocked in a request reports INTERRUPT with its id', { skip }, async () => {
  const addon = loadFuse3();
  const dir = mkdtempSync(join(tmpdir(), 'fuse3-addon-'));
  const box: { session?: Session } = {};
  let closed!: () => void;
  const closedP = new Promise<void>((r) => (closed = r));
  let heldId = 0;
  let held!: () => void;
  const heldP = new Promise<void>((r) => (held = r));
  const interrupts: number[] = [];
  const dirAttr = new Float64Array(ATTR_FIELDS);
  dirAttr[A.INO] = 1;
  dirAttr[A.MODE] = S_IFDIR | 0o755;
  dirAttr[A.NLINK] = 2;
  const handler = (
    op: OpCode,
    id: number,
    _ino: number,
    _a1: number,
    _a2: number,
    _a3: number,
    name?: string,
  ): void => {
    const s = box.session!;
    switch (op) {
      case Op.CLOSED:
        return closed();
      case Op.FORGET:
        return;
      case Op.LOOKUP:
        if (name === 'slow') {
          heldId = id; // never answered until interrupted
          return held();
        }
        return void addon.replyErr(s, id, 2);
      case Op.INTERRUPT:
        interrupts.push(id);
        assert.equal(addon.replyErr(s, id, 4), true, 'EINTR answers the interrupted request');
        assert.equal(addon.replyErr(s, id, 0), false, 'and only once');
        return;
      case Op.GETATTR:
        return void addon.replyAttr(s, id, dirAttr, 1);
      default:
        return void addon.replyErr(s, id, 38);
    }
  };
  const session = (box.session = addon.open(dir, 'fsname=addontest,subtype=bucketmount', {}, handler));
  try {
    const child = spawn('stat', [join(dir, 'slow')], { stdio: 'ignore' });
    await heldP;
    assert.equal(addon.pending(session), 1);
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGINT');
    const code = await exited;
    assert.notEqual(code, 0);
    assert.deepEqual(interrupts, [heldId], "one INTERRUPT, with the held request's id");
    assert.equal(addon.pending(session), 0);
  } finally {
    addon.unmount(session);
    await closedP;
    addon.destroy(session);
    rmdirSync(dir);
  }
});

test(
  'addon: WRITE payloads arrive in reused payload slots, intact until answered; beyond the slots in Buffers',
  { skip },
  async () => {
    const addon = loadFuse3();
    const dir = mkdtempSync(join(tmpdir(), 'fuse3-addon-'));
    const box: { session?: Session; arena?: Buffer } = {};
    let closed!: () => void;
    const closedP = new Promise<void>((r) => (closed = r));
    const files = new Map<number, Buffer>();
    const names = new Map<string, number>();
    let nextIno = 2;
    const kinds = { slot: 0, buffer: 0 };
    const slotsSeen = new Set<number>();
    const SLOTS = 2;
    const attrOf = (ino: number): Float64Array => {
      const a = new Float64Array(ATTR_FIELDS);
      a[A.INO] = ino;
      a[A.MODE] = ino === 1 ? S_IFDIR | 0o755 : S_IFREG | 0o644;
      a[A.NLINK] = 1;
      a[A.SIZE] = files.get(ino)?.length ?? 0;
      a[A.BLKSIZE] = 4096;
      return a;
    };
    const handler: RequestHandler = (op, id, ino, _a1, a2, _a3, name, _n2, data) => {
      const s = box.session!;
      if (op === Op.CLOSED) return closed();
      switch (op) {
        case Op.FORGET:
          return;
        case Op.LOOKUP: {
          const i = names.get(name!);
          return void (i ? addon.replyEntry(s, id, attrOf(i), 0, 0) : addon.replyErr(s, id, 2));
        }
        case Op.CREATE: {
          const i = nextIno++;
          names.set(name!, i);
          files.set(i, Buffer.alloc(0));
          return void addon.replyCreate(s, id, attrOf(i), 0, 0, i, 0);
        }
        case Op.GETATTR:
        case Op.SETATTR:
          return void addon.replyAttr(s, id, attrOf(ino), 0);
        case Op.WRITE: {
          let view: Buffer;
          if (typeof data === 'number') {
            kinds.slot++;
            const slot = Math.floor(data / 2 ** 32);
            slotsSeen.add(slot);
            view = box.arena!.subarray(slot * MiB, slot * MiB + (data % 2 ** 32));
          } else {
            kinds.buffer++;
            view = data as Buffer;
          }
          // Read the bytes only just before answering: they must still be this request's then.
          return void setTimeout(() => {
            const f = files.get(ino)!;
            const end = a2 + view.length;
            const grown = f.length < end ? Buffer.concat([f, Buffer.alloc(end - f.length)]) : f;
            view.copy(grown, a2);
            files.set(ino, grown);
            addon.replyWrite(s, id, view.length);
          }, 15);
        }
        default:
          return void addon.replyErr(s, id, op === Op.FLUSH || op === Op.RELEASE ? 0 : 38);
      }
    };
    const session = (box.session = addon.open(
      dir,
      'fsname=addontest,subtype=bucketmount',
      { maxWrite: MiB, payloadSlots: SLOTS },
      handler,
    ));
    box.arena = addon.payloadArena(session);
    try {
      assert.equal(box.arena?.length, SLOTS * MiB, 'one Buffer over every slot');
      // Four files written at once (the thread pool runs four writes): more WRITEs in flight than slots.
      const content = (f: number): Buffer => {
        const b = Buffer.alloc(4 * MiB);
        for (let i = 0; i < b.length; i += 4) b.writeUInt32LE((f * 2654435761 + i) >>> 0, i);
        return b;
      };
      await Promise.all(
        [0, 1, 2, 3].map(async (f) => {
          const fh = await open(join(dir, `f${f}`), 'w');
          const b = content(f);
          for (let off = 0; off < b.length; off += MiB) await fh.write(b, off, MiB, off);
          await fh.close();
        }),
      );
      for (const f of [0, 1, 2, 3]) assert.ok(files.get(names.get(`f${f}`)!)!.equals(content(f)), `file ${f} intact`);
      assert.equal(kinds.slot + kinds.buffer, 16);
      assert.ok(kinds.slot > SLOTS, `slots are reused once answered (${kinds.slot} WRITEs in slots)`);
      assert.ok(kinds.buffer > 0, `WRITEs beyond the slots get a Buffer (${kinds.buffer})`);
      assert.deepEqual([...slotsSeen].sort(), [0, 1]);
    } finally {
      addon.unmount(session);
      await closedP;
      addon.destroy(session);
      rmdirSync(dir);
    }
  },
);
