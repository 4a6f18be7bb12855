// Kubelet plugin registration served by the node plugin itself (what the csi-node-driver-registrar
// sidecar does elsewhere): a gRPC `pluginregistration.Registration` service on a socket in
// kubelet's plugins_registry directory. Kubelet notices the socket, calls GetInfo (driver name,
// CSI socket path as kubelet sees it, versions) and reports the outcome with
// NotifyRegistrationStatus, which is logged. On stop the socket is removed only if it is still
// the one this process bound (a successor may already have replaced it).
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { chmod, lstat, mkdtemp, rm, symlink, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join } from 'node:path';
import type { Logger } from 'winston';
import { PLUGIN_NAME } from './identity.js';
import { socketAnswers, socketIdentity, stopGrpcServer, unlinkIfOurs } from './server.js';
import { LOADER_OPTIONS, protoFilePath } from './proto.js';
import type { ProtoGrpcType } from './generated/pluginregistration.js';
import type { PluginInfo__Output } from './generated/pluginregistration/PluginInfo.js';
import type { RegistrationHandlers } from './generated/pluginregistration/Registration.js';
import type { RegistrationStatus__Output } from './generated/pluginregistration/RegistrationStatus.js';

/** PluginInfo.type kubelet expects from a CSI driver. */
export const CSI_PLUGIN_TYPE = 'CSIPlugin';
/** CSI versions announced to kubelet (the only one kubelet's CSI plugin handler accepts). */
export const CSI_SUPPORTED_VERSIONS = ['1.0.0'] as const;

export interface KubeletRegistrationOptions {
  /** Socket to serve, in kubelet's plugins_registry directory (as this process sees it). */
  registrationPath: string;
  /** The CSI socket as kubelet sees it (a path); kubelet dials it for every Node call. */
  csiEndpoint: string;
  logger: Logger;
  /** Driver name announced (default PLUGIN_NAME). */
  driverName?: string;
}

export interface KubeletRegistration {
  socketPath: string;
  /** Last status kubelet reported, undefined before the first NotifyRegistrationStatus. */
  status(): RegistrationStatus__Output | undefined;
  /** Stop serving; removes the socket if it is still ours. */
  shutdown(timeoutMs?: number): Promise<void>;
}

export function loadRegistrationService(): ProtoGrpcType['pluginregistration']['Registration'] {
  const def = protoLoader.loadSync(protoFilePath('pluginregistration.proto'), LOADER_OPTIONS);
  const pkg = grpc.loadPackageDefinition(def) as unknown as ProtoGrpcType;
  return pkg.pluginregistration.Registration;
}

export async function startKubeletRegistration(opts: KubeletRegistrationOptions): Promise<KubeletRegistration> {
  const { registrationPath, csiEndpoint, logger } = opts;
  if (!isAbsolute(registrationPath))
    throw new Error(`kubelet registration socket must be an absolute path, got "${registrationPath}"`);
  if (!isAbsolute(csiEndpoint))
    throw new Error(`kubelet CSI endpoint must be an absolute socket path, got "${csiEndpoint}"`);
  const log = logger.child({ component: 'kubelet-registration' });
  const info: PluginInfo__Output = {
    type: CSI_PLUGIN_TYPE,
    name: opts.driverName ?? PLUGIN_NAME,
    endpoint: csiEndpoint,
    supportedVersions: [...CSI_SUPPORTED_VERSIONS],
  };
  let last: RegistrationStatus__Output | undefined;

  const server = new grpc.Server();
  const handlers: RegistrationHandlers = {
    GetInfo: (_call, callback) => {
      log.info('kubelet asked for plugin info', { name: info.name, csiEndpoint: info.endpoint });
      callback(null, info);
    },
    NotifyRegistrationStatus: (call, callback) => {
      last = { pluginRegistered: call.request.pluginRegistered === true, error: call.request.error ?? '' };
      if (last.pluginRegistered) log.info('registered with kubelet', { name: info.name, csiEndpoint: info.endpoint });
      else
        log.error('kubelet refused the registration', {
          name: info.name,
          csiEndpoint: info.endpoint,
          error: last.error,
        });
      callback(null, {});
    },
  };
  server.addService(loadRegistrationService().service, handlers);

  const dir = dirname(registrationPath);
  try {
    const st = await lstat(registrationPath);
    if (!st.isSocket()) throw new Error(`${registrationPath} exists and is not a socket; refusing to replace it`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR' || (code === 'ENOENT' && !(await lstat(dir).catch(() => undefined)))) {
      throw new Error(`kubelet registration directory ${dir} is missing (is kubelet's plugins_registry mounted?)`, {
        cause: err,
      });
    }
    if (code !== 'ENOENT') throw err;
  }
  // As with the CSI socket: a socket something still answers on belongs to a live plugin (another
  // instance on this node); replacing it would take kubelet's registration away from that one.
  if (await socketAnswers(registrationPath)) {
    throw new Error(
      `${registrationPath} is served by another process (is a second node plugin running?); refusing to replace it`,
    );
  }
  // Bound through a private alias of the directory (a symlink in a fresh 0700 temp dir), removed
  // right after: libuv unlinks the path it bound when the server closes, and that path then no
  // longer resolves, so stopping never removes a socket a successor has put at the final name.
  // (Binding under a hidden name and renaming makes kubelet's watcher log a stat error.)
  const aliasDir = await mkdtemp(join(tmpdir(), 'bm-kreg-alias-'));
  const bound = join(aliasDir, 'd', basename(registrationPath));
  try {
    await symlink(dir, join(aliasDir, 'd'));
    await unlink(registrationPath).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    }); // a socket left by an earlier run
    await new Promise<void>((resolve, reject) => {
      server.bindAsync(`unix://${bound}`, grpc.ServerCredentials.createInsecure(), (err) =>
        err ? reject(err) : resolve(),
      );
    });
    await chmod(registrationPath, 0o700);
  } catch (err) {
    server.forceShutdown();
    throw new Error(`cannot serve kubelet registration on ${registrationPath}: ${(err as Error).message}`, {
      cause: err,
    });
  } finally {
    await rm(aliasDir, { recursive: true, force: true });
  }
  const ours = await socketIdentity(registrationPath);
  log.info('serving kubelet registration', { socket: registrationPath, name: info.name, csiEndpoint: info.endpoint });

  let stopped = false;
  return {
    socketPath: registrationPath,
    status: () => last,
    async shutdown(timeoutMs = 2000) {
      if (stopped) return;
      stopped = true;
      await stopGrpcServer(server, timeoutMs);
      if (!(await unlinkIfOurs(registrationPath, ours)))
        log.info('registration socket replaced by another process; left in place', { socket: registrationPath });
    },
  };
}
