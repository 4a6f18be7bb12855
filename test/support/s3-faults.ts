// Test helper: failure injection for any S3Client (the in-memory fake of fake-s3.ts or a real
// client). A middleware at the very start of the client's stack matches each command against the
// rules in order; a matching rule can fail the call with an S3 error (throttling, 500, NoSuchKey,
// ...) or a network error, hold it until the test releases it, delay it, or let it through and cut
// its response body off (short body) or break it (stream error) after some bytes. Rules pick
// calls by command, by their position among that command's calls (the Nth), by a predicate on
// the input, and for how many matches they apply. Faults are injected before the SDK's own retry
// loop, so they are seen by the code under test exactly once per injected call.
import { Readable } from 'node:stream';
import type { S3Client, ServiceInputTypes, ServiceOutputTypes } from '@aws-sdk/client-s3';
import { commandNameOf, s3Error, type FakeCommands, type S3CommandName } from './fake-s3.js';

export type Fault =
  /** Throw this error instead of sending the call. */
  | { kind: 'error'; error: Error }
  /** Wait until the gate resolves, then send the call (or throw if the gate rejects). */
  | { kind: 'hold'; gate: Promise<void> }
  /** Wait `ms` (on whatever clock setTimeout is: tests use mock timers), then send the call. */
  | { kind: 'delay'; ms: number }
  /** Send the call, then end its response body cleanly after `bytes` bytes (GetObject). */
  | { kind: 'short-body'; bytes: number }
  /** Send the call, then fail its response body with ECONNRESET after `bytes` bytes (GetObject). */
  | { kind: 'broken-body'; bytes: number };

export interface FaultRule<C extends S3CommandName = S3CommandName> {
  command: C;
  /** Only the Nth call (1-based) of `command` counted from when the rule was added. */
  nth?: number;
  /** Only calls whose input passes. */
  when?: (input: FakeCommands[C][0]) => boolean;
  /** How many matching calls the rule applies to (default 1; Infinity = until removed). */
  times?: number;
  fault: Fault;
}

interface ActiveRule {
  rule: FaultRule;
  seen: number;
  left: number;
}

/** Common S3 failures, shaped as the SDK throws them. */
export const errors = {
  throttling: (): Error => s3Error('SlowDown', 503, 'Please reduce your request rate.'),
  internal: (): Error => s3Error('InternalError', 500, 'We encountered an internal error. Please try again.'),
  unavailable: (): Error => s3Error('ServiceUnavailable', 503),
  noSuchKey: (): Error => s3Error('NoSuchKey', 404, 'The specified key does not exist.'),
  accessDenied: (): Error => s3Error('AccessDenied', 403, 'Access Denied'),
  preconditionFailed: (): Error => s3Error('PreconditionFailed', 412),
  connectionReset: (): Error => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
};

/** A gate a held call waits on; `open()` lets it through, `fail(err)` fails it. */
export interface Gate {
  promise: Promise<void>;
  open: () => void;
  fail: (err: Error) => void;
}

export function gate(): Gate {
  let open!: () => void;
  let fail!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    open = res;
    fail = rej;
  });
  promise.catch(() => undefined);
  return { promise, open, fail };
}

/** Yield the bytes of `body` up to `limit`, then end or fail. */
async function* cut(body: Readable, limit: number, broken: boolean): AsyncGenerator<Buffer> {
  let sent = 0;
  try {
    for await (const c of body) {
      const chunk = Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array);
      const n = Math.min(chunk.length, limit - sent);
      if (n > 0) yield chunk.subarray(0, n);
      sent += n;
      if (sent >= limit) break;
    }
  } finally {
    body.destroy();
  }
  if (broken) throw errors.connectionReset();
}

export class S3Faults {
  private rules: ActiveRule[] = [];
  /** Calls a fault was applied to, in order. */
  readonly injected: { command: S3CommandName; fault: Fault['kind'] }[] = [];

  /** Attach to `client` (before everything else in its stack) before its first request: a client with cacheMiddleware keeps the stack it resolved first. */
  static attach(client: S3Client): S3Faults {
    const f = new S3Faults();
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const command = commandNameOf(context.commandName) as S3CommandName;
        const fault = f.match(command, args.input as ServiceInputTypes);
        if (!fault) return next(args);
        f.injected.push({ command, fault: fault.kind });
        switch (fault.kind) {
          case 'error':
            throw fault.error;
          case 'hold':
            await fault.gate;
            return next(args);
          case 'delay':
            await new Promise((r) => setTimeout(r, fault.ms));
            return next(args);
          case 'short-body':
          case 'broken-body': {
            const res = await next(args);
            const out = res.output as ServiceOutputTypes & { Body?: unknown };
            if (out.Body instanceof Readable) {
              out.Body = Readable.from(cut(out.Body, fault.bytes, fault.kind === 'broken-body'), { objectMode: false });
            }
            return res;
          }
        }
      },
      { step: 'initialize', priority: 'high', name: 'testFaults' },
    );
    return f;
  }

  add<C extends S3CommandName>(rule: FaultRule<C>): this {
    this.rules.push({ rule: rule as unknown as FaultRule, seen: 0, left: rule.times ?? 1 });
    return this;
  }

  /** Fail the `n`th call (1-based, from now) of `command` with `error`. */
  failNth(command: S3CommandName, n: number, error: Error): this {
    return this.add({ command, nth: n, fault: { kind: 'error', error } });
  }

  /** Fail the next `times` calls of `command`. */
  failNext(command: S3CommandName, error: Error, times = 1): this {
    return this.add({ command, times, fault: { kind: 'error', error } });
  }

  /** Hold the next call of `command` until the returned gate is opened (or failed). */
  hold(command: S3CommandName): Gate {
    const g = gate();
    this.add({ command, fault: { kind: 'hold', gate: g.promise } });
    return g;
  }

  clear(): void {
    this.rules = [];
  }

  private match(command: S3CommandName, input: ServiceInputTypes): Fault | undefined {
    for (const a of this.rules) {
      if (a.left <= 0 || a.rule.command !== command) continue;
      if (a.rule.when && !a.rule.when(input as FakeCommands[S3CommandName][0])) continue;
      a.seen++;
      if (a.rule.nth !== undefined && a.seen !== a.rule.nth) continue;
      a.left--;
      return a.rule.fault;
    }
    return undefined;
  }
}
