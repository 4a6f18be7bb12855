// CSI Controller service: dynamic provisioning of bucket-per-volume and prefix-per-volume
// volumes (CreateVolume / DeleteVolume), ValidateVolumeCapabilities, ControllerGetCapabilities,
// clones, controller-side expansion; snapshots are delegated to snapshotter.ts. Everything else
// is UNIMPLEMENTED (no attach step, no capacity); ListVolumes only with --list-volumes.
// The controller holds no state: volume ids carry the location (see volume-id.ts) and the
// storage itself records the capacity (see storage/volume-store.ts).
import { status } from '@grpc/grpc-js';
import type { Logger } from 'winston';
import { credentialsFromSecrets } from '../credentials/resolve.js';
import { KeyedMutex } from '../util/keyed-mutex.js';
import { unsupportedReason } from './capabilities.js';
import { CsiError, invalid, notFound, unimplemented } from './errors.js';
import {
  effectiveS3Settings,
  parseStorageClassParams,
  parseVolumeAttributes,
  workloadContext,
  type S3Settings,
} from './params.js';
import { s3StorageFactory } from './storage/s3-storage.js';
import { checkVolumeName, type CsiStorage, type StorageFactory } from './storage/storage.js';
import type {
  RequestOf,
  ResponseOf,
  ServiceHandlers,
  StringMap,
  VolumeCapability__Output as VolumeCapability,
} from './types.js';
import { decodeVolumeId, encodeVolumeId, locationForVolume, VolumeIdError, type VolumeLocation } from './volume-id.js';
import { SnapshotService } from './snapshotter.js';
import { decodeVolumePageToken, encodeVolumePageToken } from './storage/volume-catalogue.js';
import { copyProgressReporter } from './storage/copy-progress.js';
import type { ControllerEvents } from '../k8s/controller-events.js';
import { pvcRefFromParams, type ObjectRef } from '../k8s/event-reasons.js';

export interface ControllerOptions {
  logger: Logger;
  /** Endpoint / region / path style used when neither the StorageClass nor the secret sets them. */
  defaults: S3Settings;
  /** Where volumes and snapshots are stored (default: S3, s3StorageFactory); the controller closes each after use. */
  storage?: StorageFactory;
  /** How long CreateSnapshot waits for its copy before answering ready_to_use=false. */
  snapshotWaitMs?: number;
  /**
   * Serve ListVolumes (advertise LIST_VOLUMES): needs credentials of the controller's own (environment,
   * IRSA) for the default endpoint, because ListVolumes carries no secrets.
   */
  listVolumes?: boolean;
  /** Told of every finished server-side copy (clone, snapshot, restore): metrics. Must not throw. */
  onCopied?: (objects: number, bytes: number) => void;
  /** Kubernetes Events (ProvisioningFailed, DeletionFailed, copy progress); default none. */
  events?: ControllerEvents;
}

const MAX_NAME_BYTES = 128;
// eslint-disable-next-line no-control-regex
const BANNED_NAME_CHARS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;

function checkCapabilities(caps: VolumeCapability[] | undefined, rpc: string): VolumeCapability[] {
  if (!caps || caps.length === 0)
    throw invalid(
      `${rpc}: volume_capabilities is missing: give at least one capability (access type mount + access mode)`,
    );
  return caps;
}

export class ControllerService {
  private readonly log: Logger;
  private readonly defaults: S3Settings;
  private readonly storageFactory: StorageFactory;
  private readonly locks = new KeyedMutex();
  readonly snapshots: SnapshotService;
  private readonly listVolumesEnabled: boolean;
  private readonly onCopied: (objects: number, bytes: number) => void;
  private readonly events: ControllerEvents | undefined;

  constructor(opts: ControllerOptions) {
    this.events = opts.events;
    this.log = opts.logger.child({ service: 'controller' });
    this.defaults = opts.defaults;
    this.storageFactory = opts.storage ?? s3StorageFactory();
    this.listVolumesEnabled = opts.listVolumes ?? false;
    this.onCopied = opts.onCopied ?? (() => undefined);
    this.snapshots = new SnapshotService({
      logger: opts.logger,
      open: (loc, secrets) => this.open(loc, secrets),
      waitMs: opts.snapshotWaitMs,
      onCopied: opts.onCopied,
      ...(opts.events ? { events: opts.events } : {}),
    });
  }

  /** Storage for a volume location, with credentials from the secrets (else the driver's env). */
  private open(
    loc: Pick<VolumeLocation, 'endpoint' | 'region' | 'forcePathStyle'>,
    secrets: StringMap,
  ): { storage: CsiStorage; settings: ReturnType<typeof effectiveS3Settings> } {
    const fromSecret = credentialsFromSecrets(secrets);
    const settings = effectiveS3Settings(
      { endpoint: loc.endpoint, region: loc.region, forcePathStyle: loc.forcePathStyle },
      { endpoint: fromSecret?.endpoint, region: fromSecret?.region },
      this.defaults,
    );
    const storage = this.storageFactory({
      endpoint: settings.endpoint,
      region: settings.region,
      forcePathStyle: settings.forcePathStyle,
      credentials: fromSecret?.credentials,
    });
    return { storage, settings };
  }

  async createVolume(req: RequestOf<'CreateVolume'>): Promise<ResponseOf<'CreateVolume'>> {
    try {
      return await this.provision(req);
    } catch (err) {
      this.events?.provisioningFailed(req, err); // fire-and-forget
      throw err;
    }
  }

  private async provision(req: RequestOf<'CreateVolume'>): Promise<ResponseOf<'CreateVolume'>> {
    const name = req.name ?? '';
    if (name === '') throw invalid('CreateVolume: name is missing');
    if (Buffer.byteLength(name) > MAX_NAME_BYTES)
      throw invalid(`CreateVolume: name is longer than ${MAX_NAME_BYTES} bytes`);
    if (BANNED_NAME_CHARS.test(name)) throw invalid('CreateVolume: name contains control characters');
    const caps = checkCapabilities(req.volumeCapabilities, 'CreateVolume');
    for (const c of caps) {
      const why = unsupportedReason(c);
      if (why) throw invalid(`CreateVolume: ${why}`);
    }
    const source = req.volumeContentSource;
    const snapshotId = source?.snapshot ? (source.snapshot.snapshotId ?? '') : undefined;
    if (snapshotId === '') throw invalid('CreateVolume: volume_content_source.snapshot.snapshot_id is missing');
    const sourceId = source?.volume ? (source.volume.volumeId ?? '') : undefined;
    if (sourceId === '') throw invalid('CreateVolume: volume_content_source.volume.volume_id is missing');
    const required = Number(req.capacityRange?.requiredBytes ?? 0);
    const limit = Number(req.capacityRange?.limitBytes ?? 0);
    if (required < 0 || limit < 0) throw invalid('CreateVolume: capacity_range values must not be negative');
    if (limit > 0 && required > limit)
      throw new CsiError(
        status.OUT_OF_RANGE,
        `CreateVolume: required_bytes ${required} is larger than limit_bytes ${limit}`,
      );
    const capacity = required > 0 ? required : limit;

    const params = parseStorageClassParams(req.parameters ?? {});
    // PV/PVC names for the node's labels (external-provisioner's --extra-create-metadata), checked before any side effect.
    const workload = workloadContext(req.parameters ?? {});
    const secrets = req.secrets ?? {};
    const fromSecret = credentialsFromSecrets(secrets);
    // Settings DeleteVolume would fall back to (it sees only the id and the secrets): record in
    // the id only what differs from them.
    const deleteTime = effectiveS3Settings(
      { endpoint: fromSecret?.endpoint, region: fromSecret?.region },
      this.defaults,
    );
    const effective = effectiveS3Settings(
      params,
      { endpoint: fromSecret?.endpoint, region: fromSecret?.region },
      this.defaults,
    );
    const overrides: Omit<VolumeLocation, 'bucket' | 'prefix'> = {};
    if (effective.endpoint !== deleteTime.endpoint && effective.endpoint !== undefined)
      overrides.endpoint = effective.endpoint;
    if (effective.region !== deleteTime.region && effective.region !== undefined) overrides.region = effective.region;
    if (effective.forcePathStyle !== deleteTime.forcePathStyle) overrides.forcePathStyle = effective.forcePathStyle;

    let loc: VolumeLocation;
    try {
      loc = locationForVolume(name, { bucket: params.bucket, basePrefix: params.basePrefix, overrides });
    } catch (err) {
      if (err instanceof VolumeIdError) throw invalid(`CreateVolume: ${err.message}`, { cause: err });
      throw err;
    }
    const volumeId = encodeVolumeId(loc);
    const log = this.log.child({ volumeId, name });
    const pvc = pvcRefFromParams(req.parameters);

    const srcLoc = sourceId === undefined ? undefined : decodeVolumeId(sourceId);
    if (sourceId !== undefined && !srcLoc)
      throw notFound(`CreateVolume: source volume ${sourceId} does not exist (not a volume id made by this driver)`);

    return this.locks.run(volumeId, async () => {
      const { storage, settings } = this.open(loc, secrets);
      try {
        const existing = await storage.findVolume(loc);
        let capacityBytes = capacity;
        if (existing) {
          checkVolumeName(existing, loc, name);
          const c = existing.capacityBytes;
          const compatible = c === 0 || capacity === 0 ? true : c >= required && (limit === 0 || c <= limit);
          if (!compatible) {
            throw new CsiError(
              status.ALREADY_EXISTS,
              `volume ${name} already exists with capacity ${c} bytes, which does not fit the requested range (required ${required}, limit ${limit || 'none'}); use another name or the original size`,
            );
          }
          capacityBytes = c;
          log.info('volume already exists; returning it', { capacityBytes });
        } else if (snapshotId !== undefined) {
          capacityBytes = await this.snapshots.restoreInto(storage, settings.endpoint, snapshotId, loc, name, {
            required,
            limit,
            capacity,
            region: effective.region,
            secrets,
            catalogue: this.listVolumesEnabled,
            ...(pvc ? { pvc } : {}),
          });
          log.info('volume restored', { snapshotId, bucket: loc.bucket, prefix: loc.prefix, capacityBytes });
        } else if (srcLoc) {
          capacityBytes = await this.cloneInto(storage, settings, srcLoc, sourceId!, loc, name, {
            required,
            limit,
            capacity,
            region: effective.region,
            secrets,
            ...(pvc ? { pvc } : {}),
          });
          log.info('volume cloned', {
            sourceVolumeId: sourceId,
            bucket: loc.bucket,
            prefix: loc.prefix,
            capacityBytes,
          });
        } else {
          await storage.prepareVolume(loc, name, effective.region);
          await storage.recordVolume(loc, capacity, { catalogue: this.listVolumesEnabled, name });
          log.info('volume created', {
            bucket: loc.bucket,
            prefix: loc.prefix,
            mode: loc.prefix ? 'prefix' : 'bucket',
            capacityBytes,
          });
        }
        const volumeContext: StringMap = { bucketName: loc.bucket };
        if (loc.prefix) volumeContext.prefix = loc.prefix;
        if (effective.endpoint) volumeContext.endpoint = effective.endpoint;
        if (effective.region) volumeContext.region = effective.region;
        volumeContext.forcePathStyle = String(effective.forcePathStyle);
        if (params.mountOptions.length) volumeContext.mountOptions = params.mountOptions.join(',');
        Object.assign(volumeContext, params.credentialAttributes, workload);
        const contentSource =
          sourceId !== undefined
            ? { volume: { volumeId: sourceId } }
            : snapshotId !== undefined
              ? { snapshot: { snapshotId } }
              : undefined;
        return { volume: { volumeId, capacityBytes, volumeContext, ...(contentSource ? { contentSource } : {}) } };
      } finally {
        storage.close();
      }
    });
  }

  /** Create `dst` as a server-side copy of `src` (same endpoint); returns the recorded capacity. */
  private async cloneInto(
    storage: CsiStorage,
    settings: ReturnType<typeof effectiveS3Settings>,
    src: VolumeLocation,
    srcId: string,
    dst: VolumeLocation,
    name: string,
    r: {
      required: number;
      limit: number;
      capacity: number;
      region: string | undefined;
      secrets: StringMap;
      /** The PVC the clone is for (copy progress Events). */
      pvc?: ObjectRef;
    },
  ): Promise<number> {
    const srcSettings = effectiveS3Settings(
      { endpoint: src.endpoint, region: src.region, forcePathStyle: src.forcePathStyle },
      { endpoint: credentialsFromSecrets(r.secrets)?.endpoint },
      this.defaults,
    );
    if (srcSettings.endpoint !== settings.endpoint) {
      throw invalid(
        `CreateVolume: source volume ${srcId} is on endpoint ${srcSettings.endpoint ?? 'AWS'}, the new volume on ${settings.endpoint ?? 'AWS'}; cloning works only within one endpoint`,
      );
    }
    const srcRec = await storage.findVolume(src);
    if (!srcRec) throw notFound(`CreateVolume: source volume ${srcId} does not exist`);
    if (r.limit > 0 && srcRec.capacityBytes > r.limit) {
      throw new CsiError(
        status.OUT_OF_RANGE,
        `CreateVolume: source volume ${srcId} has capacity ${srcRec.capacityBytes}, more than limit_bytes ${r.limit}`,
      );
    }
    const capacity = Math.max(r.capacity, srcRec.capacityBytes);
    await storage.prepareVolume(dst, name, r.region);
    const progress = copyProgressReporter({
      what: `clone of volume ${srcId} into s3://${dst.bucket}/${dst.prefix}`,
      logger: this.log,
      onReport: this.events?.copyReport(r.pvc, 'CloneVolume'),
    });
    const copied = await storage.copyVolumeData(src, dst, { onProgress: progress.onProgress });
    progress.completed(copied);
    this.onCopied(copied.objects, copied.bytes);
    // Recorded last: a clone interrupted half-way does not count as existing and is redone.
    await storage.recordVolume(dst, capacity, { catalogue: this.listVolumesEnabled, name });
    this.log.debug('clone copied objects', { volumeId: encodeVolumeId(dst), copied });
    return capacity;
  }

  async deleteVolume(req: RequestOf<'DeleteVolume'>): Promise<ResponseOf<'DeleteVolume'>> {
    try {
      return await this.removeVolume(req);
    } catch (err) {
      this.events?.deletionFailed(req, err); // fire-and-forget (looks the PVC up in the background)
      throw err;
    }
  }

  private async removeVolume(req: RequestOf<'DeleteVolume'>): Promise<ResponseOf<'DeleteVolume'>> {
    const volumeId = req.volumeId ?? '';
    if (volumeId === '') throw invalid('DeleteVolume: volume_id is missing');
    const loc = decodeVolumeId(volumeId);
    const log = this.log.child({ volumeId });
    if (!loc) {
      log.info('DeleteVolume: not a bucketmount volume id; nothing to delete');
      return {};
    }
    return this.locks.run(volumeId, async () => {
      const { storage, settings } = this.open(loc, req.secrets ?? {});
      try {
        const r = await storage.deleteVolume(loc);
        log.info('volume deleted', {
          bucket: loc.bucket,
          prefix: loc.prefix,
          endpoint: settings.endpoint,
          deletedObjects: r.deletedObjects,
        });
        return {};
      } finally {
        storage.close();
      }
    });
  }

  async validateVolumeCapabilities(
    req: RequestOf<'ValidateVolumeCapabilities'>,
  ): Promise<ResponseOf<'ValidateVolumeCapabilities'>> {
    const volumeId = req.volumeId ?? '';
    if (volumeId === '') throw invalid('ValidateVolumeCapabilities: volume_id is missing');
    const caps = checkCapabilities(req.volumeCapabilities, 'ValidateVolumeCapabilities');
    // Provisioned volumes: the id says where; static volumes: the volume context does.
    let loc = decodeVolumeId(volumeId);
    let staticVolume = false;
    if (!loc && req.volumeContext?.bucketName) {
      const attrs = parseVolumeAttributes(req.volumeContext);
      loc = {
        bucket: attrs.bucket!,
        prefix: attrs.prefix,
        endpoint: attrs.endpoint,
        region: attrs.region,
        forcePathStyle: attrs.forcePathStyle,
      };
      staticVolume = true;
    }
    if (!loc)
      throw notFound(
        `volume ${volumeId} does not exist (not a volume id made by this driver, and no bucketName in the volume context)`,
      );
    const { storage } = this.open(loc, req.secrets ?? {});
    try {
      const exists = staticVolume ? await storage.locationExists(loc) : (await storage.findVolume(loc)) !== undefined;
      if (!exists) throw notFound(`volume ${volumeId} does not exist (s3://${loc.bucket}/${loc.prefix})`);
    } finally {
      storage.close();
    }
    for (const c of caps) {
      const why = unsupportedReason(c);
      if (why) return { message: why };
    }
    if (req.parameters && Object.keys(req.parameters).length > 0) {
      try {
        parseStorageClassParams(req.parameters);
      } catch (err) {
        return { message: (err as Error).message };
      }
    }
    return {
      confirmed: {
        volumeContext: req.volumeContext ?? {},
        volumeCapabilities: caps,
        parameters: req.parameters ?? {},
        mutableParameters: {},
      },
    };
  }

  /**
   * S3 has no size to grow: expansion updates the capacity recorded with the volume (what
   * CreateVolume compares against and reports); nothing changes on the node.
   */
  async controllerExpandVolume(
    req: RequestOf<'ControllerExpandVolume'>,
  ): Promise<ResponseOf<'ControllerExpandVolume'>> {
    const volumeId = req.volumeId ?? '';
    if (volumeId === '') throw invalid('ControllerExpandVolume: volume_id is missing');
    if (!req.capacityRange) throw invalid('ControllerExpandVolume: capacity_range is missing');
    const required = Number(req.capacityRange.requiredBytes ?? 0);
    const limit = Number(req.capacityRange.limitBytes ?? 0);
    if (required < 0 || limit < 0) throw invalid('ControllerExpandVolume: capacity_range values must not be negative');
    if (limit > 0 && required > limit)
      throw new CsiError(
        status.OUT_OF_RANGE,
        `ControllerExpandVolume: required_bytes ${required} is larger than limit_bytes ${limit}`,
      );
    const wanted = required > 0 ? required : limit;
    if (wanted === 0)
      throw invalid('ControllerExpandVolume: capacity_range has neither required_bytes nor limit_bytes');
    const loc = decodeVolumeId(volumeId);
    if (!loc) throw notFound(`volume ${volumeId} does not exist (not a volume id made by this driver)`);
    return this.locks.run(volumeId, async () => {
      const { storage } = this.open(loc, req.secrets ?? {});
      try {
        const rec = await storage.findVolume(loc);
        if (!rec) throw notFound(`volume ${volumeId} does not exist`);
        if (rec.capacityBytes >= wanted && (limit === 0 || rec.capacityBytes <= limit)) {
          return { capacityBytes: rec.capacityBytes, nodeExpansionRequired: false };
        }
        await storage.recordVolume(loc, wanted, { catalogue: this.listVolumesEnabled, name: rec.name });
        this.log.info('volume capacity updated', { volumeId, from: rec.capacityBytes, to: wanted });
        return { capacityBytes: wanted, nodeExpansionRequired: false };
      } finally {
        storage.close();
      }
    });
  }

  /**
   * The volumes of the catalogue (storage/volume-catalogue.ts) on the default endpoint, seen with the
   * controller's own credentials; sorted by id, paged with an opaque token.
   */
  async listVolumes(req: RequestOf<'ListVolumes'>): Promise<ResponseOf<'ListVolumes'>> {
    if (!this.listVolumesEnabled)
      throw unimplemented(
        'ListVolumes',
        'LIST_VOLUMES is not advertised: start the controller with --list-volumes and credentials of its own',
      );
    const max = Number(req.maxEntries ?? 0);
    if (max < 0) throw invalid('ListVolumes: max_entries must not be negative');
    let after: string | undefined;
    if (req.startingToken) {
      after = decodeVolumePageToken(req.startingToken);
      if (after === undefined)
        throw new CsiError(
          status.ABORTED,
          `ListVolumes: starting_token "${req.startingToken}" was not returned by this driver; list again without it`,
        );
    }
    const { storage } = this.open({}, {});
    let vols;
    try {
      vols = await storage.listVolumes();
    } finally {
      storage.close();
    }
    vols.sort((a, b) => (a.volumeId < b.volumeId ? -1 : a.volumeId > b.volumeId ? 1 : 0));
    if (after !== undefined) vols = vols.filter((v) => v.volumeId > after!);
    const page = max > 0 ? vols.slice(0, max) : vols;
    const nextToken = max > 0 && vols.length > max ? encodeVolumePageToken(page[page.length - 1]!.volumeId) : '';
    return {
      entries: page.map((v) => ({ volume: { volumeId: v.volumeId, capacityBytes: v.capacityBytes } })),
      nextToken,
    };
  }

  controllerGetCapabilities(): ResponseOf<'ControllerGetCapabilities'> {
    return {
      capabilities: [
        ...(this.listVolumesEnabled ? [{ rpc: { type: 'LIST_VOLUMES' as const } }] : []),
        { rpc: { type: 'CREATE_DELETE_VOLUME' } },
        { rpc: { type: 'CLONE_VOLUME' } },
        { rpc: { type: 'CREATE_DELETE_SNAPSHOT' } },
        { rpc: { type: 'LIST_SNAPSHOTS' } },
        { rpc: { type: 'EXPAND_VOLUME' } },
        { rpc: { type: 'SINGLE_NODE_MULTI_WRITER' } },
      ],
    };
  }

  handlers(): ServiceHandlers<'Controller'> {
    const notImpl = (rpc: string, why: string) => async (): Promise<never> => {
      throw unimplemented(rpc, why);
    };
    const noAttach = 'volumes need no attach step (attachRequired: false)';
    return {
      CreateVolume: (r) => this.createVolume(r),
      DeleteVolume: (r) => this.deleteVolume(r),
      ValidateVolumeCapabilities: (r) => this.validateVolumeCapabilities(r),
      ControllerGetCapabilities: async () => this.controllerGetCapabilities(),
      ControllerPublishVolume: notImpl('ControllerPublishVolume', noAttach),
      ControllerUnpublishVolume: notImpl('ControllerUnpublishVolume', noAttach),
      ListVolumes: (r) => this.listVolumes(r),
      GetCapacity: notImpl('GetCapacity', 'S3 has no capacity limit to report'),
      CreateSnapshot: (r) => this.snapshots.createSnapshot(r),
      DeleteSnapshot: (r) => this.snapshots.deleteSnapshot(r),
      ListSnapshots: (r) => this.snapshots.listSnapshots(r),
      GetSnapshot: (r) => this.snapshots.getSnapshot(r),
      ControllerExpandVolume: (r) => this.controllerExpandVolume(r),
      ControllerGetVolume: notImpl('ControllerGetVolume', 'GET_VOLUME is not advertised'),
      ControllerModifyVolume: notImpl('ControllerModifyVolume', 'MODIFY_VOLUME is not advertised'),
    };
  }
}
