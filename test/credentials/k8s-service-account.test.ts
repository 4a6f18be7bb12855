// The ServiceAccount annotation look-up (@kubernetes/client-node) against a local HTTP server
// that speaks the Kubernetes API shapes (no real API server can run here).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServiceAccountReader, K8sApiError } from '../../src/k8s/service-account.js';
import { startFakeKubeApi, type FakeKubeApi } from './fake-kube-api.js';

let api: FakeKubeApi;
before(async () => {
  api = await startFakeKubeApi();
  api.setServiceAccount('ml', 'trainer', {
    'eks.amazonaws.com/role-arn': 'arn:aws:iam::123456789012:role/trainer',
    other: 'x',
  });
  api.setServiceAccount('ml', 'plain', {});
});
after(async () => {
  await api?.stop();
});

test('reads the annotations of a ServiceAccount', async () => {
  const reader = createServiceAccountReader({ kubeConfig: () => api.kubeConfig() });
  const ann = await reader.annotations('ml', 'trainer');
  assert.equal(ann['eks.amazonaws.com/role-arn'], 'arn:aws:iam::123456789012:role/trainer');
  assert.deepEqual(await reader.annotations('ml', 'plain'), {});
  assert.ok(api.requests.includes('GET /api/v1/namespaces/ml/serviceaccounts/trainer'));
});

test('caches for the TTL, then asks again', async () => {
  let t = 0;
  const reader = createServiceAccountReader({ kubeConfig: () => api.kubeConfig(), cacheTtlMs: 1000, now: () => t });
  const before = api.requests.length;
  await reader.annotations('ml', 'trainer');
  await reader.annotations('ml', 'trainer');
  assert.equal(api.requests.length - before, 1);
  t = 1500;
  await reader.annotations('ml', 'trainer');
  assert.equal(api.requests.length - before, 2);
});

test('not found, unauthorized and unreachable become K8sApiError with a status', async () => {
  const reader = createServiceAccountReader({ kubeConfig: () => api.kubeConfig() });
  await assert.rejects(
    reader.annotations('ml', 'missing'),
    (e: unknown) =>
      e instanceof K8sApiError && e.status === 404 && /ServiceAccount ml\/missing.*not found/.test(e.message),
  );
  const bad = createServiceAccountReader({ kubeConfig: () => api.kubeConfig('wrong') });
  await assert.rejects(
    bad.annotations('ml', 'trainer'),
    (e: unknown) => e instanceof K8sApiError && e.status === 401 && /RBAC/.test(e.message),
  );
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'x', server: 'http://127.0.0.1:1', skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'x', user: 'u' }],
    currentContext: 'x',
  });
  await assert.rejects(
    createServiceAccountReader({ kubeConfig: kc }).annotations('ml', 'trainer'),
    (e: unknown) => e instanceof K8sApiError && e.status === undefined && /unreachable/.test(e.message),
  );
});
