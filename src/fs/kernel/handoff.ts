// The server side of a planned hand-off (an upgrade, docs/fuse3.md): a supervised server
// (`--fuse-fd`) that gets UPGRADE_SIGNAL stops at a quiet point and exits with HANDOFF_EXIT
// without unmounting; its supervisor then starts the command on disk as the successor on the
// same FUSE connection. The quiet point: no file open for writing (bounded wait; after it open
// writers get EIO from the successor, as after a crash), pending uploads flushed, and no request
// handed to JS left unanswered at the moment of exit (checked and exited in one synchronous step,
// so no operation ran without its reply). Requests the reader thread takes off /dev/fuse after
// that are never executed here: the successor's FUSE_NOTIFY_RESEND replays them.
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../log.js';

/** The kernel's FUSE_INIT request saved by the first server (hand-off state dir). */
export const INIT_FILE = 'fuse-init.bin';

/** Is there a predecessor whose connection a server in `stateDir` takes over? */
export function isSuccessor(stateDir: string): boolean {
  return existsSync(join(stateDir, INIT_FILE));
}

/** File of the hand-off state dir naming the pid of the server that serves (the supervisor forwards an upgrade only to it). */
export const SERVING_FILE = 'serving.pid';

/** Sent by the supervisor (or by hand) to ask for a hand-off to the command on disk. */
export const UPGRADE_SIGNAL = 'SIGUSR2';
/** A server that handed its connection over exits with this code (EX_TEMPFAIL); the supervisor restarts at once. */
export const HANDOFF_EXIT = 75;
/** How long open write handles may take to close before the hand-off goes ahead anyway. */
export const HANDOFF_WRITER_GRACE_MS = 30_000;
/** How long to look for a moment with no request in JS before exiting anyway (they are replayed). */
export const HANDOFF_QUIET_MS = 5_000;

/** What the hand-off needs from the running server. */
export interface HandOffServer {
  /** Files open for writing plus closes still uploading. */
  pendingWriters(): number;
  /** Upload what is pending (open writers' data, closes in flight). */
  flushAll(): Promise<void>;
  /** Requests handed to JS and not answered yet. */
  pendingRequests(): number;
  /** Synchronous last words before exit (close journals, remove the spool dir). */
  release(): void;
  /** True once SIGTERM/unmount started: then no hand-off (the mount is ending). */
  stopping(): boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Install the UPGRADE_SIGNAL listener at once (before it is installed Node's default action for
 * SIGUSR2 would kill the process); the hand-off runs once `serving()` was called.
 */
export function listenForHandOff(log: Logger, stateDir: string, exit: (code: number) => void = (c) => process.exit(c)) {
  let requested = false;
  let server: HandOffServer | undefined;
  let running = false;
  const run = async (s: HandOffServer): Promise<void> => {
    if (running || s.stopping()) return;
    running = true;
    log.info('hand-off requested: finishing writes, then handing the connection to a new server', {
      pendingWriters: s.pendingWriters(),
    });
    const writersDeadline = Date.now() + HANDOFF_WRITER_GRACE_MS;
    while (s.pendingWriters() > 0 && Date.now() < writersDeadline && !s.stopping()) await sleep(50);
    if (s.pendingWriters() > 0)
      log.warn('hand-off: files still open for writing; they get EIO from the new server', {
        pendingWriters: s.pendingWriters(),
      });
    await s.flushAll();
    const quietDeadline = Date.now() + HANDOFF_QUIET_MS;
    for (;;) {
      if (s.stopping()) return;
      if (s.pendingRequests() === 0 || Date.now() >= quietDeadline) {
        // Same synchronous step as the check: nothing runs in between.
        const pending = s.pendingRequests();
        s.release();
        log.info('hand-off: exiting without unmounting', { exitCode: HANDOFF_EXIT, unansweredReplayed: pending });
        exit(HANDOFF_EXIT);
        return;
      }
      await new Promise<void>((r) => setImmediate(r));
    }
  };
  process.on(UPGRADE_SIGNAL, () => {
    requested = true;
    if (server) void run(server);
    else log.info('hand-off requested before serving; it follows once the mount serves');
  });
  return {
    /** The server serves now: a hand-off asked before starts. */
    serving(s: HandOffServer): void {
      server = s;
      const file = join(stateDir, SERVING_FILE);
      writeFileSync(`${file}.tmp`, String(process.pid), { mode: 0o600 });
      renameSync(`${file}.tmp`, file);
      if (requested) void run(s);
    },
  };
}
