// Whether the driver records Kubernetes Events (csi-driver --events / $BUCKETMOUNT_EVENTS) and
// the recorder it then uses: on by default when the plugin can reach a cluster (in-cluster
// service-account config, or an explicit $KUBECONFIG as the e2e suite gives the host-run plugin),
// off (no-op recorder) otherwise: unit tests, the demo, a plugin started by hand.
import { existsSync } from 'node:fs';
import type { Logger } from '../log.js';
import { PLUGIN_NAME } from '../csi/identity.js';
import { createEventRecorder, noopEventRecorder, type EventRecorder } from './events.js';
import { reportingInstance } from './event-note.js';
import { defaultKubeConfig } from './service-account.js';

const IN_CLUSTER_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** The --events value: "true"/"false" (also 1/0, yes/no); undefined = the default below. */
export function eventsEnabled(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  const raw = flag ?? (env.BUCKETMOUNT_EVENTS || undefined);
  if (raw !== undefined) {
    const v = raw.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(v)) return true;
    if (['false', '0', 'no', 'off'].includes(v)) return false;
    throw new Error(`--events must be true or false, got "${raw.slice(0, 40)}"`);
  }
  const inCluster = Boolean(env.KUBERNETES_SERVICE_HOST) && existsSync(IN_CLUSTER_TOKEN);
  return inCluster || Boolean(env.KUBECONFIG);
}

/** The recorder of a plugin process (node id "" for the controller: its instance is the driver name + host). */
export function driverEventRecorder(enabled: boolean, nodeId: string, logger: Logger): EventRecorder {
  if (!enabled) return noopEventRecorder;
  return createEventRecorder({
    kubeConfig: defaultKubeConfig,
    controller: PLUGIN_NAME,
    instance: reportingInstance(PLUGIN_NAME, nodeId),
    logger,
  });
}
