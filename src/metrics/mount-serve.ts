// Wires the metrics of one mount process: PromMountMetrics when `--metrics-socket` is given
// (NO_METRICS otherwise), the S3 attempt observer for each client the mount builds, and the
// endpoint on the socket once the mount serves (mount-endpoint.ts; closed at unmount). A socket
// that cannot be served is logged and the mount goes on: metrics never take a volume down.
import type { S3Client } from '@aws-sdk/client-s3';
import { pluginVersion } from '../csi/identity.js';
import type { Logger } from '../log.js';
import type { MountConfig } from '../mount-contract/args.js';
import { FUSE_LAYER } from '../mount-contract/options.js';
import { observeS3Attempts } from '../s3/client.js';
import { serveMountMetrics, socketPathFits, UNIX_SOCKET_PATH_MAX, type MetricsEndpoint } from './mount-endpoint.js';
import { NO_METRICS, PromMountMetrics, type MountGaugeSources, type MountMetrics } from './mount-metrics.js';

/** Why `cfg.metricsSocket` cannot be used, checked before the mount does anything; undefined = fine. */
export function metricsSocketProblem(cfg: Pick<MountConfig, 'metricsSocket'>): string | undefined {
  const p = cfg.metricsSocket;
  if (p === undefined) return undefined;
  if (!p.startsWith('/')) return `--metrics-socket must be an absolute path, got "${p}"`;
  if (!socketPathFits(p))
    return `--metrics-socket path is ${Buffer.byteLength(p)} bytes, a unix socket path holds at most ${UNIX_SOCKET_PATH_MAX}`;
  return undefined;
}

/** The mount's metrics: kept only with --metrics-socket. */
export function mountMetricsFor(cfg: MountConfig): MountMetrics {
  if (cfg.metricsSocket === undefined) return NO_METRICS;
  return new PromMountMetrics({ fuseLayer: FUSE_LAYER, version: pluginVersion() });
}

/** Count every HTTP attempt of `client` in `metrics` (nothing when metrics are off). */
export function observeClient(client: S3Client, metrics: MountMetrics): void {
  if (metrics.enabled) observeS3Attempts(client, (a) => metrics.s3Attempt(a));
}

/** Serve `metrics` at cfg.metricsSocket (undefined when off or when serving failed, which is logged). */
export async function serveMetrics(
  cfg: MountConfig,
  metrics: MountMetrics,
  sources: MountGaugeSources,
  log: Logger,
): Promise<MetricsEndpoint | undefined> {
  if (cfg.metricsSocket === undefined || !(metrics instanceof PromMountMetrics)) return undefined;
  metrics.watch(sources);
  try {
    const ep = await serveMountMetrics(cfg.metricsSocket, metrics.registry);
    log.info('serving metrics', { socket: cfg.metricsSocket });
    return ep;
  } catch (err) {
    log.error('cannot serve metrics; the mount goes on without them', {
      socket: cfg.metricsSocket,
      error: (err as Error).message,
    });
    return undefined;
  }
}
