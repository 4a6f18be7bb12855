// Names of the S3 layout of volumes, shared by the volume store and the volume catalogue: the
// bucket tags and marker metadata that mark a volume as ours, and the reserved catalogue prefix
// where prefix volumes are listed for ListVolumes. (Snapshots: snapshot-id.ts, SNAPSHOT_ROOT.)
import { decodeVolumeId } from '../volume-id.js';

/** Bucket tag / marker metadata key: the bucket or prefix is a bucketmount volume ("true", or "pending" on a marker). */
export const OWNER_TAG = 'bucketmount-volume';
/** Bucket tag / marker metadata key: the recorded capacity in bytes. */
export const CAPACITY_TAG = 'bucketmount-capacity';
/** Bucket tag / marker metadata key: base64url(volume name). */
export const NAME_TAG = 'bucketmount-volume-name';
/** Bucket tag holding base64url(volume id) (tag values allow only a few punctuation characters). */
export const VOLUME_ID_TAG = 'bucketmount-volume-id';
/** Reserved prefix of a shared bucket where prefix volumes are catalogued (outside every volume prefix). */
export const VOLUME_CATALOGUE_ROOT = '.bucketmount-volumes/';

/** Names are any UTF-8; tag values and metadata allow only a few characters: store them base64url. */
export const encodeName = (name: string): string => Buffer.from(name, 'utf8').toString('base64url');
export const decodeName = (v: string | undefined): string | undefined =>
  v === undefined ? undefined : Buffer.from(v, 'base64url').toString('utf8');

/** The volume id base64url `s` stands for, or undefined when it is not one of ours. */
export function unb64Id(s: string): string | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(s)) return undefined;
  const id = Buffer.from(s, 'base64url').toString('utf8');
  return decodeVolumeId(id) ? id : undefined;
}

export const catalogueKey = (volumeId: string): string => VOLUME_CATALOGUE_ROOT + encodeName(volumeId);
export const volumeIdTagValue = (volumeId: string): string => encodeName(volumeId);

/** The volume id a catalogue key stands for, or undefined when it is not one. */
export function volumeIdFromCatalogueKey(key: string): string | undefined {
  if (!key.startsWith(VOLUME_CATALOGUE_ROOT)) return undefined;
  return unb64Id(key.slice(VOLUME_CATALOGUE_ROOT.length));
}
