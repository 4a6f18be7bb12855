// A fast parser of ListObjectsV2 response bodies (ListBucketResult), pure. The SDK's generic XML
// parse and schema walk cost ~26 µs per listed object warm and twice that in a fresh mount
// process: most of the CPU of a cold `ls -l` (docs/fuse3.md "Listing a large directory").
// It reads exactly the elements S3 documents for ListBucketResult into the SDK's output shape;
// anything it does not expect (CDATA, URL-encoded keys, an unknown entity) throws, and the
// caller then lets the SDK parse the same bytes (list-parse.ts).
import type { ListObjectsV2CommandOutput, _Object, CommonPrefix } from '@aws-sdk/client-s3';

export class ListXmlUnsupported extends Error {}

export type ListOutput = Omit<ListObjectsV2CommandOutput, '$metadata'>;

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Text content with XML entities and character references decoded. */
export function decodeXmlText(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);?/g, (m: string, ref: string) => {
    if (!m.endsWith(';')) throw new ListXmlUnsupported(`bare & in text: ${m}`);
    if (ref[0] === '#') {
      const code = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      if (!(code >= 0 && code <= 0x10ffff)) throw new ListXmlUnsupported(`bad character reference ${m}`);
      return String.fromCodePoint(code);
    }
    const e = ENTITIES[ref];
    if (e === undefined) throw new ListXmlUnsupported(`unknown entity ${m}`);
    return e;
  });
}

const TAG = /<(\/?)([A-Za-z_][\w.-]*)((?:\s+[^>]*?)?)(\/?)>/g;

type Leaf = (out: ListOutput, text: string) => void;

const TOP: Record<string, Leaf> = {
  Name: (o, t) => (o.Name = t),
  Prefix: (o, t) => (o.Prefix = t),
  Delimiter: (o, t) => (o.Delimiter = t),
  MaxKeys: (o, t) => (o.MaxKeys = int(t)),
  KeyCount: (o, t) => (o.KeyCount = int(t)),
  IsTruncated: (o, t) => (o.IsTruncated = t === 'true'),
  ContinuationToken: (o, t) => (o.ContinuationToken = t),
  NextContinuationToken: (o, t) => (o.NextContinuationToken = t),
  StartAfter: (o, t) => (o.StartAfter = t),
  EncodingType: () => {
    throw new ListXmlUnsupported('EncodingType in the response: keys are URL-encoded');
  },
};

type ObjectLeaf = (o: _Object, text: string) => void;
const CONTENTS: Record<string, ObjectLeaf> = {
  Key: (o, t) => (o.Key = t),
  LastModified: (o, t) => {
    const d = new Date(t);
    if (Number.isNaN(d.getTime())) throw new ListXmlUnsupported(`bad LastModified ${t}`);
    o.LastModified = d;
  },
  ETag: (o, t) => (o.ETag = t),
  Size: (o, t) => (o.Size = int(t)),
  StorageClass: (o, t) => (o.StorageClass = t as _Object['StorageClass']),
};

function int(t: string): number {
  if (!/^-?\d+$/.test(t)) throw new ListXmlUnsupported(`not an integer: ${t}`);
  return Number(t);
}

/**
 * Parse a ListBucketResult document. Contents get Key, LastModified, ETag, Size and StorageClass
 * (Owner, checksums and restore status are skipped); CommonPrefixes get Prefix.
 */
export function parseListBucketResult(xml: string): ListOutput {
  if (xml.includes('<![CDATA[') || xml.includes('<!DOCTYPE')) throw new ListXmlUnsupported('CDATA or DOCTYPE');
  const out: ListOutput = {};
  const contents: _Object[] = [];
  const prefixes: CommonPrefix[] = [];
  const path: string[] = [];
  let textStart = 0;
  let current: _Object | undefined;
  let prefix: CommonPrefix | undefined;
  let sawRoot = false;
  TAG.lastIndex = 0;
  for (let m = TAG.exec(xml); m; m = TAG.exec(xml)) {
    const [whole, closing, name, , selfClosing] = m as unknown as [string, string, string, string, string];
    if (!closing) {
      const depth = path.length;
      if (depth === 0) {
        if (name !== 'ListBucketResult') throw new ListXmlUnsupported(`root element ${name}`);
        sawRoot = true;
      } else if (depth === 1 && name === 'Contents') current = {};
      else if (depth === 1 && name === 'CommonPrefixes') prefix = {};
      if (selfClosing) {
        if (depth === 1 && name === 'Contents') contents.push(current!);
        if (depth === 1 && name === 'CommonPrefixes') prefixes.push(prefix!);
        if (depth >= 1) leaf(path, name, '');
      } else path.push(name);
      textStart = m.index + whole.length;
      continue;
    }
    if (path.at(-1) !== name) throw new ListXmlUnsupported(`</${name}> closes <${path.at(-1)}>`);
    const text = xml.slice(textStart, m.index);
    path.pop();
    const depth = path.length;
    if (depth === 1 && name === 'Contents') contents.push(current!);
    else if (depth === 1 && name === 'CommonPrefixes') prefixes.push(prefix!);
    else if (!text.includes('<')) leaf(path, name, text);
    textStart = m.index + whole.length;
  }
  if (!sawRoot || path.length > 0) throw new ListXmlUnsupported('truncated document');
  if (contents.length > 0) out.Contents = contents;
  if (prefixes.length > 0) out.CommonPrefixes = prefixes;
  return out;

  function leaf(at: string[], name: string, raw: string): void {
    const depth = at.length;
    const text = decodeXmlText(raw);
    if (depth === 1) TOP[name]?.(out, text);
    else if (depth === 2 && at[1] === 'Contents') CONTENTS[name]?.(current!, text);
    else if (depth === 2 && at[1] === 'CommonPrefixes' && name === 'Prefix') prefix!.Prefix = text;
  }
}
