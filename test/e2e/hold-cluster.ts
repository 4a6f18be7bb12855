// Starts the e2e cluster (test/e2e/cluster.ts) with bucketmount installed the way the suite installs it
// (driver objects from deploy/, node plugin and controller on the host with the manifests' flags) and
// keeps it running until SIGINT/SIGTERM, then tears everything down. For trying things by hand and for
// running the suite against an existing cluster: `KUBECONFIG=<printed path> npm run test:e2e`.
// Run as root after `npm run build`: `node dist/test/e2e/hold-cluster.js`.
import { join } from 'node:path';
import { cannotStart, kubectl, startCluster } from './cluster.js';
import { REPO, startController, startNodePlugin, type HostProcess } from './plugin.js';

async function main(): Promise<void> {
  const why = cannotStart();
  if (why) throw new Error(`cannot start the e2e cluster: ${why}`);
  const cluster = await startCluster();
  const procs: HostProcess[] = [];
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    console.log('stopping…');
    for (const p of procs.reverse()) await p.stop();
    await cluster.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  try {
    for (const f of ['namespace.yaml', 'csidriver.yaml', 'rbac-controller.yaml', 'rbac-node.yaml']) {
      kubectl(cluster, ['apply', '-f', join(REPO, 'deploy', f)]);
    }
    procs.push(startNodePlugin(cluster, cluster.tmp), ...(await startController(cluster, cluster.tmp)));
  } catch (e) {
    await stop();
    throw e;
  }
  console.log(`cluster up (logs in ${cluster.tmp}); Ctrl-C to stop\nKUBECONFIG=${cluster.kubeconfig}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
