// The metrics endpoint of one mount process and its client: an HTTP server on a unix socket in the
// share's private (0700) directory, socket mode 0600, answering GET /metrics (Prometheus text, for a
// human with curl --unix-socket) and GET /metrics.json (prom-client's JSON form, which the node plugin
// scrapes, labels with the volume and aggregates; src/metrics/ owns both sides of this contract).
import { createServer, request, type Server } from 'node:http';
import { chmod, rm } from 'node:fs/promises';
import type { MetricObjectWithValues, MetricValue, Registry } from 'prom-client';

/** One metric family as the mount process serves it in /metrics.json. */
export type MetricFamily = MetricObjectWithValues<MetricValue<string>>;

export const METRICS_TEXT_PATH = '/metrics';
export const METRICS_JSON_PATH = '/metrics.json';
/** sun_path holds 108 bytes with its NUL: a longer socket path cannot be bound or connected. */
export const UNIX_SOCKET_PATH_MAX = 107;

export function socketPathFits(path: string): boolean {
  return Buffer.byteLength(path) <= UNIX_SOCKET_PATH_MAX;
}

export interface MetricsEndpoint {
  readonly socketPath: string;
  close(): Promise<void>;
}

/** Serve `registry` at `socketPath` (a stale socket of a dead predecessor is replaced). */
export async function serveMountMetrics(socketPath: string, registry: Registry): Promise<MetricsEndpoint> {
  if (!socketPathFits(socketPath))
    throw new Error(
      `metrics socket path is ${Buffer.byteLength(socketPath)} bytes, the limit is ${UNIX_SOCKET_PATH_MAX}`,
    );
  const server: Server = createServer((req, res) => {
    const send = async (): Promise<void> => {
      if (req.method !== 'GET') {
        res.writeHead(405, { allow: 'GET' }).end();
      } else if (req.url === METRICS_JSON_PATH) {
        const body = JSON.stringify(await registry.getMetricsAsJSON());
        res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      } else if (req.url === METRICS_TEXT_PATH) {
        const body = await registry.metrics();
        res.writeHead(200, { 'content-type': registry.contentType }).end(body);
      } else {
        res.writeHead(404).end();
      }
    };
    send().catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`metrics: ${(err as Error).message}\n`);
    });
  });
  await rm(socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await chmod(socketPath, 0o600);
  server.unref();
  return {
    socketPath,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The metric families a mount process serves at `socketPath`; rejects after `timeoutMs`. */
export function scrapeMountMetrics(socketPath: string, timeoutMs = 2000): Promise<MetricFamily[]> {
  return new Promise<MetricFamily[]>((resolve, reject) => {
    const req = request({ socketPath, path: METRICS_JSON_PATH, method: 'GET', timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        if (res.statusCode !== 200) {
          reject(new Error(`metrics socket ${socketPath} answered HTTP ${res.statusCode}`));
          return;
        }
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as MetricFamily[]);
        } catch (err) {
          reject(new Error(`metrics socket ${socketPath} sent invalid JSON`, { cause: err }));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`metrics socket ${socketPath} did not answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
