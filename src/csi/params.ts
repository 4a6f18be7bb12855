// Parsing and validation of what users write: StorageClass parameters (CreateVolume) and
// volume attributes (static PV volumeAttributes, or the context CreateVolume returned), into
// typed settings. Errors are CsiError INVALID_ARGUMENT naming the key to fix (PERMISSION_DENIED
// for a mount option its author may not set: option-authority.ts).
import { status } from '@grpc/grpc-js';
import { MountArgsError } from '../mount-contract/flags.js';
import { MountOptionAuthorityError, normaliseMountOptions } from '../mount-contract/kube-options.js';
import type { OptionAuthor } from '../mount-contract/option-authority.js';
import { S3NameError, validateBucketName, validatePrefix } from '../s3/names.js';
import { CREDENTIAL_ATTRIBUTES } from '../credentials/pod-identity.js';
import { CsiError, invalid } from './errors.js';
import { quote } from '../bounded-text.js';

/** volume_context key kubelet sets (podInfoOnMount) on inline volumes: their attributes are the pod author's. */
export const EPHEMERAL_KEY = 'csi.storage.k8s.io/ephemeral';

/** An inline (ephemeral) volume: a pod author wrote its attributes. */
export function isInlineVolume(ctx: Record<string, string>): boolean {
  return ctx[EPHEMERAL_KEY]?.trim().toLowerCase() === 'true';
}

/** Who wrote a publish's volume attributes and mount options (option-authority.ts tiers). */
export function optionAuthorOf(ctx: Record<string, string>): OptionAuthor {
  return isInlineVolume(ctx) ? 'pod' : 'volume';
}

/** Volume-attribute keys the credentials module reads; passed through from StorageClass to volumes. */
export const CREDENTIAL_KEYS: readonly string[] = Object.values(CREDENTIAL_ATTRIBUTES);

export const ATTR = {
  bucketName: 'bucketName',
  prefix: 'prefix',
  endpoint: 'endpoint',
  region: 'region',
  forcePathStyle: 'forcePathStyle',
  readOnly: 'readOnly',
  mountOptions: 'mountOptions',
} as const;

export const STORAGE_CLASS_KEYS = [
  'bucket',
  'bucketName',
  'basePrefix',
  'endpoint',
  'region',
  'forcePathStyle',
  'mountOptions',
  ...CREDENTIAL_KEYS,
] as const;
const VOLUME_ATTRIBUTE_KEYS = new Set<string>([...Object.values(ATTR), ...CREDENTIAL_KEYS]);

/** Our own namespaced volume-context keys start with this; an unknown one is a typo and refused. */
export const DRIVER_KEY_PREFIX = 'bucketmount.csi.io/';

/**
 * Volume-context keys naming the Kubernetes objects of a provisioned volume: CreateVolume copies
 * them from the parameters external-provisioner adds (--extra-create-metadata), the node records
 * them with the target. Labels only (metrics, status): they grant nothing. A static PV's author
 * may set them; an inline volume (pod-authored) may not, it has no PV or PVC.
 */
export const WORKLOAD_ATTR = {
  pvName: `${DRIVER_KEY_PREFIX}pv-name`,
  pvcName: `${DRIVER_KEY_PREFIX}pvc-name`,
  pvcNamespace: `${DRIVER_KEY_PREFIX}pvc-namespace`,
} as const;

/** CreateVolume parameters external-provisioner adds with --extra-create-metadata. */
export const PROVISIONER_METADATA = {
  pvName: 'csi.storage.k8s.io/pv/name',
  pvcName: 'csi.storage.k8s.io/pvc/name',
  pvcNamespace: 'csi.storage.k8s.io/pvc/namespace',
} as const;

export interface WorkloadAttributes {
  pvName?: string;
  pvcName?: string;
  pvcNamespace?: string;
}

/** A DNS-1123 subdomain (PV and PVC names), at most 253 characters. */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** A DNS-1123 label (namespaces), at most 63 characters. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function objectName(where: string, v: string | undefined, kind: 'name' | 'namespace'): string | undefined {
  if (v === undefined) return undefined;
  const ok = kind === 'name' ? v.length <= 253 && DNS_SUBDOMAIN.test(v) : v.length <= 63 && DNS_LABEL.test(v);
  if (!ok)
    throw invalid(
      `${where} must be a Kubernetes ${kind === 'name' ? 'object name (DNS-1123 subdomain, at most 253 characters)' : 'namespace (DNS-1123 label, at most 63 characters)'}, got ${quote(v)}`,
    );
  return v;
}

/** PV/PVC names from `m` under `keys` (volume context or CreateVolume parameters), checked. */
export function parseWorkloadAttributes(
  m: Record<string, string>,
  keys: Record<keyof WorkloadAttributes, string>,
  where: string,
): WorkloadAttributes {
  const out: WorkloadAttributes = {};
  const pvName = objectName(`${where} ${keys.pvName}`, trimmed(m, keys.pvName), 'name');
  const pvcName = objectName(`${where} ${keys.pvcName}`, trimmed(m, keys.pvcName), 'name');
  const pvcNamespace = objectName(`${where} ${keys.pvcNamespace}`, trimmed(m, keys.pvcNamespace), 'namespace');
  if (pvName !== undefined) out.pvName = pvName;
  if (pvcName !== undefined) out.pvcName = pvcName;
  if (pvcNamespace !== undefined) out.pvcNamespace = pvcNamespace;
  return out;
}

/** The volume context CreateVolume returns for the PV/PVC names of its parameters (our keys). */
export function workloadContext(params: Record<string, string>): Record<string, string> {
  const w = parseWorkloadAttributes(params, PROVISIONER_METADATA, 'CreateVolume parameter');
  const out: Record<string, string> = {};
  for (const k of Object.keys(WORKLOAD_ATTR) as (keyof WorkloadAttributes)[]) {
    const v = w[k];
    if (v !== undefined) out[WORKLOAD_ATTR[k]] = v;
  }
  return out;
}

export interface S3Settings {
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
}

export interface StorageClassParams extends S3Settings {
  /** Shared bucket (prefix mode); undefined = one bucket per volume. */
  bucket?: string;
  /** Prefix inside the shared bucket under which volume prefixes are made ('' or ends with '/'). */
  basePrefix: string;
  /** Normalised mount-command flags. */
  mountOptions: string[];
  /** Credential attributes to hand on to the node in the volume context. */
  credentialAttributes: Record<string, string>;
}

export interface VolumeAttributes extends S3Settings {
  bucket?: string;
  prefix: string;
  readOnly: boolean;
  mountOptions: string[];
  /** PV/PVC names (labels only; never set for inline volumes). */
  workload: WorkloadAttributes;
}

function trimmed(m: Record<string, string>, k: string): string | undefined {
  const v = m[k];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

export function parseBoolValue(where: string, v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  const s = v.toLowerCase();
  if (s === 'true' || s === '1' || s === 'yes') return true;
  if (s === 'false' || s === '0' || s === 'no') return false;
  throw invalid(`${where} must be "true" or "false", got "${v}"`);
}

export function parseEndpoint(where: string, v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(v);
  } catch (err) {
    throw invalid(`${where} "${v}" is not a URL: expected e.g. https://s3.example.com or http://minio.minio:9000`, {
      cause: err,
    });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw invalid(`${where} must be an http or https URL, got "${v}"`);
  return v.replace(/\/+$/, '');
}

export function parseRegion(where: string, v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/i.test(v)) throw invalid(`${where} "${v}" is not a region name like us-east-1`);
  return v;
}

function parseMountOptionList(where: string, list: readonly string[], author: OptionAuthor): string[] {
  try {
    return normaliseMountOptions(list, author);
  } catch (err) {
    if (err instanceof MountOptionAuthorityError)
      throw new CsiError(status.PERMISSION_DENIED, `${where}: ${err.message}`, { cause: err });
    if (err instanceof MountArgsError) throw invalid(`${where}: ${err.message}`, { cause: err });
    throw err;
  }
}

function checked<T>(where: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof S3NameError) throw invalid(`${where}: ${err.message}`, { cause: err });
    throw err;
  }
}

/** Keys Kubernetes components add themselves (csi.storage.k8s.io/…, storage.kubernetes.io/…). */
const isNamespacedKey = (k: string): boolean => k.includes('/');

export function parseStorageClassParams(params: Record<string, string>): StorageClassParams {
  const known = new Set<string>(STORAGE_CLASS_KEYS);
  for (const k of Object.keys(params)) {
    if (!known.has(k) && !isNamespacedKey(k)) {
      throw invalid(`unknown StorageClass parameter "${k}"; known parameters: ${STORAGE_CLASS_KEYS.join(', ')}`);
    }
  }
  const bucketRaw = trimmed(params, 'bucket') ?? trimmed(params, 'bucketName');
  const bucket =
    bucketRaw === undefined ? undefined : checked('StorageClass parameter bucket', () => validateBucketName(bucketRaw));
  const basePrefix = checked('StorageClass parameter basePrefix', () =>
    validatePrefix(trimmed(params, 'basePrefix') ?? ''),
  );
  if (basePrefix !== '' && bucket === undefined)
    throw invalid('StorageClass parameter basePrefix needs the bucket parameter (prefix mode)');
  const credentialAttributes: Record<string, string> = {};
  for (const k of CREDENTIAL_KEYS) {
    const v = trimmed(params, k);
    if (v !== undefined) credentialAttributes[k] = v;
  }
  return {
    bucket,
    basePrefix,
    endpoint: parseEndpoint('StorageClass parameter endpoint', trimmed(params, 'endpoint')),
    region: parseRegion('StorageClass parameter region', trimmed(params, 'region')),
    forcePathStyle: parseBoolValue('StorageClass parameter forcePathStyle', trimmed(params, 'forcePathStyle')),
    mountOptions: parseMountOptionList(
      'StorageClass parameter mountOptions',
      trimmed(params, 'mountOptions') ? [params.mountOptions!] : [],
      'volume',
    ),
    credentialAttributes,
  };
}

/**
 * Parse volume attributes (volume_context); unknown un-namespaced keys are refused (typos). The
 * mountOptions attribute of an inline volume is checked as the pod author's (optionAuthorOf).
 */
export function parseVolumeAttributes(ctx: Record<string, string>): VolumeAttributes {
  for (const k of Object.keys(ctx)) {
    if (!VOLUME_ATTRIBUTE_KEYS.has(k) && !isNamespacedKey(k)) {
      throw invalid(`unknown volume attribute "${k}"; known attributes: ${[...VOLUME_ATTRIBUTE_KEYS].join(', ')}`);
    }
  }
  const ours = new Set<string>(Object.values(WORKLOAD_ATTR));
  for (const k of Object.keys(ctx)) {
    if (!k.startsWith(DRIVER_KEY_PREFIX)) continue;
    if (!ours.has(k))
      throw invalid(
        `unknown volume attribute ${quote(k)}; known ${DRIVER_KEY_PREFIX} attributes: ${[...ours].join(', ')}`,
      );
    if (isInlineVolume(ctx))
      throw invalid(`inline volume attribute "${k}": an inline volume has no PersistentVolume or claim; remove it`);
  }
  const bucketRaw = trimmed(ctx, ATTR.bucketName);
  return {
    bucket:
      bucketRaw === undefined ? undefined : checked('volume attribute bucketName', () => validateBucketName(bucketRaw)),
    prefix: checked('volume attribute prefix', () => validatePrefix(trimmed(ctx, ATTR.prefix) ?? '')),
    endpoint: parseEndpoint('volume attribute endpoint', trimmed(ctx, ATTR.endpoint)),
    region: parseRegion('volume attribute region', trimmed(ctx, ATTR.region)),
    forcePathStyle: parseBoolValue('volume attribute forcePathStyle', trimmed(ctx, ATTR.forcePathStyle)),
    readOnly: parseBoolValue('volume attribute readOnly', trimmed(ctx, ATTR.readOnly)) ?? false,
    mountOptions: parseMountOptionList(
      isInlineVolume(ctx) ? 'inline volume attribute mountOptions' : 'volume attribute mountOptions',
      trimmed(ctx, ATTR.mountOptions) ? [ctx.mountOptions!] : [],
      optionAuthorOf(ctx),
    ),
    workload: parseWorkloadAttributes(ctx, WORKLOAD_ATTR, 'volume attribute'),
  };
}

/** Mount flags from the capability (PV/StorageClass mountOptions arrive as mount_flags), written by `author`. */
export function parseMountFlags(flags: readonly string[], author: OptionAuthor): string[] {
  return parseMountOptionList(
    author === 'pod' ? 'mount options of an inline volume' : 'mount options (PV/StorageClass mountOptions)',
    flags,
    author,
  );
}

/**
 * Effective endpoint / region / path style from layers, first defined wins (e.g. volume
 * attribute, secret, driver default). Path style defaults to true for custom endpoints (MinIO,
 * Ceph, GCS need it) and false for AWS.
 */
export function effectiveS3Settings(...layers: (S3Settings | undefined)[]): {
  endpoint?: string;
  region?: string;
  forcePathStyle: boolean;
} {
  const first = <K extends keyof S3Settings>(k: K): S3Settings[K] => layers.find((l) => l?.[k] !== undefined)?.[k];
  const endpoint = first('endpoint');
  const region = first('region');
  return {
    ...(endpoint !== undefined ? { endpoint } : {}),
    ...(region !== undefined ? { region } : {}),
    forcePathStyle: first('forcePathStyle') ?? endpoint !== undefined,
  };
}

export const SNAPSHOT_CLASS_KEYS = ['snapshotBucket'] as const;

export interface SnapshotClassParams {
  /** Bucket for the snapshot's objects; undefined = the volume's shared bucket / a bucket per snapshot. */
  snapshotBucket?: string;
}

/** Parse VolumeSnapshotClass parameters (CreateSnapshot parameters). */
export function parseSnapshotClassParams(params: Record<string, string>): SnapshotClassParams {
  const known = new Set<string>(SNAPSHOT_CLASS_KEYS);
  for (const k of Object.keys(params)) {
    if (!known.has(k) && !isNamespacedKey(k)) {
      throw invalid(
        `unknown VolumeSnapshotClass parameter "${k}"; known parameters: ${SNAPSHOT_CLASS_KEYS.join(', ')}`,
      );
    }
  }
  const raw = trimmed(params, 'snapshotBucket');
  return {
    snapshotBucket:
      raw === undefined
        ? undefined
        : checked('VolumeSnapshotClass parameter snapshotBucket', () => validateBucketName(raw)),
  };
}
