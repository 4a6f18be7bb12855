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
  const amp = s.indexOf('&');
  if (amp < 0) return s;
  // The usual ETag: "…" with its quotes written as &#34; (MinIO) or &quot; (S3).
  if (amp === 0 && s.length >= 12) {
    const q = s.startsWith('&#34;') ? '&#34;' : s.startsWith('&quot;') ? '&quot;' : '';
    if (q && s.endsWith(q) && s.indexOf('&', q.length) === s.length - q.length)
      return `"${s.slice(q.length, s.length - q.length)}"`;
  }
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

function int(t: string): number {
  if (!/^-?\d+$/.test(t)) throw new ListXmlUnsupported(`not an integer: ${t}`);
  return Number(t);
}

const ROOT_OPEN = '<ListBucketResult';
const ROOT_CLOSE = '</ListBucketResult>';

/**
 * Parse a ListBucketResult document. Contents get Key, LastModified, ETag, Size and StorageClass
 * (Owner, checksums and restore status are skipped); CommonPrefixes get Prefix. A scanner over
 * the known element names (indexOf, no general tokenizer): the top-level children are walked in
 * order and each Contents block is searched for its five fields.
 */
export function parseListBucketResult(xml: string): ListOutput {
  if (xml.includes('<![CDATA[') || xml.includes('<!DOCTYPE')) throw new ListXmlUnsupported('CDATA or DOCTYPE');
  const root = xml.indexOf(ROOT_OPEN);
  const rootEnd = xml.lastIndexOf(ROOT_CLOSE);
  if (root < 0 || rootEnd < root) throw new ListXmlUnsupported('not a complete ListBucketResult');
  const out: ListOutput = {};
  const contents: _Object[] = [];
  const prefixes: CommonPrefix[] = [];
  let at = xml.indexOf('>', root) + 1;
  for (let lt = xml.indexOf('<', at); lt >= 0 && lt < rootEnd; lt = xml.indexOf('<', at)) {
    const gt = xml.indexOf('>', lt);
    if (gt < 0 || gt > rootEnd) throw new ListXmlUnsupported('unterminated tag');
    const tag = xml.slice(lt + 1, gt);
    if (tag.startsWith('?') || tag.startsWith('!--')) {
      at = gt + 1;
      continue;
    }
    if (tag.endsWith('/')) {
      // <Prefix/>: an empty element
      TOP[tag.slice(0, -1).trim()]?.(out, '');
      at = gt + 1;
      continue;
    }
    const name = /^[A-Za-z_][\w.-]*/.exec(tag)?.[0];
    if (!name) throw new ListXmlUnsupported(`unexpected <${tag.slice(0, 40)}>`);
    const close = `</${name}>`;
    const end = xml.indexOf(close, gt + 1);
    if (end < 0 || end > rootEnd) throw new ListXmlUnsupported(`<${name}> is not closed`);
    if (name === 'Contents') contents.push(parseContents(xml, gt + 1, end));
    else if (name === 'CommonPrefixes') prefixes.push({ Prefix: field(xml, 'Prefix', gt + 1, end) });
    else {
      const raw = xml.slice(gt + 1, end);
      if (raw.includes('<')) {
        if (name in TOP) throw new ListXmlUnsupported(`<${name}> has child elements`);
      } else TOP[name]?.(out, decodeXmlText(raw));
    }
    at = end + close.length;
  }
  if (contents.length > 0) out.Contents = contents;
  if (prefixes.length > 0) out.CommonPrefixes = prefixes;
  return out;
}

function parseContents(xml: string, from: number, to: number): _Object {
  const o: _Object = {};
  const key = field(xml, 'Key', from, to);
  if (key !== undefined) o.Key = key;
  const modified = field(xml, 'LastModified', from, to);
  if (modified !== undefined) {
    const d = new Date(modified);
    if (Number.isNaN(d.getTime())) throw new ListXmlUnsupported(`bad LastModified ${modified}`);
    o.LastModified = d;
  }
  const etag = field(xml, 'ETag', from, to);
  if (etag !== undefined) o.ETag = etag;
  const size = field(xml, 'Size', from, to);
  if (size !== undefined) o.Size = int(size);
  const storageClass = field(xml, 'StorageClass', from, to);
  if (storageClass !== undefined) o.StorageClass = storageClass as _Object['StorageClass'];
  return o;
}

const OPEN_TAGS = new Map<string, [string, string, string]>();

/** The decoded text of child element `name` within xml[from, to); undefined when absent. */
function field(xml: string, name: string, from: number, to: number): string | undefined {
  let tags = OPEN_TAGS.get(name);
  if (!tags) OPEN_TAGS.set(name, (tags = [`<${name}>`, `</${name}>`, `<${name}/>`]));
  const [open, close, empty] = tags;
  const a = xml.indexOf(open, from);
  if (a < 0 || a >= to) {
    const e = xml.indexOf(empty, from);
    return e >= 0 && e < to ? '' : undefined;
  }
  const b = xml.indexOf(close, a + open.length);
  if (b < 0 || b > to) throw new ListXmlUnsupported(`<${name}> is not closed`);
  const raw = xml.slice(a + open.length, b);
  if (raw.includes('<')) throw new ListXmlUnsupported(`<${name}> has child elements`);
  return decodeXmlText(raw);
}
