// The plugin's /metrics HTTP endpoint (--metrics-address): parses the address, serves GET /metrics
// with whatever `render` produces (one render at a time: concurrent requests share it, so hammering
// the endpoint does not multiply the scrapes of the mount processes), and nothing else.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'winston';

export interface MetricsAddress {
  /** undefined: every interface of the pod's network namespace. */
  host?: string;
  port: number;
}

/** "" or "off" → undefined (no server); ":9810", "127.0.0.1:9810", "[::1]:9810" → host and port. */
export function parseMetricsAddress(raw: string): MetricsAddress | undefined {
  const v = raw.trim();
  if (v === '' || v.toLowerCase() === 'off') return undefined;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]*)):(\d{1,5})$/.exec(v);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535)
    throw new Error(
      `metrics address "${v.slice(0, 100)}" must be [host]:port (e.g. :9810, 127.0.0.1:9810, [::1]:9810), or off`,
    );
  const host = m[1] ?? (m[2] === '' ? undefined : m[2]);
  return { ...(host !== undefined ? { host } : {}), port };
}

export interface Exposition {
  contentType: string;
  body: string;
}

export interface MetricsServer {
  /** The address actually bound (port 0 resolved). */
  readonly address: AddressInfo;
  close(): Promise<void>;
}

export async function startMetricsServer(opts: {
  address: MetricsAddress;
  render: () => Promise<Exposition>;
  logger: Logger;
}): Promise<MetricsServer> {
  let inflight: Promise<Exposition> | undefined;
  const render = (): Promise<Exposition> => {
    inflight ??= opts.render().finally(() => {
      inflight = undefined;
    });
    return inflight;
  };
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the only path is /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    render().then(
      (e) => res.writeHead(200, { 'content-type': e.contentType }).end(req.method === 'HEAD' ? undefined : e.body),
      (err: unknown) => {
        opts.logger.error('rendering /metrics failed', { error: (err as Error).message });
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics could not be rendered; see the plugin log\n');
      },
    );
  });
  // A slow client cannot hold the server: bounded header and request times.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: opts.address.host, port: opts.address.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  opts.logger.info('metrics server listening', {
    metricsAddress: `${address.address}:${address.port}`,
    path: '/metrics',
  });
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
