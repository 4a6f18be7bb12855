// Snapshot ids and where a snapshot's objects live. DeleteSnapshot and CreateVolume-from-snapshot
// receive only the id (plus secrets), so the id carries the location:
//
//   bs1:<bucket>/<segment>            snapshot objects under "<bucket>/.bucketmount-snapshots/<segment>/"
//   …|d=1                             the bucket was created for this snapshot alone (bucket mode
//                                     without snapshotBucket) and is removed with it
//   …|e=<endpoint>|r=<region>|s=<0|1> only when the source volume overrides the controller's defaults
//
// The reserved prefix starts with "." while every provisioned volume prefix starts with a letter or
// digit (see prefixForVolume), so snapshot objects are never inside a volume's prefix. Ids are ASCII,
// at most 128 bytes, and stable for the same snapshot name + bucket (hash-shortened when long).
// Also the opaque ListSnapshots paging token.
import { S3NameError, validateBucketName } from '../s3/names.js';
import {
  bucketNameForVolume,
  endpointOptionsSuffix,
  MAX_ID_BYTES,
  parseIdOptions,
  prefixForVolume,
  VolumeIdError,
  type VolumeLocation,
} from './volume-id.js';

export const SNAPSHOT_ID_VERSION = 'bs1';
/** Reserved key prefix under which snapshots are stored in a bucket. */
export const SNAPSHOT_ROOT = '.bucketmount-snapshots/';

export interface SnapshotLocation {
  bucket: string;
  /** One path segment, no "/". */
  segment: string;
  /** The bucket belongs to this snapshot alone (delete it with the snapshot). */
  dedicatedBucket: boolean;
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
}

/** The key prefix holding the snapshot (ends with "/"); the zero-byte marker is this key itself. */
export function snapshotPrefix(loc: SnapshotLocation): string {
  return `${SNAPSHOT_ROOT}${loc.segment}/`;
}

/** The snapshot seen as a volume-like location (what copyVolumeData takes). */
export function snapshotAsLocation(loc: SnapshotLocation): VolumeLocation {
  return {
    bucket: loc.bucket,
    prefix: snapshotPrefix(loc),
    endpoint: loc.endpoint,
    region: loc.region,
    forcePathStyle: loc.forcePathStyle,
  };
}

function suffix(loc: Omit<SnapshotLocation, 'bucket' | 'segment'>): string {
  return (loc.dedicatedBucket ? '|d=1' : '') + endpointOptionsSuffix(loc);
}

export function encodeSnapshotId(loc: SnapshotLocation): string {
  const id = `${SNAPSHOT_ID_VERSION}:${loc.bucket}/${loc.segment}${suffix(loc)}`;
  if (Buffer.byteLength(id) > MAX_ID_BYTES) {
    throw new VolumeIdError(
      `snapshot id would be ${Buffer.byteLength(id)} bytes, more than the CSI limit of ${MAX_ID_BYTES}: use a shorter bucket name or endpoint`,
    );
  }
  return id;
}

const SEGMENT_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Decode an id made by encodeSnapshotId; undefined when it is not one of ours. */
export function decodeSnapshotId(id: string): SnapshotLocation | undefined {
  if (!id.startsWith(SNAPSHOT_ID_VERSION + ':') || Buffer.byteLength(id) > MAX_ID_BYTES) return undefined;
  const [body, ...opts] = id.slice(SNAPSHOT_ID_VERSION.length + 1).split('|');
  const slash = body!.indexOf('/');
  if (slash < 0) return undefined;
  const bucket = body!.slice(0, slash);
  const segment = body!.slice(slash + 1);
  if (!SEGMENT_RE.test(segment) || segment === '.' || segment === '..') return undefined;
  const loc: SnapshotLocation = { bucket, segment, dedicatedBucket: false };
  try {
    validateBucketName(bucket);
    const dedicated = (k: string, v: string): boolean => {
      if (k !== 'd' || v !== '1') return false;
      loc.dedicatedBucket = true;
      return true;
    };
    if (!parseIdOptions(opts, loc, dedicated)) return undefined;
  } catch (err) {
    if (err instanceof S3NameError || err instanceof URIError) return undefined;
    throw err;
  }
  return loc;
}

/** The bucket made for one snapshot in bucket mode (distinct from any volume bucket of the same name). */
export function dedicatedSnapshotBucket(snapshotName: string): string {
  return bucketNameForVolume(`bms-${snapshotName}`);
}

/**
 * Where snapshot `name` of `source` goes: `snapshotBucket` when given; else the source's own
 * bucket for prefix-mode volumes; else (bucket-per-volume) a bucket of its own, so the source
 * bucket can still be deleted. Connection overrides are the source volume's. Throws
 * VolumeIdError when the id cannot fit 128 bytes.
 */
export function locationForSnapshot(
  name: string,
  source: VolumeLocation,
  snapshotBucket: string | undefined,
): SnapshotLocation {
  const dedicatedBucket = snapshotBucket === undefined && source.prefix === '';
  const bucket = snapshotBucket ?? (dedicatedBucket ? dedicatedSnapshotBucket(name) : source.bucket);
  const base: SnapshotLocation = { bucket, segment: '', dedicatedBucket };
  if (source.endpoint !== undefined) base.endpoint = source.endpoint;
  if (source.region !== undefined) base.region = source.region;
  if (source.forcePathStyle !== undefined) base.forcePathStyle = source.forcePathStyle;
  const fixed = `${SNAPSHOT_ID_VERSION}:${bucket}/${suffix(base)}`;
  const seg = prefixForVolume(name, '', MAX_ID_BYTES - Buffer.byteLength(fixed));
  const loc: SnapshotLocation = { ...base, segment: seg.slice(0, -1) };
  encodeSnapshotId(loc);
  return loc;
}

const TOKEN_PREFIX = 'bmt1:';

/** Paging token for ListSnapshots: resume after this snapshot id (ids are listed sorted). */
export function encodePageToken(afterId: string): string {
  return TOKEN_PREFIX + Buffer.from(afterId, 'utf8').toString('base64url');
}

/** The id to resume after; undefined when the token is not one of ours (→ ABORTED). */
export function decodePageToken(token: string): string | undefined {
  if (!token.startsWith(TOKEN_PREFIX)) return undefined;
  const raw = token.slice(TOKEN_PREFIX.length);
  if (!/^[A-Za-z0-9_-]+$/.test(raw)) return undefined;
  const id = Buffer.from(raw, 'base64url').toString('utf8');
  return decodeSnapshotId(id) ? id : undefined;
}
