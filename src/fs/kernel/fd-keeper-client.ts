// The fd keeper's client side (docs/architecture.md "fd keeper"; messages in fd-keeper-protocol.ts). A
// supervisor re-sends its mount's /dev/fuse descriptor every HOLD_REFRESH_MS (`hold`) and takes
// it off the keeper when the mount ends (`release`); after a restart of the node plugin's
// container the new plugin asks for it (`take`) and starts a supervisor on it. Messages are JSON
// in unix datagrams (fd-passing.ts).
import { closeSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { bindDatagram, openDatagram, receiveDatagram, sendDatagram, waitReadable } from './fd-passing.js';
import { encodeKeeperMessage as encode, parseKeeperMessage, type KeeperMessage } from './fd-keeper-protocol.js';

/** A descriptor the keeper gave back, with the device number it was held for. The caller owns `fd`. */
export interface TakenFd {
  fd: number;
  dev: string;
}

/** Talks to the keeper at `socketPath`. Every call is short and synchronous; none throws. */
export class FdKeeperClient {
  private sock: number | undefined;
  constructor(readonly socketPath: string) {}

  private send(m: KeeperMessage, fd?: number): string | undefined {
    try {
      this.sock ??= openDatagram();
      sendDatagram(this.sock, this.socketPath, encode(m), fd);
      return undefined;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    }
  }

  /** Give the keeper (a duplicate of) `fd`, the connection of the mount at `key`; undefined, or why it failed. */
  hold(key: string, dev: string, fd: number): string | undefined {
    return this.send({ op: 'hold', key, dev }, fd);
  }

  /** The mount ended: the keeper closes its duplicate. */
  release(key: string): string | undefined {
    return this.send({ op: 'release', key });
  }

  /** Ask for the descriptor held for `key`; undefined when the keeper has none or does not answer in time. */
  take(key: string, timeoutMs = 2_000): TakenFd | undefined {
    const reply = join(dirname(this.socketPath), `take-${process.pid}-${randomBytes(8).toString('hex')}.sock`);
    let sock: number | undefined;
    try {
      sock = bindDatagram(reply);
      sendDatagram(sock, this.socketPath, encode({ op: 'take', key, reply }));
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const left = deadline - Date.now();
        if (left <= 0 || !waitReadable(sock, left)) return undefined;
        const d = receiveDatagram(sock);
        if (!d) continue;
        const m = parseKeeperMessage(d.data);
        if (m?.op === 'give' && m.key === key && d.fd >= 0) return { fd: d.fd, dev: m.dev };
        if (d.fd >= 0) closeSync(d.fd);
        if (m?.op === 'none' && m.key === key) return undefined;
      }
    } catch {
      return undefined;
    } finally {
      if (sock !== undefined) closeSync(sock);
      rmSync(reply, { force: true });
    }
  }

  close(): void {
    if (this.sock !== undefined) closeSync(this.sock);
    this.sock = undefined;
  }
}
