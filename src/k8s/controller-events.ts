// The controller's Kubernetes Events: ProvisioningFailed on the PVC of a failed CreateVolume
// (named by external-provisioner's --extra-create-metadata parameters), DeletionFailed on the
// PVC of a failed DeleteVolume (found through its PV, volume-claim.ts; regarding the claim,
// related the PV), and CopyProgress / CopyCompleted (Normal) on the PVC of a clone or restore
// and on the VolumeSnapshot of a snapshot copy. Secret values of the request are redacted.
import { codeName, toCsiError } from '../csi/errors.js';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { eventNote } from './event-note.js';
import { EventReason, pvcRefFromParams, type ObjectRef } from './event-reasons.js';
import type { EventRecorder } from './events.js';
import type { ClaimLookup } from './volume-claim.js';

function failureNote(what: string, err: unknown, secrets: Record<string, string> | undefined): string {
  const e = toCsiError(err);
  return eventNote(`${what} failed: ${codeName(e.code)}: ${e.message}`, Object.values(secrets ?? {}));
}

export class ControllerEvents {
  private readonly log: Logger;

  constructor(
    private readonly recorder: EventRecorder,
    private readonly claimOf?: ClaimLookup,
    logger?: Logger,
  ) {
    this.log = (logger ?? silentLogger()).child({ component: 'events' });
  }

  /** Warning ProvisioningFailed on the PVC named in the CreateVolume parameters (if any). */
  provisioningFailed(
    req: { name?: string; parameters?: Record<string, string>; secrets?: Record<string, string> },
    err: unknown,
  ): void {
    const pvc = pvcRefFromParams(req.parameters);
    if (!pvc) return;
    this.recorder.record({
      regarding: pvc,
      type: 'Warning',
      reason: EventReason.ProvisioningFailed,
      action: 'CreateVolume',
      note: failureNote(`CreateVolume ${req.name ?? ''}`, err, req.secrets),
    });
  }

  /**
   * Warning DeletionFailed on the claim of the PV whose volumeHandle is volumeId. The lookup runs
   * in the background; without RBAC (list persistentvolumes) or a matching PV nothing is recorded.
   */
  deletionFailed(req: { volumeId?: string; secrets?: Record<string, string> }, err: unknown): void {
    const volumeId = req.volumeId;
    if (!this.claimOf || !volumeId) return;
    const note = failureNote(`DeleteVolume ${volumeId}`, err, req.secrets);
    this.claimOf(volumeId).then(
      (found) => {
        if (!found) return;
        this.recorder.record({
          regarding: found.claim,
          related: found.pv,
          type: 'Warning',
          reason: EventReason.DeletionFailed,
          action: 'DeleteVolume',
          note,
        });
      },
      (e: unknown) =>
        this.log.debug('cannot find the claim of a volume for its DeletionFailed event', {
          volumeId,
          error: (e as Error).message?.slice(0, 300),
        }),
    );
  }

  /** A copy-progress.ts onReport for a copy into `target`'s volume (undefined: nothing to report on). */
  copyReport(target: ObjectRef | undefined, action: string): ((note: string, done: boolean) => void) | undefined {
    if (!target) return undefined;
    return (note, done) =>
      this.recorder.record({
        regarding: target,
        type: 'Normal',
        reason: done ? EventReason.CopyCompleted : EventReason.CopyProgress,
        action,
        note: eventNote(note),
      });
  }
}
