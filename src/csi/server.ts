// The gRPC server of the plugin: serves the CSI services on a unix socket (socket mode 0700; a
// socket file left by an earlier run is removed only when nothing answers on it, and at shutdown
// the file is removed only if it is still the one this server created), turns handler promises
// into gRPC replies (errors mapped by
// errors.ts; any method without a handler answers UNIMPLEMENTED), logs every call with its
// volume id / target path (never secrets), and shuts down gracefully.
import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, rename, unlink } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { createConnection } from 'node:net';
import { basename, dirname, join } from 'node:path';
import type { Logger } from 'winston';
import { codeName, statusMessage, toCsiError, unimplemented } from './errors.js';
import { MiB } from '../util/units.js';
import { loadCsi } from './proto.js';
import type { CsiServiceName, ServiceHandlers } from './types.js';
import { validateRequest } from './validate.js';

/** Handlers of one service, by RPC name as in the .proto (e.g. "CreateVolume"); a missing one answers UNIMPLEMENTED. */
export type Handlers<S extends CsiServiceName> = Partial<ServiceHandlers<S>>;

export interface ServedServices {
  identity: Handlers<'Identity'>;
  controller?: Handlers<'Controller'>;
  node?: Handlers<'Node'>;
}

/** One handler as the server calls it (the request is checked by validateRequest first). */
type AnyHandler = (request: unknown) => Promise<unknown>;

/** Told of every finished call: its gRPC status (0 = OK) and duration (metrics; must not throw). */
export type CallObserver = (service: CsiServiceName, method: string, code: grpc.status, seconds: number) => void;

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

function wrap(
  log: Logger,
  service: CsiServiceName,
  method: string,
  handler: AnyHandler,
  onCallDone?: CallObserver,
): grpc.handleUnaryCall<unknown, unknown> {
  return (call, callback) => {
    const started = Date.now();
    const observe = (code: grpc.status): void => {
      try {
        onCallDone?.(service, method, code, (Date.now() - started) / 1000);
      } catch (err) {
        log.warn('call observer failed', { error: (err as Error).message });
      }
    };
    const summary = requestSummary(call.request);
    log.debug('call', { rpc: `${service}.${method}`, ...summary });
    // Every request is validated here, before its handler runs (so before any side effect).
    Promise.resolve()
      .then(() => {
        validateRequest(method, call.request);
        return handler(call.request);
      })
      .then(
        (res) => {
          log.debug('ok', { rpc: `${service}.${method}`, ms: Date.now() - started, ...summary });
          observe(grpc.status.OK);
          callback(null, res);
        },
        (err: unknown) => {
          const e = toCsiError(err);
          const message = statusMessage(e);
          const level = e.code === grpc.status.INTERNAL ? 'error' : 'warn';
          log.log(level, 'call failed', {
            rpc: `${service}.${method}`,
            code: codeName(e.code),
            error: message,
            ms: Date.now() - started,
            ...summary,
          });
          observe(e.code);
          callback({ code: e.code, details: message, name: e.name, message });
        },
      );
  };
}

function implementation<S extends CsiServiceName>(
  log: Logger,
  service: S,
  def: grpc.ServiceDefinition,
  handlers: Handlers<S>,
  onCallDone?: CallObserver,
): grpc.UntypedServiceImplementation {
  const impl: grpc.UntypedServiceImplementation = {};
  const table = handlers as Record<string, AnyHandler | undefined>;
  for (const method of Object.keys(def)) {
    const h = table[method];
    impl[method] = wrap(
      log,
      service,
      method,
      h ??
        (async () => {
          throw unimplemented(method, 'not served by this plugin');
        }),
      onCallDone,
    );
  }
  return impl;
}

/** Does a server accept connections on this unix socket? (ECONNREFUSED: a stale file.) */
export function socketAnswers(path: string, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection(path);
    const done = (v: boolean): void => {
      clearTimeout(timer);
      c.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(true), timeoutMs); // a listener that does not accept yet is alive
    c.once('connect', () => done(true));
    c.once('error', () => done(false));
  });
}

/**
 * Remove the socket file of an earlier run, but never one a live server listens on (another
 * plugin instance or another driver's socket) and never a file that is not a socket.
 */
async function removeStaleSocket(socketPath: string): Promise<void> {
  let st;
  try {
    st = await lstat(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!st.isSocket()) throw new Error(`${socketPath} exists and is not a socket; refusing to replace it`);
  if (await socketAnswers(socketPath)) {
    throw new Error(
      `another process serves ${socketPath}; refusing to replace its socket (is another csi-driver running with this --endpoint?)`,
    );
  }
  await unlink(socketPath);
}

/** Stop a gRPC server: no new calls, running calls get `timeoutMs`, then it is forced. */
export async function stopGrpcServer(server: grpc.Server, timeoutMs: number, onForce?: () => void): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      onForce?.();
      server.forceShutdown();
      resolve();
    }, timeoutMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Identity of a socket file this process bound: inode numbers are reused at once, so inode + change time. */
export type SocketIdentity = Pick<BigIntStats, 'dev' | 'ino' | 'ctimeNs'>;

export function socketIdentity(path: string): Promise<SocketIdentity> {
  return lstat(path, { bigint: true });
}

/** Remove the socket file at `path` only if it is still the one `created` identifies; true when removed. */
export async function unlinkIfOurs(path: string, created: SocketIdentity): Promise<boolean> {
  const now = await lstat(path, { bigint: true }).catch(() => undefined);
  if (!now || now.ino !== created.ino || now.dev !== created.dev || now.ctimeNs !== created.ctimeNs) return false;
  await unlink(path).catch(() => undefined);
  return true;
}

export interface CsiServer {
  socketPath: string;
  /** Stop accepting calls, wait up to timeoutMs for running calls, then force. */
  shutdown(timeoutMs?: number): Promise<void>;
}

export interface CsiServerOptions {
  /** Told of every finished call (the metrics of the node and controller services). */
  onCallDone?: CallObserver;
}

export async function startCsiServer(
  endpoint: string,
  services: ServedServices,
  logger: Logger,
  opts: CsiServerOptions = {},
): Promise<CsiServer> {
  const socketPath = socketPathOf(endpoint);
  const csi = loadCsi();
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 4 * MiB });
  const log = logger.child({ component: 'grpc' });
  server.addService(
    csi.Identity.service,
    implementation(log, 'Identity', csi.Identity.service, services.identity, opts.onCallDone),
  );
  if (services.controller)
    server.addService(
      csi.Controller.service,
      implementation(log, 'Controller', csi.Controller.service, services.controller, opts.onCallDone),
    );
  if (services.node)
    server.addService(csi.Node.service, implementation(log, 'Node', csi.Node.service, services.node, opts.onCallDone));

  await mkdir(dirname(socketPath), { recursive: true });
  await removeStaleSocket(socketPath);
  // Bound under a private name and renamed into place: the socket library unlinks the path it
  // bound when the server closes, which would delete whatever socket sits at the public path by
  // then (another instance's). The private name is gone by then, so that unlink is harmless.
  const privatePath = join(
    dirname(socketPath),
    `.${basename(socketPath)}.${process.pid}-${randomBytes(4).toString('hex')}`,
  );
  await new Promise<void>((resolve, reject) => {
    server.bindAsync(`unix://${privatePath}`, grpc.ServerCredentials.createInsecure(), (err) =>
      err ? reject(err) : resolve(),
    );
  });
  // Inode numbers are reused at once (ours unlinked, another socket bound), so identity is inode + change time.
  let created;
  try {
    await chmod(privatePath, 0o700);
    await rename(privatePath, socketPath);
    created = await socketIdentity(socketPath);
  } catch (err) {
    server.forceShutdown();
    await unlink(privatePath).catch(() => undefined);
    throw err;
  }
  logger.info('CSI server listening', {
    endpoint: `unix://${socketPath}`,
    controller: !!services.controller,
    node: !!services.node,
  });

  let stopped = false;
  return {
    socketPath,
    async shutdown(timeoutMs = 10_000) {
      if (stopped) return;
      stopped = true;
      await stopGrpcServer(server, timeoutMs, () =>
        logger.warn('forcing gRPC shutdown: calls still running', { timeoutMs }),
      );
      // Only our own socket file: another instance may have bound a new one at the same path.
      if (!(await unlinkIfOurs(socketPath, created)))
        logger.warn('the socket file is not the one this server created; leaving it', { socketPath });
    },
  };
}
