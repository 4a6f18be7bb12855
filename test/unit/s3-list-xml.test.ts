// The fast ListObjectsV2 parser (src/s3/list-xml.ts, hooked in by list-parse.ts): pure parses of
// odd documents, and the same documents served by a loopback server to the mount's client and to
// a plain SDK client, whose outputs must agree field by field; what the fast parser refuses is
// still parsed by the SDK.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { ListObjectsV2Command, S3Client, type ListObjectsV2CommandOutput } from '@aws-sdk/client-s3';
import { loopbackS3Client } from '../support/loopback-client.js';
import { decodeXmlText, ListXmlUnsupported, parseListBucketResult } from '../../src/s3/list-xml.js';

const NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"';
const obj = (key: string, size = 5, extra = '') =>
  `<Contents><Key>${key}</Key><LastModified>2026-12-07T01:02:03.456Z</LastModified><ETag>&#34;abc&#34;</ETag><Size>${size}</Size>${extra}<StorageClass>STANDARD</StorageClass></Contents>`;

const DOCS: Record<string, string> = {
  plain: `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult ${NS}><Name>b</Name><Prefix>dir/</Prefix><KeyCount>3</KeyCount><MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter><IsTruncated>true</IsTruncated><ContinuationToken>c1</ContinuationToken><NextContinuationToken>c2==</NextContinuationToken>${obj('dir/a')}${obj('dir/b c', 0)}<CommonPrefixes><Prefix>dir/sub/</Prefix></CommonPrefixes><CommonPrefixes><Prefix>dir/z/</Prefix></CommonPrefixes></ListBucketResult>`,
  entities: `<ListBucketResult ${NS}><Name>b</Name><Prefix></Prefix><IsTruncated>false</IsTruncated>${obj('a&amp;b &lt;c&gt; &quot;d&quot; &apos;e&apos;')}${obj('tab&#9;x 😀 é ü &#x41;')}${obj('  spaced  ')}</ListBucketResult>`,
  odd: `<?xml version="1.0"?><!-- a comment --><ListBucketResult ${NS}><Name>b</Name><Prefix/><IsTruncated>false</IsTruncated>${obj('q&#34;k&#34;')}<Contents><Key>e</Key><ETag>&quot;x&quot;</ETag><Size>0</Size></Contents><CommonPrefixes><Prefix>p&amp;q/</Prefix></CommonPrefixes></ListBucketResult>`,
  owner: `<ListBucketResult ${NS}><Name>b</Name><IsTruncated>false</IsTruncated>${obj('k', 7, '<Owner><ID>id1</ID><DisplayName>me</DisplayName></Owner>')}</ListBucketResult>`,
  empty: `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult ${NS}><Name>b</Name><Prefix>none/</Prefix><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>`,
  encoded: `<ListBucketResult ${NS}><Name>b</Name><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>${obj('a%20b')}</ListBucketResult>`,
};

test('pure parses: fields, entities, skipped elements', () => {
  const p = parseListBucketResult(DOCS.plain!);
  assert.equal(p.IsTruncated, true);
  assert.equal(p.NextContinuationToken, 'c2==');
  assert.equal(p.KeyCount, 3);
  assert.deepEqual(
    p.Contents!.map((c) => [c.Key, c.Size, c.ETag, c.LastModified!.toISOString()]),
    [
      ['dir/a', 5, '"abc"', '2026-12-07T01:02:03.456Z'],
      ['dir/b c', 0, '"abc"', '2026-12-07T01:02:03.456Z'],
    ],
  );
  assert.deepEqual(p.CommonPrefixes, [{ Prefix: 'dir/sub/' }, { Prefix: 'dir/z/' }]);
  assert.equal(parseListBucketResult(DOCS.entities!).Contents![1]!.Key, 'tab\tx 😀 é ü A');
  // Astral code points by reference (S3 sends them as raw UTF-8; the SDK's parser drops them).
  assert.equal(decodeXmlText('&#x1F600;'), '😀');
  assert.equal(parseListBucketResult(DOCS.owner!).Contents![0]!.Size, 7);
  assert.equal(parseListBucketResult(DOCS.empty!).Contents, undefined);
  assert.equal(decodeXmlText('&lt;&#60;&#x3c;'), '<<<');
  const odd = parseListBucketResult(DOCS.odd!);
  assert.equal(odd.Prefix, '');
  assert.deepEqual(
    odd.Contents!.map((c) => [c.Key, c.ETag, c.Size, c.LastModified]),
    [
      ['q"k"', '"abc"', 5, new Date('2026-12-07T01:02:03.456Z')],
      ['e', '"x"', 0, undefined],
    ],
  );
  assert.deepEqual(odd.CommonPrefixes, [{ Prefix: 'p&q/' }]);
  assert.equal(decodeXmlText('&#34;a&amp;b&#34;'), '"a&b"', 'an & inside quotes takes the general path');
});

test('what the fast parser refuses', () => {
  for (const bad of [
    DOCS.encoded!,
    `<ListBucketResult><Contents><Key><![CDATA[x]]></Key></Contents></ListBucketResult>`,
    `<Error><Code>x</Code></Error>`,
    `<ListBucketResult><Contents><Key>a</Contents></ListBucketResult>`,
    `<ListBucketResult><Name>b</Name>`,
    `<ListBucketResult><Contents><Key>a &nbsp; b</Key></Contents></ListBucketResult>`,
    `<ListBucketResult><Contents><Size>12x</Size></Contents></ListBucketResult>`,
  ])
    assert.throws(() => parseListBucketResult(bad), ListXmlUnsupported, bad);
});

let serve = '';
const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(serve) });
  res.end(serve);
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
const credentials = { accessKeyId: 'k', secretAccessKey: 's' };
const ours = loopbackS3Client(endpoint, { maxAttempts: 1 });
const sdk = new S3Client({ endpoint, forcePathStyle: true, credentials, region: 'us-east-1', maxAttempts: 1 });
after(async () => {
  ours.destroy();
  sdk.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});

/** The fields the fast parser fills (Owner and the like are documented as skipped). */
function comparable(o: ListObjectsV2CommandOutput): unknown {
  const { $metadata: _m, ...rest } = o;
  return {
    ...rest,
    Contents: o.Contents?.map((c) => ({
      Key: c.Key,
      LastModified: c.LastModified?.toISOString(),
      ETag: c.ETag,
      Size: c.Size,
      StorageClass: c.StorageClass,
    })),
  };
}

test('the mount client and a plain SDK client read every document the same', async () => {
  for (const [name, doc] of Object.entries(DOCS)) {
    serve = doc;
    const cmd = () => new ListObjectsV2Command({ Bucket: 'b', Prefix: 'dir/', Delimiter: '/' });
    const [a, b] = [await ours.send(cmd()), await sdk.send(cmd())];
    assert.deepEqual(
      comparable(a),
      comparable(b),
      `${name}: ${JSON.stringify(comparable(a))} vs ${JSON.stringify(comparable(b))}`,
    );
    assert.equal(a.$metadata.httpStatusCode, 200);
  }
});
