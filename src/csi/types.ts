// The CSI v1 types the driver uses, all derived from the code generated from proto/csi.proto into
// ./generated/ (npm run gen:proto; same loader options as proto.ts): camelCase fields, enums as
// strings, int64 as number, oneofs with their case name. Each RPC has four shapes:
//   RequestOf<R>        what a handler receives (decoded: every field present, defaults filled);
//   ResponseOf<R>       what a handler may answer (every field optional);
//   ClientRequestOf<R>  what a client may send (every field optional);
//   ClientResponseOf<R> what a client receives (decoded).
// Only the names below are written by hand.
import type { MethodDefinition } from '@grpc/proto-loader';
import type { ControllerDefinition } from './generated/csi/v1/Controller.js';
import type { IdentityDefinition } from './generated/csi/v1/Identity.js';
import type { NodeDefinition } from './generated/csi/v1/Node.js';
import type { VolumeCapability__Output } from './generated/csi/v1/VolumeCapability.js';

export type { VolumeCapability, VolumeCapability__Output } from './generated/csi/v1/VolumeCapability.js';
export type { Volume, Volume__Output } from './generated/csi/v1/Volume.js';
export type { Snapshot, Snapshot__Output } from './generated/csi/v1/Snapshot.js';
export type { VolumeUsage } from './generated/csi/v1/VolumeUsage.js';
export type { PluginCapability } from './generated/csi/v1/PluginCapability.js';

export interface CsiDefinitions {
  Identity: IdentityDefinition;
  Controller: ControllerDefinition;
  Node: NodeDefinition;
}
export type CsiServiceName = keyof CsiDefinitions;

/** The declared keys of T (a generated service definition also has grpc's string index signature). */
type DeclaredKeys<T> = keyof { [K in keyof T as string extends K ? never : K]: T[K] } & string;

/** The RPC names of one service, e.g. RpcName<'Node'> = 'NodePublishVolume' | … */
export type RpcName<S extends CsiServiceName> = DeclaredKeys<CsiDefinitions[S]>;
/** Every RPC name (unique across the three services). */
export type Rpc = RpcName<'Identity'> | RpcName<'Controller'> | RpcName<'Node'>;

type MethodOf<R extends Rpc> =
  R extends RpcName<'Identity'>
    ? IdentityDefinition[R]
    : R extends RpcName<'Controller'>
      ? ControllerDefinition[R]
      : R extends RpcName<'Node'>
        ? NodeDefinition[R]
        : never;
type Shapes<R extends Rpc> =
  MethodOf<R> extends MethodDefinition<infer Req, infer Res, infer ReqOut, infer ResOut>
    ? { req: Req; res: Res; reqOut: ReqOut; resOut: ResOut }
    : never;

export type RequestOf<R extends Rpc> = Shapes<R>['reqOut'];
export type ResponseOf<R extends Rpc> = Shapes<R>['res'];
export type ClientRequestOf<R extends Rpc> = Shapes<R>['req'];
export type ClientResponseOf<R extends Rpc> = Shapes<R>['resOut'];

/** The handler table of one service: a typed handler for every RPC of the .proto. */
export type ServiceHandlers<S extends CsiServiceName> = {
  [R in RpcName<S>]: R extends Rpc ? (request: RequestOf<R>) => Promise<ResponseOf<R>> : never;
};

export type StringMap = Record<string, string>;
export type AccessModeName = NonNullable<VolumeCapability__Output['accessMode']>['mode'];
