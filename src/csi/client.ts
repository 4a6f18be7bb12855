// Promise-based CSI clients for a plugin's unix socket (the demo and the tests use them).
//
//   import { createCsiClients } from '../src/csi/client.js';
//   const c = createCsiClients('unix:///tmp/csi.sock');
//   const { volume } = await c.controller.createVolume({
//     name: 'pvc-1',
//     volumeCapabilities: [{ mount: {}, accessMode: { mode: 'MULTI_NODE_MULTI_WRITER' } }],
//     parameters: { bucket: 'shared' },                       // omit for one bucket per volume
//     secrets: { AWS_ACCESS_KEY_ID: '…', AWS_SECRET_ACCESS_KEY: '…', endpoint: 'http://127.0.0.1:9000' },
//   });
//   await c.node.nodePublishVolume({ volumeId: volume.volumeId, targetPath: '/mnt/x',
//     volumeCapability: { mount: {}, accessMode: { mode: 'MULTI_NODE_MULTI_WRITER' } },
//     volumeContext: volume.volumeContext, secrets: { … } });
//   await c.node.nodeUnpublishVolume({ volumeId: volume.volumeId, targetPath: '/mnt/x' });
//   await c.controller.deleteVolume({ volumeId: volume.volumeId, secrets: { … } });
//   c.close();
//
// A failed call rejects with a CsiCallError carrying the gRPC status code (`code`, `codeName`)
// and the driver's message (`details`).
import * as grpc from '@grpc/grpc-js';
import { loadCsi } from './proto.js';
import type { ClientRequestOf, ClientResponseOf, CsiServiceName, Rpc, RpcName } from './types.js';

export class CsiCallError extends Error {
  override name = 'CsiCallError';
  constructor(
    readonly rpc: string,
    readonly code: grpc.status,
    readonly details: string,
    options?: ErrorOptions,
  ) {
    super(`${rpc} failed: ${grpc.status[code] ?? code}: ${details}`, options);
  }
  get codeName(): string {
    return grpc.status[this.code] ?? String(this.code);
  }
}

/** A promise-returning method per RPC of service S, named in lowerCamelCase (createVolume, …). */
export type ServiceClient<S extends CsiServiceName> = {
  [R in RpcName<S> as Uncapitalize<R>]: R extends Rpc
    ? (req?: ClientRequestOf<R>) => Promise<ClientResponseOf<R>>
    : never;
};
export type IdentityClient = ServiceClient<'Identity'>;
export type ControllerClient = ServiceClient<'Controller'>;
export type NodeClient = ServiceClient<'Node'>;

export interface CsiClients {
  identity: IdentityClient;
  controller: ControllerClient;
  node: NodeClient;
  /** Call any RPC by its .proto name, e.g. raw('Node', 'NodeStageVolume', {...}). */
  raw(service: CsiServiceName, rpc: string, req: object): Promise<unknown>;
  close(): void;
}

type UnaryFn = (
  req: object,
  meta: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res?: unknown) => void,
) => void;

function promisify(client: grpc.Client, rpc: string, timeoutMs: number): (req?: object) => Promise<unknown> {
  const fn = (client as unknown as Record<string, UnaryFn>)[rpc];
  if (typeof fn !== 'function') throw new Error(`no such RPC ${rpc}`);
  return (req = {}) =>
    new Promise((resolve, reject) => {
      fn.call(client, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) reject(new CsiCallError(rpc, err.code, err.details, { cause: err }));
        else resolve(res);
      });
    });
}

const lowerFirst = (s: string): string => s[0]!.toLowerCase() + s.slice(1);

/** Every RPC of the service definition `def`, promisified. */
function serviceClient<S extends CsiServiceName>(
  client: grpc.Client,
  def: grpc.ServiceDefinition,
  timeoutMs: number,
): ServiceClient<S> {
  const out: Record<string, unknown> = {};
  for (const rpc of Object.keys(def)) out[lowerFirst(rpc)] = promisify(client, rpc, timeoutMs);
  return out as ServiceClient<S>;
}

/** Clients for the three CSI services on `endpoint` (unix:///path.sock). Default deadline 2 min per call. */
export function createCsiClients(endpoint: string, opts: { timeoutMs?: number } = {}): CsiClients {
  const csi = loadCsi();
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const target = endpoint.startsWith('unix:') ? endpoint : `unix://${endpoint}`;
  const creds = grpc.credentials.createInsecure();
  const clients = {
    Identity: new csi.Identity(target, creds),
    Controller: new csi.Controller(target, creds),
    Node: new csi.Node(target, creds),
  };
  return {
    identity: serviceClient<'Identity'>(clients.Identity, csi.Identity.service, timeoutMs),
    controller: serviceClient<'Controller'>(clients.Controller, csi.Controller.service, timeoutMs),
    node: serviceClient<'Node'>(clients.Node, csi.Node.service, timeoutMs),
    raw: (service, rpc, req) => promisify(clients[service], rpc, timeoutMs)(req),
    close() {
      for (const c of Object.values(clients)) c.close();
    },
  };
}
