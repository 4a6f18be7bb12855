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
import { GetBucketTaggingCommand, ListBucketsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { classifyS3Error } from '../s3/errors.js';
import { s3ToCsi } from './errors.js';
import { CAPACITY_TAG, OWNER_TAG } from './provisioner.js';
import { decodeVolumeId } from './volume-id.js';

export const VOLUME_CATALOGUE_ROOT = '.bucketmount-volumes/';
/** Bucket tag holding base64url(volume id) (tag values allow only a few punctuation characters). */
export const VOLUME_ID_TAG = 'bucketmount-volume-id';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64url');

function unb64Id(s: string): string | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(s)) return undefined;
  const id = Buffer.from(s, 'base64url').toString('utf8');
  return decodeVolumeId(id) ? id : undefined;
}

export const catalogueKey = (volumeId: string): string => VOLUME_CATALOGUE_ROOT + b64(volumeId);
export const volumeIdTagValue = (volumeId: string): string => b64(volumeId);

/** The volume id a catalogue key stands for, or undefined when it is not one. */
export function volumeIdFromCatalogueKey(key: string): string | undefined {
  if (!key.startsWith(VOLUME_CATALOGUE_ROOT)) return undefined;
  return unb64Id(key.slice(VOLUME_CATALOGUE_ROOT.length));
}

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
  let token: string | undefined;
  try {
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: VOLUME_CATALOGUE_ROOT, ContinuationToken: token }));
      for (const o of page.Contents ?? []) {
        const id = volumeIdFromCatalogueKey(o.Key ?? '');
        if (id && decodeVolumeId(id)!.bucket === bucket) out.push({ volumeId: id, capacityBytes: 0 });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
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
    throw s3ToCsi(err, 'listing buckets to find volumes (ListVolumes uses the controller credentials and needs s3:ListAllMyBuckets)');
  }
  const out: ListedVolume[] = [];
  const queue = [...buckets];
  const worker = async (): Promise<void> => {
    for (let b = queue.shift(); b; b = queue.shift()) {
      const [own, catalogued] = await Promise.all([fromTags(s3, b), fromCatalogue(s3, b)]);
      if (own) out.push(own);
      out.push(...catalogued);
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, buckets.length) }, worker));
  return out;
}

const TOKEN_PREFIX = 'bmv1:';

export const encodeVolumePageToken = (afterId: string): string => TOKEN_PREFIX + b64(afterId);

/** The volume id to resume after; undefined when the token is not one of ours (→ ABORTED). */
export function decodeVolumePageToken(token: string): string | undefined {
  return token.startsWith(TOKEN_PREFIX) ? unb64Id(token.slice(TOKEN_PREFIX.length)) : undefined;
}
