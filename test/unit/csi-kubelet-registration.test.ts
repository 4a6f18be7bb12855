// Unit tests of the kubelet plugin-registration server (src/csi/kubelet-registration.ts), with a
// gRPC client acting as kubelet on a real unix socket: GetInfo answers what kubelet's CSI handler
// needs, with the API's field numbers checked on the raw wire bytes; NotifyRegistrationStatus is
// logged (a refusal at error level); stale sockets are replaced, live ones refused; the socket is removed on stop
// only while it is still ours; bad paths fail before anything is bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import winston from 'winston';
import { silentLogger } from '../../src/log.js';
import { PLUGIN_NAME } from '../../src/csi/identity.js';
import { loadRegistrationService, startKubeletRegistration } from '../../src/csi/kubelet-registration.js';

/** A logger whose JSON lines are kept in `lines`. */
function capturingLogger(): { logger: winston.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n'))
        if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return {
    logger: winston.createLogger({
      level: 'debug',
      format: winston.format.json(),
      transports: [new winston.transports.Stream({ stream })],
    }),
    lines,
  };
}

/** The private directory aliases the server binds through (removed right after binding). */
function aliasDirs(): string[] {
  return readdirSync(tmpdir()).filter((n) => n.startsWith('bm-kreg-alias-'));
}

function bindStaleSocket(path: string): void {
  spawnSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', path]);
  assert.ok(statSync(path).isSocket(), `stale socket ${path} exists`);
}

/** Decode a protobuf message's top-level fields (varint and length-delimited only) by number. */
function wireFields(buf: Buffer): Map<number, (string | number)[]> {
  const out = new Map<number, (string | number)[]>();
  let i = 0;
  const varint = (): number => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const b = buf[i++]!;
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
      shift += 7;
    }
  };
  while (i < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    let value: string | number;
    if (wire === 0) value = varint();
    else if (wire === 2) {
      const len = varint();
      value = buf.subarray(i, i + len).toString('utf8');
      i += len;
    } else throw new Error(`unexpected wire type ${wire}`);
    out.set(field, [...(out.get(field) ?? []), value]);
  }
  return out;
}

function rawCall(client: grpc.Client, path: string, body: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      { deadline: Date.now() + 10_000 },
      (err, res) => (err ? reject(err) : resolve(res!)),
    );
  });
}

type Unary<Req, Res> = (
  req: Req,
  opts: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res?: Res) => void,
) => void;

function call<Req, Res>(client: grpc.Client, method: string, req: Req): Promise<Res> {
  const fn = (client as unknown as Record<string, Unary<Req, Res>>)[method]!.bind(client);
  return new Promise((resolve, reject) =>
    fn(req, { deadline: Date.now() + 10_000 }, (err, res) => (err ? reject(err) : resolve(res!))),
  );
}

test('kubelet registration: GetInfo on the wire, NotifyRegistrationStatus logged, stale socket replaced, removed on stop', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bm-kreg-'));
  const sock = join(dir, `${PLUGIN_NAME}-reg.sock`);
  bindStaleSocket(sock);
  const { logger, lines } = capturingLogger();
  const reg = await startKubeletRegistration({
    registrationPath: sock,
    csiEndpoint: '/var/lib/kubelet/plugins/bucketmount.csi.io/csi.sock',
    logger,
  });
  const Registration = loadRegistrationService();
  const client = new Registration(`unix://${sock}`, grpc.credentials.createInsecure());
  try {
    assert.equal(statSync(sock).mode & 0o777, 0o700);
    assert.deepEqual(
      readdirSync(dir),
      [`${PLUGIN_NAME}-reg.sock`],
      'only the final socket in the directory kubelet watches',
    );
    assert.deepEqual(aliasDirs(), [], 'the bind alias is gone once serving');

    // What kubelet's Go client sends and decodes: method path and field numbers of the API.
    const raw = wireFields(await rawCall(client, '/pluginregistration.Registration/GetInfo', Buffer.alloc(0)));
    assert.deepEqual(raw.get(1), ['CSIPlugin'], 'type = 1');
    assert.deepEqual(raw.get(2), [PLUGIN_NAME], 'name = 2');
    assert.deepEqual(raw.get(3), ['/var/lib/kubelet/plugins/bucketmount.csi.io/csi.sock'], 'endpoint = 3');
    assert.deepEqual(raw.get(4), ['1.0.0'], 'supported_versions = 4');

    const info = await call<object, { type: string; name: string; endpoint: string; supportedVersions: string[] }>(
      client,
      'GetInfo',
      {},
    );
    assert.deepEqual(info, {
      type: 'CSIPlugin',
      name: PLUGIN_NAME,
      endpoint: '/var/lib/kubelet/plugins/bucketmount.csi.io/csi.sock',
      supportedVersions: ['1.0.0'],
    });

    assert.equal(reg.status(), undefined);
    // RegistrationStatus{plugin_registered = 1: true} as raw bytes (field 1, varint 1).
    await rawCall(client, '/pluginregistration.Registration/NotifyRegistrationStatus', Buffer.from([0x08, 0x01]));
    assert.deepEqual(reg.status(), { pluginRegistered: true, error: '' });
    assert.ok(
      lines.some((l) => l.level === 'info' && l.message === 'registered with kubelet' && l.name === PLUGIN_NAME),
    );

    await call(client, 'NotifyRegistrationStatus', { pluginRegistered: false, error: 'plugin version not supported' });
    assert.deepEqual(reg.status(), { pluginRegistered: false, error: 'plugin version not supported' });
    const refused = lines.find((l) => l.message === 'kubelet refused the registration');
    assert.equal(refused?.level, 'error');
    assert.equal(refused?.error, 'plugin version not supported');
  } finally {
    client.close();
    await reg.shutdown();
  }
  assert.equal(existsSync(sock), false, 'socket removed on stop');
  assert.deepEqual(readdirSync(dir), []);
  rmSync(dir, { recursive: true, force: true });
});

test('kubelet registration: a socket replaced by a successor is left in place on stop', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bm-kreg-'));
  const sock = join(dir, 'reg.sock');
  const reg = await startKubeletRegistration({
    registrationPath: sock,
    csiEndpoint: '/csi/csi.sock',
    logger: silentLogger(),
  });
  // A successor (e.g. the restarted plugin) put its own socket there (bound elsewhere, renamed over).
  const successor = join(dir, '.successor');
  bindStaleSocket(successor);
  renameSync(successor, sock);
  const successorIno = statSync(sock).ino;
  await reg.shutdown();
  assert.ok(existsSync(sock), "the successor's socket is still there");
  assert.equal(statSync(sock).ino, successorIno);
  assert.deepEqual(readdirSync(dir), ['reg.sock']);
  assert.deepEqual(aliasDirs(), [], 'no bind alias left behind');
  rmSync(dir, { recursive: true, force: true });
});

test('kubelet registration: a socket another live server answers on is refused, and that server keeps serving', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bm-kreg-'));
  const sock = join(dir, 'reg.sock');
  const first = await startKubeletRegistration({
    registrationPath: sock,
    csiEndpoint: '/csi/csi.sock',
    logger: silentLogger(),
  });
  const ino = statSync(sock).ino;
  try {
    await assert.rejects(
      startKubeletRegistration({ registrationPath: sock, csiEndpoint: '/other/csi.sock', logger: silentLogger() }),
      /served by another process/,
    );
    assert.equal(statSync(sock).ino, ino, 'the live socket was not replaced');
    const client = new (loadRegistrationService())(`unix://${sock}`, grpc.credentials.createInsecure());
    try {
      const info = await call<object, { endpoint: string }>(client, 'GetInfo', {});
      assert.equal(info.endpoint, '/csi/csi.sock', 'the first server still answers');
    } finally {
      client.close();
    }
  } finally {
    await first.shutdown();
  }
  assert.deepEqual(aliasDirs(), []);
  rmSync(dir, { recursive: true, force: true });
});

test('kubelet registration: bad paths are refused before anything is bound', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bm-kreg-'));
  const logger = silentLogger();
  await assert.rejects(
    startKubeletRegistration({ registrationPath: 'reg.sock', csiEndpoint: '/csi/csi.sock', logger }),
    /absolute path/,
  );
  await assert.rejects(
    startKubeletRegistration({ registrationPath: join(dir, 'reg.sock'), csiEndpoint: 'csi.sock', logger }),
    /absolute socket path/,
  );
  await assert.rejects(
    startKubeletRegistration({
      registrationPath: join(dir, 'missing', 'reg.sock'),
      csiEndpoint: '/csi/csi.sock',
      logger,
    }),
    /plugins_registry mounted/,
  );
  writeFileSync(join(dir, 'reg.sock'), 'not a socket');
  await assert.rejects(
    startKubeletRegistration({ registrationPath: join(dir, 'reg.sock'), csiEndpoint: '/csi/csi.sock', logger }),
    /not a socket; refusing/,
  );
  assert.deepEqual(readdirSync(dir), ['reg.sock']);
  assert.deepEqual(aliasDirs(), []);
  rmSync(dir, { recursive: true, force: true });
});
