// CSI snapshot RPCs (CreateSnapshot, DeleteSnapshot, ListSnapshots, GetSnapshot) and restoring a
// volume from a snapshot (CreateVolume with volume_content_source.snapshot). A snapshot is a
// server-side copy of every object of a provisioned volume (see snapshot-id.ts for where it lives
// and storage/snapshot-store.ts for its marker). It is independent of its source: deleting the source
// volume leaves it intact. The copy runs in the background; CreateSnapshot waits for it up to
// `waitMs` and otherwise answers ready_to_use=false (the CO calls again until it is true).
// The copy is not atomic: objects written to the source while it runs may or may not be in it.
import { status } from '@grpc/grpc-js';
import type { Logger } from 'winston';
import { KeyedMutex } from '../util/keyed-mutex.js';
import { CsiError, invalid, notFound } from './errors.js';
import { parseSnapshotClassParams } from './params.js';
import {
  decodePageToken,
  decodeSnapshotId,
  encodePageToken,
  encodeSnapshotId,
  locationForSnapshot,
  snapshotAsLocation,
  snapshotPrefix,
  type SnapshotLocation,
} from './snapshot-id.js';
import type { CopyOptions, CsiStorage, SnapshotRecord } from './storage/storage.js';
import type { RequestOf, ResponseOf, Snapshot, StringMap } from './types.js';
import { decodeVolumeId, VolumeIdError, type VolumeLocation } from './volume-id.js';
import { copyProgressReporter } from './storage/copy-progress.js';
import type { ControllerEvents } from '../k8s/controller-events.js';
import { snapshotRefFromParams, type ObjectRef } from '../k8s/event-reasons.js';

type Connection = Pick<VolumeLocation, 'endpoint' | 'region' | 'forcePathStyle'>;
/** Storage for a location's endpoint with a request's secrets, and the settings it connects with. */
export type StorageOpener = (
  loc: Connection,
  secrets: StringMap,
) => { storage: CsiStorage; settings: { endpoint?: string; region?: string; forcePathStyle: boolean } };

export interface SnapshotServiceOptions {
  logger: Logger;
  open: StorageOpener;
  /** How long CreateSnapshot waits for the copy before answering ready_to_use=false (default 20 s). */
  waitMs?: number;
  copy?: Omit<CopyOptions, 'signal'>;
  /** Told of every finished copy (snapshot or restore): metrics. Must not throw. */
  onCopied?: (objects: number, bytes: number) => void;
  /** Copy progress Events on the VolumeSnapshot (snapshots) and the PVC (restores); default none. */
  events?: ControllerEvents;
}

const MAX_NAME_BYTES = 128;

interface Inflight {
  done: Promise<void>;
  abort: AbortController;
}

export function toSnapshot(rec: SnapshotRecord): Snapshot {
  return {
    snapshotId: rec.snapshotId,
    sourceVolumeId: rec.sourceVolumeId,
    sizeBytes: rec.sizeBytes,
    creationTime: { seconds: Math.floor(rec.createdMs / 1000), nanos: (rec.createdMs % 1000) * 1_000_000 },
    readyToUse: rec.readyToUse,
  };
}

export class SnapshotService {
  private readonly log: Logger;
  private readonly open: StorageOpener;
  private readonly waitMs: number;
  private readonly copyOpts: Omit<CopyOptions, 'signal'>;
  private readonly onCopied: (objects: number, bytes: number) => void;
  private readonly locks = new KeyedMutex();
  private readonly inflight = new Map<string, Inflight>();
  private readonly events: ControllerEvents | undefined;

  constructor(opts: SnapshotServiceOptions) {
    this.events = opts.events;
    this.log = opts.logger.child({ service: 'snapshots' });
    this.open = opts.open;
    this.waitMs = opts.waitMs ?? 20_000;
    this.copyOpts = opts.copy ?? {};
    this.onCopied = opts.onCopied ?? (() => undefined);
  }

  async createSnapshot(req: RequestOf<'CreateSnapshot'>): Promise<ResponseOf<'CreateSnapshot'>> {
    const name = req.name ?? '';
    if (name === '') throw invalid('CreateSnapshot: name is missing');
    if (Buffer.byteLength(name) > MAX_NAME_BYTES)
      throw invalid(`CreateSnapshot: name is longer than ${MAX_NAME_BYTES} bytes`);
    const sourceId = req.sourceVolumeId ?? '';
    if (sourceId === '') throw invalid('CreateSnapshot: source_volume_id is missing');
    const params = parseSnapshotClassParams(req.parameters ?? {});
    const src = decodeVolumeId(sourceId);
    if (!src)
      throw notFound(
        `CreateSnapshot: source volume ${sourceId} does not exist (not a volume id made by this driver; static volumes cannot be snapshotted)`,
      );
    if (src.prefix === '' && params.snapshotBucket === src.bucket) {
      throw invalid(
        `CreateSnapshot: snapshotBucket ${src.bucket} is the source volume's own bucket; a bucket-per-volume volume's snapshots must live elsewhere so the volume can be deleted`,
      );
    }
    let loc: SnapshotLocation;
    try {
      loc = locationForSnapshot(name, src, params.snapshotBucket);
    } catch (err) {
      if (err instanceof VolumeIdError) throw invalid(`CreateSnapshot: ${err.message}`, { cause: err });
      throw err;
    }
    const snapshotId = encodeSnapshotId(loc);
    const log = this.log.child({ snapshotId, name, sourceVolumeId: sourceId });
    const secrets = req.secrets ?? {};

    const pending = await this.locks.run(snapshotId, async () => {
      const { storage, settings } = this.open(loc, secrets);
      try {
        const existing = await storage.readSnapshot(loc);
        if (existing && existing.snapshotId !== snapshotId) {
          throw new CsiError(
            status.ALREADY_EXISTS,
            `snapshot ${name}: s3://${loc.bucket}/${snapshotPrefix(loc)} already holds snapshot ${existing.snapshotId}; use another name`,
          );
        }
        if (existing && existing.sourceVolumeId !== sourceId) {
          throw new CsiError(
            status.ALREADY_EXISTS,
            `snapshot ${name} already exists for source volume ${existing.sourceVolumeId}, not ${sourceId}; use another name`,
          );
        }
        if (existing?.readyToUse) {
          log.info('snapshot already exists; returning it');
          return { rec: existing };
        }
        const running = this.inflight.get(snapshotId);
        if (running && existing) return { rec: existing, task: running };
        const srcRec = await storage.findVolume(src);
        if (!srcRec) throw notFound(`CreateSnapshot: source volume ${sourceId} does not exist`);
        let rec: SnapshotRecord;
        if (existing) {
          // An earlier copy was interrupted: start it over (objects deleted since then must not stay).
          log.info('snapshot copy was interrupted; copying again');
          await storage.deleteSnapshot({ ...loc, dedicatedBucket: false });
          rec = { ...existing, sizeBytes: 0, readyToUse: false };
        } else {
          await storage.prepareSnapshotBucket(loc, settings.region);
          rec = {
            snapshotId,
            sourceVolumeId: sourceId,
            createdMs: Date.now(),
            sizeBytes: 0,
            capacityBytes: srcRec.capacityBytes,
            readyToUse: false,
          };
        }
        await storage.writeSnapshot(loc, rec);
        const target = snapshotRefFromParams(req.parameters);
        return { rec, task: this.startCopy(snapshotId, loc, src, rec, secrets, log, target) };
      } finally {
        storage.close();
      }
    });
    if (!pending.task) return { snapshot: toSnapshot(pending.rec) };
    const finished = await Promise.race([
      pending.task.done.then(() => true),
      new Promise<boolean>((r) => setTimeout(r, this.waitMs, false).unref()),
    ]);
    if (!finished) {
      log.info('snapshot copy still running; answering ready_to_use=false');
      return { snapshot: toSnapshot(pending.rec) };
    }
    const { storage } = this.open(loc, secrets);
    try {
      const rec = await storage.readSnapshot(loc, snapshotId);
      if (!rec) throw new CsiError(status.ABORTED, `snapshot ${name} was deleted while it was being created`);
      return { snapshot: toSnapshot(rec) };
    } finally {
      storage.close();
    }
  }

  /** Copy the source's objects into the snapshot in the background and mark it ready. */
  private startCopy(
    snapshotId: string,
    loc: SnapshotLocation,
    src: VolumeLocation,
    rec: SnapshotRecord,
    secrets: StringMap,
    log: Logger,
    /** The VolumeSnapshot (copy progress Events), when the CO named it. */
    target?: ObjectRef,
  ): Inflight {
    const abort = new AbortController();
    const run = async (): Promise<void> => {
      const { storage } = this.open(loc, secrets);
      try {
        const progress = copyProgressReporter({
          what: `snapshot ${snapshotId} of volume ${rec.sourceVolumeId}`,
          logger: log,
          onReport: this.events?.copyReport(target, 'CreateSnapshot'),
        });
        const r = await storage.copyVolumeData(src, snapshotAsLocation(loc), {
          ...this.copyOpts,
          signal: abort.signal,
          onProgress: progress.onProgress,
        });
        if (abort.signal.aborted) return;
        this.onCopied(r.objects, r.bytes);
        await storage.writeSnapshot(loc, { ...rec, sizeBytes: r.bytes, readyToUse: true });
        progress.completed(r);
        log.info('snapshot ready', { objects: r.objects, bytes: r.bytes, bucket: loc.bucket });
      } finally {
        storage.close();
      }
    };
    const done = run().finally(() => this.inflight.delete(snapshotId));
    // The waiting call (if any) reports the error; a later CreateSnapshot retries the copy.
    done.catch((err: unknown) =>
      log.warn('snapshot copy failed; the next CreateSnapshot retries it', { error: (err as Error).message }),
    );
    const task: Inflight = { done, abort };
    this.inflight.set(snapshotId, task);
    return task;
  }

  async deleteSnapshot(req: RequestOf<'DeleteSnapshot'>): Promise<ResponseOf<'DeleteSnapshot'>> {
    const snapshotId = req.snapshotId ?? '';
    if (snapshotId === '') throw invalid('DeleteSnapshot: snapshot_id is missing');
    const loc = decodeSnapshotId(snapshotId);
    const log = this.log.child({ snapshotId });
    if (!loc) {
      log.info('DeleteSnapshot: not a bucketmount snapshot id; nothing to delete');
      return {};
    }
    return this.locks.run(snapshotId, async () => {
      const running = this.inflight.get(snapshotId);
      if (running) {
        running.abort.abort();
        await running.done.catch(() => undefined);
      }
      const { storage } = this.open(loc, req.secrets ?? {});
      try {
        const rec = await storage.readSnapshot(loc);
        if (rec && rec.snapshotId !== snapshotId) {
          throw new CsiError(
            status.FAILED_PRECONDITION,
            `s3://${loc.bucket}/${snapshotPrefix(loc)} holds snapshot ${rec.snapshotId}, not ${snapshotId}; not deleting it`,
          );
        }
        const n = await storage.deleteSnapshot(loc);
        log.info('snapshot deleted', { bucket: loc.bucket, deletedObjects: n, dedicatedBucket: loc.dedicatedBucket });
        return {};
      } finally {
        storage.close();
      }
    });
  }

  async listSnapshots(req: RequestOf<'ListSnapshots'>): Promise<ResponseOf<'ListSnapshots'>> {
    const max = Number(req.maxEntries ?? 0);
    if (max < 0) throw invalid('ListSnapshots: max_entries must not be negative');
    let after: string | undefined;
    if (req.startingToken) {
      after = decodePageToken(req.startingToken);
      if (after === undefined)
        throw new CsiError(
          status.ABORTED,
          `ListSnapshots: starting_token "${req.startingToken}" was not returned by this driver; list again without it`,
        );
    }
    const secrets = req.secrets ?? {};
    let recs: SnapshotRecord[];
    if (req.snapshotId) {
      const loc = decodeSnapshotId(req.snapshotId);
      if (!loc) return { entries: [], nextToken: '' };
      const { storage } = this.open(loc, secrets);
      try {
        const rec = await storage.readSnapshot(loc, req.snapshotId);
        recs = rec ? [rec] : [];
      } finally {
        storage.close();
      }
    } else {
      const { storage } = this.open({}, secrets);
      try {
        recs = await storage.listSnapshots();
      } finally {
        storage.close();
      }
    }
    if (req.sourceVolumeId) recs = recs.filter((r) => r.sourceVolumeId === req.sourceVolumeId);
    recs.sort((a, b) => (a.snapshotId < b.snapshotId ? -1 : a.snapshotId > b.snapshotId ? 1 : 0));
    if (after !== undefined) recs = recs.filter((r) => r.snapshotId > after!);
    const page = max > 0 ? recs.slice(0, max) : recs;
    const nextToken = max > 0 && recs.length > max ? encodePageToken(page[page.length - 1]!.snapshotId) : '';
    return { entries: page.map((r) => ({ snapshot: toSnapshot(r) })), nextToken };
  }

  async getSnapshot(req: RequestOf<'GetSnapshot'>): Promise<ResponseOf<'GetSnapshot'>> {
    const snapshotId = req.snapshotId ?? '';
    if (snapshotId === '') throw invalid('GetSnapshot: snapshot_id is missing');
    const r = await this.listSnapshots({
      snapshotId,
      secrets: req.secrets ?? {},
      sourceVolumeId: '',
      startingToken: '',
      maxEntries: 0,
    });
    const found = r.entries?.[0];
    if (!found) throw notFound(`snapshot ${snapshotId} does not exist`);
    return found;
  }

  /**
   * Fill the (prepared-by-us) volume `dst` with the snapshot's objects and record it; returns
   * the recorded capacity: at least the source volume's and the requested one.
   */
  async restoreInto(
    storage: CsiStorage,
    endpoint: string | undefined,
    snapshotId: string,
    dst: VolumeLocation,
    name: string,
    r: {
      required: number;
      limit: number;
      capacity: number;
      region: string | undefined;
      secrets: StringMap;
      catalogue: boolean;
      /** The PVC the restore is for (copy progress Events). */
      pvc?: ObjectRef;
    },
  ): Promise<number> {
    const loc = decodeSnapshotId(snapshotId);
    if (!loc)
      throw notFound(`CreateVolume: snapshot ${snapshotId} does not exist (not a snapshot id made by this driver)`);
    const probe = this.open(loc, r.secrets);
    probe.storage.close();
    if (probe.settings.endpoint !== endpoint) {
      throw invalid(
        `CreateVolume: snapshot ${snapshotId} is on endpoint ${probe.settings.endpoint ?? 'AWS'}, the new volume on ${endpoint ?? 'AWS'}; restoring works only within one endpoint`,
      );
    }
    const rec = await storage.readSnapshot(loc, snapshotId);
    if (!rec) throw notFound(`CreateVolume: snapshot ${snapshotId} does not exist`);
    if (!rec.readyToUse)
      throw new CsiError(
        status.UNAVAILABLE,
        `CreateVolume: snapshot ${snapshotId} is not ready yet (its copy is still running or was interrupted); retry later`,
      );
    if (r.limit > 0 && rec.capacityBytes > r.limit) {
      throw new CsiError(
        status.OUT_OF_RANGE,
        `CreateVolume: snapshot ${snapshotId} was taken of a volume of ${rec.capacityBytes} bytes, more than limit_bytes ${r.limit}`,
      );
    }
    const capacity = Math.max(r.capacity, rec.capacityBytes);
    await storage.prepareVolume(dst, name, r.region);
    const progress = copyProgressReporter({
      what: `restore of snapshot ${snapshotId} into s3://${dst.bucket}/${dst.prefix}`,
      logger: this.log,
      onReport: this.events?.copyReport(r.pvc, 'RestoreSnapshot'),
    });
    const copied = await storage.copyVolumeData(snapshotAsLocation(loc), dst, {
      ...this.copyOpts,
      onProgress: progress.onProgress,
    });
    progress.completed(copied);
    this.onCopied(copied.objects, copied.bytes);
    // Recorded last: a restore interrupted half-way does not count as existing and is redone.
    await storage.recordVolume(dst, capacity, { catalogue: r.catalogue, name });
    this.log.info('volume restored from snapshot', { snapshotId, objects: copied.objects, bytes: copied.bytes });
    return capacity;
  }

  /** Abort running copies (shutdown); markers stay not ready and are redone on the next call. */
  abortAll(): void {
    for (const t of this.inflight.values()) t.abort.abort();
  }
}
