// The catalogue of provisioned volumes that ListVolumes reads. ListVolumes gets no secrets and no
// parameters, so it can only look at what the controller's own credentials can see on its default
// endpoint; and a prefix volume's marker can sit anywhere in a shared bucket. So every volume
// records its exact id where a listing finds it:
//   prefix mode: a zero-byte object ".bucketmount-volumes/<base64url(volume id)>" in the shared
//                bucket (a reserved prefix outside every volume prefix), written before the marker
//                while the controller runs with --list-volumes, and removed after the volume's objects;
//   bucket mode: the bucket tag "bucketmount-volume-id" = base64url(volume id), always written with
//                the capacity tag.
// Volumes provisioned before (prefix mode: without --list-volumes) are not listed.
import { GetBucketTaggingCommand, ListBucketsCommand, type S3Client } from '@aws-sdk/client-s3';
import { classifyS3Error } from '../../s3/errors.js';
import { listObjects } from '../../s3/list.js';
import { mapLimit } from '../../util/pool.js';
import { s3ToCsi } from '../errors.js';
import { decodeVolumeId } from '../volume-id.js';
import {
  CAPACITY_TAG,
  encodeName,
  OWNER_TAG,
  unb64Id,
  VOLUME_CATALOGUE_ROOT,
  VOLUME_ID_TAG,
  volumeIdFromCatalogueKey,
} from './layout.js';

export interface ListedVolume {
  volumeId: string;
  /** Recorded capacity when the listing has it for free (bucket tags); 0 = unknown. */
  capacityBytes: number;
}

async function fromTags(s3: S3Client, bucket: string): Promise<ListedVolume | undefined> {
  try {
    const r = await s3.send(new GetBucketTaggingCommand({ Bucket: bucket }));
    const tag = (k: string): string | undefined => r.TagSet?.find((t) => t.Key === k)?.Value;
    if (tag(OWNER_TAG) !== 'true') return undefined;
    const id = tag(VOLUME_ID_TAG) === undefined ? undefined : unb64Id(tag(VOLUME_ID_TAG)!);
    const loc = id ? decodeVolumeId(id) : undefined;
    if (!id || !loc || loc.bucket !== bucket || loc.prefix !== '') return undefined;
    const cap = Number(tag(CAPACITY_TAG) ?? '0');
    return { volumeId: id, capacityBytes: Number.isFinite(cap) && cap > 0 ? cap : 0 };
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name === 'NoSuchTagSet' || name === 'NoSuchTagSetError') return undefined;
    if (['access-denied', 'no-such-bucket', 'not-found'].includes(classifyS3Error(err))) return undefined;
    throw s3ToCsi(err, `reading tags of bucket ${bucket}`);
  }
}

async function fromCatalogue(s3: S3Client, bucket: string): Promise<ListedVolume[]> {
  const out: ListedVolume[] = [];
  try {
    for await (const o of listObjects(s3, { bucket, prefix: VOLUME_CATALOGUE_ROOT })) {
      const id = volumeIdFromCatalogueKey(o.key);
      if (id && decodeVolumeId(id)!.bucket === bucket) out.push({ volumeId: id, capacityBytes: 0 });
    }
  } catch (err) {
    if (['access-denied', 'no-such-bucket', 'not-found'].includes(classifyS3Error(err))) return [];
    throw s3ToCsi(err, `listing the volume catalogue of bucket ${bucket}`);
  }
  return out;
}

/** Every catalogued volume these credentials can see: ListBuckets, then each bucket's tag and catalogue. */
export async function listAllVolumes(s3: S3Client): Promise<ListedVolume[]> {
  let buckets: string[];
  try {
    const r = await s3.send(new ListBucketsCommand({}));
    buckets = (r.Buckets ?? []).map((b) => b.Name!).filter(Boolean);
  } catch (err) {
    throw s3ToCsi(
      err,
      'listing buckets to find volumes (ListVolumes uses the controller credentials and needs s3:ListAllMyBuckets)',
    );
  }
  const perBucket = await mapLimit(buckets, 8, async (b) => {
    const [own, catalogued] = await Promise.all([fromTags(s3, b), fromCatalogue(s3, b)]);
    return [...(own ? [own] : []), ...catalogued];
  });
  return perBucket.flat();
}

const TOKEN_PREFIX = 'bmv1:';

export const encodeVolumePageToken = (afterId: string): string => TOKEN_PREFIX + encodeName(afterId);

/** The volume id to resume after; undefined when the token is not one of ours (→ ABORTED). */
export function decodeVolumePageToken(token: string): string | undefined {
  return token.startsWith(TOKEN_PREFIX) ? unb64Id(token.slice(TOKEN_PREFIX.length)) : undefined;
}
