#!/usr/bin/env node
// `bucketmount mount <bucket|s3://bucket/prefix/> <dir> [flags]`: mounts an S3 bucket with FUSE.
// `bucketmount status [--json]`: the node plugin's mounts and their health (src/mounter/status-command.ts).
// `bucketmount fd-keeper --socket=<path>`: the node's holder of FUSE connections (src/mounter/fd-keeper.ts).
// With -f/--foreground it serves in this process (the CSI node uses that); otherwise it starts
// itself again detached in the foreground mode, waits until the mount serves, and exits 0
// (or with the child's exit code and error line when mounting failed).
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MountExit } from '../src/mount-contract/exit-codes.js';
import { parseMountArgs, type MountConfig } from '../src/mount-contract/args.js';
import { MountArgsError, mountUsage } from '../src/mount-contract/flags.js';
import { quietSdkNodeVersionWarning } from '../src/sdk-warning.js';
import { isFuse, mountsAt } from '../src/util/mountinfo.js';

/** The status command and its usage are loaded on demand: a mount process never needs them (RSS). */
const statusModule = () => import('../src/mounter/status-command.js');

async function usage(): Promise<string> {
  const keeper = (await import('../src/mounter/fd-keeper.js')).FD_KEEPER_USAGE;
  return `${mountUsage()}\n\n${(await statusModule()).STATUS_USAGE}\n\n${keeper}`;
}

function isMounted(dir: string): boolean {
  return mountsAt(resolve(dir)).some(isFuse);
}

async function daemonize(cfg: MountConfig, argv: string[]): Promise<number> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'mount', ...argv, '--foreground'], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let errText = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (errText += d));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      process.stderr.write(errText);
      return child.exitCode;
    }
    if (isMounted(cfg.mountPoint)) {
      child.stderr!.destroy();
      child.unref();
      return MountExit.OK;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGTERM');
  process.stderr.write(`bucketmount: error: mount did not become ready within 60 s\n`);
  return MountExit.FUSE_FAILED;
}

async function main(argv: string[]): Promise<number> {
  quietSdkNodeVersionWarning();
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write((await usage()) + '\n');
    return argv.length === 0 ? MountExit.BAD_ARGS : MountExit.OK;
  }
  if (argv[0] === 'status')
    return (await statusModule()).statusCommand(argv.slice(1), {
      out: (t) => process.stdout.write(t),
      err: (t) => process.stderr.write(t),
      env: process.env,
    });
  if (argv[0] === 'fd-keeper')
    return (await import('../src/mounter/fd-keeper.js')).fdKeeperCommand(argv.slice(1), (t) => process.stderr.write(t));
  if (argv[0] !== 'mount') {
    process.stderr.write(
      `bucketmount: error: unknown command "${argv[0]}" (expected "mount", "status" or "fd-keeper")\n${await usage()}\n`,
    );
    return MountExit.BAD_ARGS;
  }
  const rest = argv.slice(1);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(mountUsage() + '\n');
    return MountExit.OK;
  }
  let cfg: MountConfig;
  try {
    cfg = parseMountArgs(rest);
  } catch (err) {
    if (err instanceof MountArgsError) {
      process.stderr.write(`bucketmount: error: ${err.message}\n`);
      return MountExit.BAD_ARGS;
    }
    throw err;
  }
  if (!cfg.foreground) return daemonize(cfg, rest);
  // Started by daemonize(): once it exits, stderr is a closed pipe. Log writes then fail with
  // EPIPE, which must not take the mount down.
  process.stderr.on('error', () => undefined);
  process.stdout.on('error', () => undefined);
  // Loaded on demand: a supervisor never loads the S3 client or the file system (smaller RSS).
  if (cfg.supervise) return (await import('../src/fs/supervisor.js')).runSupervisedMount(cfg);
  return (await import('../src/fs/mount-process.js')).runMount(cfg);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bucketmount: error: ${(err as Error)?.message ?? String(err)}\n`);
    process.exit(MountExit.INTERNAL);
  },
);
