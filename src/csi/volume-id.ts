// Volume IDs of dynamically provisioned volumes. DeleteVolume receives only the id and the
// provisioner secrets, so the id carries where the data lives:
//
//   bm1:<bucket>                      one bucket per volume
//   bm1:<bucket>/<prefix>             a prefix (ending in "/") inside a shared bucket
//   …|e=<endpoint>|r=<region>|s=<0|1> only when the StorageClass overrides the controller's
//                                     defaults (endpoint URL-encoded)
//
// Ids are ASCII and at most 128 bytes (the CSI string limit). Names that are not valid bucket
// names / key segments, or too long, are shortened deterministically with a hash, so the same
// volume name always gives the same id. Different names can give the same id (a hashed form is
// itself a plain name; the hash is short): the volume store records the full name with the
// volume and refuses a second name (storage/storage.ts checkVolumeName).
import { createHash } from 'node:crypto';
import { isValidBucketName, S3NameError, validateBucketName, validatePrefix } from '../s3/names.js';

export const VOLUME_ID_VERSION = 'bm1';
export const MAX_ID_BYTES = 128;

export interface VolumeLocation {
  bucket: string;
  /** '' for a whole bucket; otherwise ends with '/'. */
  prefix: string;
  /** Present only when the volume does not use the controller's default endpoint. */
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
}

export class VolumeIdError extends Error {
  override name = 'VolumeIdError';
}

export function shortHash(s: string, len = 10): string {
  return createHash('sha256').update(s).digest('hex').slice(0, len);
}

/** The endpoint overrides an id may carry (shared by volume and snapshot ids). */
export type EndpointOverrides = Pick<VolumeLocation, 'endpoint' | 'region' | 'forcePathStyle'>;

/** `|e=…|r=…|s=…` for the overrides that are set (endpoint and region URL-encoded). */
export function endpointOptionsSuffix(loc: EndpointOverrides): string {
  let s = '';
  if (loc.endpoint !== undefined) s += `|e=${encodeURIComponent(loc.endpoint)}`;
  if (loc.region !== undefined) s += `|r=${encodeURIComponent(loc.region)}`;
  if (loc.forcePathStyle !== undefined) s += `|s=${loc.forcePathStyle ? 1 : 0}`;
  return s;
}

/**
 * Parse the `k=v` options after the id body into `loc`; `extra` handles id-specific keys.
 * false when an option is malformed or unknown (then the id is not one of ours). May throw URIError.
 */
export function parseIdOptions(
  opts: string[],
  loc: EndpointOverrides,
  extra: (k: string, v: string) => boolean = () => false,
): boolean {
  for (const o of opts) {
    const eq = o.indexOf('=');
    if (eq < 0) return false;
    const k = o.slice(0, eq);
    const v = decodeURIComponent(o.slice(eq + 1));
    if (k === 'e') loc.endpoint = v;
    else if (k === 'r') loc.region = v;
    else if (k === 's' && (v === '0' || v === '1')) loc.forcePathStyle = v === '1';
    else if (!extra(k, v)) return false;
  }
  return true;
}

export function encodeVolumeId(loc: VolumeLocation): string {
  const id = `${VOLUME_ID_VERSION}:${loc.bucket}${loc.prefix ? '/' + loc.prefix : ''}${endpointOptionsSuffix(loc)}`;
  if (Buffer.byteLength(id) > MAX_ID_BYTES) {
    throw new VolumeIdError(
      `volume id would be ${Buffer.byteLength(id)} bytes, more than the CSI limit of ${MAX_ID_BYTES}: use a shorter bucket name, base prefix or endpoint (or set the endpoint as the controller default / in the provisioner secret)`,
    );
  }
  return id;
}

/** Decode an id made by encodeVolumeId; undefined when it is not one of ours. */
export function decodeVolumeId(id: string): VolumeLocation | undefined {
  if (!id.startsWith(VOLUME_ID_VERSION + ':') || Buffer.byteLength(id) > MAX_ID_BYTES) return undefined;
  const [body, ...opts] = id.slice(VOLUME_ID_VERSION.length + 1).split('|');
  const slash = body!.indexOf('/');
  const bucket = slash < 0 ? body! : body!.slice(0, slash);
  const prefix = slash < 0 ? '' : body!.slice(slash + 1);
  const loc: VolumeLocation = { bucket, prefix };
  try {
    validateBucketName(bucket);
    validatePrefix(prefix);
    if (slash >= 0 && prefix === '') return undefined;
    if (!parseIdOptions(opts, loc)) return undefined;
  } catch (err) {
    if (err instanceof S3NameError || err instanceof URIError) return undefined;
    throw err;
  }
  return loc;
}

/**
 * The bucket for a volume in bucket-per-volume mode: the volume name when it is a valid bucket
 * name, otherwise a lower-cased, cleaned, shortened form plus a hash of the full name.
 */
export function bucketNameForVolume(name: string): string {
  if (/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(name) && isValidBucketName(name)) return name;
  const clean = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-+|-+$/g, '')
    .replace(/^xn--/, 'xn-');
  const hash = shortHash(name);
  const head = clean.slice(0, 63 - hash.length - 1).replace(/-+$/, '');
  const named = head ? `${head}-${hash}` : '';
  return isValidBucketName(named) ? named : `vol-${hash}`;
}

/**
 * The key prefix for a volume in prefix mode: basePrefix + a segment derived from the name +
 * '/'. The segment is shortened (with a hash) so that the whole id fits `roomBytes`.
 */
export function prefixForVolume(name: string, basePrefix: string, roomBytes: number): string {
  const hash = shortHash(name);
  const room = roomBytes - Buffer.byteLength(basePrefix) - 1; // bytes left for the segment
  if (room < hash.length + 1) {
    throw new VolumeIdError(
      `base prefix "${basePrefix}" is too long to build volume ids within ${MAX_ID_BYTES} bytes; shorten it`,
    );
  }
  const plain = /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) && name !== '.' && name !== '..';
  if (plain && name.length <= room) return `${basePrefix}${name}/`;
  const clean = name.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '');
  const head = clean.slice(0, room - hash.length - 1);
  return `${basePrefix}${head ? head + '-' : ''}${hash}/`;
}

/** Location of a new volume; throws VolumeIdError when it cannot fit. */
export function locationForVolume(
  name: string,
  opts: { bucket?: string; basePrefix: string; overrides: Omit<VolumeLocation, 'bucket' | 'prefix'> },
): VolumeLocation {
  if (opts.bucket === undefined) {
    const loc: VolumeLocation = { bucket: bucketNameForVolume(name), prefix: '', ...opts.overrides };
    encodeVolumeId(loc);
    return loc;
  }
  const fixed = `${VOLUME_ID_VERSION}:${opts.bucket}/${endpointOptionsSuffix(opts.overrides)}`;
  const prefix = prefixForVolume(name, opts.basePrefix, MAX_ID_BYTES - Buffer.byteLength(fixed));
  const loc: VolumeLocation = { bucket: opts.bucket, prefix, ...opts.overrides };
  encodeVolumeId(loc);
  return loc;
}
