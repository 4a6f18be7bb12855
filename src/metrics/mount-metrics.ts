// The one home of a mount process's metric definitions (names, types, labels and buckets as in
// docs/metrics.md "Mount process metrics"): prom-client series on a Registry of the mount's own
// (never the global one), served by mount-endpoint.ts when `--metrics-socket` is given. Without
// the flag the mount uses NO_METRICS, a null object with the same interface whose methods do
// nothing, and the FUSE layer is not wrapped at all, so "metrics off" costs nothing measurable.
// Gauges that describe state (open files, spool bytes, failed requests in the last minute) are
// computed when scraped, not on the hot path; per FUSE request the cost is an array increment in
// fast-histogram.ts (prom-client's label lookup per observation cost microseconds). Series carry no volume labels: the node plugin adds
// them when it aggregates its mounts.
import { constants as osConstants } from 'node:os';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client';
import { FastHistogram, type RegistryMetric } from './fast-histogram.js';
import type { S3Attempt } from '../s3/client.js';
import { classifyAttempt, operationOf } from './s3-outcome.js';
import { SlidingWindowCounter } from './sliding-window.js';

/**
 * FUSE operation latency buckets (seconds), 50 µs .. 10 s: a cached getattr or a read served from
 * prefetched memory takes tens of µs, a lookup or small read that goes to S3 a few ms, a flush
 * that uploads a file or a read waiting for a slow endpoint seconds; past 10 s is +Inf.
 */
export const FUSE_DURATION_BUCKETS: readonly number[] = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/**
 * S3 attempt latency buckets (seconds), 1 ms .. 60 s: a HEAD on a LAN endpoint takes about a
 * millisecond, cloud S3 10–100 ms, a large part upload seconds; 60 s is the default retry budget.
 */
export const S3_DURATION_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

/** Prefix of prom-client's default process metrics (RSS, CPU, heap, event-loop lag, ...). */
export const DEFAULT_METRICS_PREFIX = 'bucketmount_mount_';

export type CacheName = 'data' | 'metadata';

/** The series of one FUSE operation, bound once (no label lookup per request). */
export interface FuseOpSeries {
  /** The operation was answered after `seconds`; `errno` (e.g. "ENOENT") when it failed. */
  done(seconds: number, errno?: string): void;
}

/** State read when the metrics are scraped. */
export interface MountGaugeSources {
  openFiles?: () => number;
  spoolBytes?: () => number | Promise<number>;
}

/** held: another process still writes the file (publish deferred); none: nobody else; unknown: /proc did not answer in time. */
export type WriterScanResult = 'held' | 'none' | 'unknown';

export interface MountMetrics {
  /** false for NO_METRICS: callers may skip work only needed for metrics (timing, wrapping). */
  readonly enabled: boolean;
  fuseOp(op: string): FuseOpSeries;
  fuseRead(bytes: number): void;
  fuseWritten(bytes: number): void;
  /** One HTTP attempt of an S3 request (src/s3/client.ts observeS3Attempts). */
  s3Attempt(a: S3Attempt): void;
  /** A retry the SDK's retry loop does not see (streamed uploads, resumed GET bodies). */
  s3Retry(command: string): void;
  /** A read served from data fetched ahead of it (hit) or one that had to fetch its own bytes. */
  prefetch(hit: boolean): void;
  cache(cache: CacheName, hit: boolean): void;
  uploadStarted(): void;
  uploadEnded(): void;
  /** An object could not be saved (the writer got an error). */
  uploadFailed(): void;
  /** A close's scan for other processes still writing the file (src/fs/open-writers.ts) and what it found. */
  writerScan(result: WriterScanResult): void;
  /** Something failed that an operator should look at (sets the last-error time). */
  error(): void;
  /** The hand-off generation of this server: how many times it was restarted under --supervise. */
  serverRestarts(generation: number): void;
  watch(sources: MountGaugeSources): void;
}

const NOOP_SERIES: FuseOpSeries = { done: () => undefined };

/** The mount without --metrics-socket: nothing is kept. */
export const NO_METRICS: MountMetrics = {
  enabled: false,
  fuseOp: () => NOOP_SERIES,
  fuseRead: () => undefined,
  fuseWritten: () => undefined,
  s3Attempt: () => undefined,
  s3Retry: () => undefined,
  prefetch: () => undefined,
  cache: () => undefined,
  uploadStarted: () => undefined,
  uploadEnded: () => undefined,
  uploadFailed: () => undefined,
  writerScan: () => undefined,
  error: () => undefined,
  serverRestarts: () => undefined,
  watch: () => undefined,
};

const ERRNO_NAMES = new Map<number, string>(
  Object.entries(osConstants.errno).map(([name, n]) => [n, name] as [number, string]),
);

/** "ENOENT" for 2 (or -2); "E<n>" for a number the platform has no name for. */
export function errnoName(errno: number): string {
  const n = Math.abs(errno);
  return ERRNO_NAMES.get(n) ?? `E${n}`;
}

export interface MountInfo {
  /** The FUSE layer serving the mount (fuse3, or the old fuse-native). */
  fuseLayer: string;
  /** bucketmount's version. */
  version: string;
}

export class PromMountMetrics implements MountMetrics {
  readonly enabled = true;
  readonly registry = new Registry();
  private readonly failures: SlidingWindowCounter;
  private sources: MountGaugeSources = {};
  private readonly opSeries = new Map<string, FuseOpSeries>();

  private readonly fuseErrors = new Counter({
    name: 'bucketmount_fuse_operation_errors_total',
    help: 'FUSE operations answered with an error, by operation and errno name',
    labelNames: ['op', 'errno'] as const,
    registers: [this.registry],
  });
  /** FUSE latency and operation counts: plain array increments per request (fast-histogram.ts). */
  private readonly fuseDuration = new FastHistogram(
    'bucketmount_fuse_operation_duration_seconds',
    'Time from a FUSE request reaching the mount process to its answer, by operation',
    'op',
    FUSE_DURATION_BUCKETS,
  );
  /** Bytes through FUSE, kept as plain numbers and handed to their counters when scraped. */
  private readBytes = 0;
  private writtenBytes = 0;
  private readonly s3Requests = new Counter({
    name: 'bucketmount_s3_requests_total',
    help: 'S3 HTTP requests (every attempt, retries included) by operation and outcome (status class or network)',
    labelNames: ['operation', 'outcome'] as const,
    registers: [this.registry],
  });
  private readonly s3Duration = new Histogram({
    name: 'bucketmount_s3_request_duration_seconds',
    help: 'Time of one S3 HTTP attempt until its response headers (or its failure), by operation',
    labelNames: ['operation'] as const,
    buckets: [...S3_DURATION_BUCKETS],
    registers: [this.registry],
  });
  private readonly s3Retries = new Counter({
    name: 'bucketmount_s3_retries_total',
    help: 'S3 attempts that retried an earlier failed attempt of the same request, by operation',
    labelNames: ['operation'] as const,
    registers: [this.registry],
  });
  private readonly s3Throttled = new Counter({
    name: 'bucketmount_s3_throttled_total',
    help: 'S3 attempts the service answered with throttling (429, SlowDown, ...), by operation',
    labelNames: ['operation'] as const,
    registers: [this.registry],
  });
  private readonly prefetchHits = new Counter({
    name: 'bucketmount_prefetch_hits_total',
    help: 'Reads whose bytes were already fetched or on their way from read-ahead',
    registers: [this.registry],
  });
  private readonly prefetchMisses = new Counter({
    name: 'bucketmount_prefetch_misses_total',
    help: 'Reads that had to start a GET of their own bytes',
    registers: [this.registry],
  });
  private readonly cacheHits = new Counter({
    name: 'bucketmount_cache_hits_total',
    help: 'Lookups answered from a local cache without S3, by cache (data or metadata)',
    labelNames: ['cache'] as const,
    registers: [this.registry],
  });
  private readonly cacheMisses = new Counter({
    name: 'bucketmount_cache_misses_total',
    help: 'Lookups a local cache could not answer (S3 was asked), by cache (data or metadata)',
    labelNames: ['cache'] as const,
    registers: [this.registry],
  });
  private readonly uploadsInFlight = new Gauge({
    name: 'bucketmount_uploads_in_flight',
    help: 'Objects being uploaded now (a PutObject or a multipart upload not yet completed or aborted)',
    registers: [this.registry],
  });
  private readonly uploadFailures = new Counter({
    name: 'bucketmount_upload_failures_total',
    help: 'Uploads that failed for good: the object was not saved and the writer got an error',
    registers: [this.registry],
  });
  private readonly writerScans = new Counter({
    name: 'bucketmount_writer_scans_total',
    help: 'Scans at a close for other processes still writing the file, by result (held: publish deferred; unknown: /proc reads blocked, published)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  private readonly lastError = new Gauge({
    name: 'bucketmount_last_error_timestamp_seconds',
    help: 'Unix time of the last failure (failed S3 request, EIO answer, failed upload); 0 = none yet',
    registers: [this.registry],
  });
  private readonly restarts = new Counter({
    name: 'bucketmount_server_restarts_total',
    help: 'Times the FUSE server of this mount was restarted on the same connection (--supervise); 0 otherwise',
    registers: [this.registry],
  });

  constructor(
    info: MountInfo,
    private readonly now: () => number = Date.now,
  ) {
    this.failures = new SlidingWindowCounter(60_000, 1_000);
    const reg = (m: RegistryMetric): void => this.registry.registerMetric(m as unknown as Metric);
    reg(this.fuseDuration);
    reg(this.fuseDuration.countMetric('bucketmount_fuse_operations_total', 'FUSE operations answered, by operation'));
    const bytesRead = (): number => this.readBytes;
    const bytesWritten = (): number => this.writtenBytes;
    new Counter({
      name: 'bucketmount_fuse_read_bytes_total',
      help: 'Bytes returned to READ requests',
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(bytesRead());
      },
    });
    new Counter({
      name: 'bucketmount_fuse_written_bytes_total',
      help: 'Bytes accepted from WRITE requests',
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(bytesWritten());
      },
    });
    const failedLastMinute = (): number => this.failures.count(this.now());
    const openFiles = (): number => this.sources.openFiles?.() ?? 0;
    const spoolBytes = async (): Promise<number> => (await this.sources.spoolBytes?.()) ?? 0;
    new Gauge({
      name: 'bucketmount_s3_failed_requests_last_minute',
      help: 'S3 attempts that failed (5xx, network, throttled, 401/403) in the last 60 s',
      registers: [this.registry],
      collect() {
        this.set(failedLastMinute());
      },
    });
    new Gauge({
      name: 'bucketmount_open_files',
      help: 'Files open through the mount (open descriptors the kernel holds)',
      registers: [this.registry],
      collect() {
        this.set(openFiles());
      },
    });
    new Gauge({
      name: 'bucketmount_spool_bytes',
      help: 'Disk space used by files staged in the spool directory (staged writes, spooled parts)',
      registers: [this.registry],
      async collect() {
        this.set(await spoolBytes());
      },
    });
    new Gauge({
      name: 'bucketmount_mount_info',
      help: 'Always 1; labels tell the FUSE layer and the bucketmount version',
      labelNames: ['fuse_layer', 'version'] as const,
      registers: [this.registry],
    }).set({ fuse_layer: info.fuseLayer, version: info.version }, 1);
    collectDefaultMetrics({ register: this.registry, prefix: DEFAULT_METRICS_PREFIX });
  }

  fuseOp(op: string): FuseOpSeries {
    let s = this.opSeries.get(op);
    if (!s) {
      const dur = this.fuseDuration.child(op);
      const errors = this.fuseErrors;
      const markError = (): void => this.error();
      s = {
        done(seconds: number, errno?: string): void {
          dur.observe(seconds);
          if (errno !== undefined) {
            errors.labels(op, errno).inc();
            if (errno === 'EIO') markError();
          }
        },
      };
      this.opSeries.set(op, s);
    }
    return s;
  }

  fuseRead(bytes: number): void {
    this.readBytes += bytes;
  }

  fuseWritten(bytes: number): void {
    this.writtenBytes += bytes;
  }

  s3Attempt(a: S3Attempt): void {
    const operation = operationOf(a.command);
    const c = classifyAttempt(a.status, a.error);
    this.s3Requests.labels(operation, c.outcome).inc();
    this.s3Duration.labels(operation).observe(a.seconds);
    if (a.attempt > 1) this.s3Retries.labels(operation).inc();
    if (c.throttled) this.s3Throttled.labels(operation).inc();
    if (c.failed) {
      this.failures.add(this.now());
      this.error();
    }
  }

  s3Retry(command: string): void {
    this.s3Retries.labels(operationOf(command)).inc();
  }

  prefetch(hit: boolean): void {
    (hit ? this.prefetchHits : this.prefetchMisses).inc();
  }

  cache(cache: CacheName, hit: boolean): void {
    (hit ? this.cacheHits : this.cacheMisses).labels(cache).inc();
  }

  uploadStarted(): void {
    this.uploadsInFlight.inc();
  }

  uploadEnded(): void {
    this.uploadsInFlight.dec();
  }

  uploadFailed(): void {
    this.uploadFailures.inc();
    this.error();
  }

  writerScan(result: WriterScanResult): void {
    this.writerScans.labels(result).inc();
  }

  error(): void {
    this.lastError.set(this.now() / 1000);
  }

  serverRestarts(generation: number): void {
    if (generation > 0) this.restarts.inc(generation);
  }

  watch(sources: MountGaugeSources): void {
    this.sources = { ...this.sources, ...sources };
  }
}
