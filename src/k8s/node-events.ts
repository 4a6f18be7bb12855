// The node plugin's Kubernetes Events, all on the Pod a volume is published for (kubelet's pod
// info in the volume context, podInfoOnMount): MountFailed when NodePublishVolume fails (with
// the one-line reason of the mount), MountDied / MountRestored from the mounter's observer,
// CredentialRefreshFailed from the credential refresher. Publishes without pod info (csi-sanity,
// the demo) record nothing. Secret values of the request are redacted from every note.
import { status } from '@grpc/grpc-js';
import { podInfoFromContext } from '../credentials/pod-identity.js';
import type { RefreshFailure } from '../credentials/refresher.js';
import { toCsiError } from '../csi/errors.js';
import type { MountObserver, ObservedTarget } from '../mounter/process-mounter.js';
import type { TargetWorkload } from '../mounter/state-store.js';
import { eventNote } from './event-note.js';
import { EventReason, podRef, type ObjectRef } from './event-reasons.js';
import type { EventRecorder } from './events.js';

/** The short cause an operator reads first, by gRPC code of the failed publish. */
const CAUSES: Partial<Record<status, string>> = {
  [status.NOT_FOUND]: 'no such bucket',
  [status.UNAUTHENTICATED]: 'bad credentials',
  [status.PERMISSION_DENIED]: 'access denied',
  [status.UNAVAILABLE]: 'endpoint unreachable',
  [status.INVALID_ARGUMENT]: 'invalid volume',
};

const MOUNT_ERROR_LINE = 'bucketmount: error: ';

/**
 * One line saying why a publish failed: the cause ("no such bucket", "bad credentials", "access
 * denied", "endpoint unreachable", ...) and the line the mount command printed
 * (`bucketmount: error: <reason>`, see mount-contract/exit-codes.ts) or else the error itself.
 */
export function mountFailureSummary(err: unknown): string {
  const e = toCsiError(err);
  const msg = e.message;
  const at = msg.indexOf(MOUNT_ERROR_LINE);
  const line = at >= 0 ? msg.slice(at + MOUNT_ERROR_LINE.length).split(' | ')[0]! : msg;
  return `${CAUSES[e.code] ?? 'mount failed'}: ${line.trim()}`;
}

function podOfWorkload(w: TargetWorkload | undefined): ObjectRef | undefined {
  return w ? podRef({ name: w.podName, namespace: w.podNamespace, uid: w.podUid }) : undefined;
}

const secretValues = (secrets: Record<string, string> | undefined): string[] => Object.values(secrets ?? {});

export class NodeEvents {
  /** Deaths already reported (shareId:pid), so the watcher, a republish and reconcile report one once. */
  private readonly reportedDeaths = new Set<string>();

  constructor(private readonly recorder: EventRecorder) {}

  /** Warning MountFailed on the pod of a failed NodePublishVolume. */
  publishFailed(
    req: { volumeId?: string; volumeContext?: Record<string, string>; secrets?: Record<string, string> },
    err: unknown,
  ): void {
    const pod = podRef(podInfoFromContext(req.volumeContext ?? {}));
    if (!pod) return;
    this.recorder.record({
      regarding: pod,
      type: 'Warning',
      reason: EventReason.MountFailed,
      action: 'NodePublishVolume',
      note: eventNote(`volume ${req.volumeId ?? '?'}: ${mountFailureSummary(err)}`, secretValues(req.secrets)),
    });
  }

  /** Warning CredentialRefreshFailed on the pod whose mount's credentials could not be refreshed. */
  refreshFailed(f: RefreshFailure): void {
    const pod = podRef(podInfoFromContext(f.request.volumeContext));
    if (!pod) return;
    const expiry = f.expiration ? `they expire at ${f.expiration}` : 'they may expire';
    this.recorder.record({
      regarding: pod,
      type: 'Warning',
      reason: EventReason.CredentialRefreshFailed,
      action: 'RefreshCredentials',
      note: eventNote(
        `volume ${f.request.volumeId}: refreshing the mount's temporary credentials failed (${f.error.message}); ${expiry}; retrying`,
        secretValues(f.request.secrets),
      ),
    });
  }

  /** The mounter observer: MountDied (Warning) and MountRestored (Normal) on the targets' pods. */
  observer(): MountObserver {
    return {
      mountDied: (e) => {
        const id = `${e.shareId}:${e.pid}`;
        if (this.reportedDeaths.has(id)) return;
        this.reportedDeaths.add(id);
        if (this.reportedDeaths.size > 1024) this.reportedDeaths.delete(this.reportedDeaths.values().next().value!);
        for (const t of e.targets) {
          this.onPod(
            t,
            'Warning',
            EventReason.MountDied,
            'WatchMount',
            `the mount process (pid ${e.pid}) serving volume ${e.volumeId} died (${e.detail}); kubelet's next republish restores the mount on the host, but running containers keep the dead mount ("Transport endpoint is not connected") until they restart`,
          );
        }
      },
      mountRestored: (e) =>
        this.onPod(
          e.target,
          'Normal',
          EventReason.MountRestored,
          'NodePublishVolume',
          `volume ${e.target.volumeId} is served again by a new mount process (pid ${e.pid}) after its mount died; containers started before keep the dead mount until they restart`,
        ),
    };
  }

  private onPod(
    t: ObservedTarget,
    type: 'Normal' | 'Warning',
    reason: EventReason,
    action: string,
    note: string,
  ): void {
    const pod = podOfWorkload(t.workload);
    if (pod) this.recorder.record({ regarding: pod, type, reason, action, note });
  }
}
