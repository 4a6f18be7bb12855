// Test helper: a tiny HTTP server on 127.0.0.1 that answers the Kubernetes API calls the driver
// makes with the API's JSON shapes (Status for 401/404/409/422), plus a KubeConfig pointing at it:
// GET /api/v1/namespaces/{ns}/serviceaccounts/{name} (V1ServiceAccount);
// POST /apis/events.k8s.io/v1/namespaces/{ns}/events and PATCH …/events/{name} (merge patch),
// checked with the API server's rules for events.k8s.io/v1 (required fields, MicroTime with
// microseconds, note ≤ 1 kB, namespace agreement, series count ≥ 2);
// GET /api/v1/persistentvolumes (V1PersistentVolumeList).
// No real API server can be started in these tests, so this stands in for one.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';
import type { EventBody } from '../../src/k8s/events.js';

/** An Event as stored (events.k8s.io/v1 JSON): what the recorder creates, checked loosely, plus its series. */
export type StoredEvent = Omit<EventBody, 'apiVersion' | 'kind' | 'note'> & {
  note?: string;
  series?: { count: number; lastObservedTime: string };
};

export interface FakeKubeApi {
  url: string;
  /** Set or replace a ServiceAccount. */
  setServiceAccount(namespace: string, name: string, annotations: Record<string, string>): void;
  requests: string[];
  kubeConfig(token?: string): Promise<KubeConfig>;
  /** The same config as a kubeconfig file (for a plugin process: KUBECONFIG=<path>). */
  writeKubeconfig(path: string, token?: string): string;
  /** Events by namespace/name, in creation order. */
  events: Map<string, StoredEvent>;
  /** Answer the next `n` event writes (create/patch) with HTTP `code`; delayMs delays every answer. */
  failEvents(code: number, n?: number): void;
  delayMs: number;
  /** A PersistentVolume for GET /api/v1/persistentvolumes. */
  addPersistentVolume(pv: {
    name: string;
    uid?: string;
    driver: string;
    volumeHandle: string;
    claim?: { namespace: string; name: string; uid?: string };
  }): void;
  stop(): Promise<void>;
}

const BEARER = 'fake-kube-api-token';

function status(code: number, reason: string, message: string): string {
  return JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
}

const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

/** The API server's checks of an events.k8s.io/v1 create (ValidateEventCreate), as messages. */
export function eventProblems(e: StoredEvent, ns: string): string[] {
  const p: string[] = [];
  if (!e.metadata?.name || e.metadata.name.length > 253 || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(e.metadata.name))
    p.push('metadata.name: not a DNS subdomain');
  if (e.metadata?.namespace !== undefined && e.metadata.namespace !== ns) p.push('metadata.namespace: does not match');
  if (!MICRO_TIME.test(e.eventTime ?? '')) p.push('eventTime: Required (MicroTime)');
  if (e.type !== 'Normal' && e.type !== 'Warning') p.push('type: invalid');
  if (!e.reportingController) p.push('reportingController: Required');
  if (!e.reportingInstance || e.reportingInstance.length > 128) p.push('reportingInstance: Required, ≤ 128');
  if (!e.action || e.action.length > 128) p.push('action: Required, ≤ 128');
  if (!e.reason || e.reason.length > 128) p.push('reason: Required, ≤ 128');
  if (Buffer.byteLength(e.note ?? '') > 1024) p.push('note: longer than 1 kB');
  if (!e.regarding?.name || !e.regarding.kind) p.push('regarding: Required');
  if ((e.regarding?.namespace ?? 'default') !== ns && !(e.regarding?.namespace === undefined && ns === 'default'))
    p.push('regarding.namespace: does not match event.namespace');
  if (e.series && (e.series.count < 2 || !MICRO_TIME.test(e.series.lastObservedTime ?? '')))
    p.push('series: count ≥ 2 and lastObservedTime required');
  return p;
}

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startFakeKubeApi(): Promise<FakeKubeApi> {
  const sas = new Map<string, Record<string, string>>();
  const requests: string[] = [];
  const events = new Map<string, StoredEvent>();
  const pvs: object[] = [];
  const failing = { code: 0, left: 0 };
  const api = { delayMs: 0 };
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.setHeader('content-type', 'application/json');
    if (req.headers.authorization !== `Bearer ${BEARER}`) {
      res.statusCode = 401;
      res.end(status(401, 'Unauthorized', 'Unauthorized'));
      return;
    }
    const ev = /^\/apis\/events\.k8s\.io\/v1\/namespaces\/([^/]+)\/events(?:\/([^/?]+))?(?:\?.*)?$/.exec(req.url ?? '');
    if (ev) {
      void (async () => {
        const text = await body(req);
        if (api.delayMs) await new Promise((r) => setTimeout(r, api.delayMs));
        const send = (code: number, payload: string): void => {
          res.statusCode = code;
          res.end(payload);
        };
        if (failing.left > 0) {
          failing.left--;
          return send(failing.code, status(failing.code, 'Failure', `injected failure ${failing.code}`));
        }
        const ns = decodeURIComponent(ev[1]!);
        const name = ev[2] === undefined ? undefined : decodeURIComponent(ev[2]);
        if (req.method === 'POST' && name === undefined) {
          const e = JSON.parse(text) as StoredEvent;
          const problems = eventProblems(e, ns);
          if (problems.length) return send(422, status(422, 'Invalid', `Event is invalid: ${problems.join('; ')}`));
          const key = `${ns}/${e.metadata.name}`;
          if (events.has(key))
            return send(409, status(409, 'AlreadyExists', `events "${e.metadata.name}" already exists`));
          events.set(key, { ...e, metadata: { name: e.metadata.name, namespace: ns } });
          return send(201, JSON.stringify({ kind: 'Event', apiVersion: 'events.k8s.io/v1', ...events.get(key) }));
        }
        if (req.method === 'PATCH' && name !== undefined) {
          const key = `${ns}/${name}`;
          const cur = events.get(key);
          if (!cur) return send(404, status(404, 'NotFound', `events "${name}" not found`));
          if (req.headers['content-type'] !== 'application/merge-patch+json')
            return send(415, status(415, 'UnsupportedMediaType', `unexpected ${String(req.headers['content-type'])}`));
          const patch = JSON.parse(text) as Partial<StoredEvent>;
          const next: StoredEvent = { ...cur, ...patch, metadata: cur.metadata };
          if (patch.note !== undefined && patch.note !== cur.note)
            return send(422, status(422, 'Invalid', 'note: field is immutable'));
          const problems = eventProblems(next, ns);
          if (problems.length) return send(422, status(422, 'Invalid', `Event is invalid: ${problems.join('; ')}`));
          events.set(key, next);
          return send(200, JSON.stringify({ kind: 'Event', apiVersion: 'events.k8s.io/v1', ...next }));
        }
        return send(405, status(405, 'MethodNotAllowed', 'method not allowed'));
      })();
      return;
    }
    if (req.method === 'GET' && /^\/api\/v1\/persistentvolumes(\?.*)?$/.test(req.url ?? '')) {
      res.end(
        JSON.stringify({
          kind: 'PersistentVolumeList',
          apiVersion: 'v1',
          metadata: { resourceVersion: '1' },
          items: pvs,
        }),
      );
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
  const config = (token: string) => ({
    clusters: [{ name: 'fake', server: url, skipTLSVerify: true }],
    users: [{ name: 'driver', token }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'driver' }],
    currentContext: 'fake',
  });
  return {
    url,
    requests,
    events,
    get delayMs() {
      return api.delayMs;
    },
    set delayMs(v: number) {
      api.delayMs = v;
    },
    failEvents(code, n = 1) {
      failing.code = code;
      failing.left = n;
    },
    addPersistentVolume(pv) {
      pvs.push({
        kind: 'PersistentVolume',
        apiVersion: 'v1',
        metadata: { name: pv.name, uid: pv.uid ?? `uid-${pv.name}` },
        spec: {
          csi: { driver: pv.driver, volumeHandle: pv.volumeHandle },
          ...(pv.claim ? { claimRef: { kind: 'PersistentVolumeClaim', apiVersion: 'v1', ...pv.claim } } : {}),
        },
      });
    },
    writeKubeconfig(path, token = BEARER) {
      const c = config(token);
      writeFileSync(
        path,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: c.clusters.map((x) => ({
            name: x.name,
            cluster: { server: x.server, 'insecure-skip-tls-verify': true },
          })),
          users: c.users.map((u) => ({ name: u.name, user: { token: u.token } })),
          contexts: c.contexts.map((x) => ({ name: x.name, context: { cluster: x.cluster, user: x.user } })),
          'current-context': c.currentContext,
        }),
        { mode: 0o600 },
      );
      return path;
    },
    setServiceAccount(namespace, name, annotations) {
      sas.set(`${namespace}/${name}`, annotations);
    },
    async kubeConfig(token = BEARER) {
      const { KubeConfig } = await import('@kubernetes/client-node');
      const kc = new KubeConfig();
      kc.loadFromOptions(config(token));
      return kc;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
