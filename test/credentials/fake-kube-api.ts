// Test helper: a tiny HTTP server on 127.0.0.1 that answers the one Kubernetes API call the
// driver makes (GET /api/v1/namespaces/{ns}/serviceaccounts/{name}) with the API's JSON shapes
// (V1ServiceAccount, Status for 401/404), plus a KubeConfig pointing at it. No real API server
// can be started on this machine, so this stands in for one.
import { createServer, type Server } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';

export interface FakeKubeApi {
  url: string;
  /** Set or replace a ServiceAccount. */
  setServiceAccount(namespace: string, name: string, annotations: Record<string, string>): void;
  requests: string[];
  kubeConfig(token?: string): Promise<KubeConfig>;
  stop(): Promise<void>;
}

const BEARER = 'fake-kube-api-token';

function status(code: number, reason: string, message: string): string {
  return JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
}

export async function startFakeKubeApi(): Promise<FakeKubeApi> {
  const sas = new Map<string, Record<string, string>>();
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.setHeader('content-type', 'application/json');
    if (req.headers.authorization !== `Bearer ${BEARER}`) {
      res.statusCode = 401;
      res.end(status(401, 'Unauthorized', 'Unauthorized'));
      return;
    }
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/serviceaccounts\/([^/?]+)/.exec(req.url ?? '');
    if (req.method !== 'GET' || !m) {
      res.statusCode = 404;
      res.end(status(404, 'NotFound', 'the server could not find the requested resource'));
      return;
    }
    const [ns, name] = [decodeURIComponent(m[1]!), decodeURIComponent(m[2]!)];
    const ann = sas.get(`${ns}/${name}`);
    if (!ann) {
      res.statusCode = 404;
      res.end(status(404, 'NotFound', `serviceaccounts "${name}" not found`));
      return;
    }
    res.end(
      JSON.stringify({
        kind: 'ServiceAccount',
        apiVersion: 'v1',
        metadata: {
          name,
          namespace: ns,
          uid: `uid-${ns}-${name}`,
          resourceVersion: '1',
          creationTimestamp: '2026-01-01T00:00:00Z',
          annotations: ann,
        },
      }),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  return {
    url,
    requests,
    setServiceAccount(namespace, name, annotations) {
      sas.set(`${namespace}/${name}`, annotations);
    },
    async kubeConfig(token = BEARER) {
      const { KubeConfig } = await import('@kubernetes/client-node');
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: 'fake', server: url, skipTLSVerify: true }],
        users: [{ name: 'driver', token }],
        contexts: [{ name: 'fake', cluster: 'fake', user: 'driver' }],
        currentContext: 'fake',
      });
      return kc;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
