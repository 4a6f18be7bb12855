// The Event reasons the driver records (the observability contract of issue 17, docs/events.md)
// and the references to the objects they are about.
import type { PodInfo } from '../credentials/pod-identity.js';
import { PROVISIONER_METADATA } from '../csi/params.js';

export const EventReason = {
  /** Pod, Warning: NodePublishVolume failed (the one-line reason of the mount). */
  MountFailed: 'MountFailed',
  /** Pod, Warning: the mount process serving the pod's volume died. */
  MountDied: 'MountDied',
  /** Pod, Normal: a republish restored a dead mount on the host. */
  MountRestored: 'MountRestored',
  /** Pod, Warning: temporary credentials could not be refreshed (they expire). */
  CredentialRefreshFailed: 'CredentialRefreshFailed',
  /** Pod, Warning: reserved for the volume-health helper (S3 errors, expiring credentials). */
  VolumeDegraded: 'VolumeDegraded',
  /** PVC, Warning: CreateVolume failed. */
  ProvisioningFailed: 'ProvisioningFailed',
  /** PVC, Warning: DeleteVolume failed. */
  DeletionFailed: 'DeletionFailed',
  /** PVC (clone/restore) or VolumeSnapshot, Normal: a copy is under way. */
  CopyProgress: 'CopyProgress',
  /** PVC (clone/restore) or VolumeSnapshot, Normal: the copy finished. */
  CopyCompleted: 'CopyCompleted',
} as const;
export type EventReason = (typeof EventReason)[keyof typeof EventReason];

/** A reference to the object an Event is about (events.k8s.io/v1 `regarding` / `related`). */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  /** Absent for cluster-scoped objects (their Events go to the "default" namespace). */
  namespace?: string;
  name: string;
  uid?: string;
}

/** The pod a publish serves, from kubelet's pod info in the volume context (podInfoOnMount). */
export function podRef(pod: PodInfo): ObjectRef | undefined {
  if (!pod.name || !pod.namespace) return undefined;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    namespace: pod.namespace,
    name: pod.name,
    ...(pod.uid ? { uid: pod.uid } : {}),
  };
}

/** Parameters csi-snapshotter adds with --extra-create-metadata. */
export const SNAPSHOT_PARAMS = {
  name: 'csi.storage.k8s.io/volumesnapshot/name',
  namespace: 'csi.storage.k8s.io/volumesnapshot/namespace',
} as const;

const nonEmpty = (v: string | undefined): string | undefined => (v && v.trim() !== '' ? v.trim() : undefined);

/** The PVC a CreateVolume is for, from its parameters; undefined without --extra-create-metadata. */
export function pvcRefFromParams(params: Record<string, string> | undefined): ObjectRef | undefined {
  const name = nonEmpty(params?.[PROVISIONER_METADATA.pvcName]);
  const namespace = nonEmpty(params?.[PROVISIONER_METADATA.pvcNamespace]);
  return name && namespace ? { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace, name } : undefined;
}

/** The VolumeSnapshot a CreateSnapshot is for, from its parameters. */
export function snapshotRefFromParams(params: Record<string, string> | undefined): ObjectRef | undefined {
  const name = nonEmpty(params?.[SNAPSHOT_PARAMS.name]);
  const namespace = nonEmpty(params?.[SNAPSHOT_PARAMS.namespace]);
  return name && namespace
    ? { apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshot', namespace, name }
    : undefined;
}
