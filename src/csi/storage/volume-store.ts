// The volume store: the S3 layout of provisioned volumes — create / find / delete the storage behind a volume.
//   bucket mode: a bucket per volume, tagged as ours with its capacity and volume name; deleted
//                after emptying, and only when it carries our tag.
//   prefix mode: a zero-byte marker object "<prefix>" (the prefix itself, ending in "/") holding
//                the capacity and volume name in metadata ("pending" while a volume is being
//                filled); deletion removes every key under "<prefix>" — listed with the trailing
//                "/", so deleting pvc-1 never touches pvc-10/ — and only when the marker is ours.
// Capacity is recorded only so a repeated CreateVolume can tell compatible from incompatible; the
// volume name so that a different name mapping to the same id (volume-id.ts hashes long or odd
// names) is refused. Volumes of older versions carry no name: they match any name.
// Also the copy of a volume's objects used by clones and snapshots (server-side, s3/copy.ts).
// The controller reaches these through the CsiStorage interface (storage.ts, s3-storage.ts).
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketTaggingCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutBucketTaggingCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { status } from '@grpc/grpc-js';
import { copyObject, type CopyOptions as S3CopyOptions } from '../../s3/copy.js';
import { quote } from '../../bounded-text.js';
import { classifyS3Error } from '../../s3/errors.js';
import { listObjects } from '../../s3/list.js';
import { mapLimit } from '../../util/pool.js';
import { CsiError, s3ToCsi } from '../errors.js';
import { SNAPSHOT_ROOT } from '../snapshot-id.js';
import { encodeVolumeId, type VolumeLocation } from '../volume-id.js';
import {
  CAPACITY_TAG,
  catalogueKey,
  decodeName,
  encodeName,
  NAME_TAG,
  OWNER_TAG,
  VOLUME_CATALOGUE_ROOT,
  VOLUME_ID_TAG,
  volumeIdTagValue,
} from './layout.js';
import {
  checkVolumeName,
  type CopyOptions,
  type CopyResult,
  type RecordOptions,
  type VolumeRecord,
} from './storage.js';

/** Metadata keys on the prefix marker (x-amz-meta-…). */
const META_OWNER = OWNER_TAG;
const META_CAPACITY = CAPACITY_TAG;
const META_NAME = NAME_TAG;
/** META_OWNER values: a complete volume, or one still being filled (clone / restore). */
const OWNER_DONE = 'true';
const OWNER_PENDING = 'pending';

/** What sits at a prefix volume's marker key. */
type Marker = { state: 'absent' } | { state: 'foreign' } | { state: 'pending' | 'done'; record: VolumeRecord };

async function readMarker(s3: S3Client, loc: VolumeLocation): Promise<Marker> {
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: loc.bucket, Key: loc.prefix }));
    const owner = head.Metadata?.[META_OWNER];
    if (owner !== OWNER_DONE && owner !== OWNER_PENDING) return { state: 'foreign' };
    const cap = Number(head.Metadata?.[META_CAPACITY] ?? '0');
    const name = decodeName(head.Metadata?.[META_NAME]);
    return {
      state: owner === OWNER_DONE ? 'done' : 'pending',
      record: { capacityBytes: Number.isFinite(cap) ? cap : 0, ...(name !== undefined ? { name } : {}) },
    };
  } catch (err) {
    if (isKind(err, 'not-found')) {
      // A 404 HEAD cannot tell a missing key from a missing bucket: ask the bucket.
      try {
        await s3.send(new HeadBucketCommand({ Bucket: loc.bucket }));
      } catch (e2) {
        if (isKind(e2, 'not-found', 'no-such-bucket')) return { state: 'absent' };
        throw s3ToCsi(e2, `checking bucket ${loc.bucket}`);
      }
      return { state: 'absent' };
    }
    if (isKind(err, 'no-such-bucket')) return { state: 'absent' };
    throw s3ToCsi(err, `checking volume marker s3://${loc.bucket}/${loc.prefix}`);
  }
}

/** Whether any object has a key under `prefix` ('' = anywhere in the bucket). */
async function holdsObjects(s3: S3Client, bucket: string, prefix: string): Promise<boolean> {
  const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix || undefined, MaxKeys: 1 }));
  return (r.KeyCount ?? r.Contents?.length ?? 0) > 0;
}

function isKind(err: unknown, ...kinds: ReturnType<typeof classifyS3Error>[]): boolean {
  return kinds.includes(classifyS3Error(err));
}

/** The recorded volume at this location, or undefined when there is none. */
export async function findVolume(s3: S3Client, loc: VolumeLocation): Promise<VolumeRecord | undefined> {
  if (loc.prefix === '') {
    let tags;
    try {
      tags = await s3.send(new GetBucketTaggingCommand({ Bucket: loc.bucket }));
    } catch (err) {
      if (isKind(err, 'no-such-bucket')) return undefined;
      const name = (err as { name?: string }).name;
      if (name === 'NoSuchTagSet' || name === 'NoSuchTagSetError') {
        return undefined; // exists, not ours (or not tagged yet)
      }
      throw s3ToCsi(err, `reading tags of bucket ${loc.bucket}`);
    }
    const owner = tags.TagSet?.find((t) => t.Key === OWNER_TAG);
    if (!owner) return undefined;
    const cap = Number(tags.TagSet?.find((t) => t.Key === CAPACITY_TAG)?.Value ?? '0');
    const name = decodeName(tags.TagSet?.find((t) => t.Key === NAME_TAG)?.Value);
    return { capacityBytes: Number.isFinite(cap) ? cap : 0, ...(name !== undefined ? { name } : {}) };
  }
  const m = await readMarker(s3, loc);
  return m.state === 'done' ? m.record : undefined;
}

/** Whether a static volume's bucket exists (an empty or not yet used prefix is a valid volume). */
export async function locationExists(s3: S3Client, loc: VolumeLocation): Promise<boolean> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: loc.bucket }));
    return true;
  } catch (err) {
    if (isKind(err, 'not-found', 'no-such-bucket')) return false;
    throw s3ToCsi(err, `checking bucket ${loc.bucket}`);
  }
}

/** CreateBucket in `region` (us-east-1, the default, takes no location constraint). */
export function createBucketCommand(bucket: string, region: string | undefined): CreateBucketCommand {
  return new CreateBucketCommand({
    Bucket: bucket,
    ...(region && region !== 'us-east-1' ? { CreateBucketConfiguration: { LocationConstraint: region as never } } : {}),
  });
}

/**
 * Make the place for a volume's data: create its bucket (bucket mode; an empty bucket left by
 * an interrupted attempt is reused) or check that the shared bucket exists (prefix mode). The
 * volume counts as existing only once recordCapacity wrote its tag / marker.
 */
export async function prepareVolumeStorage(
  s3: S3Client,
  loc: VolumeLocation,
  volumeName: string,
  region: string | undefined,
): Promise<void> {
  if (loc.prefix === '') {
    try {
      await s3.send(createBucketCommand(loc.bucket, region));
    } catch (err) {
      if (!isKind(err, 'already-exists')) throw s3ToCsi(err, `creating bucket ${loc.bucket}`);
      // Ours from an interrupted earlier attempt only if empty; never adopt someone's data.
      let empty: boolean;
      try {
        empty = !(await holdsObjects(s3, loc.bucket, ''));
      } catch (e2) {
        if (isKind(e2, 'access-denied')) {
          throw new CsiError(
            status.ALREADY_EXISTS,
            `bucket ${loc.bucket} for volume ${volumeName} already exists and is owned by someone else; use another volume name or the bucket parameter (prefix mode)`,
            { cause: e2 },
          );
        }
        throw s3ToCsi(e2, `listing bucket ${loc.bucket}`);
      }
      if (!empty) {
        throw new CsiError(
          status.ALREADY_EXISTS,
          `bucket ${loc.bucket} for volume ${volumeName} already exists, holds data and was not created by bucketmount; delete or rename it, or use the bucket parameter (prefix mode)`,
        );
      }
    }
    return;
  }
  try {
    await s3.send(new HeadBucketCommand({ Bucket: loc.bucket }));
  } catch (err) {
    if (isKind(err, 'not-found', 'no-such-bucket')) {
      throw new CsiError(
        status.FAILED_PRECONDITION,
        `bucket ${loc.bucket} (StorageClass parameter bucket) does not exist: create it first, or leave the parameter out for one bucket per volume`,
        { cause: err },
      );
    }
    throw s3ToCsi(err, `checking bucket ${loc.bucket}`);
  }
  // Never adopt someone's data: the prefix must be empty, or be a volume of this name still being filled.
  const m = await readMarker(s3, loc);
  if (m.state === 'pending' || m.state === 'done') {
    checkVolumeName(m.record, loc, volumeName);
    return;
  }
  const where = `s3://${loc.bucket}/${loc.prefix}`;
  let used: boolean;
  try {
    used = m.state === 'foreign' || (await holdsObjects(s3, loc.bucket, loc.prefix));
  } catch (err) {
    throw s3ToCsi(err, `listing ${where}`);
  }
  if (used) {
    throw new CsiError(
      status.ALREADY_EXISTS,
      `${where} for volume ${quote(volumeName)} already holds objects that were not created by bucketmount; delete or move them, or use another volume name or basePrefix`,
    );
  }
  await writeMarker(s3, loc, { owner: OWNER_PENDING, capacityBytes: 0, name: volumeName });
}

async function writeMarker(
  s3: S3Client,
  loc: VolumeLocation,
  m: { owner: string; capacityBytes: number; name: string | undefined },
): Promise<void> {
  try {
    // The marker is a zero-byte object: writing it again replaces only its metadata.
    await s3.send(
      new PutObjectCommand({
        Bucket: loc.bucket,
        Key: loc.prefix,
        Body: '',
        ContentType: 'application/x-directory',
        Metadata: {
          [META_OWNER]: m.owner,
          [META_CAPACITY]: String(m.capacityBytes),
          ...(m.name !== undefined ? { [META_NAME]: encodeName(m.name) } : {}),
        },
      }),
    );
  } catch (err) {
    throw s3ToCsi(err, `writing volume marker s3://${loc.bucket}/${loc.prefix}`);
  }
}

/** Delete every object whose key starts with `prefix` ('' = the whole bucket), except the key `keep`. */
export async function deleteAllUnder(s3: S3Client, bucket: string, prefix: string, keep?: string): Promise<number> {
  let deleted = 0;
  let previousFirst: string | undefined;
  for (;;) {
    // Always restart from the beginning: we delete what we list, so there is no token to keep.
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix || undefined, MaxKeys: 1000 }),
    );
    const keys = (page.Contents ?? []).map((o) => o.Key!).filter((k) => k.startsWith(prefix) && k !== keep);
    if (keys.length === 0) break;
    if (keys[0] === previousFirst) {
      // Deleted without error but still listed (object lock, eventual consistency gone wrong): do not loop forever.
      throw new CsiError(
        status.FAILED_PRECONDITION,
        `object s3://${bucket}/${keys[0]} is still listed after it was deleted (object lock or retention?); remove it by hand and retry`,
      );
    }
    previousFirst = keys[0];
    const r = await s3.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true } }),
    );
    if (r.Errors && r.Errors.length > 0) {
      const e = r.Errors[0]!;
      throw new CsiError(
        status.INTERNAL,
        `deleting ${r.Errors.length} object(s) under s3://${bucket}/${prefix} failed, first: ${e.Key}: ${e.Code} ${e.Message ?? ''}`,
      );
    }
    deleted += keys.length;
  }
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  for (;;) {
    const mp = await s3.send(
      new ListMultipartUploadsCommand({
        Bucket: bucket,
        Prefix: prefix || undefined,
        KeyMarker: keyMarker,
        UploadIdMarker: uploadIdMarker,
      }),
    );
    for (const u of mp.Uploads ?? []) {
      if (!u.Key?.startsWith(prefix)) continue;
      await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }));
    }
    if (!mp.IsTruncated) break;
    keyMarker = mp.NextKeyMarker;
    uploadIdMarker = mp.NextUploadIdMarker;
  }
  return deleted;
}

/**
 * Remove a volume's storage. Idempotent: a missing bucket / prefix is success. Deletes only
 * what carries our mark (bucket tag / prefix marker): data without it is refused with
 * FAILED_PRECONDITION and left alone. A prefix volume's marker goes last, so an interrupted
 * delete is finished by the retry.
 */
export async function deleteVolumeStorage(s3: S3Client, loc: VolumeLocation): Promise<{ deletedObjects: number }> {
  if (loc.prefix === '') {
    const rec = await findVolume(s3, loc);
    if (!rec) {
      try {
        await s3.send(new HeadBucketCommand({ Bucket: loc.bucket }));
      } catch (err) {
        if (isKind(err, 'not-found', 'no-such-bucket')) return { deletedObjects: 0 };
        throw s3ToCsi(err, `checking bucket ${loc.bucket}`);
      }
      throw new CsiError(
        status.FAILED_PRECONDITION,
        `bucket ${loc.bucket} exists but was not created by bucketmount (no ${OWNER_TAG} tag); not deleting it`,
      );
    }
    let n: number;
    try {
      n = await deleteAllUnder(s3, loc.bucket, '');
      await s3.send(new DeleteBucketCommand({ Bucket: loc.bucket }));
    } catch (err) {
      if (err instanceof CsiError) throw err;
      if (isKind(err, 'no-such-bucket')) return { deletedObjects: 0 };
      if (isKind(err, 'not-empty')) {
        throw new CsiError(
          status.FAILED_PRECONDITION,
          `bucket ${loc.bucket} is still not empty after deleting its objects (versioning enabled?); remove the object versions and retry`,
          { cause: err },
        );
      }
      throw s3ToCsi(err, `deleting bucket ${loc.bucket}`);
    }
    return { deletedObjects: n };
  }
  if (!loc.prefix.endsWith('/'))
    throw new CsiError(status.INTERNAL, `refusing to delete prefix "${loc.prefix}" without a trailing "/"`);
  const where = `s3://${loc.bucket}/${loc.prefix}`;
  const m = await readMarker(s3, loc);
  try {
    if (m.state === 'absent' || m.state === 'foreign') {
      if (m.state === 'foreign' || (await holdsObjects(s3, loc.bucket, loc.prefix))) {
        throw new CsiError(
          status.FAILED_PRECONDITION,
          `${where} holds objects but no volume marker written by bucketmount; not deleting them (remove them by hand if they belong to this volume)`,
        );
      }
      // Nothing of the volume is left (deleted before, or never created): drop a stray catalogue entry.
      await s3.send(new DeleteObjectCommand({ Bucket: loc.bucket, Key: catalogueKey(encodeVolumeId(loc)) }));
      return { deletedObjects: 0 };
    }
    const deletedObjects = await deleteAllUnder(s3, loc.bucket, loc.prefix, loc.prefix);
    // The catalogue entry, then the marker go last: a half-deleted volume stays listed and
    // deletable until DeleteVolume is retried.
    await s3.send(new DeleteObjectCommand({ Bucket: loc.bucket, Key: catalogueKey(encodeVolumeId(loc)) }));
    await s3.send(new DeleteObjectCommand({ Bucket: loc.bucket, Key: loc.prefix }));
    return { deletedObjects: deletedObjects + 1 };
  } catch (err) {
    if (err instanceof CsiError) throw err;
    if (isKind(err, 'no-such-bucket')) return { deletedObjects: 0 };
    throw s3ToCsi(err, `deleting s3://${loc.bucket}/${loc.prefix}`);
  }
}

/**
 * Record the volume as existing with this capacity (bucket tags / prefix marker); the bucket tags
 * always carry the volume id, a prefix volume gets a catalogue entry when asked (see
 * volume-catalogue.ts). Also ControllerExpandVolume.
 */
export async function recordCapacity(
  s3: S3Client,
  loc: VolumeLocation,
  capacityBytes: number,
  opts: RecordOptions,
): Promise<void> {
  if (loc.prefix === '') {
    try {
      await s3.send(
        new PutBucketTaggingCommand({
          Bucket: loc.bucket,
          Tagging: {
            TagSet: [
              { Key: OWNER_TAG, Value: 'true' },
              { Key: CAPACITY_TAG, Value: String(capacityBytes) },
              { Key: VOLUME_ID_TAG, Value: volumeIdTagValue(encodeVolumeId(loc)) },
              ...(opts.name !== undefined ? [{ Key: NAME_TAG, Value: encodeName(opts.name) }] : []),
            ],
          },
        }),
      );
    } catch (err) {
      throw s3ToCsi(err, `tagging bucket ${loc.bucket}`);
    }
    return;
  }
  try {
    // Catalogued (for ListVolumes) before the marker makes the volume exist.
    if (opts.catalogue)
      await s3.send(new PutObjectCommand({ Bucket: loc.bucket, Key: catalogueKey(encodeVolumeId(loc)), Body: '' }));
  } catch (err) {
    throw s3ToCsi(err, `writing the volume catalogue entry in bucket ${loc.bucket}`);
  }
  await writeMarker(s3, loc, { owner: OWNER_DONE, capacityBytes, name: opts.name });
}

/**
 * Copy every object of `src` into `dst` with server-side copies (same endpoint and
 * credentials), skipping the source's marker, anything already under the destination prefix
 * (a copy inside its own source) and, for a whole-bucket source, the reserved snapshot prefix.
 * Not atomic: the source should not be written to while it is copied.
 */
export async function copyVolumeData(
  s3: S3Client,
  src: VolumeLocation,
  dst: VolumeLocation,
  opts: CopyOptions = {},
): Promise<CopyResult> {
  const keys: { key: string; size: number }[] = [];
  try {
    for await (const o of listObjects(s3, { bucket: src.bucket, prefix: src.prefix })) {
      if (o.key === src.prefix) continue;
      if (src.bucket === dst.bucket && o.key.startsWith(dst.prefix)) continue;
      if (src.prefix === '' && (o.key.startsWith(SNAPSHOT_ROOT) || o.key.startsWith(VOLUME_CATALOGUE_ROOT))) continue;
      keys.push({ key: o.key, size: o.size });
    }
  } catch (err) {
    throw s3ToCsi(err, `listing s3://${src.bucket}/${src.prefix}`);
  }
  const copyOpts: S3CopyOptions = { multipartThreshold: opts.multipartThreshold, partSize: opts.partSize };
  const progress = {
    objects: 0,
    bytes: 0,
    totalObjects: keys.length,
    totalBytes: keys.reduce((a, k) => a + k.size, 0),
  };
  opts.onProgress?.({ ...progress });
  // mapLimit waits for every running copy (not just the first failure) so no copy lands after we return.
  await mapLimit(keys, 8, async (k) => {
    if (opts.signal?.aborted)
      throw new CsiError(status.ABORTED, `copy to s3://${dst.bucket}/${dst.prefix} was cancelled`);
    const rel = k.key.slice(src.prefix.length);
    try {
      await copyObject(
        s3,
        { bucket: src.bucket, key: k.key, size: k.size },
        { bucket: dst.bucket, key: dst.prefix + rel },
        copyOpts,
      );
    } catch (err) {
      throw s3ToCsi(err, `copying s3://${src.bucket}/${k.key} to s3://${dst.bucket}/${dst.prefix}${rel}`);
    }
    progress.objects++;
    progress.bytes += k.size;
    opts.onProgress?.({ ...progress });
  });
  return { objects: keys.length, bytes: keys.reduce((a, k) => a + k.size, 0) };
}
