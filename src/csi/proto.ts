// Loads proto/csi.proto with @grpc/proto-loader and exposes the CSI v1 service definitions.
// The .proto is found relative to the package root (dist/src/csi → ../../../proto), which holds
// both in the repo and in the container image (dist and proto copied side by side);
// BUCKETMOUNT_CSI_PROTO overrides the path.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** Candidate locations: compiled (dist/src/csi) and source (src/csi, e.g. run with a TS loader). */
function protoPath(): string {
  const override = process.env.BUCKETMOUNT_CSI_PROTO;
  if (override) return override;
  const candidates = [new URL('../../../proto/csi.proto', import.meta.url), new URL('../../proto/csi.proto', import.meta.url)].map((u) => fileURLToPath(u));
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`proto/csi.proto not found (looked at ${candidates.join(', ')}); set BUCKETMOUNT_CSI_PROTO`);
  return found;
}

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

export interface CsiServices {
  Identity: grpc.ServiceClientConstructor;
  Controller: grpc.ServiceClientConstructor;
  Node: grpc.ServiceClientConstructor;
}

let cached: CsiServices | undefined;

export function loadCsi(): CsiServices {
  if (cached) return cached;
  const def = protoLoader.loadSync(protoPath(), LOADER_OPTIONS);
  const pkg = grpc.loadPackageDefinition(def) as unknown as { csi: { v1: CsiServices } };
  cached = pkg.csi.v1;
  return cached;
}
