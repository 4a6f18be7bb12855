// CsiStorage on S3: one S3 client (one endpoint, one request's credentials) and the S3 layout of
// volumes (volume-store.ts), the volume catalogue (volume-catalogue.ts) and snapshots
// (snapshot-store.ts).
import type { S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../../s3/client.js';
import type { SnapshotLocation } from '../snapshot-id.js';
import type { VolumeLocation } from '../volume-id.js';
import {
  deleteSnapshotStorage,
  listAllSnapshots,
  prepareSnapshotBucket,
  readSnapshot,
  writeSnapshotMarker,
} from './snapshot-store.js';
import type {
  CopyOptions,
  CsiStorage,
  RecordOptions,
  SnapshotRecord,
  StorageConnection,
  StorageFactory,
} from './storage.js';
import { listAllVolumes } from './volume-catalogue.js';
import {
  copyVolumeData,
  deleteVolumeStorage,
  findVolume,
  locationExists,
  prepareVolumeStorage,
  recordCapacity,
} from './volume-store.js';

export class S3Storage implements CsiStorage {
  constructor(readonly s3: S3Client) {}

  findVolume(loc: VolumeLocation) {
    return findVolume(this.s3, loc);
  }
  locationExists(loc: VolumeLocation) {
    return locationExists(this.s3, loc);
  }
  prepareVolume(loc: VolumeLocation, name: string, region: string | undefined) {
    return prepareVolumeStorage(this.s3, loc, name, region);
  }
  recordVolume(loc: VolumeLocation, capacityBytes: number, opts: RecordOptions) {
    return recordCapacity(this.s3, loc, capacityBytes, opts);
  }
  deleteVolume(loc: VolumeLocation) {
    return deleteVolumeStorage(this.s3, loc);
  }
  copyVolumeData(src: VolumeLocation, dst: VolumeLocation, opts?: CopyOptions) {
    return copyVolumeData(this.s3, src, dst, opts);
  }
  listVolumes() {
    return listAllVolumes(this.s3);
  }
  readSnapshot(loc: SnapshotLocation, expectId?: string) {
    return readSnapshot(this.s3, loc, expectId);
  }
  writeSnapshot(loc: SnapshotLocation, rec: SnapshotRecord) {
    return writeSnapshotMarker(this.s3, loc, rec);
  }
  prepareSnapshotBucket(loc: SnapshotLocation, region: string | undefined) {
    return prepareSnapshotBucket(this.s3, loc, region);
  }
  deleteSnapshot(loc: SnapshotLocation) {
    return deleteSnapshotStorage(this.s3, loc);
  }
  listSnapshots() {
    return listAllSnapshots(this.s3);
  }
  close(): void {
    this.s3.destroy();
  }
}

/** Storage on S3 with clients from `s3Factory` (default createS3Client): 3 attempts, 8 sockets, 30 s per request. */
export function s3StorageFactory(s3Factory: typeof createS3Client = createS3Client): StorageFactory {
  return (conn: StorageConnection) =>
    new S3Storage(
      s3Factory({
        endpointUrl: conn.endpoint,
        region: conn.region,
        forcePathStyle: conn.forcePathStyle,
        credentials: conn.credentials,
        maxAttempts: 3,
        maxSockets: 8,
        requestTimeoutMs: 30_000,
      }),
    );
}
