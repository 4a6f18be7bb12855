// Loads proto/csi.proto with @grpc/proto-loader and exposes the CSI v1 service definitions, typed
// by the code generated from the same file (./generated/, npm run gen:proto).
// The .proto is found relative to the package root (dist/src/csi → ../../../proto), which holds
// both in the repo and in the container image (dist and proto copied side by side);
// BUCKETMOUNT_CSI_PROTO overrides the path.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType } from './generated/csi.js';

/** Path of proto/<file>; candidate locations: compiled (dist/src/csi) and source (src/csi, e.g. run with a TS loader). */
export function protoFilePath(file: string): string {
  const candidates = [
    new URL(`../../../proto/${file}`, import.meta.url),
    new URL(`../../proto/${file}`, import.meta.url),
  ].map((u) => fileURLToPath(u));
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`proto/${file} not found (looked at ${candidates.join(', ')})`);
  return found;
}

function protoPath(): string {
  const override = process.env.BUCKETMOUNT_CSI_PROTO;
  if (override) return override;
  try {
    return protoFilePath('csi.proto');
  } catch (err) {
    throw new Error(`${(err as Error).message}; set BUCKETMOUNT_CSI_PROTO`, { cause: err });
  }
}

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** The three CSI services: typed client constructors, each with its service definition. */
export type CsiServices = Pick<ProtoGrpcType['csi']['v1'], 'Identity' | 'Controller' | 'Node'>;

let cached: CsiServices | undefined;

export function loadCsi(): CsiServices {
  if (cached) return cached;
  const def = protoLoader.loadSync(protoPath(), LOADER_OPTIONS);
  const pkg = grpc.loadPackageDefinition(def) as unknown as ProtoGrpcType;
  cached = pkg.csi.v1;
  return cached;
}
