// Test-side client of plugin-harness.ts: starts the harness as a child process, sends it
// commands and awaits the answers; kill() sends SIGKILL (a plugin crash).
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { S3Credentials } from '../../src/credentials/types.js';
import {
  MountError,
  type MountErrorKind,
  type PublishRequest,
  type PublishedVolume,
  type VolumeUsage,
} from '../../src/mounter/types.js';

const HARNESS = fileURLToPath(new URL('./plugin-harness.js', import.meta.url));

interface Reply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
  kind?: MountErrorKind;
}

export class HarnessPlugin {
  readonly proc: ChildProcess;
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private stderr = '';

  constructor(stateDir: string, env: NodeJS.ProcessEnv = process.env) {
    this.proc = spawn(process.execPath, [HARNESS, stateDir], { stdio: ['pipe', 'pipe', 'pipe'], env });
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      const r = JSON.parse(line) as Reply;
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (r.ok) p.resolve(r.result);
      else p.reject(new MountError(r.kind ?? 'internal', r.error ?? 'unknown error'));
    });
    this.proc.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.proc.on('exit', () => {
      for (const p of this.pending.values()) p.reject(new Error(`plugin harness exited; stderr: ${this.stderr}`));
      this.pending.clear();
    });
  }

  private call(op: string, args?: unknown): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.proc.stdin!.write(JSON.stringify({ id, op, args }) + '\n');
    });
  }

  /** What the harness logged (warnings and errors of the mounter) so far. */
  logs(): string {
    return this.stderr;
  }

  reconcile(): Promise<void> {
    return this.call('reconcile') as Promise<void>;
  }
  publish(req: PublishRequest): Promise<void> {
    return this.call('publish', req) as Promise<void>;
  }
  unpublish(target: string): Promise<void> {
    return this.call('unpublish', target) as Promise<void>;
  }
  async lookup(target: string): Promise<PublishedVolume | undefined> {
    return ((await this.call('lookup', target)) ?? undefined) as PublishedVolume | undefined;
  }
  usage(target: string): Promise<VolumeUsage> {
    return this.call('usage', target) as Promise<VolumeUsage>;
  }
  updateCredentials(target: string, credentials: S3Credentials, credentialIdentity: string): Promise<void> {
    return this.call('updateCredentials', { target, credentials, credentialIdentity }) as Promise<void>;
  }
  pid(): Promise<number> {
    return this.call('pid') as Promise<number>;
  }

  /** SIGKILL, like a crashing plugin. */
  async kill(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const gone = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGKILL');
    await gone;
  }

  /** Close stdin and wait for a clean exit (kill after 5 s). */
  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const gone = new Promise((r) => this.proc.once('exit', r));
    this.proc.stdin!.end();
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(t);
  }
}
