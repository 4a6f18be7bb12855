// Typed access to the addon's descriptor passing (native/fuse3/fd-pass.c): unix datagram sockets
// whose messages carry at most one descriptor (SCM_RIGHTS). Used only by the fd keeper and its
// clients (fd-keeper-client.ts, src/mounter/fd-keeper.ts); loads the addon on first use.
import { loadFuse3 } from './native.js';

/** One received message; `fd` is -1 when it carried none. The receiver owns `fd`. */
export interface Datagram {
  data: Buffer;
  fd: number;
}

interface FdPassingAddon {
  bindDatagram(path: string): number;
  openDatagram(): number;
  sendDatagram(sock: number, path: string, data: Buffer, fd: number): void;
  receiveDatagram(sock: number): Datagram | undefined;
  waitReadable(sock: number, timeoutMs: number): boolean;
}

const addon = (): FdPassingAddon => loadFuse3() as unknown as FdPassingAddon;

/** A non-blocking datagram socket bound at `path` (owner-only mode); throws (code EADDRINUSE, ENOENT...) when it cannot. */
export function bindDatagram(path: string): number {
  return addon().bindDatagram(path);
}

/** An unbound datagram socket for sending. */
export function openDatagram(): number {
  return addon().openDatagram();
}

/** Send one message to the socket at `path`, with a duplicate of `fd` when given. Throws with the errno name in `code`. */
export function sendDatagram(sock: number, path: string, data: Buffer, fd?: number): void {
  addon().sendDatagram(sock, path, data, fd ?? -1);
}

/** The next waiting message, or undefined when none waits. */
export function receiveDatagram(sock: number): Datagram | undefined {
  return addon().receiveDatagram(sock) ?? undefined;
}

/** Block (at most `timeoutMs`) until a message waits on `sock`. */
export function waitReadable(sock: number, timeoutMs: number): boolean {
  return addon().waitReadable(sock, timeoutMs);
}
