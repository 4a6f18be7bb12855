// Pure logic of the Kubernetes Events (src/k8s): the per-object token bucket, the series cache,
// note hygiene (redaction, one line, 1 kB bound), event names, the MountFailed summary of a
// failed publish, copy-progress throttling and the --events default. Fake clocks, no I/O.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { SeriesCache, TokenBuckets } from '../../src/k8s/event-limits.js';
import { checkEventWord, eventName, eventNote, NOTE_MAX_BYTES, reportingInstance } from '../../src/k8s/event-note.js';
import { mountFailureSummary, NodeEvents } from '../../src/k8s/node-events.js';
import { workloadOf } from '../../src/csi/node.js';
import type { EventInput } from '../../src/k8s/events.js';
import { CredentialRefresher } from '../../src/credentials/refresher.js';
import type { ResolvedCredentials } from '../../src/credentials/resolve.js';
import { podRef, pvcRefFromParams, snapshotRefFromParams } from '../../src/k8s/event-reasons.js';
import { eventsEnabled } from '../../src/k8s/event-config.js';
import { copyProgressReporter, describeProgress } from '../../src/csi/storage/copy-progress.js';
import { CsiError } from '../../src/csi/errors.js';
import { MountError } from '../../src/mounter/types.js';
import { CredentialsError } from '../../src/credentials/errors.js';
import { silentLogger } from '../../src/log.js';

test('token bucket: a burst per object, then one per refill period; objects are independent', () => {
  let now = 0;
  const b = new TokenBuckets({ burst: 3, refillMs: 1000, maxKeys: 10, now: () => now });
  assert.deepEqual(
    [1, 2, 3, 4].map(() => b.take('a')),
    [true, true, true, false],
  );
  assert.equal(b.take('b'), true, 'another object has its own bucket');
  now = 999;
  assert.equal(b.take('a'), false);
  now = 1000;
  assert.equal(b.take('a'), true, 'one token back after the refill period');
  assert.equal(b.take('a'), false);
  now = 100_000;
  assert.deepEqual(
    [1, 2, 3, 4].map(() => b.take('a')),
    [true, true, true, false],
    'refills up to the burst only',
  );
});

test('token bucket: forgets the least recently used objects beyond maxKeys', () => {
  const b = new TokenBuckets({ burst: 1, refillMs: 1e9, maxKeys: 2, now: () => 0 });
  assert.equal(b.take('a'), true);
  assert.equal(b.take('b'), true);
  assert.equal(b.take('c'), true); // 'a' forgotten
  assert.equal(b.take('a'), true, 'a forgotten object starts with a full bucket');
  assert.equal(b.take('c'), false);
});

test('series cache: live within the window, gone after it; bounded', () => {
  let now = 0;
  const c = new SeriesCache({ windowMs: 100, maxKeys: 2, now: () => now });
  const e = { name: 'n', namespace: 'ns', count: 1, firstMs: 0, lastMs: 0, patchQueued: false };
  c.set('k', e);
  now = 100;
  assert.equal(c.live('k'), e);
  now = 201;
  assert.equal(c.live('k'), undefined, 'older than the window: a new event');
  c.set('a', { ...e });
  c.set('b', { ...e, lastMs: now });
  c.set('c', { ...e, lastMs: now });
  assert.equal(c.live('a'), undefined, 'evicted beyond maxKeys');
});

test('event note: secrets redacted, one line, at most 1 kB', () => {
  const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJlLXZhbHVl';
  const note = eventNote(
    `failed\nwith token ${jwt} and X-Amz-Signature=abcdef0123 and key wJalrXUtnFEMI/K7MDENG\tend`,
    ['wJalrXUtnFEMI/K7MDENG'],
  );
  assert.doesNotMatch(note, /eyJhbGci|abcdef0123|wJalrXUtnFEMI/);
  assert.match(note, /\[REDACTED-JWT\]/);
  assert.doesNotMatch(note, /[\n\t]/);
  assert.match(note, /^failed with token/);
  const long = eventNote('é'.repeat(5000));
  assert.ok(Buffer.byteLength(long) <= NOTE_MAX_BYTES, `${Buffer.byteLength(long)} bytes`);
  assert.match(long, /middle cut/);
});

test('event words, names and reportingInstance follow the API rules', () => {
  assert.equal(checkEventWord('reason', 'MountFailed'), 'MountFailed');
  assert.throws(() => checkEventWord('reason', 'mount failed'), /UpperCamelCase/);
  assert.throws(() => checkEventWord('action', 'A'.repeat(129)), /128/);
  const n = eventName('My_Pod', 0x18f00000000, 1);
  assert.match(n, /^my-pod\.[0-9a-f]+$/);
  const long = eventName('a'.repeat(300), Date.now(), 65535);
  assert.ok(long.length <= 253 && /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(long));
  assert.notEqual(eventName('p', 1000, 1), eventName('p', 1000, 2), 'same millisecond, distinct names');
  assert.equal(reportingInstance('bucketmount.csi.io', 'node-1'), 'bucketmount.csi.io-node-1');
  const r = reportingInstance('bucketmount.csi.io', 'n'.repeat(300) + 'END');
  assert.ok(r.length <= 128 && r.endsWith('END'));
});

test('MountFailed summary: the cause first, then the line the mount command printed', () => {
  const mountErr = new MountError(
    'not-found',
    'mounting s3://nope/ failed: the mount process exited with code 5: bucketmount: error: bucket nope: bucket does not exist (NoSuchBucket) | {"level":"error"}',
  );
  assert.equal(mountFailureSummary(mountErr), 'no such bucket: bucket nope: bucket does not exist (NoSuchBucket)');
  assert.match(
    mountFailureSummary(
      new MountError('unauthenticated', 'x: bucketmount: error: credentials rejected (InvalidAccessKeyId)'),
    ),
    /^bad credentials: credentials rejected/,
  );
  assert.match(
    mountFailureSummary(new MountError('permission-denied', 'bucketmount: error: b: access denied')),
    /^access denied: /,
  );
  assert.match(
    mountFailureSummary(new MountError('unavailable', 'did not serve')),
    /^endpoint unreachable: did not serve/,
  );
  assert.match(
    mountFailureSummary(new CredentialsError('UNAUTHENTICATED', 'STS refused the token')),
    /^bad credentials: STS/,
  );
  assert.match(mountFailureSummary(new CsiError(status.INTERNAL, 'boom')), /^mount failed: boom/);
});

test('object references from the pod info and the extra-create-metadata parameters', () => {
  const ctx = {
    'csi.storage.k8s.io/pod.name': 'web-0',
    'csi.storage.k8s.io/pod.namespace': 'shop',
    'csi.storage.k8s.io/pod.uid': 'u1',
  };
  assert.deepEqual(workloadOf(ctx, {}), { podName: 'web-0', podNamespace: 'shop', podUid: 'u1' });
  assert.equal(workloadOf({}, {}), undefined);
  assert.deepEqual(podRef({ name: 'web-0', namespace: 'shop', uid: 'u1' }), {
    apiVersion: 'v1',
    kind: 'Pod',
    namespace: 'shop',
    name: 'web-0',
    uid: 'u1',
  });
  assert.equal(podRef({ name: 'web-0' }), undefined, 'no namespace: no event');
  assert.deepEqual(
    pvcRefFromParams({ 'csi.storage.k8s.io/pvc/name': 'data', 'csi.storage.k8s.io/pvc/namespace': 'shop' }),
    { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: 'shop', name: 'data' },
  );
  assert.equal(pvcRefFromParams({ bucket: 'b' }), undefined);
  assert.equal(
    snapshotRefFromParams({
      'csi.storage.k8s.io/volumesnapshot/name': 's1',
      'csi.storage.k8s.io/volumesnapshot/namespace': 'shop',
    })?.kind,
    'VolumeSnapshot',
  );
});

test('copy progress: logs at most every logEveryMs, reports at most every eventEveryMs, and once when done', () => {
  let now = 0;
  const lines: unknown[] = [];
  const logger = silentLogger();
  logger.info = ((msg: string, meta: unknown) => {
    lines.push([msg, meta]);
    return logger;
  }) as typeof logger.info;
  const reports: [string, boolean][] = [];
  const r = copyProgressReporter({
    what: 'clone of volume v',
    logger,
    logEveryMs: 5000,
    eventEveryMs: 60_000,
    now: () => now,
    onReport: (note, done) => reports.push([note, done]),
  });
  const total = { totalObjects: 100, totalBytes: 100 * 1024 * 1024 };
  for (let i = 0; i <= 100; i++) {
    now = i * 1000; // one object a second
    r.onProgress({ objects: i, bytes: i * 1024 * 1024, ...total });
  }
  r.completed({ objects: 100, bytes: 100 * 1024 * 1024 });
  const progressLines = lines.filter((l) => (l as [string])[0] === 'copy progress');
  assert.equal(progressLines.length, 20, 'every 5 s over 100 s');
  assert.deepEqual(
    reports.map(([, d]) => d),
    [false, true],
    'one progress report (at 60 s) and the completion',
  );
  assert.match(reports[0]![0], /clone of volume v: copied 60 of 100 objects, 60\.0 MiB of 100\.0 MiB \(60%\) so far/);
  assert.match(reports[1]![0], /copied 100 objects, 100\.0 MiB in 100 s/);
  assert.equal(
    describeProgress({ objects: 0, bytes: 0, totalObjects: 0, totalBytes: 0 }),
    '0 of 0 objects, 0 B of 0 B (100%)',
  );
});

test('--events: explicit values, and on by default only with a cluster to talk to', () => {
  assert.equal(eventsEnabled('false', { KUBECONFIG: '/k' }), false);
  assert.equal(eventsEnabled('true', {}), true);
  assert.equal(eventsEnabled(undefined, { BUCKETMOUNT_EVENTS: 'off', KUBECONFIG: '/k' }), false);
  assert.equal(eventsEnabled(undefined, {}), false, 'tests and the demo: no cluster, no events');
  assert.equal(eventsEnabled(undefined, { KUBECONFIG: '/k' }), true);
  assert.throws(() => eventsEnabled('maybe', {}), /--events must be true or false/);
});

test('CredentialRefreshFailed: the refresher tells the node, which records a Warning on the pod with the expiry, secrets redacted', async () => {
  const recorded: EventInput[] = [];
  const events = new NodeEvents({ record: (e) => recorded.push(e), flush: async () => {}, close: async () => {} });
  const expiration = new Date(Date.now() + 3_600_000).toISOString();
  const secret = 'pod-token-value-xyz';
  const request = {
    volumeId: 'vol-1',
    secrets: { token: secret },
    volumeContext: {
      'csi.storage.k8s.io/pod.name': 'trainer',
      'csi.storage.k8s.io/pod.namespace': 'ml',
      'csi.storage.k8s.io/pod.uid': 'uid-t',
    },
  };
  const refresher = new CredentialRefresher({
    resolve: async () => {
      throw new CredentialsError('UNAVAILABLE', `STS unreachable while sending ${secret}`);
    },
    schedule: () => () => undefined, // no timers: the test calls refreshNow itself
    onRefreshFailed: (f) => events.refreshFailed(f),
  });
  await refresher.track(
    '/t',
    request,
    { credentials: { accessKeyId: 'A', secretAccessKey: 'S', sessionToken: 'T', expiration } } as ResolvedCredentials,
    async () => {},
  );
  await assert.rejects(refresher.refreshNow('/t'), /STS unreachable/);
  refresher.close();
  assert.equal(recorded.length, 1);
  const e = recorded[0]!;
  assert.equal(e.reason, 'CredentialRefreshFailed');
  assert.equal(e.type, 'Warning');
  assert.deepEqual(e.regarding, { apiVersion: 'v1', kind: 'Pod', namespace: 'ml', name: 'trainer', uid: 'uid-t' });
  assert.match(
    e.note,
    new RegExp(`volume vol-1: refreshing the mount's temporary credentials failed .*they expire at ${expiration}`),
  );
  assert.ok(!e.note.includes(secret), e.note);
});
