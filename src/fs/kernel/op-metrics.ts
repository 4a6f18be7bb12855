// Metrics of the low-level FUSE layer (only when the mount keeps metrics): wraps the request
// handler and the addon's reply functions of one KernelAdapter, so every request is timed from
// reaching JavaScript to its reply and counted by operation, error replies by errno name, READ
// replies by bytes returned and WRITE replies by bytes accepted. Requests that take no reply
// (FORGET) and session events (CLOSED, INITED, INTERRUPT) are not counted. Without metrics the adapter uses
// the addon and its handler as they are: nothing here runs.
import type { FuseOpSeries, MountMetrics } from '../../metrics/mount-metrics.js';
import { errnoName } from '../../metrics/mount-metrics.js';
import { Op, type Fuse3Addon, type OpCode, type RequestHandler } from './native.js';

/** Operation label per request code ("getattr", "readdirplus", ...). */
const OP_NAMES: string[] = [];
for (const [name, code] of Object.entries(Op)) OP_NAMES[code] = name.toLowerCase();

const UNANSWERED: ReadonlySet<OpCode> = new Set<OpCode>([Op.CLOSED, Op.FORGET, Op.INITED, Op.INTERRUPT]);

interface Pending {
  series: FuseOpSeries;
  t0: number;
}

export interface InstrumentedKernel {
  addon: Fuse3Addon;
  handler: RequestHandler;
  /** Requests seen and not answered yet (tests). */
  readonly pending: number;
}

export function instrumentKernel(
  addon: Fuse3Addon,
  handler: RequestHandler,
  metrics: MountMetrics,
): InstrumentedKernel {
  const series: (FuseOpSeries | undefined)[] = [];
  const pending = new Map<number, Pending>();
  const finish = (id: number, errno: number): void => {
    const p = pending.get(id);
    if (!p) return;
    pending.delete(id);
    p.series.done((performance.now() - p.t0) / 1000, errno === 0 ? undefined : errnoName(errno));
  };
  const wrappedHandler: RequestHandler = (op, id, ino, a1, a2, a3, name, name2, data) => {
    if (!UNANSWERED.has(op)) {
      const s = (series[op] ??= metrics.fuseOp(OP_NAMES[op] ?? `op${op}`));
      pending.set(id, { series: s, t0: performance.now() });
    }
    handler(op, id, ino, a1, a2, a3, name, name2, data);
  };
  const overrides: Partial<Fuse3Addon> = {
    replyErr(s, id, errno) {
      const r = addon.replyErr(s, id, errno);
      finish(id, errno);
      return r;
    },
    replyEntry(s, id, attr, attrTimeoutS, entryTimeoutS) {
      const r = addon.replyEntry(s, id, attr, attrTimeoutS, entryTimeoutS);
      finish(id, 0);
      return r;
    },
    replyCreate(s, id, attr, attrTimeoutS, entryTimeoutS, fh, openFlags) {
      const r = addon.replyCreate(s, id, attr, attrTimeoutS, entryTimeoutS, fh, openFlags);
      finish(id, 0);
      return r;
    },
    replyAttr(s, id, attr, attrTimeoutS) {
      const r = addon.replyAttr(s, id, attr, attrTimeoutS);
      finish(id, 0);
      return r;
    },
    replyOpen(s, id, fh, openFlags) {
      const r = addon.replyOpen(s, id, fh, openFlags);
      finish(id, 0);
      return r;
    },
    replyWrite(s, id, count) {
      const r = addon.replyWrite(s, id, count);
      if (r) metrics.fuseWritten(count);
      finish(id, 0);
      return r;
    },
    replyBuf(s, id, buf, length) {
      const r = addon.replyBuf(s, id, buf, length);
      if (r) metrics.fuseRead(length);
      finish(id, 0);
      return r;
    },
    replyReadlink(s, id, target) {
      const r = addon.replyReadlink(s, id, target);
      finish(id, 0);
      return r;
    },
    replyStatfs(s, id, v) {
      const r = addon.replyStatfs(s, id, v);
      finish(id, 0);
      return r;
    },
    replyDir(s, id, plus, size, firstOffset, names, attrs, attrTimeoutS, entryTimeoutS) {
      const r = addon.replyDir(s, id, plus, size, firstOffset, names, attrs, attrTimeoutS, entryTimeoutS);
      finish(id, 0);
      return r;
    },
  };
  // Everything else (open, unmount, pending, ...) is the addon's own, through the prototype.
  const wrapped = Object.assign(Object.create(addon) as Fuse3Addon, overrides);
  return {
    addon: wrapped,
    handler: wrappedHandler,
    get pending() {
      return pending.size;
    },
  };
}
