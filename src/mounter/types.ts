// The interface between the CSI node service and the mount lifecycle: the node decides *what*
// to mount (bucket, prefix, options, credentials) and the Mounter runs, shares, refreshes,
// adopts and cleans up the per-mount FUSE processes that serve it.
import type { MountSource } from '../mount-contract/options.js';
import type { S3Credentials } from '../credentials/types.js';
import type { TargetWorkload } from './state-store.js';

export type { TargetWorkload };

export interface PublishRequest {
  volumeId: string;
  targetPath: string;
  readOnly: boolean;
  /** What to mount (bucket, prefix, options); the mounter adds the per-process plumbing. */
  source: MountSource;
  /** undefined: the mount process uses the driver's own environment (authenticationSource: driver). */
  credentials?: S3Credentials;
  /**
   * Stable, non-secret fingerprint of the credential identity (e.g. sha256 of access key id +
   * role + pod service account). Mounts are shared only when source, readOnly and identity match.
   */
  credentialIdentity: string;
  /** Opaque fingerprint of the request's capability, so a conflicting republish can be refused. */
  capabilityFingerprint: string;
  /** Who the target is published for (recorded with the target; labels, Events, status). */
  workload?: TargetWorkload;
}

export interface PublishedVolume {
  volumeId: string;
  targetPath: string;
  readOnly: boolean;
  capabilityFingerprint: string;
  /** false when the serving process died or the mount answers ENOTCONN. */
  healthy: boolean;
  pid?: number;
  /** Credential identity of the mount that serves the target (a republish compares it). */
  credentialIdentity?: string;
  /**
   * Set once the mount the target's containers started with is no longer the one serving the
   * host-side target (its process died and a republish restored it, or the target moved to a
   * mount of another credential identity): running containers keep the old mount until restarted.
   */
  staleSince?: string;
}

export interface VolumeUsage {
  usedBytes?: number;
  usedObjects?: number;
  abnormal: boolean;
  /** Abnormal but serving (S3 failures, credentials running out: src/mounter/health.ts); statfs still answers. */
  degraded?: boolean;
  message: string;
}

export type MountErrorKind =
  | 'invalid-argument'
  | 'unauthenticated'
  | 'permission-denied'
  | 'not-found'
  | 'unavailable'
  | 'already-exists'
  | 'failed-precondition'
  | 'internal';

/** A mount failure the node turns into a gRPC status. The message must say what to fix. */
export class MountError extends Error {
  override name = 'MountError';
  constructor(
    readonly kind: MountErrorKind,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface Mounter {
  /** Adopt healthy mounts recorded on disk, clean dead ones and stale state. Called at start-up. */
  reconcile(): Promise<void>;
  /** What is published at this target, if anything. */
  lookup(targetPath: string): Promise<PublishedVolume | undefined>;
  /**
   * Mount at targetPath (creating it). Idempotent for an identical request; restores a dead mount
   * at the same target. Resolves only once the mount serves (stat of its root succeeds). A target
   * whose last path component is a symlink is refused (invalid-argument); symlinked parent dirs
   * are resolved once and the real path is recorded. A republish with another credential identity
   * never changes what the target's share-mates use: a sole target's mount takes the new identity
   * in place, a shared target moves to a mount of the new identity.
   */
  publish(req: PublishRequest): Promise<void>;
  /**
   * Replace the credentials of the running mount at targetPath without remounting. Refused
   * (failed-precondition) unless that mount serves `credentialIdentity`: credentials of one
   * identity never reach a mount that another identity's targets use.
   */
  updateCredentials(targetPath: string, credentials: S3Credentials, credentialIdentity: string): Promise<void>;
  /**
   * Unmount what this plugin mounted at targetPath (also a dead ENOTCONN mount) and remove the
   * directory; a mount the plugin did not make is never touched. Idempotent.
   */
  unpublish(targetPath: string): Promise<void>;
  usage(targetPath: string): Promise<VolumeUsage>;
  /** Stop watching (does NOT unmount: mounts outlive the plugin). */
  close(): Promise<void>;
}
