// The mount process: builds the S3 client (credentials file or the SDK's default env chain),
// detects the bucket region with HeadBucket when --region is absent, checks access before
// mounting (failures → exit code from exit-codes.ts and one stderr line), aborts the multipart
// uploads a crashed predecessor left in --upload-journal, serves --metrics-socket, mounts the FUSE
// file system, and on SIGTERM/SIGINT (caught from the start: one during start-up is carried out when
// start-up ends) flushes pending uploads, unmounts and exits 0. Start-up checks retry briefly (a
// few attempts: the caller retries the mount); the mount's own requests retry for --retry-timeout.
import { HeadBucketCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createLogger, type Logger } from '../log.js';
import { MountExit, type MountExitCode } from '../mount-contract/exit-codes.js';
import type { MountConfig } from '../mount-contract/args.js';
import { FUSE_LAYER, MOUNT_DEFAULTS } from '../mount-contract/options.js';
import { createS3Client, DEFAULT_REGION, signDataBodiesUnsigned } from '../s3/client.js';
import { classifyS3Error, describeS3Error } from '../s3/errors.js';
import { isFuse, mountsAt } from '../util/mountinfo.js';
import type { FsContext } from './context.js';
import { BucketFs } from './filesystem.js';
import { Fuse3Mount, isSuccessor, UNMOUNT_GRACE_MS } from './kernel/fuse3-mount.js';
import { listenForHandOff } from './kernel/handoff.js';
import { runSupervisor } from './supervisor.js';
import { warmUp } from './warm-up.js';
import { dirUsageBytes } from '../metrics/dir-usage.js';
import { NO_METRICS, type MountMetrics } from '../metrics/mount-metrics.js';
import { metricsSocketProblem, mountMetricsFor, observeClient, serveMetrics } from '../metrics/mount-serve.js';
import { JournalBusyError, UploadJournal } from './upload-journal.js';

export class MountFailure extends Error {
  override name = 'MountFailure';
  constructor(
    readonly exitCode: MountExitCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** 'startup': a few attempts (fail fast, the caller retries the mount); 'mount': retry for --retry-timeout. */
function clientFor(
  cfg: MountConfig,
  region: string | undefined,
  retries: 'startup' | 'mount' = 'mount',
  metrics: MountMetrics = NO_METRICS,
): S3Client {
  const client = createS3Client({
    endpointUrl: cfg.endpointUrl,
    region,
    forcePathStyle: cfg.forcePathStyle,
    uploadChecksums: cfg.uploadChecksums,
    credentialsFile: cfg.credentialsFile,
    ...(retries === 'mount' ? { retryTimeoutMs: cfg.retryTimeoutMs ?? MOUNT_DEFAULTS.retryTimeoutMs } : {}),
  });
  if (cfg.uploadChecksums) signDataBodiesUnsigned(client);
  observeClient(client, metrics);
  return client;
}

function failureFor(err: unknown, what: string): MountFailure {
  const desc = describeS3Error(err);
  switch (classifyS3Error(err)) {
    case 'no-such-bucket':
    case 'not-found':
      return new MountFailure(MountExit.NO_SUCH_BUCKET, `${what}: bucket does not exist (${desc})`, { cause: err });
    case 'unauthenticated':
      return new MountFailure(MountExit.UNAUTHENTICATED, `${what}: credentials rejected (${desc})`, { cause: err });
    case 'access-denied':
      return new MountFailure(MountExit.PERMISSION_DENIED, `${what}: access denied (${desc})`, { cause: err });
    case 'unavailable':
      return new MountFailure(MountExit.UNAVAILABLE, `${what}: S3 endpoint unavailable (${desc})`, { cause: err });
    default:
      if ((err as Error)?.name === 'CredentialsProviderError' || (err as Error)?.name === 'CredentialsFileError') {
        return new MountFailure(
          MountExit.UNAUTHENTICATED,
          `${what}: no usable credentials (${(err as Error).message})`,
          { cause: err },
        );
      }
      return new MountFailure(MountExit.INTERNAL, `${what}: ${desc}`, { cause: err });
  }
}

/** Region from HeadBucket (its x-amz-bucket-region header), also when it answers 301/400/403. */
async function detectRegion(cfg: MountConfig, log: Logger): Promise<string | undefined> {
  const probe = clientFor(cfg, DEFAULT_REGION, 'startup');
  try {
    const out = await probe.send(new HeadBucketCommand({ Bucket: cfg.bucket }));
    return out.BucketRegion ?? undefined;
  } catch (err) {
    const headers = (err as { $response?: { headers?: Record<string, string> } }).$response?.headers ?? {};
    const region = headers['x-amz-bucket-region'];
    if (region) return region;
    log.debug('region detection failed; using default', { error: describeS3Error(err) });
    return undefined;
  } finally {
    probe.destroy();
  }
}

/** Build the S3 context and check that the bucket/prefix is reachable and listable. */
export async function prepare(cfg: MountConfig, log: Logger, metrics: MountMetrics = NO_METRICS): Promise<FsContext> {
  const region = cfg.region ?? (await detectRegion(cfg, log));
  const check = clientFor(cfg, region, 'startup', metrics);
  const s3 = clientFor(cfg, region, 'mount', metrics);
  let firstKey: string | undefined;
  let journal: UploadJournal | undefined;
  try {
    try {
      const out = await check.send(
        new ListObjectsV2Command({
          Bucket: cfg.bucket,
          Prefix: cfg.prefix,
          MaxKeys: 1,
          ...(cfg.requesterPays ? { RequestPayer: 'requester' as const } : {}),
        }),
      );
      firstKey = out.Contents?.[0]?.Key;
    } catch (err) {
      throw failureFor(err, `cannot access s3://${cfg.bucket}/${cfg.prefix}`);
    }
    // Aborts use the start-up client too: a left-over the endpoint cannot abort now stays for the next start.
    if (cfg.uploadJournal) {
      try {
        journal = await UploadJournal.open(cfg.uploadJournal, check, log, { requesterPays: cfg.requesterPays });
      } catch (err) {
        if (err instanceof JournalBusyError) throw new MountFailure(MountExit.BAD_ARGS, err.message, { cause: err });
        throw new MountFailure(MountExit.INTERNAL, `upload journal: ${(err as Error).message}`, { cause: err });
      }
    }
  } catch (err) {
    s3.destroy();
    throw err;
  } finally {
    check.destroy();
  }
  let spoolDir: string;
  if (cfg.spoolDir) {
    mkdirSync(cfg.spoolDir, { recursive: true, mode: 0o700 });
    spoolDir = mkdtempSync(join(cfg.spoolDir, 'bucketmount-'));
  } else {
    spoolDir = mkdtempSync(join(tmpdir(), 'bucketmount-spool-'));
  }
  log.info('bucket access ok', { bucket: cfg.bucket, prefix: cfg.prefix, region: region ?? DEFAULT_REGION });
  const ctx: FsContext = { s3, bucket: cfg.bucket, prefix: cfg.prefix, cfg, log, spoolDir, journal, metrics };
  await warmUp(ctx, firstKey);
  return ctx;
}

/** True while /proc/self/mountinfo lists a FUSE mount at `dir`. */
function isMountedAt(dir: string): boolean {
  try {
    return mountsAt(dir).some(isFuse);
  } catch {
    return true;
  }
}

/** Kernel read-ahead for our mount (KiB): lets sequential readers keep several requests in flight. */
const READ_AHEAD_KB = 1024;

/**
 * Raise the kernel's read-ahead for the mount's backing device (default 128 KiB, i.e. one FUSE
 * request at a time). Best effort: needs root (sysfs); without it reads just pipeline less.
 */
function tuneReadahead(dir: string, log: Logger): void {
  try {
    const dev = mountsAt(dir)[0]?.device;
    if (!dev || !/^\d+:\d+$/.test(dev)) return;
    writeFileSync(`/sys/class/bdi/${dev}/read_ahead_kb`, String(READ_AHEAD_KB));
  } catch (err) {
    log.debug('could not raise kernel read-ahead', { error: String(err) });
  }
}

/** Is `dir` a dead FUSE mount (ENOTCONN)? Then clear it lazily so we can mount again. */
function clearDeadMount(dir: string, log: Logger): void {
  try {
    statSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOTCONN') {
      log.warn('clearing dead mount', { dir });
      try {
        execFileSync('fusermount3', ['-u', '-z', dir], { stdio: 'ignore' });
      } catch {
        /* umount below */
      }
    }
  }
}

/** SIGTERM/SIGINT, caught from the first moment of a mount process (see runMount). */
interface StopSignals {
  /** The first stop signal received so far, if any. */
  readonly requested: string | undefined;
  /** From now on a stop signal calls `stop`; at once if one came already. */
  handle(stop: (signal: string) => void): void;
}

/**
 * Without a listener a SIGTERM ends a Node process by the default action. Between the FUSE mount
 * and its handler that would leave a mount nobody serves (ENOTCONN for every user of it), so the
 * signals are caught before anything else and remembered until the mount can stop properly.
 */
function catchStopSignals(log: Logger): StopSignals {
  let requested: string | undefined;
  let stop: ((signal: string) => void) | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stop) return stop(signal);
    if (requested !== undefined) return;
    requested = signal;
    log.info('stop asked during start-up; stopping once start-up ends', { signal });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return {
    get requested() {
      return requested;
    },
    handle(fn) {
      stop = fn;
      if (requested !== undefined) fn(requested);
    },
  };
}

/** Run the mount in this process until SIGTERM/SIGINT. Resolves with the exit code. */
export async function runMount(cfg: MountConfig): Promise<number> {
  const log = createLogger({
    level: cfg.logLevel,
    file: cfg.logFile,
    defaultMeta: { component: 'mount', volumeId: cfg.volumeId },
  });
  const fail = (code: number, msg: string): number => {
    process.stderr.write(`bucketmount: error: ${msg}\n`);
    log.error(msg, { exitCode: code });
    return code;
  };
  const mnt = resolve(cfg.mountPoint);
  const socketProblem = metricsSocketProblem(cfg);
  if (socketProblem) return fail(MountExit.BAD_ARGS, socketProblem);
  if (cfg.supervise) return runSupervisor(cfg, log.child({ component: 'supervisor' }));
  const stopSignals = catchStopSignals(log);
  // A supervised server: an upgrade hand-off may be asked at any time (kernel/handoff.ts).
  const handOff = cfg.handoff ? listenForHandOff(log, cfg.handoff.stateDir) : undefined;
  // A successor serves a live mount nobody answers yet: a stat of it would wait forever.
  const successor = cfg.handoff !== undefined && isSuccessor(cfg.handoff.stateDir);
  if (!successor) {
    clearDeadMount(mnt, log);
    try {
      const st = statSync(mnt);
      if (!st.isDirectory()) return fail(MountExit.BAD_ARGS, `mount point ${mnt} is not a directory`);
    } catch {
      return fail(MountExit.BAD_ARGS, `mount point ${mnt} does not exist`);
    }
  }
  const metrics = mountMetricsFor(cfg);
  let ctx: FsContext;
  try {
    ctx = await prepare(cfg, log, metrics);
  } catch (err) {
    if (err instanceof MountFailure) return fail(err.exitCode, err.message);
    return fail(MountExit.INTERNAL, (err as Error).message);
  }
  const fs = new BucketFs(ctx);
  // Served before the FUSE mount appears: whoever sees the mount can scrape it at once.
  const metricsEndpoint = await serveMetrics(
    cfg,
    metrics,
    { openFiles: () => fs.openFiles, spoolBytes: () => dirUsageBytes(ctx.spoolDir) },
    log,
  );
  const abandon = async (): Promise<void> => {
    await metricsEndpoint?.close();
    ctx.s3.destroy();
    ctx.journal?.close();
    rmSync(ctx.spoolDir, { recursive: true, force: true });
    fs.closeCache();
  };
  if (stopSignals.requested !== undefined) {
    await abandon();
    log.info('stopped before mounting', { signal: stopSignals.requested });
    return MountExit.OK;
  }
  let fuse: Fuse3Mount;
  try {
    fuse = new Fuse3Mount(mnt, fs.ops(), cfg, log, metrics);
    fuse.mount();
  } catch (err) {
    await abandon();
    return fail(MountExit.FUSE_FAILED, `FUSE mount at ${mnt} failed: ${(err as Error).message}`);
  }
  tuneReadahead(mnt, log);
  log.info('mounted', {
    mountPoint: mnt,
    source: fs.describe(),
    readOnly: cfg.readOnly,
    fuseLayer: FUSE_LAYER,
  });

  return new Promise<number>((resolveExit) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      log.info('stopping: flushing pending uploads', { signal, pending: fs.pendingWriters });
      void (async () => {
        await fs.flushAll();
        ctx.journal?.close();
        if (!(await fuse.unmount())) {
          log.warn('a process still uses the unmounted file system; ending its connection (its open files fail)', {
            mountPoint: mnt,
            waitedMs: UNMOUNT_GRACE_MS,
          });
          await fs.flushAll(); // what it wrote while it could
        }
        await metricsEndpoint?.close();
        ctx.s3.destroy();
        rmSync(ctx.spoolDir, { recursive: true, force: true });
        fs.closeCache();
        log.info('unmounted', { mountPoint: mnt });
        await new Promise<void>((r) => log.on('finish', () => r()).end());
        resolveExit(MountExit.OK);
      })().catch((err: unknown) => {
        log.error('shutdown failed', { error: String(err) });
        resolveExit(MountExit.INTERNAL);
      });
    };
    stopSignals.handle(stop);
    // Credentials are re-read from --credentials-file whenever it changes; SIGHUP only asks for
    // that explicitly (and must never kill the mount).
    process.on('SIGHUP', () =>
      log.info('SIGHUP: credentials are re-read from the credentials file on the next request'),
    );
    handOff?.serving({
      pendingWriters: () => fs.pendingWriters,
      flushAll: () => fs.flushAll(),
      pendingRequests: () => fuse.pending,
      release: () => {
        ctx.journal?.close();
        rmSync(ctx.spoolDir, { recursive: true, force: true });
        fs.closeCache();
      },
      stopping: () => stopping,
    });
    // Unmounted from outside (fusermount3 -u, umount): flush what is pending and exit.
    const watch = setInterval(() => {
      if (!stopping && !isMountedAt(mnt)) {
        clearInterval(watch);
        stop('external unmount');
      }
    }, 2000);
    watch.unref();
  });
}
