// Test helper: the MinIO admin API call the STS tests need (add a canned policy), signed with
// AWS Signature V4 using node:crypto and MinIO's root credentials.
import { createHash, createHmac } from 'node:crypto';
import type { MinioServer } from '../support/minio.js';

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

const enc = (s: string): string =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

async function adminRequest(
  minio: MinioServer,
  method: string,
  path: string,
  query: Record<string, string>,
  body: string,
): Promise<string> {
  const url = new URL(minio.endpoint + path);
  const amzDate = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const payloadHash = createHash('sha256').update(body).digest('hex');
  const canonicalQuery = Object.keys(query)
    .sort()
    .map((k) => `${enc(k)}=${enc(query[k]!)}`)
    .join('&');
  const headers: Record<string, string> = {
    host: url.host,
    'x-amz-content-sha256': payloadHash,
    'x-amz-date': amzDate,
  };
  const signed = Object.keys(headers).sort();
  const canonical = [
    method,
    url.pathname,
    canonicalQuery,
    signed.map((h) => `${h}:${headers[h]}\n`).join(''),
    signed.join(';'),
    payloadHash,
  ].join('\n');
  const scope = `${day}/${minio.region}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  const kSigning = hmac(hmac(hmac(hmac(`AWS4${minio.secretKey}`, day), minio.region), 's3'), 'aws4_request');
  const signature = createHmac('sha256', kSigning).update(toSign).digest('hex');
  const res = await fetch(`${minio.endpoint}${path}${canonicalQuery ? `?${canonicalQuery}` : ''}`, {
    method,
    headers: {
      'x-amz-content-sha256': payloadHash,
      'x-amz-date': amzDate,
      authorization: `AWS4-HMAC-SHA256 Credential=${minio.accessKey}/${scope}, SignedHeaders=${signed.join(';')}, Signature=${signature}`,
    },
    ...(body ? { body } : {}),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`MinIO admin ${method} ${path} failed: HTTP ${res.status} ${text.slice(0, 300)}`);
  return text;
}

/**
 * Create or replace a named IAM policy on the MinIO server. MinIO answers 503
 * XMinioServerNotInitialized while its IAM subsystem is still loading right after start, so
 * that answer is retried for up to 60 s; once this succeeds, IAM (and STS) is ready.
 */
export async function addCannedPolicy(minio: MinioServer, name: string, policy: object): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await adminRequest(minio, 'PUT', '/minio/admin/v3/add-canned-policy', { name }, JSON.stringify(policy));
      return;
    } catch (err) {
      if (!/XMinioServerNotInitialized/.test((err as Error).message) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** A policy that allows list of `prefix` and read/write/delete of objects under it, nothing else. */
export function prefixOnlyPolicy(bucket: string, prefix: string): object {
  return {
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Action: ['s3:GetBucketLocation'], Resource: [`arn:aws:s3:::${bucket}`] },
      {
        Effect: 'Allow',
        Action: ['s3:ListBucket'],
        Resource: [`arn:aws:s3:::${bucket}`],
        Condition: { StringLike: { 's3:prefix': [`${prefix}*`] } },
      },
      {
        Effect: 'Allow',
        Action: [
          's3:GetObject',
          's3:PutObject',
          's3:DeleteObject',
          's3:AbortMultipartUpload',
          's3:ListMultipartUploadParts',
        ],
        Resource: [`arn:aws:s3:::${bucket}/${prefix}*`],
      },
    ],
  };
}
