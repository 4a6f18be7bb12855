// Unit tests: refresh scheduling of temporary credentials with a fake clock and timers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CredentialRefresher, refreshAt, retryDelay } from '../../src/credentials/refresher.js';
import { CredentialsError, type CredentialRequest, type ResolvedCredentials } from '../../src/credentials/resolve.js';
import type { S3Credentials } from '../../src/credentials/types.js';

const MIN = 60_000;

test('refreshAt: 80% of lifetime or 5 min before expiry, never before half the lifetime', () => {
  assert.equal(refreshAt(0, 60 * MIN), 48 * MIN); // 1 h: 80 % (48 min) is earlier than 55 min
  assert.equal(refreshAt(0, 15 * MIN), 10 * MIN); // 15 min: 5 min before (10) is earlier than 80 % (12)
  assert.equal(refreshAt(0, 20_000), 10_000); // 20 s: both rules say "now" or earlier → half the lifetime
  assert.equal(refreshAt(1000, 1000), 1000);
});

test('retryDelay backs off and stays within the time left', () => {
  assert.equal(retryDelay(1, 10 * MIN), 1_000);
  assert.equal(retryDelay(3, 10 * MIN), 4_000);
  assert.equal(retryDelay(20, 10 * MIN), 60_000);
  assert.equal(retryDelay(20, 8_000), 2_000);
  assert.equal(retryDelay(5, -1), 16_000);
});

class FakeClock {
  t = 1_000_000;
  timers: { at: number; fn: () => void; live: boolean }[] = [];
  now = () => this.t;
  schedule = (fn: () => void, ms: number) => {
    const timer = { at: this.t + ms, fn, live: true };
    this.timers.push(timer);
    return () => {
      timer.live = false;
    };
  };
  pending() {
    return this.timers.filter((x) => x.live).map((x) => x.at - this.t);
  }
  async advance(ms: number) {
    const end = this.t + ms;
    for (;;) {
      const next = this.timers.filter((x) => x.live && x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      this.t = next.at;
      next.live = false;
      next.fn();
      for (let i = 0; i < 10; i++) await Promise.resolve();
      await new Promise((r) => setImmediate(r));
    }
    this.t = end;
  }
}

const request = (token: string): CredentialRequest => ({
  volumeId: 'v',
  secrets: {},
  volumeContext: { authenticationSource: 'pod', token },
});
const creds = (id: string, expiresAt: number): S3Credentials => ({
  accessKeyId: id,
  secretAccessKey: 's',
  sessionToken: 't',
  expiration: new Date(expiresAt).toISOString(),
});
const resolved = (c: S3Credentials): ResolvedCredentials => ({
  credentials: c,
  source: 'pod',
  identity: 'x',
  expiration: c.expiration,
});

test('re-exchanges the latest token before expiry and pushes the result', async () => {
  const clock = new FakeClock();
  const seen: string[] = [];
  let n = 0;
  const usedTokens: string[] = [];
  const r = new CredentialRefresher({
    now: clock.now,
    schedule: clock.schedule,
    resolve: async (req, o) => {
      assert.equal(o.forceRefresh, true);
      usedTokens.push(req.volumeContext.token!);
      return resolved(creds(`C${++n}`, clock.t + 60 * MIN));
    },
  });
  const update = async (c: S3Credentials) => {
    seen.push(c.accessKeyId);
  };
  await r.track('/t', request('tok1'), resolved(creds('C0', clock.t + 60 * MIN)), update);
  assert.deepEqual(seen, [], 'first publish: the mount already has C0');
  assert.deepEqual(clock.pending(), [48 * MIN]);
  // kubelet republishes with a rotated token but the node's resolver returned the same creds (cache)
  await r.track('/t', request('tok2'), resolved(creds('C0', clock.t + 60 * MIN)), update);
  assert.deepEqual(clock.pending(), [48 * MIN], 'same credentials: schedule unchanged');
  await clock.advance(48 * MIN - 1);
  assert.deepEqual(seen, []);
  await clock.advance(1);
  assert.deepEqual(seen, ['C1']);
  assert.deepEqual(usedTokens, ['tok2'], 'uses the latest token');
  await clock.advance(48 * MIN);
  assert.deepEqual(seen, ['C1', 'C2']);
  r.untrack('/t');
  assert.deepEqual(clock.pending(), []);
  assert.deepEqual(r.tracked(), []);
});

test('republish with new credentials pushes them at once and reschedules', async () => {
  const clock = new FakeClock();
  const seen: string[] = [];
  const r = new CredentialRefresher({
    now: clock.now,
    schedule: clock.schedule,
    resolve: async () => assert.fail('no timer refresh expected'),
  });
  const update = async (c: S3Credentials) => {
    seen.push(c.accessKeyId);
  };
  await r.track('/t', request('a'), resolved(creds('C0', clock.t + 60 * MIN)), update);
  await clock.advance(10 * MIN);
  await r.track('/t', request('b'), resolved(creds('C1', clock.t + 60 * MIN)), update);
  assert.deepEqual(seen, ['C1']);
  assert.deepEqual(clock.pending(), [48 * MIN]);
  r.close();
});

test('failed refresh keeps the old credentials and retries with backoff; a later success recovers', async () => {
  const clock = new FakeClock();
  const seen: string[] = [];
  let fail = 2;
  const r = new CredentialRefresher({
    now: clock.now,
    schedule: clock.schedule,
    resolve: async () => {
      if (fail-- > 0) throw new CredentialsError('UNAVAILABLE', 'sts down');
      return resolved(creds('C1', clock.t + 60 * MIN));
    },
  });
  await r.track('/t', request('a'), resolved(creds('C0', clock.t + 60 * MIN)), async (c) => {
    seen.push(c.accessKeyId);
  });
  await clock.advance(48 * MIN);
  assert.deepEqual(seen, []);
  assert.deepEqual(clock.pending(), [1_000]);
  await clock.advance(1_000);
  assert.deepEqual(clock.pending(), [2_000]);
  await clock.advance(2_000);
  assert.deepEqual(seen, ['C1']);
  assert.deepEqual(clock.pending(), [48 * MIN]);
  r.close();
});

test('credentials without expiration (static secrets) are not refreshed; driver source is untracked', async () => {
  const clock = new FakeClock();
  const r = new CredentialRefresher({ now: clock.now, schedule: clock.schedule });
  await r.track(
    '/s',
    request('a'),
    { credentials: { accessKeyId: 'AKIA', secretAccessKey: 's' }, source: 'secret', identity: 'i' },
    async () => undefined,
  );
  assert.deepEqual(clock.pending(), []);
  await r.track('/d', request('a'), { source: 'driver', identity: 'd' }, async () => undefined);
  assert.deepEqual(r.tracked(), ['/s']);
  await assert.rejects(r.refreshNow('/nope'), /no credentials tracked/);
});

test('a refresh that finishes after untrack is dropped', async () => {
  const clock = new FakeClock();
  let release!: () => void;
  const seen: string[] = [];
  const r = new CredentialRefresher({
    now: clock.now,
    schedule: clock.schedule,
    resolve: () => new Promise((res) => (release = () => res(resolved(creds('late', clock.t + MIN))))),
  });
  await r.track('/t', request('a'), resolved(creds('C0', clock.t + 10 * MIN)), async (c) => {
    seen.push(c.accessKeyId);
  });
  const p = r.refreshNow('/t');
  r.untrack('/t');
  release();
  await p;
  assert.deepEqual(seen, []);
});
