// The S3 side of snapshots: the marker object that records a snapshot, making the place for its
// objects, deleting it, and finding every snapshot on an endpoint (ListSnapshots).
//
// A snapshot is the zero-byte marker "<bucket>/.bucketmount-snapshots/<segment>/" (metadata below)
// plus server-side copies of the source volume's objects under that prefix. The marker is written
// first with ready=false and rewritten with ready=true and the byte count once every object is
// copied, so an interrupted copy is visible as not ready (and redone by the next CreateSnapshot).
import {
  DeleteBucketCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { status } from '@grpc/grpc-js';
import { classifyS3Error } from '../../s3/errors.js';
import { listCommonPrefixes } from '../../s3/list.js';
import { mapLimit } from '../../util/pool.js';
import { CsiError, s3ToCsi } from '../errors.js';
import { decodeSnapshotId, SNAPSHOT_ROOT, snapshotPrefix, type SnapshotLocation } from '../snapshot-id.js';
import type { SnapshotRecord } from './storage.js';
import { createBucketCommand, deleteAllUnder, findVolume } from './volume-store.js';

/** x-amz-meta-… keys of the marker. */
const META = {
  kind: 'bucketmount-snapshot',
  id: 'bucketmount-snapshot-id',
  source: 'bucketmount-source-volume',
  created: 'bucketmount-created-ms',
  size: 'bucketmount-size',
  capacity: 'bucketmount-capacity',
  ready: 'bucketmount-ready',
} as const;

const kindOf = (err: unknown): ReturnType<typeof classifyS3Error> => classifyS3Error(err);

function parseRecord(meta: Record<string, string> | undefined): SnapshotRecord | undefined {
  if (!meta || meta[META.kind] !== 'true' || !meta[META.id] || !meta[META.source]) return undefined;
  const num = (k: string): number => {
    const n = Number(meta[k] ?? '0');
    return Number.isFinite(n) && n >= 0 ? n : 0;
  };
  return {
    snapshotId: meta[META.id]!,
    sourceVolumeId: meta[META.source]!,
    createdMs: num(META.created),
    sizeBytes: num(META.size),
    capacityBytes: num(META.capacity),
    readyToUse: meta[META.ready] === 'true',
  };
}

/** The snapshot recorded at `loc`, or undefined (no marker, no bucket, or not a marker of this id). */
export async function readSnapshot(
  s3: S3Client,
  loc: SnapshotLocation,
  expectId?: string,
): Promise<SnapshotRecord | undefined> {
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: loc.bucket, Key: snapshotPrefix(loc) }));
    const rec = parseRecord(head.Metadata);
    if (!rec || (expectId !== undefined && rec.snapshotId !== expectId)) return undefined;
    return rec;
  } catch (err) {
    if (['not-found', 'no-such-bucket'].includes(kindOf(err))) return undefined;
    throw s3ToCsi(err, `reading snapshot marker s3://${loc.bucket}/${snapshotPrefix(loc)}`);
  }
}

export async function writeSnapshotMarker(s3: S3Client, loc: SnapshotLocation, rec: SnapshotRecord): Promise<void> {
  try {
    await s3.send(
      new PutObjectCommand({
        Bucket: loc.bucket,
        Key: snapshotPrefix(loc),
        Body: '',
        ContentType: 'application/x-directory',
        Metadata: {
          [META.kind]: 'true',
          [META.id]: rec.snapshotId,
          [META.source]: rec.sourceVolumeId,
          [META.created]: String(rec.createdMs),
          [META.size]: String(rec.sizeBytes),
          [META.capacity]: String(rec.capacityBytes),
          [META.ready]: String(rec.readyToUse),
        },
      }),
    );
  } catch (err) {
    throw s3ToCsi(err, `writing snapshot marker s3://${loc.bucket}/${snapshotPrefix(loc)}`);
  }
}

/**
 * Make sure the snapshot's bucket is there: a dedicated bucket is created (an empty one left by an
 * interrupted attempt is reused; one holding other data is refused), a shared one must exist.
 */
export async function prepareSnapshotBucket(
  s3: S3Client,
  loc: SnapshotLocation,
  region: string | undefined,
): Promise<void> {
  if (!loc.dedicatedBucket) {
    try {
      await s3.send(new HeadBucketCommand({ Bucket: loc.bucket }));
      return;
    } catch (err) {
      if (['not-found', 'no-such-bucket'].includes(kindOf(err))) {
        throw new CsiError(
          status.FAILED_PRECONDITION,
          `snapshot bucket ${loc.bucket} does not exist: create it (VolumeSnapshotClass parameter snapshotBucket, or the volume's shared bucket)`,
          { cause: err },
        );
      }
      throw s3ToCsi(err, `checking snapshot bucket ${loc.bucket}`);
    }
  }
  try {
    await s3.send(createBucketCommand(loc.bucket, region));
  } catch (err) {
    if (kindOf(err) !== 'already-exists') throw s3ToCsi(err, `creating snapshot bucket ${loc.bucket}`);
    if (await findVolume(s3, { bucket: loc.bucket, prefix: '' })) {
      throw new CsiError(
        status.ALREADY_EXISTS,
        `bucket ${loc.bucket} for this snapshot already exists and is a bucketmount volume; use another snapshot name, or set the VolumeSnapshotClass parameter snapshotBucket`,
        { cause: err },
      );
    }
    const r = await s3.send(new ListObjectsV2Command({ Bucket: loc.bucket, MaxKeys: 1 })).catch((e: unknown) => {
      throw s3ToCsi(e, `listing bucket ${loc.bucket}`);
    });
    if ((r.KeyCount ?? r.Contents?.length ?? 0) > 0) {
      throw new CsiError(
        status.ALREADY_EXISTS,
        `bucket ${loc.bucket} for this snapshot already exists and holds data that is not this snapshot; delete it, or set the VolumeSnapshotClass parameter snapshotBucket`,
      );
    }
  }
}

/** Delete the snapshot's objects (marker first: it is the smallest key) and its dedicated bucket. */
export async function deleteSnapshotStorage(s3: S3Client, loc: SnapshotLocation): Promise<number> {
  let n: number;
  try {
    n = await deleteAllUnder(s3, loc.bucket, snapshotPrefix(loc));
  } catch (err) {
    if (err instanceof CsiError) throw err;
    if (kindOf(err) === 'no-such-bucket') return 0;
    throw s3ToCsi(err, `deleting snapshot s3://${loc.bucket}/${snapshotPrefix(loc)}`);
  }
  if (!loc.dedicatedBucket) return n;
  try {
    const r = await s3.send(new ListObjectsV2Command({ Bucket: loc.bucket, MaxKeys: 1 }));
    if ((r.KeyCount ?? r.Contents?.length ?? 0) > 0) return n; // someone put other data there: keep the bucket
    if (await findVolume(s3, { bucket: loc.bucket, prefix: '' })) return n; // a volume's bucket: never ours to remove
    await s3.send(new DeleteBucketCommand({ Bucket: loc.bucket }));
  } catch (err) {
    if (kindOf(err) === 'no-such-bucket') return n;
    if (kindOf(err) === 'not-empty') return n;
    throw s3ToCsi(err, `deleting snapshot bucket ${loc.bucket}`);
  }
  return n;
}

/** Snapshot segments present in one bucket (common prefixes under the reserved prefix). */
async function segmentsIn(s3: S3Client, bucket: string): Promise<string[]> {
  const prefixes = await listCommonPrefixes(s3, { bucket, prefix: SNAPSHOT_ROOT, delimiter: '/' });
  return prefixes.map((p) => p.slice(SNAPSHOT_ROOT.length, -1)).filter((seg) => seg !== '');
}

/**
 * Every snapshot these credentials can see on this endpoint: ListBuckets, then the reserved
 * prefix of each bucket, then each marker. Buckets the credentials may not list are skipped. A
 * marker counts only when the id it records points back at where it was found.
 */
export async function listAllSnapshots(s3: S3Client): Promise<SnapshotRecord[]> {
  let buckets: string[];
  try {
    const r = await s3.send(new ListBucketsCommand({}));
    buckets = (r.Buckets ?? []).map((b) => b.Name!).filter(Boolean);
  } catch (err) {
    throw s3ToCsi(err, 'listing buckets to find snapshots (ListSnapshots needs s3:ListAllMyBuckets)');
  }
  const perBucket = await mapLimit(buckets, 8, async (bucket) => {
    let segs: string[];
    try {
      segs = await segmentsIn(s3, bucket);
    } catch (err) {
      if (['access-denied', 'no-such-bucket', 'not-found'].includes(kindOf(err))) return [];
      throw s3ToCsi(err, `listing snapshots in bucket ${bucket}`);
    }
    const recs = await mapLimit(segs, 8, async (segment) => {
      const probe: SnapshotLocation = { bucket, segment, dedicatedBucket: false };
      const rec = await readSnapshot(s3, probe);
      const where = rec ? decodeSnapshotId(rec.snapshotId) : undefined;
      return rec && where && where.bucket === bucket && where.segment === segment ? rec : undefined;
    });
    return recs.filter((r): r is SnapshotRecord => r !== undefined);
  });
  return perBucket.flat();
}
