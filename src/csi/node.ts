// CSI Node service: NodePublishVolume resolves the volume's credentials (src/credentials) and
// asks the Mounter (src/mounter) to serve bucket[/prefix] at the target through a separate FUSE
// mount process; NodeUnpublishVolume unmounts and removes the target; a republish of a healthy
// mount (kubelet's requiresRepublish) only refreshes its credentials. Also NodeGetInfo,
// NodeGetCapabilities and NodeGetVolumeStats (statfs of the mount + its health).
// Authority (docs/security/authz.md): inline volumes use only the credential sources the node
// allows; mount options are checked against their author's tier (option-authority.ts); host
// paths (cache) come from the node; driver credentials only talk to the node's endpoints.
import { statfs } from 'node:fs/promises';
import { isAbsolute, join, resolve as resolvePath } from 'node:path';
import type { Logger } from 'winston';
import {
  DEFAULT_INLINE_AUTH_SOURCES,
  checkInlineAuthSource,
  resolveCredentials,
  type AuthenticationSource,
  type CredentialRequest,
  type ResolvedCredentials,
} from '../credentials/resolve.js';
import { CredentialRefresher } from '../credentials/refresher.js';
import { podInfoFromContext } from '../credentials/pod-identity.js';
import { MountArgsError } from '../mount-contract/flags.js';
import { endpointRefusal } from '../mount-contract/option-authority.js';
import { parseMountOptions, type MountOptions, type MountSource } from '../mount-contract/options.js';
import type { Mounter, TargetWorkload } from '../mounter/types.js';
import { capabilityFingerprint, isReadOnlyMode, unsupportedReason } from './capabilities.js';
import { CsiError, invalid, notFound, unimplemented } from './errors.js';
import {
  effectiveS3Settings,
  isInlineVolume,
  optionAuthorOf,
  parseMountFlags,
  parseVolumeAttributes,
  type S3Settings,
} from './params.js';
import type { RequestOf, ResponseOf, ServiceHandlers, VolumeUsage } from './types.js';
import { decodeVolumeId } from './volume-id.js';
import { checkPublishTarget } from './validate.js';
import { status } from '@grpc/grpc-js';
import type { NodeEvents } from '../k8s/node-events.js';

export interface NodeOptions {
  nodeId: string;
  mounter: Mounter;
  logger: Logger;
  /** Endpoint / region / path style when neither the volume nor its secret sets them. */
  defaults: S3Settings;
  /** Credential resolution (default: src/credentials resolveCredentials). */
  resolve?: (req: CredentialRequest) => Promise<ResolvedCredentials>;
  /** Extra mount-command flags for every mount (node-owned, e.g. --cache-max-size); volume options come after. */
  baseMountFlags?: string[];
  /** Credential sources inline volumes may use (--inline-auth-sources; default pod only). */
  inlineAuthSources?: readonly AuthenticationSource[];
  /** When non-empty, the only endpoints any volume may use besides the default (--allowed-endpoints). */
  allowedEndpoints?: readonly string[];
  /** Directory under which each share with a data cache gets its own subdirectory (--cache-root). */
  cacheRoot?: string;
  /** Refreshes temporary (STS) credentials before expiry (default: a CredentialRefresher). */
  refresher?: CredentialRefresher;
  /** Metrics hooks (src/metrics/node-metrics.ts); each must be cheap and must not throw. */
  observer?: NodeObserver;
  /** Kubernetes Events on the publishing pods (MountFailed, CredentialRefreshFailed); default none. */
  events?: NodeEvents;
}

export interface NodeObserver {
  /** Fresh temporary credentials were written into a running mount (true), or getting or writing them failed (false). */
  credentialRefresh?(ok: boolean): void;
}

/**
 * Who a publish serves, for labels and status: the pod from kubelet's podInfoOnMount keys, the
 * PV/PVC names from the volume attributes (params.ts checked them). Undefined when nothing is known.
 */
export function workloadOf(ctx: Record<string, string>, pv: TargetWorkload): TargetWorkload | undefined {
  const pod = podInfoFromContext(ctx);
  const all: TargetWorkload = {
    podName: pod.name,
    podNamespace: pod.namespace,
    podUid: pod.uid,
    pvName: pv.pvName,
    pvcName: pv.pvcName,
    pvcNamespace: pv.pvcNamespace,
  };
  const set = Object.entries(all).filter(([, v]) => v !== undefined);
  return set.length ? (Object.fromEntries(set) as TargetWorkload) : undefined;
}

function required(value: string | undefined, rpc: string, field: string): string {
  if (value === undefined || value === '') throw invalid(`${rpc}: ${field} is missing`);
  return value;
}

/** Default cache root: under the node plugin's state dir. */
export const cacheRootFor = (stateDir: string): string => join(stateDir, 'cache');

/** Parse CSI's volume_mount_group (kubelet passes the pod's fsGroup with fsGroupPolicy: File). */
export function parseVolumeMountGroup(v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  if (!/^\d{1,10}$/.test(v) || Number(v) > 2 ** 32 - 2)
    throw invalid(`volume_capability.mount.volume_mount_group must be a numeric group id, got "${v.slice(0, 64)}"`);
  return Number(v);
}

/**
 * Build the mount source (bucket, prefix, endpoint, options) for a publish. CSI publishes always
 * use allow_other + default_permissions (any pod uid may use the mount, the kernel checks modes).
 * Ownership and modes unless the options set them:
 *   - volume_mount_group (the pod's fsGroup) → gid = that group, modes 0664/0775;
 *   - uid or gid option given → the standalone defaults 0644/0755 (owner access);
 *   - nothing given → 0666/0777: every uid in the pod may read and write; the S3 credentials
 *     are the access boundary, and only the pod's own containers see the mount.
 * A data cache (option data-cache / cache) is put under the node's cacheRoot; the mounter gives
 * each share its own subdirectory.
 */
export function mountSourceFor(args: {
  bucket: string;
  prefix: string;
  settings: ReturnType<typeof effectiveS3Settings>;
  flags: string[];
  volumeMountGroup?: number;
  cacheRoot?: string;
}): MountSource {
  const flags: string[] = [];
  if (args.settings.endpoint) flags.push(`--endpoint-url=${args.settings.endpoint}`);
  if (args.settings.region) flags.push(`--region=${args.settings.region}`);
  if (args.settings.forcePathStyle) flags.push('--force-path-style');
  flags.push(...args.flags);
  let options: MountOptions;
  try {
    options = parseMountOptions(flags);
  } catch (err) {
    if (err instanceof MountArgsError) throw invalid(`mount options: ${err.message}`, { cause: err });
    throw err;
  }
  const given = (name: string): boolean => args.flags.some((f) => f === `--${name}` || f.startsWith(`--${name}=`));
  const uidOrGid = given('uid') || given('gid');
  const group = given('gid') ? undefined : args.volumeMountGroup;
  const [fileMode, dirMode] = group !== undefined ? [0o664, 0o775] : uidOrGid ? [0o644, 0o755] : [0o666, 0o777];
  return {
    bucket: args.bucket,
    prefix: args.prefix,
    ...options,
    allowOther: true,
    defaultPermissions: true,
    ...(group !== undefined ? { gid: group } : {}),
    fileMode: given('file-mode') ? options.fileMode : fileMode,
    dirMode: given('dir-mode') ? options.dirMode : dirMode,
    // Node-owned: a volume can only switch the cache on; its place is the node's cache root.
    cacheDir: options.dataCache === true && args.cacheRoot ? args.cacheRoot : undefined,
    dataCache: options.dataCache === true && args.cacheRoot !== undefined,
  };
}

export class NodeService {
  private readonly log: Logger;
  private readonly resolve: (req: CredentialRequest) => Promise<ResolvedCredentials>;
  private readonly refresher: CredentialRefresher;

  constructor(private readonly opts: NodeOptions) {
    this.log = opts.logger.child({ service: 'node' });
    this.resolve = opts.resolve ?? ((r) => resolveCredentials(r));
    const refreshResolve = opts.resolve;
    this.refresher =
      opts.refresher ??
      new CredentialRefresher({
        logger: this.log,
        // A refresh whose exchange fails counts as failed (one whose write fails: track()).
        resolve: (r, o) =>
          (refreshResolve ? refreshResolve(r) : resolveCredentials(r, o)).catch((err: unknown) => {
            this.noteRefresh(false);
            throw err;
          }),
        ...(opts.events ? { onRefreshFailed: (f) => opts.events?.refreshFailed(f) } : {}),
      });
  }

  private noteRefresh(ok: boolean): void {
    try {
      this.opts.observer?.credentialRefresh?.(ok);
    } catch {
      /* metrics never break a refresh */
    }
  }

  /** Keep the mount's temporary credentials fresh between kubelet republishes. */
  private track(targetPath: string, request: CredentialRequest, resolved: ResolvedCredentials): Promise<void> {
    const target = resolvePath(targetPath);
    // The identity travels with the callback: a refresh of an identity the target no longer has is refused.
    return this.refresher.track(target, request, resolved, (c) =>
      this.opts.mounter.updateCredentials(target, c, resolved.identity).then(
        () => this.noteRefresh(true),
        (err: unknown) => {
          this.noteRefresh(false);
          throw err;
        },
      ),
    );
  }

  /** Stop credential refresh timers (mounts stay up). */
  close(): void {
    this.refresher.close();
  }

  async nodePublishVolume(req: RequestOf<'NodePublishVolume'>): Promise<ResponseOf<'NodePublishVolume'>> {
    try {
      return await this.publishVolume(req);
    } catch (err) {
      this.opts.events?.publishFailed(req, err); // fire-and-forget: never delays or changes the reply
      throw err;
    }
  }

  private async publishVolume(req: RequestOf<'NodePublishVolume'>): Promise<ResponseOf<'NodePublishVolume'>> {
    await checkPublishTarget(req);
    const rpc = 'NodePublishVolume';
    const volumeId = required(req.volumeId, rpc, 'volume_id');
    const targetPath = required(req.targetPath, rpc, 'target_path');
    if (!isAbsolute(targetPath)) throw invalid(`${rpc}: target_path "${targetPath}" must be an absolute path`);
    const cap = req.volumeCapability;
    if (!cap) throw invalid(`${rpc}: volume_capability is missing`);
    const why = unsupportedReason(cap);
    if (why) throw invalid(`${rpc}: ${why}`);
    const log = this.log.child({ volumeId, targetPath });

    const ctx = req.volumeContext ?? {};
    const attrs = parseVolumeAttributes(ctx);
    let bucket = attrs.bucket;
    let prefix = attrs.prefix;
    if (bucket === undefined) {
      const loc = decodeVolumeId(volumeId);
      if (!loc)
        throw invalid(
          `${rpc}: volume ${volumeId} has no bucketName volume attribute; set volumeAttributes.bucketName (and optionally prefix ending in "/") on the PersistentVolume`,
        );
      bucket = loc.bucket;
      prefix = loc.prefix;
    }
    const readOnly = req.readonly === true || isReadOnlyMode(cap) || attrs.readOnly;
    const fingerprint = capabilityFingerprint(cap, readOnly);

    const credRequest: CredentialRequest = { volumeId, volumeContext: ctx, secrets: req.secrets ?? {} };
    // Inline volumes: pod-authored attributes may not reach the node's identity (before any side effect).
    checkInlineAuthSource(credRequest, isInlineVolume(ctx), this.opts.inlineAuthSources ?? DEFAULT_INLINE_AUTH_SOURCES);
    const flags = [
      ...(this.opts.baseMountFlags ?? []),
      ...parseMountFlags(cap.mount?.mountFlags ?? [], optionAuthorOf(ctx)),
      ...attrs.mountOptions,
    ];
    const volumeMountGroup = parseVolumeMountGroup(cap.mount?.volumeMountGroup);
    const resolved = await this.resolve(credRequest);
    const settings = effectiveS3Settings(
      { endpoint: attrs.endpoint, region: attrs.region, forcePathStyle: attrs.forcePathStyle },
      { endpoint: resolved.endpoint, region: resolved.region },
      this.opts.defaults,
    );
    const source = mountSourceFor({
      bucket,
      prefix,
      settings,
      flags,
      volumeMountGroup,
      cacheRoot: this.opts.cacheRoot,
    });
    const refusal = endpointRefusal({
      endpoint: source.endpointUrl,
      credentialSource: resolved.source,
      nodeDefault: this.opts.defaults.endpoint,
      allowed: this.opts.allowedEndpoints ?? [],
    });
    if (refusal) throw new CsiError(status.PERMISSION_DENIED, `${rpc}: ${refusal}`);

    const existing = await this.opts.mounter.lookup(targetPath);
    if (existing) {
      if (
        existing.volumeId !== volumeId ||
        existing.capabilityFingerprint !== fingerprint ||
        existing.readOnly !== readOnly
      ) {
        throw new CsiError(
          status.ALREADY_EXISTS,
          `${rpc}: target ${targetPath} is already published ${existing.volumeId !== volumeId ? `for volume ${existing.volumeId}` : 'with a different capability or read-only flag'}; unpublish it first`,
        );
      }
      if (existing.healthy && existing.credentialIdentity === resolved.identity) {
        if (resolved.credentials) {
          await this.opts.mounter.updateCredentials(targetPath, resolved.credentials, resolved.identity);
          await this.track(targetPath, credRequest, resolved);
          log.info('already published; credentials refreshed', {
            source: resolved.source,
            expiration: resolved.expiration,
          });
        } else {
          log.info('already published');
        }
        return {};
      }
      // Another identity: publish below gives this target a mount of that identity and never
      // changes the credentials of a mount other targets share.
      if (existing.healthy) log.info('already published with another credential identity; publishing with the new one');
      else log.warn('published mount is not healthy; publishing again');
    }

    await this.opts.mounter.publish({
      volumeId,
      targetPath,
      readOnly,
      source,
      credentials: resolved.credentials,
      credentialIdentity: resolved.identity,
      capabilityFingerprint: fingerprint,
      workload: workloadOf(ctx, attrs.workload),
    });
    await this.track(targetPath, credRequest, resolved);
    log.info('published', {
      bucket,
      prefix,
      endpoint: source.endpointUrl,
      readOnly,
      accessMode: cap.accessMode?.mode,
      credentialSource: resolved.source,
    });
    return {};
  }

  async nodeUnpublishVolume(req: RequestOf<'NodeUnpublishVolume'>): Promise<ResponseOf<'NodeUnpublishVolume'>> {
    const rpc = 'NodeUnpublishVolume';
    const volumeId = required(req.volumeId, rpc, 'volume_id');
    const targetPath = required(req.targetPath, rpc, 'target_path');
    if (!isAbsolute(targetPath)) throw invalid(`${rpc}: target_path "${targetPath}" must be an absolute path`);
    this.refresher.untrack(resolvePath(targetPath));
    await this.opts.mounter.unpublish(targetPath);
    this.log.info('unpublished', { volumeId, targetPath });
    return {};
  }

  async nodeGetVolumeStats(req: RequestOf<'NodeGetVolumeStats'>): Promise<ResponseOf<'NodeGetVolumeStats'>> {
    const rpc = 'NodeGetVolumeStats';
    const volumeId = required(req.volumeId, rpc, 'volume_id');
    const volumePath = required(req.volumePath, rpc, 'volume_path');
    const published = isAbsolute(volumePath) ? await this.opts.mounter.lookup(volumePath) : undefined;
    if (!published || published.volumeId !== volumeId)
      throw notFound(`${rpc}: volume ${volumeId} is not published at ${volumePath}`);
    const u = await this.opts.mounter.usage(volumePath);
    const usage: VolumeUsage[] = [];
    // A degraded mount still serves: its usage is reported with the abnormal condition.
    if (!u.abnormal || u.degraded) {
      try {
        // What the mount's statfs reports (what df shows); used bytes from the mounter when it knows.
        const st = await statfs(volumePath);
        const total = st.blocks * st.bsize;
        const available = st.bavail * st.bsize;
        usage.push({ unit: 'BYTES', total, available, used: u.usedBytes ?? Math.max(0, total - st.bfree * st.bsize) });
        if (st.files > 0)
          usage.push({
            unit: 'INODES',
            total: st.files,
            available: st.ffree,
            used: u.usedObjects ?? Math.max(0, st.files - st.ffree),
          });
      } catch (err) {
        return {
          usage: [],
          volumeCondition: { abnormal: true, message: `statfs of ${volumePath} failed: ${(err as Error).message}` },
        };
      }
    } else if (u.usedBytes !== undefined) {
      usage.push({ unit: 'BYTES', total: 0, available: 0, used: u.usedBytes });
    }
    return { usage, volumeCondition: { abnormal: u.abnormal, message: u.message } };
  }

  nodeGetCapabilities(): ResponseOf<'NodeGetCapabilities'> {
    return {
      capabilities: [
        { rpc: { type: 'GET_VOLUME_STATS' } },
        { rpc: { type: 'VOLUME_CONDITION' } },
        { rpc: { type: 'SINGLE_NODE_MULTI_WRITER' } },
        // kubelet (CSIDriver fsGroupPolicy: File) passes the pod's fsGroup as volume_mount_group
        // instead of chown-ing every object; mountSourceFor makes it the files' group.
        { rpc: { type: 'VOLUME_MOUNT_GROUP' } },
      ],
    };
  }

  nodeGetInfo(): ResponseOf<'NodeGetInfo'> {
    return { nodeId: this.opts.nodeId, maxVolumesPerNode: 0 };
  }

  handlers(): ServiceHandlers<'Node'> {
    const noStage = async (): Promise<never> => {
      throw unimplemented(
        'NodeStageVolume/NodeUnstageVolume',
        'STAGE_UNSTAGE_VOLUME is not advertised; volumes are published directly',
      );
    };
    return {
      NodePublishVolume: (r) => this.nodePublishVolume(r),
      NodeUnpublishVolume: (r) => this.nodeUnpublishVolume(r),
      NodeGetVolumeStats: (r) => this.nodeGetVolumeStats(r),
      NodeGetCapabilities: async () => this.nodeGetCapabilities(),
      NodeGetInfo: async () => this.nodeGetInfo(),
      NodeStageVolume: noStage,
      NodeUnstageVolume: noStage,
      NodeExpandVolume: async () => {
        throw unimplemented('NodeExpandVolume', 'S3 volumes have no size to expand');
      },
    };
  }
}
