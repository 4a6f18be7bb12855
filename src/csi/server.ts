// The gRPC server of the plugin: serves the CSI services on a unix socket (stale socket file
// removed first, socket mode 0700), turns handler promises into gRPC replies (errors mapped by
// errors.ts; any method without a handler answers UNIMPLEMENTED), logs every call with its
// volume id / target path (never secrets), and shuts down gracefully.
import * as grpc from '@grpc/grpc-js';
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'winston';
import { codeName, statusMessage, toCsiError, unimplemented } from './errors.js';
import { loadCsi } from './proto.js';

/** Handlers of one service, by RPC name as in the .proto (e.g. "CreateVolume"). */
export type Handlers = Record<string, (request: unknown) => Promise<unknown>>;

export interface ServedServices {
  identity: Handlers;
  controller?: Handlers;
  node?: Handlers;
}

/** Parse `unix:///path/to.sock` (or `unix:/path`, or a bare absolute path) into a socket path. */
export function socketPathOf(endpoint: string): string {
  let p = endpoint;
  if (p.startsWith('unix://')) p = p.slice('unix://'.length);
  else if (p.startsWith('unix:')) p = p.slice('unix:'.length);
  if (!p.startsWith('/')) throw new Error(`--endpoint must be unix:///absolute/path.sock, got "${endpoint}"`);
  return p;
}

/** Fields safe and useful to log about a request. */
function requestSummary(req: unknown): Record<string, unknown> {
  const r = (req ?? {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of ['name', 'volumeId', 'targetPath', 'volumePath', 'readonly']) {
    if (r[k] !== undefined && r[k] !== '') out[k] = r[k];
  }
  return out;
}

function wrap(log: Logger, service: string, method: string, handler: (request: unknown) => Promise<unknown>): grpc.handleUnaryCall<unknown, unknown> {
  return (call, callback) => {
    const started = Date.now();
    const summary = requestSummary(call.request);
    log.debug('call', { rpc: `${service}.${method}`, ...summary });
    handler(call.request).then(
      (res) => {
        log.debug('ok', { rpc: `${service}.${method}`, ms: Date.now() - started, ...summary });
        callback(null, res);
      },
      (err: unknown) => {
        const e = toCsiError(err);
        const message = statusMessage(e);
        const level = e.code === grpc.status.INTERNAL ? 'error' : 'warn';
        log.log(level, 'call failed', { rpc: `${service}.${method}`, code: codeName(e.code), error: message, ms: Date.now() - started, ...summary });
        callback({ code: e.code, details: message, name: e.name, message });
      },
    );
  };
}

function implementation(log: Logger, service: string, def: grpc.ServiceDefinition, handlers: Handlers): grpc.UntypedServiceImplementation {
  const impl: grpc.UntypedServiceImplementation = {};
  for (const method of Object.keys(def)) {
    const h = handlers[method];
    impl[method] = wrap(
      log,
      service,
      method,
      h ??
        (async () => {
          throw unimplemented(method, 'not served by this plugin');
        }),
    );
  }
  return impl;
}

export interface CsiServer {
  socketPath: string;
  /** Stop accepting calls, wait up to timeoutMs for running calls, then force. */
  shutdown(timeoutMs?: number): Promise<void>;
}

export async function startCsiServer(endpoint: string, services: ServedServices, logger: Logger): Promise<CsiServer> {
  const socketPath = socketPathOf(endpoint);
  const csi = loadCsi();
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 4 * 1024 * 1024 });
  const log = logger.child({ component: 'grpc' });
  server.addService(csi.Identity.service, implementation(log, 'Identity', csi.Identity.service, services.identity));
  if (services.controller) server.addService(csi.Controller.service, implementation(log, 'Controller', csi.Controller.service, services.controller));
  if (services.node) server.addService(csi.Node.service, implementation(log, 'Node', csi.Node.service, services.node));

  await mkdir(dirname(socketPath), { recursive: true });
  try {
    const st = await lstat(socketPath);
    if (!st.isSocket()) throw new Error(`${socketPath} exists and is not a socket; refusing to replace it`);
    await unlink(socketPath); // stale socket of an earlier run
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await new Promise<void>((resolve, reject) => {
    server.bindAsync(`unix://${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve()));
  });
  await chmod(socketPath, 0o700);
  logger.info('CSI server listening', { endpoint: `unix://${socketPath}`, controller: !!services.controller, node: !!services.node });

  let stopped = false;
  return {
    socketPath,
    async shutdown(timeoutMs = 10_000) {
      if (stopped) return;
      stopped = true;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          logger.warn('forcing gRPC shutdown: calls still running', { timeoutMs });
          server.forceShutdown();
          resolve();
        }, timeoutMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      await unlink(socketPath).catch(() => undefined);
    },
  };
}
