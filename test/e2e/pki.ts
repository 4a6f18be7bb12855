// E2E cluster PKI: a throw-away CA, the apiserver's serving certificate, client certificates
// (admin, kubelet, controllers) and the service-account signing key, made with openssl in a 0700 dir.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  saKey: string;
  saPub: string;
  /** cert/key paths by name: apiserver, admin, kubelet, controller-manager, scheduler, apiserver-kubelet-client. */
  certs: Record<string, { cert: string; key: string }>;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function issue(dir: string, name: string, subject: string, san?: string): { cert: string; key: string } {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.crt`);
  const ext = join(dir, `${name}.ext`);
  openssl(['genrsa', '-out', key, '2048'], dir);
  openssl(['req', '-new', '-key', key, '-subj', subject, '-out', csr], dir);
  writeFileSync(
    ext,
    `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=${san ? 'serverAuth,clientAuth' : 'clientAuth'}\n` +
      (san ? `subjectAltName=${san}\n` : ''),
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      ext,
      '-out',
      cert,
    ],
    dir,
  );
  return { cert, key };
}

/** Makes every key and certificate the cluster needs for the node `nodeName`. */
export function makePki(dir: string, nodeName: string): Pki {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  openssl(['genrsa', '-out', 'ca.key', '2048'], dir);
  openssl(
    ['req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=bucketmount-e2e-ca', '-days', '2', '-out', 'ca.crt'],
    dir,
  );
  openssl(['genrsa', '-out', 'sa.key', '2048'], dir);
  openssl(['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
  const certs = {
    apiserver: issue(
      dir,
      'apiserver',
      '/CN=kube-apiserver',
      'IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc',
    ),
    admin: issue(dir, 'admin', '/O=system:masters/CN=e2e-admin'),
    kubelet: issue(dir, 'kubelet', `/O=system:nodes/CN=system:node:${nodeName}`),
    'controller-manager': issue(dir, 'controller-manager', '/CN=system:kube-controller-manager'),
    scheduler: issue(dir, 'scheduler', '/CN=system:kube-scheduler'),
    'apiserver-kubelet-client': issue(
      dir,
      'apiserver-kubelet-client',
      '/O=system:masters/CN=kube-apiserver-kubelet-client',
    ),
  };
  return {
    dir,
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    saKey: join(dir, 'sa.key'),
    saPub: join(dir, 'sa.pub'),
    certs,
  };
}

/** A kubeconfig file for `server` authenticating with the named client certificate. */
export function writeKubeconfig(path: string, server: string, pki: Pki, name: string): string {
  const { cert, key } = pki.certs[name]!;
  writeFileSync(
    path,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: e2e',
      '  cluster:',
      `    server: ${server}`,
      `    certificate-authority: ${pki.caCert}`,
      'users:',
      `- name: ${name}`,
      '  user:',
      `    client-certificate: ${cert}`,
      `    client-key: ${key}`,
      'contexts:',
      '- name: e2e',
      '  context:',
      '    cluster: e2e',
      `    user: ${name}`,
      'current-context: e2e',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return path;
}
