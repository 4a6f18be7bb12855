// The fd keeper's messages (docs/architecture.md "fd keeper"): JSON in unix datagrams, at most one
// descriptor each. A mount is named by its mount point (the share's staging path, the same host
// path in every plugin container) and checked by its device number. No addon here: the
// supervisor reads HOLD_REFRESH_MS without loading it.
import { basename, dirname } from 'node:path';

/** How often a supervisor re-sends its descriptor (so a restarted keeper has it again within this). */
export const HOLD_REFRESH_MS = 5_000;
/** Default time a keeper holds a descriptor nobody re-sent (then pods get ENOTCONN instead of hanging). */
export const DEFAULT_HOLD_TIMEOUT_S = 180;
/** A take's reply socket: next to the keeper's socket, named like this. */
export const TAKE_SOCKET = /^take-[0-9]+-[0-9a-f]{16}\.sock$/;

export type KeeperMessage =
  | { op: 'hold'; key: string; dev: string }
  | { op: 'release'; key: string }
  | { op: 'take'; key: string; reply: string }
  | { op: 'give'; key: string; dev: string }
  | { op: 'none'; key: string };

const isKey = (k: unknown): k is string => typeof k === 'string' && k.startsWith('/') && k.length <= 1024;
const isDev = (d: unknown): d is string => typeof d === 'string' && /^\d{1,10}:\d{1,10}$/.test(d);

/** Parse one datagram; undefined for anything that is not a well-formed message. */
export function parseKeeperMessage(data: Buffer): KeeperMessage | undefined {
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof m !== 'object' || m === null || !isKey(m.key)) return undefined;
  switch (m.op) {
    case 'hold':
    case 'give':
      return isDev(m.dev) ? { op: m.op, key: m.key, dev: m.dev } : undefined;
    case 'release':
    case 'none':
      return { op: m.op, key: m.key };
    case 'take':
      return typeof m.reply === 'string' ? { op: 'take', key: m.key, reply: m.reply } : undefined;
    default:
      return undefined;
  }
}

export const encodeKeeperMessage = (m: KeeperMessage): Buffer => Buffer.from(JSON.stringify(m));

/** Is `reply` a take socket in the keeper's own directory (the only place the keeper sends descriptors to)? */
export function isTakeSocketOf(keeperSocket: string, reply: string): boolean {
  return dirname(reply) === dirname(keeperSocket) && TAKE_SOCKET.test(basename(reply));
}
