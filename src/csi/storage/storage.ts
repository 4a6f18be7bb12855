// The storage the controller provisions on, as one interface: volumes (find, prepare, record,
// delete, copy, list the catalogue) and snapshots (read, write the marker, prepare the bucket,
// delete, list). One CsiStorage serves one endpoint with one request's credentials.
// Implementations: s3-storage.ts (the S3 layout: volume-store.ts, snapshot-store.ts,
// volume-catalogue.ts) and fake-storage.ts (in memory, for millisecond controller tests).
// Errors are CsiErrors with the status the controller answers.
import { status } from '@grpc/grpc-js';
import type { S3Credentials } from '../../credentials/types.js';
import { quote } from '../../bounded-text.js';
import { CsiError } from '../errors.js';
import type { SnapshotLocation } from '../snapshot-id.js';
import type { VolumeLocation } from '../volume-id.js';
import type { CopyProgressListener } from './copy-progress.js';

export interface VolumeRecord {
  /** Recorded capacity in bytes (0 = unknown). */
  capacityBytes: number;
  /** The volume name it was created for; undefined for volumes of versions that did not record it. */
  name?: string;
}

export interface RecordOptions {
  /** Prefix mode: also write the volume's catalogue entry (ListVolumes enabled). */
  catalogue?: boolean;
  /** The volume's name (undefined only for a volume of an older version that has none recorded). */
  name: string | undefined;
}

export interface CopyOptions {
  /** Objects larger than this are copied part by part (default 5 GiB, the S3 limit). */
  multipartThreshold?: number;
  /** Part size of multipart copies (default 512 MiB, raised when 10,000 parts would not do). */
  partSize?: number;
  /** Checked between objects: a cancelled copy stops with an ABORTED error. */
  signal?: AbortSignal;
  /** Told the totals after listing and the running sums after each object (copy-progress.ts). */
  onProgress?: CopyProgressListener;
}

export interface CopyResult {
  objects: number;
  bytes: number;
}

export interface ListedVolume {
  volumeId: string;
  /** Recorded capacity when the listing has it for free (bucket tags); 0 = unknown. */
  capacityBytes: number;
}

export interface SnapshotRecord {
  snapshotId: string;
  sourceVolumeId: string;
  /** Creation time, ms since the epoch (first attempt). */
  createdMs: number;
  /** Bytes copied (sum of object sizes); 0 until ready. */
  sizeBytes: number;
  /** Recorded capacity of the source volume (restores get at least this). */
  capacityBytes: number;
  readyToUse: boolean;
}

export interface CsiStorage {
  /** The recorded volume at this location, or undefined when there is none (or it is still being filled). */
  findVolume(loc: VolumeLocation): Promise<VolumeRecord | undefined>;
  /** Whether a static volume's bucket exists (an empty or unused prefix is a valid volume). */
  locationExists(loc: VolumeLocation): Promise<boolean>;
  /**
   * Make the place for a volume's data (its bucket, or a pending marker in the shared bucket);
   * never adopts data that is not a volume of this name (ALREADY_EXISTS). The volume exists only
   * once recordVolume ran.
   */
  prepareVolume(loc: VolumeLocation, name: string, region: string | undefined): Promise<void>;
  /** Record the volume as existing with this capacity (also ControllerExpandVolume). */
  recordVolume(loc: VolumeLocation, capacityBytes: number, opts: RecordOptions): Promise<void>;
  /** Remove a volume's storage; idempotent; refuses (FAILED_PRECONDITION) data without our mark. */
  deleteVolume(loc: VolumeLocation): Promise<{ deletedObjects: number }>;
  /** Server-side copy of every object of `src` into `dst` (clones, snapshots, restores). */
  copyVolumeData(src: VolumeLocation, dst: VolumeLocation, opts?: CopyOptions): Promise<CopyResult>;
  /** Every catalogued volume these credentials can see (ListVolumes). */
  listVolumes(): Promise<ListedVolume[]>;

  /** The snapshot recorded at `loc`, or undefined (none, or not a marker of `expectId`). */
  readSnapshot(loc: SnapshotLocation, expectId?: string): Promise<SnapshotRecord | undefined>;
  writeSnapshot(loc: SnapshotLocation, rec: SnapshotRecord): Promise<void>;
  /** A dedicated snapshot bucket is created (an empty leftover reused), a shared one must exist. */
  prepareSnapshotBucket(loc: SnapshotLocation, region: string | undefined): Promise<void>;
  /** Delete the snapshot's objects and marker (and its dedicated bucket); the number of objects deleted. */
  deleteSnapshot(loc: SnapshotLocation): Promise<number>;
  /** Every snapshot these credentials can see on this endpoint (ListSnapshots). */
  listSnapshots(): Promise<SnapshotRecord[]>;

  /** Release the connection. */
  close(): void;
}

/** Where and as whom a storage connects. */
export interface StorageConnection {
  endpoint?: string;
  region?: string;
  forcePathStyle: boolean;
  /** undefined: the controller's own credentials (environment, IRSA). */
  credentials?: S3Credentials;
}

export type StorageFactory = (conn: StorageConnection) => CsiStorage;

/**
 * Refuse (ALREADY_EXISTS) to create volume `name` where a volume recorded for another name
 * lives: two names can map to one id (volume-id.ts shortens names with a hash).
 */
export function checkVolumeName(rec: VolumeRecord, loc: VolumeLocation, name: string): void {
  if (rec.name === undefined || rec.name === name) return;
  throw new CsiError(
    status.ALREADY_EXISTS,
    `volume name ${quote(name)} maps to s3://${loc.bucket}/${loc.prefix}, which already holds a volume of another name; use another volume name`,
  );
}
