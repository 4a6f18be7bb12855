// The lean GET client's HTTP/1.1 framing (src/s3/http-framing.ts): response heads split across
// socket reads, Content-Length and chunked bodies fed in every possible split, bad input refused.
// Pure logic, milliseconds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bodyFraming,
  ChunkedFraming,
  HeadParser,
  HttpFramingError,
  keepsAlive,
  LengthFraming,
  MAX_HEAD_BYTES,
  parseHead,
  type BodyFraming,
} from '../../src/s3/http-framing.js';

const HEAD =
  'HTTP/1.1 206 Partial Content\r\nContent-Length: 5\r\nETag: "x"\r\nX-Amz-Meta-A: 1\r\nx-amz-meta-a: 2\r\n\r\n';

test('a head split at every byte is parsed the same, and the bytes after it are the body', () => {
  const whole = Buffer.from(HEAD + 'hello');
  for (let cut = 1; cut < whole.length; cut++) {
    const p = new HeadParser();
    const first = p.push(whole.subarray(0, cut));
    let bodyStart: number;
    if (first >= 0) bodyStart = first;
    else {
      const second = p.push(whole.subarray(cut));
      assert.ok(second >= 0, `cut ${cut}`);
      bodyStart = cut + second;
    }
    assert.equal(whole.subarray(bodyStart).toString(), 'hello', `cut ${cut}`);
    assert.deepEqual(p.head, {
      statusCode: 206,
      reason: 'Partial Content',
      headers: { 'content-length': '5', etag: '"x"', 'x-amz-meta-a': '1, 2' },
    });
  }
});

test('bad heads are refused with EPROTO', () => {
  assert.throws(() => parseHead('HTTP/2 200 OK\r\n'), HttpFramingError);
  assert.throws(() => parseHead('HTTP/1.1 200 OK\r\nno colon here\r\n'), /bad header line/);
  const p = new HeadParser();
  assert.throws(() => {
    for (let i = 0; i < 100; i++) p.push(Buffer.alloc(MAX_HEAD_BYTES / 50, 'a'));
  }, /response head over/);
  assert.equal(new HttpFramingError('x').code, 'EPROTO');
});

test('keep-alive unless the server says close', () => {
  const h = (connection?: string) => ({
    statusCode: 200,
    reason: '',
    headers: connection ? { connection } : ({} as Record<string, string>),
  });
  assert.equal(keepsAlive(h()), true);
  assert.equal(keepsAlive(h('keep-alive')), true);
  assert.equal(keepsAlive(h('Close')), false);
  assert.equal(keepsAlive(h('upgrade, close')), false);
});

function feedAll(f: BodyFraming, wire: Buffer, step: number): { body: string; used: number } {
  let body = '';
  let used = 0;
  for (let i = 0; i < wire.length && !f.done; i += step) {
    const chunk = wire.subarray(i, Math.min(wire.length, i + step));
    const n = f.push(chunk, (d) => (body += d.toString('latin1')));
    used += n;
    if (n < chunk.length) break;
  }
  return { body, used };
}

test('Content-Length: exactly that many bytes, never the next response', () => {
  const wire = Buffer.from('0123456789HTTP/1.1 200 OK');
  for (let step = 1; step <= wire.length; step++) {
    const f = new LengthFraming(10);
    const { body, used } = feedAll(f, wire, step);
    assert.equal(body, '0123456789');
    assert.equal(used, 10);
    assert.ok(f.done);
  }
});

test('chunked: every split of sizes, extensions, data and trailers decodes to the same body', () => {
  const wire = Buffer.from('5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nx-trailer: y\r\n\r\nNEXT');
  for (let step = 1; step <= wire.length; step++) {
    const f = new ChunkedFraming();
    const { body, used } = feedAll(f, wire, step);
    assert.equal(body, 'helloabcdefghijklmnopqrstuvwxyz', `step ${step}`);
    assert.equal(used, wire.length - 'NEXT'.length, `step ${step}`);
    assert.ok(f.done);
  }
  assert.throws(() => new ChunkedFraming().push(Buffer.from('zz\r\n'), () => undefined), /bad chunk size/);
  assert.throws(() => new ChunkedFraming().push(Buffer.from('1\r\nab\r\n'), () => undefined), /missing CRLF/);
});

test('which framing a response gets', () => {
  const head = (statusCode: number, headers: Record<string, string>) => ({ statusCode, reason: '', headers });
  assert.equal(bodyFraming('HEAD', head(200, { 'content-length': '99' }))?.done, true);
  assert.equal(bodyFraming('GET', head(304, {}))?.done, true);
  assert.equal(bodyFraming('GET', head(206, { 'content-length': '7' }))?.remaining, 7);
  assert.ok(bodyFraming('GET', head(200, { 'transfer-encoding': 'chunked' })) instanceof ChunkedFraming);
  assert.equal(bodyFraming('GET', head(200, {})), undefined, 'no length: until the connection closes');
  assert.throws(() => bodyFraming('GET', head(200, { 'transfer-encoding': 'gzip' })), /unsupported transfer-encoding/);
  assert.throws(() => bodyFraming('GET', head(200, { 'content-length': '-1' })), /bad content-length/);
});
