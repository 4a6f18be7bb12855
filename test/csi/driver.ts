// Test helper: runs the real CSI plugin (`node dist/cmd/csi-driver.js`) on a unix socket in a
// temp dir with its own state dir, waits until Probe says ready, and stops it again. Cleanup
// also removes any FUSE mount left under the temp dir and kills mount processes whose argv
// points into it, so a failing test leaves nothing behind.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { createCsiClients, CsiCallError, type CsiClients } from '../../src/csi/client.js';
import { mountsUnder as tableMountsUnder } from '../../src/util/mountinfo.js';

export const DRIVER_BIN = fileURLToPath(new URL('../../cmd/csi-driver.js', import.meta.url));

export interface DriverOptions {
  mode?: 'node' | 'controller' | 'all';
  defaultEndpoint?: string;
  extraArgs?: string[];
  /** Extra environment (never put secrets on argv). */
  env?: Record<string, string>;
  /** Use this dir instead of a fresh temp dir (restart tests). */
  dir?: string;
}

export interface RunningDriver {
  dir: string;
  endpoint: string;
  stateDir: string;
  logFile: string;
  proc: ChildProcess;
  clients: CsiClients;
  logs(): string;
  /** SIGTERM and wait for exit; returns the exit code. */
  stop(): Promise<number | null>;
  /** stop() plus removal of every mount / process / file under dir. */
  cleanup(): Promise<void>;
}

function fuseMountsUnder(dir: string): string[] {
  return tableMountsUnder(dir)
    .map((m) => m.mountPoint)
    .sort((a, b) => b.length - a.length);
}

/** Unmount (lazily) everything under dir and kill processes whose cmdline mentions it. */
export function forceCleanDir(dir: string): void {
  for (const mp of fuseMountsUnder(dir)) {
    spawnSync('fusermount3', ['-u', '-z', mp]);
    spawnSync('umount', ['-l', mp]);
  }
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    if (Number(pid) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes(dir + '/')) process.kill(Number(pid), 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

export function mountsUnder(dir: string): string[] {
  return fuseMountsUnder(dir);
}

async function waitReady(d: RunningDriver, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (d.proc.exitCode !== null) throw new Error(`csi-driver exited with ${d.proc.exitCode}:\n${d.logs()}`);
    if (existsSync(d.endpoint.slice('unix://'.length))) {
      try {
        const r = await d.clients.identity.probe();
        if (r.ready?.value) return;
        last = 'probe not ready';
      } catch (err) {
        last = (err as Error).message;
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`csi-driver not ready within ${timeoutMs} ms (${last}):\n${d.logs()}`);
}

export async function startDriver(opts: DriverOptions = {}): Promise<RunningDriver> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'bm-csi-'));
  const endpoint = `unix://${join(dir, 'csi.sock')}`;
  const stateDir = join(dir, 'state');
  const logFile = join(dir, 'driver.log');
  const args = [
    DRIVER_BIN,
    `--mode=${opts.mode ?? 'all'}`,
    `--endpoint=${endpoint}`,
    `--state-dir=${stateDir}`,
    '--node-id=sanity-node',
    '--log-level=debug',
  ];
  if (opts.defaultEndpoint) args.push(`--default-endpoint=${opts.defaultEndpoint}`);
  args.push(...(opts.extraArgs ?? []));
  const fd = openSync(logFile, 'a');
  const env: NodeJS.ProcessEnv = { ...process.env, ...(opts.env ?? {}) };
  for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'])
    if (!opts.env?.[k]) delete env[k];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', fd, fd], env });
  closeSync(fd);
  const clients = createCsiClients(endpoint, { timeoutMs: 90_000 });
  let stopped: Promise<number | null> | undefined;
  const d: RunningDriver = {
    dir,
    endpoint,
    stateDir,
    logFile,
    proc,
    clients,
    logs: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
    stop() {
      stopped ??= new Promise((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve(proc.exitCode);
        const t = setTimeout(() => proc.kill('SIGKILL'), 20_000);
        proc.once('exit', (code) => {
          clearTimeout(t);
          resolve(code);
        });
        proc.kill('SIGTERM');
      });
      return stopped;
    },
    async cleanup() {
      clients.close();
      await d.stop();
      forceCleanDir(dir);
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await waitReady(d, 30_000);
  } catch (err) {
    await d.cleanup();
    throw err;
  }
  return d;
}

/**
 * Await a CSI call that must fail with gRPC status `code` (e.g. 'NOT_FOUND') and, when given, a
 * message matching `messagePart`; returns the error. Fails the test when the call succeeds.
 */
export async function expectCsiError(p: Promise<unknown>, code: string, messagePart?: RegExp): Promise<CsiCallError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof CsiCallError, `expected a CsiCallError, got ${String(err)}`);
    assert.equal(err.codeName, code, err.message);
    if (messagePart) assert.match(err.details, messagePart);
    return err;
  }
  assert.fail(`expected ${code}, call succeeded`);
}
