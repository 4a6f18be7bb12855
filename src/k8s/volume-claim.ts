// Finds the PVC a volume belongs to when a CSI call does not say (DeleteVolume carries only the
// volume id): the PersistentVolume of this driver whose spec.csi.volumeHandle is the id, and its
// claimRef. Needs RBAC `list` on persistentvolumes (cluster-wide). Used only when a DeleteVolume
// failed, to put the DeletionFailed Event where its owner looks; any error means "unknown".
import type { KubeConfig } from '@kubernetes/client-node';
import type { ObjectRef } from './event-reasons.js';

export interface VolumeClaim {
  /** The PVC (it may already be gone: with reclaimPolicy Delete the PV is deleted after its claim). */
  claim: ObjectRef;
  pv: ObjectRef;
}

export type ClaimLookup = (volumeId: string) => Promise<VolumeClaim | undefined>;

export function createClaimLookup(opts: {
  kubeConfig: KubeConfig | (() => Promise<KubeConfig>);
  driver: string;
}): ClaimLookup {
  return async (volumeId) => {
    const lib = await import('@kubernetes/client-node');
    const kc = typeof opts.kubeConfig === 'function' ? await opts.kubeConfig() : opts.kubeConfig;
    const api = kc.makeApiClient(lib.CoreV1Api);
    let cont: string | undefined;
    do {
      const page = await api.listPersistentVolume({ limit: 500, ...(cont ? { _continue: cont } : {}) });
      for (const pv of page.items) {
        const csi = pv.spec?.csi;
        if (csi?.driver !== opts.driver || csi.volumeHandle !== volumeId) continue;
        const ref = pv.spec?.claimRef;
        if (!ref?.name || !ref.namespace) return undefined;
        return {
          claim: {
            apiVersion: 'v1',
            kind: 'PersistentVolumeClaim',
            namespace: ref.namespace,
            name: ref.name,
            ...(ref.uid ? { uid: ref.uid } : {}),
          },
          pv: {
            apiVersion: 'v1',
            kind: 'PersistentVolume',
            name: pv.metadata?.name ?? '',
            ...(pv.metadata?.uid ? { uid: pv.metadata.uid } : {}),
          },
        };
      }
      cont = page.metadata?._continue || undefined;
    } while (cont);
    return undefined;
  };
}
