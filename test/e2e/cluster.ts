// E2E cluster: a single-node Kubernetes started from the binaries scripts/setup.d/e2e-cluster.sh installs
// (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd + runc, kubelet), everything on
// loopback with its own dirs under one temp dir, and torn down completely (processes, containers, mounts).
// With KUBECONFIG set, `useCluster()` uses that cluster instead and starts nothing.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../support/minio.js';
import { buildImages, PAUSE_IMAGE } from './images.js';
import { makePki, writeKubeconfig, type Pki } from './pki.js';

export const NODE_NAME = 'e2e-node';

export interface Cluster {
  kubeconfig: string;
  /** Kubelet's root dir (what /var/lib/kubelet is in production). */
  kubeletRoot: string;
  /** The apiserver URL, also the service-account issuer. */
  server: string;
  pki?: Pki;
  /** True when the harness started the cluster (and may kill its parts). */
  local: boolean;
  tmp: string;
  logs(name: string): string;
  stop(): Promise<void>;
}

const GOBIN = join(execFileSync('go', ['env', 'GOPATH'], { encoding: 'utf8' }).trim(), 'bin');
export function bin(name: string): string {
  const p = join(GOBIN, name);
  return existsSync(p) ? p : name;
}

/** Runs kubectl against the cluster; throws with its stderr on failure. */
export function kubectl(c: { kubeconfig: string }, args: string[], input?: string): string {
  const r = spawnSync(bin('kubectl'), ['--kubeconfig', c.kubeconfig, ...args], {
    input,
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (r.status !== 0)
    throw new Error(`kubectl ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.error ? String(r.error) : ''}`);
  return r.stdout;
}

interface Proc {
  name: string;
  proc: ChildProcess;
  log: string;
}

/** Every mount point at or below `prefix`, deepest first. */
function mountsUnder(prefix: string): string[] {
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4];
    if (mp && (mp === prefix || mp.startsWith(prefix + '/'))) out.push(mp.replace(/\\040/g, ' '));
  }
  return out.reverse();
}

async function waitFor<T>(
  what: string,
  fn: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  logs?: () => string,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    await sleep(500);
  }
  throw new Error(
    `e2e: ${what} not ready within ${timeoutMs} ms${last ? ` (${String(last)})` : ''}${logs ? `\n${logs()}` : ''}`,
  );
}

function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Why a local cluster cannot start here (not root, a binary missing), or undefined when it can. */
export function cannotStart(): string | undefined {
  if (process.env.KUBECONFIG) return undefined;
  if (process.getuid?.() !== 0) return 'the local e2e cluster needs root (kubelet, containerd, FUSE mounts)';
  const missing = [
    'kube-apiserver',
    'kube-controller-manager',
    'kube-scheduler',
    'kubelet',
    'kubectl',
    'csi-provisioner',
  ].filter((b) => !existsSync(join(GOBIN, b)));
  for (const b of ['etcd', 'containerd', 'runc', 'ctr', 'gcc']) {
    if (spawnSync('sh', ['-c', `command -v ${b}`]).status !== 0) missing.push(b);
  }
  if (!existsSync('/bin/busybox')) missing.push('/bin/busybox (busybox-static)');
  return missing.length
    ? `missing ${missing.join(', ')}: run scripts/setup.sh (scripts/setup.d/e2e-cluster.sh, e2e-sidecars.sh)`
    : undefined;
}

/** Uses $KUBECONFIG's cluster when set, else starts a local one. */
export async function useCluster(): Promise<Cluster> {
  const kc = process.env.KUBECONFIG;
  if (kc) {
    const tmp = mkdtempSync('/tmp/bm-e2e-');
    return {
      kubeconfig: kc,
      kubeletRoot: '/var/lib/kubelet',
      server: '',
      local: false,
      tmp,
      logs: () => '',
      stop: async () => {
        rmSync(tmp, { recursive: true, force: true });
      },
    };
  }
  return startCluster();
}

export async function startCluster(): Promise<Cluster> {
  const tmp = mkdtempSync('/tmp/bm-e2e-');
  const procs: Proc[] = [];
  const logDir = join(tmp, 'logs');
  mkdirSync(logDir);
  const start = (name: string, cmd: string, args: string[], env?: NodeJS.ProcessEnv): Proc => {
    const log = join(logDir, `${name}.log`);
    const fd = openSync(log, 'a');
    const proc = spawn(cmd, args, { stdio: ['ignore', fd, fd], env: env ?? process.env });
    const p = { name, proc, log };
    procs.push(p);
    return p;
  };
  const kubeletRoot = join(tmp, 'kubelet');
  const ctrdSock = join(tmp, 'containerd', 'containerd.sock');
  const ctr = (args: string[]) =>
    spawnSync('ctr', ['--address', ctrdSock, '-n', 'k8s.io', ...args], { encoding: 'utf8', timeout: 60_000 });

  const netnsDir = '/var/run/netns';
  const netnsBefore = new Set(existsSync(netnsDir) ? readdirSync(netnsDir) : []);
  const stop = async (): Promise<void> => {
    // Pods first, through kubelet, so sandboxes and their network namespaces are released the normal way.
    if (procs.some((p) => p.name === 'kubelet') && existsSync(join(tmp, 'admin.kubeconfig'))) {
      spawnSync(
        bin('kubectl'),
        [
          '--kubeconfig',
          join(tmp, 'admin.kubeconfig'),
          'delete',
          'pods',
          '--all',
          '-A',
          '--grace-period=1',
          '--timeout=60s',
        ],
        { timeout: 70_000 },
      );
    }
    const kubeletP = procs.find((p) => p.name === 'kubelet');
    // Containers first (kubelet would restart them), then every process, then leftover mounts.
    if (kubeletP) {
      kubeletP.proc.kill('SIGKILL');
      await sleep(200);
    }
    if (existsSync(ctrdSock)) {
      const tasks = ctr(['tasks', 'ls', '-q']).stdout?.split('\n').filter(Boolean) ?? [];
      for (const t of tasks) ctr(['tasks', 'kill', '-s', 'SIGKILL', t]);
      for (const t of tasks) {
        for (let i = 0; i < 20 && ctr(['tasks', 'delete', t]).status !== 0; i++) await sleep(250);
      }
      const containers = ctr(['containers', 'ls', '-q']).stdout?.split('\n').filter(Boolean) ?? [];
      for (const c of containers) ctr(['containers', 'delete', c]);
    }
    for (const p of [...procs].reverse()) {
      if (p.proc.exitCode === null && p.proc.signalCode === null) {
        p.proc.kill('SIGTERM');
        const done = new Promise((r) => p.proc.once('exit', r));
        await Promise.race([done, sleep(10_000)]);
        if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
      }
    }
    for (const mp of mountsUnder(tmp)) {
      if (spawnSync('umount', [mp]).status !== 0) spawnSync('umount', ['-l', mp]);
    }
    for (const n of existsSync(netnsDir) ? readdirSync(netnsDir) : []) {
      if (netnsBefore.has(n) || !n.startsWith('cni-')) continue;
      spawnSync('umount', [join(netnsDir, n)]);
      rmSync(join(netnsDir, n), { force: true });
    }
    if (process.env.BM_E2E_KEEP) console.error(`e2e: kept ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  };
  const logs = (name: string): string => tail(join(logDir, `${name}.log`));

  try {
    const pki = makePki(join(tmp, 'pki'), NODE_NAME);
    const [etcdPort, etcdPeer, apiPort, kubeletPort, kubeletHealthz] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    const server = `https://127.0.0.1:${apiPort}`;

    // etcd
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    start('etcd', 'etcd', [
      '--name',
      'e2e',
      '--data-dir',
      join(tmp, 'etcd'),
      '--listen-client-urls',
      etcdUrl,
      '--advertise-client-urls',
      etcdUrl,
      '--listen-peer-urls',
      `http://127.0.0.1:${etcdPeer}`,
      '--initial-advertise-peer-urls',
      `http://127.0.0.1:${etcdPeer}`,
      '--initial-cluster',
      `e2e=http://127.0.0.1:${etcdPeer}`,
      '--log-level',
      'warn',
    ]);

    // containerd (own root/state/socket; CRI with cgroupfs, restricted oom_score_adj, loopback-only CNI)
    const cniDir = join(tmp, 'cni');
    mkdirSync(cniDir, { recursive: true });
    writeFileSync(
      join(cniDir, '10-loopback.conflist'),
      JSON.stringify({
        cniVersion: '0.4.0',
        name: 'loopback-only',
        plugins: [{ type: 'loopback' }],
      }),
    );
    const ctrdConf = join(tmp, 'containerd', 'config.toml');
    mkdirSync(join(tmp, 'containerd'), { recursive: true });
    writeFileSync(
      ctrdConf,
      [
        'version = 2',
        `root = "${join(tmp, 'containerd', 'root')}"`,
        `state = "${join(tmp, 'containerd', 'state')}"`,
        '[grpc]',
        `  address = "${ctrdSock}"`,
        '[ttrpc]',
        `  address = "${ctrdSock}.ttrpc"`,
        '[debug]',
        '  address = ""',
        '[metrics]',
        '  address = ""',
        '[plugins."io.containerd.grpc.v1.cri"]',
        `  sandbox_image = "${PAUSE_IMAGE}"`,
        '  restrict_oom_score_adj = true',
        '  stream_server_address = "127.0.0.1"',
        '  [plugins."io.containerd.grpc.v1.cri".cni]',
        '    bin_dir = "/usr/lib/cni"',
        `    conf_dir = "${cniDir}"`,
        '  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]',
        '    runtime_type = "io.containerd.runc.v2"',
        '    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]',
        '      SystemdCgroup = false',
        `      Root = "${join(tmp, 'runc')}"`,
        '',
      ].join('\n'),
    );
    const containerd = start('containerd', 'containerd', ['--config', ctrdConf]);
    await waitFor(
      'containerd',
      () => existsSync(ctrdSock) && ctr(['version']).status === 0,
      30_000,
      () => tail(containerd.log),
    );
    for (const t of buildImages(join(tmp, 'images'))) {
      const r = ctr(['images', 'import', t]);
      if (r.status !== 0) throw new Error(`ctr images import ${t}: ${r.stderr}`);
    }

    // kube-apiserver
    const c = pki.certs;
    const api = start('kube-apiserver', bin('kube-apiserver'), [
      `--etcd-servers=${etcdUrl}`,
      `--secure-port=${apiPort}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--tls-cert-file=${c.apiserver!.cert}`,
      `--tls-private-key-file=${c.apiserver!.key}`,
      `--client-ca-file=${pki.caCert}`,
      `--service-account-key-file=${pki.saPub}`,
      `--service-account-signing-key-file=${pki.saKey}`,
      `--service-account-issuer=${server}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--authorization-mode=Node,RBAC',
      `--kubelet-client-certificate=${c['apiserver-kubelet-client']!.cert}`,
      `--kubelet-client-key=${c['apiserver-kubelet-client']!.key}`,
      '--kubelet-preferred-address-types=InternalIP',
      '--allow-privileged=true',
      '--endpoint-reconciler-type=none',
      '--enable-priority-and-fairness=false',
      '--anonymous-auth=true',
      '--v=1',
    ]);
    const adminKc = writeKubeconfig(join(tmp, 'admin.kubeconfig'), server, pki, 'admin');
    const kc = { kubeconfig: adminKc };
    await waitFor(
      'kube-apiserver',
      () => kubectl(kc, ['get', '--raw', '/readyz']).includes('ok'),
      90_000,
      () => tail(api.log),
    );

    // controller-manager and scheduler
    start('kube-controller-manager', bin('kube-controller-manager'), [
      `--kubeconfig=${writeKubeconfig(join(tmp, 'cm.kubeconfig'), server, pki, 'controller-manager')}`,
      '--leader-elect=false',
      '--secure-port=0',
      `--service-account-private-key-file=${pki.saKey}`,
      `--root-ca-file=${pki.caCert}`,
      '--use-service-account-credentials=true',
      '--v=1',
    ]);
    start('kube-scheduler', bin('kube-scheduler'), [
      `--kubeconfig=${writeKubeconfig(join(tmp, 'sched.kubeconfig'), server, pki, 'scheduler')}`,
      '--leader-elect=false',
      '--secure-port=0',
      '--v=1',
    ]);

    // kubelet
    mkdirSync(kubeletRoot, { recursive: true });
    const kubeletConf = join(tmp, 'kubelet-config.yaml');
    writeFileSync(
      kubeletConf,
      JSON.stringify({
        apiVersion: 'kubelet.config.k8s.io/v1beta1',
        kind: 'KubeletConfiguration',
        address: '127.0.0.1',
        port: kubeletPort,
        readOnlyPort: 0,
        healthzBindAddress: '127.0.0.1',
        healthzPort: kubeletHealthz,
        failCgroupV1: false,
        cgroupDriver: 'cgroupfs',
        containerRuntimeEndpoint: `unix://${ctrdSock}`,
        authentication: {
          anonymous: { enabled: false },
          webhook: { enabled: true },
          x509: { clientCAFile: pki.caCert },
        },
        authorization: { mode: 'Webhook' },
        makeIPTablesUtilChains: false,
        evictionHard: { 'memory.available': '50Mi', 'nodefs.available': '1%', 'imagefs.available': '1%' },
        imageGCHighThresholdPercent: 100,
        imageGCLowThresholdPercent: 99,
        syncFrequency: '20s',
        fileCheckFrequency: '20s',
        resolvConf: '/etc/resolv.conf',
        serializeImagePulls: false,
        // Volume stats (NodeGetVolumeStats) every 10 s instead of every minute, with the volume
        // condition: kubelet turns an abnormal condition into a VolumeConditionAbnormal pod event.
        volumeStatsAggPeriod: '10s',
        featureGates: { CSIVolumeHealth: true },
      }),
    );
    const kubelet = start('kubelet', bin('kubelet'), [
      `--config=${kubeletConf}`,
      `--kubeconfig=${writeKubeconfig(join(tmp, 'kubelet.kubeconfig'), server, pki, 'kubelet')}`,
      `--root-dir=${kubeletRoot}`,
      `--hostname-override=${NODE_NAME}`,
      '--node-ip=127.0.0.1',
      '--v=2',
    ]);
    await waitFor(
      'node Ready',
      () => {
        const s = kubectl(kc, [
          'get',
          'node',
          NODE_NAME,
          '-o',
          'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
        ]);
        return s === 'True' ? true : undefined;
      },
      120_000,
      () => tail(kubelet.log),
    );
    // kubelet refuses to report a loopback address (and keeps none): give the node its loopback
    // InternalIP, which kubelet then leaves alone, so the apiserver reaches kubelet (logs, exec, stats).
    kubectl(kc, [
      'patch',
      'node',
      NODE_NAME,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({
        status: {
          addresses: [
            { type: 'InternalIP', address: '127.0.0.1' },
            { type: 'Hostname', address: NODE_NAME },
          ],
        },
      }),
    ]);
    // kubelet registers the node with the not-ready taint; the node lifecycle controller lifts it only
    // once the node has an address, and kubelet refuses to report a loopback one: lift it here.
    await waitFor(
      'node untainted',
      () => {
        const t = kubectl(kc, ['get', 'node', NODE_NAME, '-o', 'jsonpath={.spec.taints}']);
        if (!t.includes('not-ready')) return true;
        kubectl(kc, ['taint', 'node', NODE_NAME, 'node.kubernetes.io/not-ready:NoSchedule-']);
        return undefined;
      },
      60_000,
    );
    await waitFor(
      'default service account',
      () => kubectl(kc, ['get', 'sa', 'default', '-o', 'name']).includes('default'),
      60_000,
    );
    return { kubeconfig: adminKc, kubeletRoot, server, pki, local: true, tmp, logs, stop };
  } catch (e) {
    const all = procs.map((p) => `--- ${p.name}\n${tail(p.log, 15)}`).join('\n');
    await stop();
    throw new Error(`e2e: cluster did not start: ${(e as Error).message}\n${all}`, { cause: e });
  }
}
