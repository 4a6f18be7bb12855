// E2E: runs bucketmount's node plugin and controller (+ csi-provisioner) on the host with exactly the
// args and env of deploy/node.yaml and deploy/controller.yaml: `$(VAR)` expanded as kubelet would, container
// paths mapped to host paths through the pod's volumeMounts/volumes, /var/lib/kubelet to the cluster's kubelet
// root. Each talks to the apiserver as its own service account (deploy/rbac-*.yaml) with a minted token.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAllYaml } from '@kubernetes/client-node';
import { freePort } from '../support/minio.js';
import { bin, kubectl, NODE_NAME, type Cluster } from './cluster.js';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const DRIVER = join(REPO, 'dist', 'cmd', 'csi-driver.js');
const CLI = join(REPO, 'dist', 'cmd', 'bucketmount.js');

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string } };
}
interface Container {
  name: string;
  args?: string[];
  env?: EnvVar[];
  volumeMounts?: { name: string; mountPath: string }[];
}
interface Volume {
  name: string;
  hostPath?: { path: string };
  emptyDir?: object;
}
interface PodTemplate {
  metadata?: { namespace?: string };
  spec: { template: { spec: { containers: Container[]; volumes?: Volume[] } } };
}

/** Reads one container of the Deployment/DaemonSet in deploy/<file> as shipped. */
export function shippedContainer(
  file: string,
  container: string,
): { c: Container; volumes: Volume[]; namespace: string } {
  const docs = loadAllYaml(readFileSync(join(REPO, 'deploy', file), 'utf8')) as PodTemplate[];
  const w = docs.find((d) => d.spec?.template?.spec?.containers?.some((x) => x.name === container));
  if (!w) throw new Error(`deploy/${file}: no container ${container}`);
  return {
    c: w.spec.template.spec.containers.find((x) => x.name === container)!,
    volumes: w.spec.template.spec.volumes ?? [],
    namespace: w.metadata?.namespace ?? 'bucketmount',
  };
}

/** Maps the container's args and env onto this host. `emptyDirs` are host dirs standing in for emptyDir volumes. */
export function hostArgs(
  cluster: Cluster,
  file: string,
  container: string,
  emptyDir: string,
  overrides: Record<string, string> = {},
): { args: string[]; env: Record<string, string> } {
  const { c, volumes, namespace } = shippedContainer(file, container);
  const fields: Record<string, string> = { 'spec.nodeName': NODE_NAME, 'metadata.namespace': namespace };
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) env[e.name] = e.value ?? fields[e.valueFrom?.fieldRef?.fieldPath ?? ''] ?? '';
  const toHost = (p: string): string => {
    for (const m of c.volumeMounts ?? []) {
      if (p === m.mountPath || p.startsWith(m.mountPath + '/')) {
        const v = volumes.find((x) => x.name === m.name);
        const base = v?.hostPath
          ? v.hostPath.path.replace(/^\/var\/lib\/kubelet(?=\/|$)/, cluster.kubeletRoot)
          : join(emptyDir, m.name);
        mkdirSync(v?.hostPath && p !== m.mountPath ? base : base, { recursive: true });
        return base + p.slice(m.mountPath.length);
      }
    }
    return p.replace(/^\/var\/lib\/kubelet(?=\/|$)/, cluster.kubeletRoot);
  };
  const args = (c.args ?? []).map((a) => {
    const m = /^(--[^=]+)=(.*)$/.exec(a);
    if (!m) return a;
    const [, flag, raw] = m as unknown as [string, string, string];
    if (flag in overrides) return `${flag}=${overrides[flag]}`;
    let v = raw.replace(/\$\(([A-Z_]+)\)/g, (_, n: string) => env[n] ?? '');
    if (v.startsWith('unix://')) v = `unix://${toHost(v.slice('unix://'.length))}`;
    else if (v.startsWith('/')) v = toHost(v);
    return `${flag}=${v}`;
  });
  return { args, env };
}

/** A kubeconfig authenticating as the service account (token minted by the apiserver). */
export function serviceAccountKubeconfig(cluster: Cluster, ns: string, sa: string, path: string): string {
  const token = kubectl(cluster, ['-n', ns, 'create', 'token', sa, '--duration=4h']).trim();
  const base = kubectl(cluster, ['config', 'view', '--raw', '--minify', '-o', 'json']);
  const cfg = JSON.parse(base) as { clusters: { cluster: Record<string, string> }[] };
  writeFileSync(
    path,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: cfg.clusters,
      users: [{ name: sa, user: { token } }],
      contexts: [{ name: 'sa', context: { cluster: (cfg.clusters[0] as unknown as { name: string }).name, user: sa } }],
      'current-context': 'sa',
    }),
    { mode: 0o600 },
  );
  return path;
}

export interface HostProcess {
  proc: ChildProcess;
  log: string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export function startHostProcess(
  name: string,
  dir: string,
  cmd: string,
  args: string[],
  env: Record<string, string>,
): HostProcess {
  const log = join(dir, `${name}.log`);
  const fd = openSync(log, 'a');
  const proc = spawn(cmd, args, { stdio: ['ignore', fd, fd], env: { ...process.env, ...env } });
  return {
    proc,
    log,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const done = new Promise((r) => proc.once('exit', r));
      proc.kill(signal);
      await Promise.race([done, new Promise((r) => setTimeout(r, 15_000))]);
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGKILL');
        await done;
      }
    },
  };
}

/** The node plugin as deploy/node.yaml runs it (driver container), on this host. */
export function startNodePlugin(cluster: Cluster, dir: string, extraEnv: Record<string, string> = {}): HostProcess {
  const { args, env } = hostArgs(cluster, 'node.yaml', 'bucketmount', join(dir, 'node-emptydir'));
  const kc = serviceAccountKubeconfig(cluster, 'bucketmount', 'bucketmount-node', join(dir, 'node.kubeconfig'));
  return startHostProcess('node-plugin', dir, process.execPath, [DRIVER, ...args], {
    ...env,
    ...extraEnv,
    KUBECONFIG: kc,
  });
}

/** The fd keeper as deploy/fd-keeper.yaml runs it (its socket at the host path the node plugin's --fd-keeper names). */
export function startFdKeeper(cluster: Cluster, dir: string): HostProcess {
  const { args, env } = hostArgs(cluster, 'fd-keeper.yaml', 'fd-keeper', join(dir, 'keeper-emptydir'));
  return startHostProcess('fd-keeper', dir, process.execPath, [CLI, 'fd-keeper', ...args], env);
}

/** The controller and csi-provisioner as deploy/controller.yaml runs them, on this host. */
export async function startController(cluster: Cluster, dir: string): Promise<HostProcess[]> {
  const emptyDir = join(dir, 'controller-emptydir');
  const ctl = hostArgs(cluster, 'controller.yaml', 'bucketmount', emptyDir);
  const kc = serviceAccountKubeconfig(
    cluster,
    'bucketmount',
    'bucketmount-controller',
    join(dir, 'controller.kubeconfig'),
  );
  const driver = startHostProcess('controller', dir, process.execPath, [DRIVER, ...ctl.args], {
    ...ctl.env,
    KUBECONFIG: kc,
  });
  const prov = hostArgs(cluster, 'controller.yaml', 'csi-provisioner', emptyDir, {
    '--http-endpoint': `127.0.0.1:${await freePort()}`,
  });
  const provisioner = startHostProcess(
    'csi-provisioner',
    dir,
    bin('csi-provisioner'),
    [...prov.args, `--kubeconfig=${kc}`],
    prov.env,
  );
  return [driver, provisioner];
}
