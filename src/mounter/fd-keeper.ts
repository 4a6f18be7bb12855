// `bucketmount fd-keeper`: the node's holder of FUSE connections (docs/architecture.md "fd
// keeper"). It runs outside the node plugin's container (its own DaemonSet, no privileges) and
// keeps a duplicate of every supervised mount's /dev/fuse descriptor, so a restart of the plugin's
// container (pod deleted, DaemonSet update, OOM kill) does not end the mounts: the kernel keeps a
// connection while any process holds its descriptor, pods' requests wait, and the next plugin
// takes the descriptor back and starts a successor server on it. A descriptor nobody re-sent for
// the hold timeout is closed (its pods then get ENOTCONN instead of waiting forever). It reads no
// file, talks to no API and serves one unix datagram socket in a 0700 directory of the node.
import { chmodSync, closeSync, lstatSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { bindDatagram, receiveDatagram, sendDatagram } from '../fs/kernel/fd-passing.js';
import {
  DEFAULT_HOLD_TIMEOUT_S,
  encodeKeeperMessage,
  isTakeSocketOf,
  parseKeeperMessage,
  type KeeperMessage,
} from '../fs/kernel/fd-keeper-protocol.js';
import { createSupervisorLog, type SupervisorLog } from '../fs/supervisor-log.js';

/** At most this many connections held at once; more are refused (closed) and logged. */
export const MAX_HELD = 10_000;
const POLL_MS = 50;
const EXPIRY_CHECK_MS = 1_000;

interface Held {
  fd: number;
  dev: string;
  seenAt: number;
}

export interface FdKeeperOptions {
  socketPath: string;
  holdTimeoutMs: number;
  log: SupervisorLog;
  /** Clock (tests). */
  now?: () => number;
}

export interface FdKeeper {
  /** Stop: close the socket and every held descriptor. */
  stop(): void;
}

/** Bind the keeper's socket and serve it until stop(). Throws when the socket cannot be bound. */
export function startFdKeeper(opts: FdKeeperOptions): FdKeeper {
  const { log } = opts;
  const now = opts.now ?? Date.now;
  const socketPath = resolve(opts.socketPath);
  mkdirSync(dirname(socketPath), { recursive: true, mode: 0o700 });
  chmodSync(dirname(socketPath), 0o700);
  // A socket left by an earlier keeper (a datagram socket cannot be bound twice).
  try {
    if (lstatSync(socketPath).isSocket()) rmSync(socketPath);
  } catch {
    /* not there */
  }
  const sock = bindDatagram(socketPath);
  const held = new Map<string, Held>();

  const drop = (key: string, why: string): void => {
    const h = held.get(key);
    if (!h) return;
    held.delete(key);
    closeSync(h.fd);
    log.info(`fd keeper: closed the connection (${why})`, { mountPoint: key, device: h.dev, held: held.size });
  };

  const handle = (m: KeeperMessage | undefined, fd: number): void => {
    const closeIt = (): void => {
      if (fd >= 0) closeSync(fd);
    };
    if (!m) {
      closeIt();
      return;
    }
    switch (m.op) {
      case 'hold': {
        if (fd < 0) return;
        const old = held.get(m.key);
        if (!old && held.size >= MAX_HELD) {
          closeIt();
          log.error('fd keeper: holding too many connections; refusing another', { mountPoint: m.key, max: MAX_HELD });
          return;
        }
        // The newest duplicate wins (the same connection, or the mount at that path was replaced).
        if (old) closeSync(old.fd);
        held.set(m.key, { fd, dev: m.dev, seenAt: now() });
        if (!old || old.dev !== m.dev)
          log.info('fd keeper: holding a connection', { mountPoint: m.key, device: m.dev, held: held.size });
        return;
      }
      case 'release':
        closeIt();
        drop(m.key, 'its mount ended');
        return;
      case 'take': {
        closeIt();
        if (!isTakeSocketOf(socketPath, m.reply)) {
          log.warn('fd keeper: take with a reply socket outside its directory; ignored', { reply: m.reply });
          return;
        }
        const h = held.get(m.key);
        try {
          if (h) {
            sendDatagram(sock, m.reply, encodeKeeperMessage({ op: 'give', key: m.key, dev: h.dev }), h.fd);
            // The taker starts a supervisor on it, which re-sends it: give that the full timeout.
            h.seenAt = now();
            log.info('fd keeper: gave a connection back', { mountPoint: m.key, device: h.dev });
          } else sendDatagram(sock, m.reply, encodeKeeperMessage({ op: 'none', key: m.key }));
        } catch (err) {
          log.warn('fd keeper: cannot answer a take', { mountPoint: m.key, error: (err as Error).message });
        }
        return;
      }
      default:
        closeIt();
    }
  };

  const poll = setInterval(() => {
    for (let d = receiveDatagram(sock); d; d = receiveDatagram(sock)) handle(parseKeeperMessage(d.data), d.fd);
  }, POLL_MS);
  const expiry = setInterval(() => {
    const oldest = now() - opts.holdTimeoutMs;
    for (const [key, h] of held)
      if (h.seenAt < oldest) drop(key, `no supervisor re-sent it for ${Math.round(opts.holdTimeoutMs / 1000)} s`);
  }, EXPIRY_CHECK_MS);
  log.info('fd keeper: serving', { socket: socketPath, holdTimeoutS: opts.holdTimeoutMs / 1000 });

  return {
    stop: () => {
      clearInterval(poll);
      clearInterval(expiry);
      closeSync(sock);
      rmSync(socketPath, { force: true });
      for (const h of held.values()) closeSync(h.fd);
      log.info('fd keeper: stopped; closed every held connection', { held: held.size });
      held.clear();
    },
  };
}

export const FD_KEEPER_USAGE = `usage: bucketmount fd-keeper --socket=<path> [--hold-timeout=<seconds>] [--log-level=<level>]
  --socket=<path>          unix datagram socket to serve (its directory is made 0700)
  --hold-timeout=<s>       close a connection no supervisor re-sent for this long (default ${DEFAULT_HOLD_TIMEOUT_S}, 10..86400)
  --log-level=<level>      error, warn, info (default) or debug`;

/** `bucketmount fd-keeper ...`: resolves with the exit code when SIGTERM/SIGINT stops it. */
export function fdKeeperCommand(argv: string[], err: (text: string) => void): Promise<number> {
  let socketPath: string;
  let holdTimeoutS: number;
  let level: string;
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        socket: { type: 'string' },
        'hold-timeout': { type: 'string' },
        'log-level': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    });
    if (!values.socket) throw new Error('--socket is required');
    if (!values.socket.startsWith('/')) throw new Error(`--socket must be an absolute path, got "${values.socket}"`);
    socketPath = values.socket;
    const t = values['hold-timeout'] ?? String(DEFAULT_HOLD_TIMEOUT_S);
    holdTimeoutS = Number(t);
    if (!/^\d+$/.test(t) || holdTimeoutS < 10 || holdTimeoutS > 86_400)
      throw new Error(`--hold-timeout must be a whole number of seconds in 10..86400, got "${t}"`);
    level = values['log-level'] ?? 'info';
    if (!['error', 'warn', 'info', 'debug'].includes(level))
      throw new Error(`--log-level must be error, warn, info or debug, got "${level}"`);
  } catch (e) {
    err(`bucketmount: error: ${(e as Error).message}\n${FD_KEEPER_USAGE}\n`);
    return Promise.resolve(2);
  }
  const log = createSupervisorLog({ level, defaultMeta: { component: 'fd-keeper' } });
  let keeper: FdKeeper;
  try {
    keeper = startFdKeeper({ socketPath, holdTimeoutMs: holdTimeoutS * 1000, log });
  } catch (e) {
    err(`bucketmount: error: cannot serve ${socketPath}: ${(e as Error).message}\n`);
    return Promise.resolve(1);
  }
  return new Promise((done) => {
    const stop = (signal: string): void => {
      log.info('fd keeper: stopping', { signal });
      keeper.stop();
      done(0);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
