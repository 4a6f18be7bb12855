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
import type * as T from './types.js';

export class CsiCallError extends Error {
  override name = 'CsiCallError';
  constructor(
    readonly rpc: string,
    readonly code: grpc.status,
    readonly details: string,
  ) {
    super(`${rpc} failed: ${grpc.status[code] ?? code}: ${details}`);
  }
  get codeName(): string {
    return grpc.status[this.code] ?? String(this.code);
  }
}

export interface IdentityClient {
  getPluginInfo(req?: T.GetPluginInfoRequest): Promise<T.GetPluginInfoResponse>;
  getPluginCapabilities(req?: T.GetPluginCapabilitiesRequest): Promise<T.GetPluginCapabilitiesResponse>;
  probe(req?: T.ProbeRequest): Promise<T.ProbeResponse>;
}

export interface ControllerClient {
  createVolume(req: T.CreateVolumeRequest): Promise<T.CreateVolumeResponse>;
  deleteVolume(req: T.DeleteVolumeRequest): Promise<T.DeleteVolumeResponse>;
  validateVolumeCapabilities(req: T.ValidateVolumeCapabilitiesRequest): Promise<T.ValidateVolumeCapabilitiesResponse>;
  controllerGetCapabilities(req?: T.ControllerGetCapabilitiesRequest): Promise<T.ControllerGetCapabilitiesResponse>;
  controllerExpandVolume(req: T.ControllerExpandVolumeRequest): Promise<T.ControllerExpandVolumeResponse>;
  createSnapshot(req: T.CreateSnapshotRequest): Promise<T.CreateSnapshotResponse>;
  deleteSnapshot(req: T.DeleteSnapshotRequest): Promise<T.DeleteSnapshotResponse>;
  listSnapshots(req: T.ListSnapshotsRequest): Promise<T.ListSnapshotsResponse>;
  listVolumes(req: T.ListVolumesRequest): Promise<T.ListVolumesResponse>;
}

export interface NodeClient {
  nodePublishVolume(req: T.NodePublishVolumeRequest): Promise<T.NodePublishVolumeResponse>;
  nodeUnpublishVolume(req: T.NodeUnpublishVolumeRequest): Promise<T.NodeUnpublishVolumeResponse>;
  nodeGetVolumeStats(req: T.NodeGetVolumeStatsRequest): Promise<T.NodeGetVolumeStatsResponse>;
  nodeGetCapabilities(req?: T.NodeGetCapabilitiesRequest): Promise<T.NodeGetCapabilitiesResponse>;
  nodeGetInfo(req?: T.NodeGetInfoRequest): Promise<T.NodeGetInfoResponse>;
}

export interface CsiClients {
  identity: IdentityClient;
  controller: ControllerClient;
  node: NodeClient;
  /** Call any RPC by its .proto name, e.g. raw('Node', 'NodeStageVolume', {...}). */
  raw(service: 'Identity' | 'Controller' | 'Node', rpc: string, req: object): Promise<unknown>;
  close(): void;
}

type UnaryFn = (req: object, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: unknown) => void) => void;

function promisify(client: grpc.Client, rpc: string, timeoutMs: number): (req?: object) => Promise<unknown> {
  const fn = (client as unknown as Record<string, UnaryFn>)[rpc];
  if (typeof fn !== 'function') throw new Error(`no such RPC ${rpc}`);
  return (req = {}) =>
    new Promise((resolve, reject) => {
      fn.call(client, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) reject(new CsiCallError(rpc, err.code, err.details));
        else resolve(res);
      });
    });
}

const lowerFirst = (s: string): string => s[0]!.toLowerCase() + s.slice(1);

function serviceClient<C>(client: grpc.Client, rpcs: string[], timeoutMs: number): C {
  const out: Record<string, unknown> = {};
  for (const rpc of rpcs) out[lowerFirst(rpc)] = promisify(client, rpc, timeoutMs);
  return out as C;
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
    identity: serviceClient<IdentityClient>(clients.Identity, ['GetPluginInfo', 'GetPluginCapabilities', 'Probe'], timeoutMs),
    controller: serviceClient<ControllerClient>(clients.Controller, ['CreateVolume', 'DeleteVolume', 'ValidateVolumeCapabilities', 'ControllerGetCapabilities', 'ControllerExpandVolume', 'CreateSnapshot', 'DeleteSnapshot', 'ListSnapshots', 'ListVolumes'], timeoutMs),
    node: serviceClient<NodeClient>(clients.Node, ['NodePublishVolume', 'NodeUnpublishVolume', 'NodeGetVolumeStats', 'NodeGetCapabilities', 'NodeGetInfo'], timeoutMs),
    raw: (service, rpc, req) => promisify(clients[service], rpc, timeoutMs)(req),
    close() {
      for (const c of Object.values(clients)) c.close();
    },
  };
}
