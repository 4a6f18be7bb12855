// Interrupted FUSE requests (FUSE_INTERRUPT; docs/fuse3.md "Interrupts"). The addon tells JS
// when the kernel interrupts a request JS still owns (a signal reached the process waiting in
// read/open/readdir/stat). For the request kinds that only read (READ, LOOKUP, GETATTR, read-only
// OPEN, READDIR/READDIRPLUS) the request is answered EINTR at once and its abort signal fires
// (a READ's GET then stops unless another read waits for it). Every request is answered exactly
// once: a tracked request's reply untracks it, an interrupted one is answered by EINTR and its
// reply handle is disarmed (id 0, which the addon refuses), so a late result is dropped and can
// never answer a newer request that reuses the id. Requests that change something (writes,
// flush/fsync/release, create, rename, ...) are never answered early: their outcome would be
// unknown to the caller; they finish as before.
import { Op, type Fuse3Addon, type OpCode, type Session } from './native.js';

/** The reply handle of one request: session and id; id 0 once answered by an interrupt. */
export interface Reply {
  session: Session;
  id: number;
  /** READ only: aborted when the request is interrupted (passed down to the S3 read path). */
  abort?: AbortController;
}

const EINTR = 4;
const O_ACCMODE = 3;

/** Whether a request of this kind is answered EINTR when interrupted (a1: OPEN's flags). */
export function interruptible(op: OpCode, a1: number): boolean {
  switch (op) {
    case Op.READ:
    case Op.LOOKUP:
    case Op.GETATTR:
    case Op.READDIR:
    case Op.READDIRPLUS:
      return true;
    case Op.OPEN:
      return (a1 & O_ACCMODE) === 0; // an open for writing may truncate: it runs to completion
    default:
      return false;
  }
}

const REPLIES = [
  'replyErr',
  'replyEntry',
  'replyCreate',
  'replyAttr',
  'replyOpen',
  'replyWrite',
  'replyBuf',
  'replyReadlink',
  'replyStatfs',
  'replyDir',
] as const satisfies readonly (keyof Fuse3Addon)[];

export class InFlight {
  private readonly live = new Map<number, Reply>();
  /** Requests answered EINTR (for logs and tests). */
  interrupted = 0;
  /** The addon whose replies untrack the request they answer; set by wrap(). */
  private inner: Fuse3Addon | undefined;

  /** `addon` with replies that untrack what they answer (the adapter replies through it). */
  wrap(addon: Fuse3Addon): Fuse3Addon {
    this.inner = addon;
    const overrides: Record<string, unknown> = {};
    for (const name of REPLIES) {
      const fn = addon[name] as (s: Session, id: number, ...rest: unknown[]) => unknown;
      overrides[name] = (s: Session, id: number, ...rest: unknown[]): unknown => {
        if (id !== 0) this.live.delete(id);
        return fn.call(addon, s, id, ...rest);
      };
    }
    return Object.assign(Object.create(addon) as Fuse3Addon, overrides);
  }

  /** Start tracking `r` (an interruptible request, before it is dispatched). */
  track(r: Reply): void {
    this.live.set(r.id, r);
  }

  /** Tracked and not answered yet (tests). */
  get size(): number {
    return this.live.size;
  }

  /**
   * The kernel interrupted request `id`. A tracked request is answered EINTR now, its reply
   * handle disarmed and its abort signal fired; anything else is left to finish (returns false).
   */
  interrupt(id: number): boolean {
    const r = this.live.get(id);
    if (!r || r.id !== id) return false;
    this.live.delete(id);
    r.id = 0; // every later reply through r is refused by the addon (unknown id 0)
    this.inner!.replyErr(r.session, id, EINTR);
    this.interrupted++;
    r.abort?.abort();
    return true;
  }
}
