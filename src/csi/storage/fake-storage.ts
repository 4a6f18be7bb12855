// An in-memory CsiStorage with the rules of the S3 one (s3-storage.ts) — a bucket-mode volume is
// a bucket marked as ours, a prefix volume a marker that is pending until recorded, data without
// our mark is never adopted or deleted, snapshots are markers plus copies under the reserved
// prefix — so the controller's logic can be tested in milliseconds. One FakeStorageWorld holds
// the buckets of every endpoint; its factory() opens storages on it. Tests put "foreign" data
// with putObject and count opened / closed storages.
import { status } from '@grpc/grpc-js';
import { CsiError } from '../errors.js';
import { snapshotAsLocation, snapshotPrefix, SNAPSHOT_ROOT, type SnapshotLocation } from '../snapshot-id.js';
import { encodeVolumeId, type VolumeLocation } from '../volume-id.js';
import { VOLUME_CATALOGUE_ROOT } from './layout.js';
import {
  checkVolumeName,
  type CopyOptions,
  type CopyResult,
  type CsiStorage,
  type ListedVolume,
  type RecordOptions,
  type SnapshotRecord,
  type StorageConnection,
  type StorageFactory,
  type VolumeRecord,
} from './storage.js';

interface FakeBucket {
  /** key → size in bytes. */
  objects: Map<string, number>;
  /** Bucket-mode volume mark (bucket tags). */
  volume?: VolumeRecord & { volumeId: string };
  /** Prefix-volume markers by prefix. */
  markers: Map<string, { state: 'pending' | 'done'; record: VolumeRecord }>;
  /** Catalogued prefix volumes (ListVolumes). */
  catalogue: Set<string>;
  /** Snapshot markers by snapshot prefix. */
  snapshots: Map<string, SnapshotRecord>;
}

const newBucket = (): FakeBucket => ({
  objects: new Map(),
  markers: new Map(),
  catalogue: new Set(),
  snapshots: new Map(),
});

export class FakeStorageWorld {
  /** endpoint ('' = AWS) → bucket name → bucket. */
  readonly endpoints = new Map<string, Map<string, FakeBucket>>();
  opened = 0;
  closed = 0;
  /** The connections storages were opened with (credentials included: tests check which were used). */
  readonly connections: StorageConnection[] = [];

  buckets(endpoint: string | undefined): Map<string, FakeBucket> {
    const key = endpoint ?? '';
    let m = this.endpoints.get(key);
    if (!m) this.endpoints.set(key, (m = new Map()));
    return m;
  }

  createBucket(endpoint: string | undefined, bucket: string): void {
    const m = this.buckets(endpoint);
    if (!m.has(bucket)) m.set(bucket, newBucket());
  }

  /** An object written by someone else (or by a mount). */
  putObject(endpoint: string | undefined, bucket: string, key: string, size = 1): void {
    this.createBucket(endpoint, bucket);
    this.buckets(endpoint).get(bucket)!.objects.set(key, size);
  }

  keys(endpoint: string | undefined, bucket: string): string[] {
    return [...(this.buckets(endpoint).get(bucket)?.objects.keys() ?? [])].sort();
  }

  factory(): StorageFactory {
    return (conn) => {
      this.opened++;
      this.connections.push(conn);
      return new FakeStorage(this, conn.endpoint, () => this.closed++);
    };
  }
}

class FakeStorage implements CsiStorage {
  constructor(
    private readonly world: FakeStorageWorld,
    private readonly endpoint: string | undefined,
    private readonly onClose: () => void,
  ) {}

  private get buckets(): Map<string, FakeBucket> {
    return this.world.buckets(this.endpoint);
  }

  private under(b: FakeBucket, prefix: string): string[] {
    return [...b.objects.keys()].filter((k) => k.startsWith(prefix));
  }

  async findVolume(loc: VolumeLocation): Promise<VolumeRecord | undefined> {
    const b = this.buckets.get(loc.bucket);
    if (!b) return undefined;
    if (loc.prefix === '')
      return b.volume
        ? { capacityBytes: b.volume.capacityBytes, ...(b.volume.name !== undefined ? { name: b.volume.name } : {}) }
        : undefined;
    const m = b.markers.get(loc.prefix);
    return m?.state === 'done' ? { ...m.record } : undefined;
  }

  async locationExists(loc: VolumeLocation): Promise<boolean> {
    return this.buckets.has(loc.bucket);
  }

  async prepareVolume(loc: VolumeLocation, name: string): Promise<void> {
    const b = this.buckets.get(loc.bucket);
    if (loc.prefix === '') {
      if (!b) this.buckets.set(loc.bucket, newBucket());
      else if (b.objects.size > 0)
        throw new CsiError(
          status.ALREADY_EXISTS,
          `bucket ${loc.bucket} for volume ${name} already exists, holds data and was not created by bucketmount`,
        );
      return;
    }
    if (!b)
      throw new CsiError(
        status.FAILED_PRECONDITION,
        `bucket ${loc.bucket} (StorageClass parameter bucket) does not exist`,
      );
    const m = b.markers.get(loc.prefix);
    if (m) {
      checkVolumeName(m.record, loc, name);
      return;
    }
    if (this.under(b, loc.prefix).length > 0)
      throw new CsiError(
        status.ALREADY_EXISTS,
        `s3://${loc.bucket}/${loc.prefix} already holds objects that were not created by bucketmount`,
      );
    b.markers.set(loc.prefix, { state: 'pending', record: { capacityBytes: 0, name } });
  }

  async recordVolume(loc: VolumeLocation, capacityBytes: number, opts: RecordOptions): Promise<void> {
    const b = this.buckets.get(loc.bucket);
    if (!b) throw new CsiError(status.NOT_FOUND, `bucket ${loc.bucket} does not exist`);
    const record = { capacityBytes, ...(opts.name !== undefined ? { name: opts.name } : {}) };
    if (loc.prefix === '') {
      b.volume = { ...record, volumeId: encodeVolumeId(loc) };
      return;
    }
    if (opts.catalogue) b.catalogue.add(encodeVolumeId(loc));
    b.markers.set(loc.prefix, { state: 'done', record });
  }

  async deleteVolume(loc: VolumeLocation): Promise<{ deletedObjects: number }> {
    const b = this.buckets.get(loc.bucket);
    if (!b) return { deletedObjects: 0 };
    if (loc.prefix === '') {
      if (!b.volume)
        throw new CsiError(
          status.FAILED_PRECONDITION,
          `bucket ${loc.bucket} exists but was not created by bucketmount; not deleting it`,
        );
      const n = b.objects.size;
      this.buckets.delete(loc.bucket);
      return { deletedObjects: n };
    }
    const keys = this.under(b, loc.prefix);
    if (!b.markers.has(loc.prefix)) {
      if (keys.length > 0)
        throw new CsiError(
          status.FAILED_PRECONDITION,
          `s3://${loc.bucket}/${loc.prefix} holds objects but no volume marker written by bucketmount; not deleting them`,
        );
      b.catalogue.delete(encodeVolumeId(loc));
      return { deletedObjects: 0 };
    }
    for (const k of keys) b.objects.delete(k);
    b.catalogue.delete(encodeVolumeId(loc));
    b.markers.delete(loc.prefix);
    return { deletedObjects: keys.length + 1 };
  }

  async copyVolumeData(src: VolumeLocation, dst: VolumeLocation, opts: CopyOptions = {}): Promise<CopyResult> {
    const from = this.buckets.get(src.bucket);
    const to = this.buckets.get(dst.bucket);
    if (!from || !to)
      throw new CsiError(status.NOT_FOUND, `listing s3://${src.bucket}/${src.prefix} failed: NoSuchBucket`);
    const keys = this.under(from, src.prefix).filter(
      (k) =>
        k !== src.prefix &&
        !(src.bucket === dst.bucket && k.startsWith(dst.prefix)) &&
        !(src.prefix === '' && (k.startsWith(SNAPSHOT_ROOT) || k.startsWith(VOLUME_CATALOGUE_ROOT))),
    );
    let bytes = 0;
    const totalBytes = keys.reduce((a, k) => a + from.objects.get(k)!, 0);
    opts.onProgress?.({ objects: 0, bytes: 0, totalObjects: keys.length, totalBytes });
    for (const [i, k] of keys.entries()) {
      if (opts.signal?.aborted)
        throw new CsiError(status.ABORTED, `copy to s3://${dst.bucket}/${dst.prefix} was cancelled`);
      const size = from.objects.get(k)!;
      to.objects.set(dst.prefix + k.slice(src.prefix.length), size);
      bytes += size;
      opts.onProgress?.({ objects: i + 1, bytes, totalObjects: keys.length, totalBytes });
    }
    return { objects: keys.length, bytes };
  }

  async listVolumes(): Promise<ListedVolume[]> {
    const out: ListedVolume[] = [];
    for (const b of this.buckets.values()) {
      if (b.volume) out.push({ volumeId: b.volume.volumeId, capacityBytes: b.volume.capacityBytes });
      for (const id of b.catalogue) out.push({ volumeId: id, capacityBytes: 0 });
    }
    return out;
  }

  async readSnapshot(loc: SnapshotLocation, expectId?: string): Promise<SnapshotRecord | undefined> {
    const rec = this.buckets.get(loc.bucket)?.snapshots.get(snapshotPrefix(loc));
    if (!rec || (expectId !== undefined && rec.snapshotId !== expectId)) return undefined;
    return { ...rec };
  }

  async writeSnapshot(loc: SnapshotLocation, rec: SnapshotRecord): Promise<void> {
    const b = this.buckets.get(loc.bucket);
    if (!b)
      throw new CsiError(
        status.NOT_FOUND,
        `writing snapshot marker s3://${loc.bucket}/${snapshotPrefix(loc)} failed: NoSuchBucket`,
      );
    b.snapshots.set(snapshotPrefix(loc), { ...rec });
  }

  async prepareSnapshotBucket(loc: SnapshotLocation): Promise<void> {
    const b = this.buckets.get(loc.bucket);
    if (!loc.dedicatedBucket) {
      if (!b) throw new CsiError(status.FAILED_PRECONDITION, `snapshot bucket ${loc.bucket} does not exist`);
      return;
    }
    if (!b) {
      this.buckets.set(loc.bucket, newBucket());
      return;
    }
    if (b.volume)
      throw new CsiError(
        status.ALREADY_EXISTS,
        `bucket ${loc.bucket} for this snapshot already exists and is a bucketmount volume`,
      );
    if (b.objects.size > 0)
      throw new CsiError(
        status.ALREADY_EXISTS,
        `bucket ${loc.bucket} for this snapshot already exists and holds data that is not this snapshot`,
      );
  }

  async deleteSnapshot(loc: SnapshotLocation): Promise<number> {
    const b = this.buckets.get(loc.bucket);
    if (!b) return 0;
    const prefix = snapshotAsLocation(loc).prefix;
    const keys = this.under(b, prefix);
    for (const k of keys) b.objects.delete(k);
    const hadMarker = b.snapshots.delete(prefix);
    if (loc.dedicatedBucket && b.objects.size === 0 && !b.volume) this.buckets.delete(loc.bucket);
    return keys.length + (hadMarker ? 1 : 0);
  }

  async listSnapshots(): Promise<SnapshotRecord[]> {
    return [...this.buckets.values()].flatMap((b) => [...b.snapshots.values()].map((r) => ({ ...r })));
  }

  close(): void {
    this.onClose();
  }
}
