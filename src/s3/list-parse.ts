// Lets a client parse successful ListObjectsV2 bodies with list-xml.ts instead of the SDK's
// generic XML deserializer (the CPU of a cold `ls -l`: docs/fuse3.md "Listing a large
// directory"). Two middlewares around the SDK's deserializer: the inner one reads the body and
// parses it; when that works the SDK is given an empty ListBucketResult to deserialize and the
// outer one puts the parsed fields into its output. Errors (non-2xx) and any document the fast
// parser does not take (ListXmlUnsupported) are left to the SDK exactly as before.
import type { S3Client, ServiceInputTypes, ServiceOutputTypes } from '@aws-sdk/client-s3';
import type { DeserializeMiddleware } from '@aws-sdk/types';
import { streamCollector } from '@smithy/node-http-handler';
import { Readable } from 'node:stream';
import { ListXmlUnsupported, parseListBucketResult, type ListOutput } from './list-xml.js';

const EMPTY_RESULT = '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult></ListBucketResult>';
const COMMAND = 'ListObjectsV2Command';

interface RawResponse {
  statusCode?: number;
  body?: unknown;
}

/** Parse `client`'s ListObjectsV2 responses with the fast parser. Call before its first request. */
export function parseListingsFast(client: S3Client): void {
  const parsed = new WeakMap<object, ListOutput>();
  const parse: DeserializeMiddleware<ServiceInputTypes, ServiceOutputTypes> = (next, context) => async (args) => {
    const out = await next(args);
    const res = out.response as RawResponse | undefined;
    if (context.commandName !== COMMAND || !res || !res.body) return out;
    if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) > 299) return out;
    const bytes = Buffer.from(await streamCollector(res.body as Readable));
    try {
      parsed.set(res, parseListBucketResult(bytes.toString('utf8')));
      res.body = Readable.from([Buffer.from(EMPTY_RESULT)]);
    } catch (err) {
      if (!(err instanceof ListXmlUnsupported)) throw err;
      res.body = Readable.from([bytes]);
    }
    return out;
  };
  const merge: DeserializeMiddleware<ServiceInputTypes, ServiceOutputTypes> = (next) => async (args) => {
    const out = await next(args);
    const fields = out.response ? parsed.get(out.response as object) : undefined;
    if (fields) Object.assign(out.output as object, fields);
    return out;
  };
  client.middlewareStack.addRelativeTo(parse, {
    relation: 'after',
    toMiddleware: 'deserializerMiddleware',
    name: 'bucketmountFastListParse',
  });
  client.middlewareStack.addRelativeTo(merge, {
    relation: 'before',
    toMiddleware: 'deserializerMiddleware',
    name: 'bucketmountFastListOutput',
  });
}
