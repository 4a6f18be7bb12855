// Unit tests of the mount's metrics endpoint on a temporary unix socket: serve → scrape round
// trip (JSON and Prometheus text), 404 for other paths, 405 for other methods, socket mode 0600,
// a stale socket of a dead predecessor replaced, a too-long path refused, and the socket removed
// when the endpoint closes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Counter, Registry } from 'prom-client';
import { scrapeMountMetrics, serveMountMetrics, UNIX_SOCKET_PATH_MAX } from '../../src/metrics/mount-endpoint.js';
import { metricsSocketProblem } from '../../src/metrics/mount-serve.js';

function get(
  socketPath: string,
  path: string,
  method = 'GET',
): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type'] ?? '') }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

function registryWith(value: number): Registry {
  const r = new Registry();
  new Counter({ name: 'bucketmount_test_total', help: 'test', registers: [r] }).inc(value);
  return r;
}

test('serve and scrape round trip, text beside JSON, 404 and 405, mode 0600, removed at close', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bm-ep-'));
  const sock = join(dir, 'metrics.sock');
  try {
    const ep = await serveMountMetrics(sock, registryWith(7));
    try {
      assert.equal(statSync(sock).mode & 0o777, 0o600);
      const fams = await scrapeMountMetrics(sock);
      const f = fams.find((m) => m.name === 'bucketmount_test_total');
      assert.equal(f?.values[0]?.value, 7);
      const text = await get(sock, '/metrics');
      assert.equal(text.status, 200);
      assert.match(text.type, /^text\/plain/);
      assert.match(text.body, /^bucketmount_test_total 7$/m);
      assert.equal((await get(sock, '/other')).status, 404);
      assert.equal((await get(sock, '/metrics', 'POST')).status, 405);
      assert.equal((await get(sock, '/metrics.json', 'DELETE')).status, 405);
    } finally {
      await ep.close();
    }
    assert.equal(existsSync(sock), false, 'closing removes the socket');
    await assert.rejects(scrapeMountMetrics(sock, 500), /ENOENT|ECONNREFUSED/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a stale file at the socket path is replaced; an over-long path is refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bm-ep-'));
  const sock = join(dir, 'metrics.sock');
  try {
    writeFileSync(sock, 'left by a dead predecessor');
    const ep = await serveMountMetrics(sock, registryWith(1));
    assert.ok(statSync(sock).isSocket());
    await ep.close();
    const long = join(dir, 'x'.repeat(UNIX_SOCKET_PATH_MAX));
    await assert.rejects(serveMountMetrics(long, new Registry()), /the limit is 107/);
    assert.match(metricsSocketProblem({ metricsSocket: long }) ?? '', /at most 107/);
    assert.match(metricsSocketProblem({ metricsSocket: 'rel/metrics.sock' }) ?? '', /absolute/);
    assert.equal(metricsSocketProblem({ metricsSocket: sock }), undefined);
    assert.equal(metricsSocketProblem({}), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a server answering an error status makes the scrape reject with it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bm-ep-'));
  const sock = join(dir, 'metrics.sock');
  const broken = new Registry();
  new Counter({
    name: 'bucketmount_broken_total',
    help: 'collect fails',
    registers: [broken],
    collect() {
      throw new Error('boom');
    },
  });
  try {
    const ep = await serveMountMetrics(sock, broken);
    try {
      await assert.rejects(scrapeMountMetrics(sock), /HTTP 500/);
    } finally {
      await ep.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
