// Static credentials from a CSI `secrets` map (nodePublishSecretRef / StorageClass
// csi.storage.k8s.io/*-secret-name): AWS names, k8s-csi-s3 names and GCS HMAC names.
// Missing halves or malformed values → INVALID_ARGUMENT naming the key to fix.
import { createHash } from 'node:crypto';
import { CredentialsError } from './errors.js';
import type { S3Credentials } from './types.js';

/** Accepted names per field, in order of preference. */
export const SECRET_KEY_ALIASES = {
  accessKeyId: ['AWS_ACCESS_KEY_ID', 'accessKeyID', 'accessKeyId', 'GOOGLE_ACCESS_KEY_ID'],
  secretAccessKey: ['AWS_SECRET_ACCESS_KEY', 'secretAccessKey', 'GOOGLE_ACCESS_KEY_SECRET'],
  sessionToken: ['AWS_SESSION_TOKEN', 'sessionToken'],
  region: ['AWS_REGION', 'region'],
  endpoint: ['endpoint', 'AWS_ENDPOINT_URL'],
} as const;

/** The secret-key name that goes with each access-key name (for "missing key" messages). */
const PARTNER: Record<string, string> = {
  AWS_ACCESS_KEY_ID: 'AWS_SECRET_ACCESS_KEY',
  accessKeyID: 'secretAccessKey',
  accessKeyId: 'secretAccessKey',
  GOOGLE_ACCESS_KEY_ID: 'GOOGLE_ACCESS_KEY_SECRET',
  AWS_SECRET_ACCESS_KEY: 'AWS_ACCESS_KEY_ID',
  secretAccessKey: 'accessKeyID',
  GOOGLE_ACCESS_KEY_SECRET: 'GOOGLE_ACCESS_KEY_ID',
};

export interface SecretCredentials {
  credentials: S3Credentials;
  endpoint?: string;
  region?: string;
}

function pick(secrets: Record<string, string>, names: readonly string[]): { name: string; value: string } | undefined {
  for (const n of names) {
    const v = secrets[n];
    if (v !== undefined && v.trim() !== '') return { name: n, value: v.trim() };
  }
  return undefined;
}

export function fingerprint(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 16);
}

/** Parse a secrets map; undefined when it carries no S3 key material at all. */
export function parseSecretCredentials(secrets: Record<string, string>): SecretCredentials | undefined {
  const ak = pick(secrets, SECRET_KEY_ALIASES.accessKeyId);
  const sk = pick(secrets, SECRET_KEY_ALIASES.secretAccessKey);
  const st = pick(secrets, SECRET_KEY_ALIASES.sessionToken);
  if (!ak && !sk && !st) return undefined;
  if (!ak) {
    const want = sk ? PARTNER[sk.name]! : 'AWS_ACCESS_KEY_ID';
    throw new CredentialsError(
      'INVALID_ARGUMENT',
      `secret is missing key ${want} (or one of ${SECRET_KEY_ALIASES.accessKeyId.join(', ')}) next to ${sk?.name ?? st?.name}`,
    );
  }
  if (!sk) {
    const want = PARTNER[ak.name]!;
    throw new CredentialsError(
      'INVALID_ARGUMENT',
      `secret is missing key ${want} (or one of ${SECRET_KEY_ALIASES.secretAccessKey.join(', ')}) next to ${ak.name}`,
    );
  }
  if (/\s/.test(ak.value) || ak.value.length < 3 || ak.value.length > 128) {
    throw new CredentialsError(
      'INVALID_ARGUMENT',
      `secret key ${ak.name} is malformed: an access key id is 3-128 characters without spaces or line breaks`,
    );
  }
  if (/\s/.test(sk.value)) {
    throw new CredentialsError(
      'INVALID_ARGUMENT',
      `secret key ${sk.name} is malformed: it contains spaces or line breaks (was it base64-encoded twice, or written with a trailing newline inside?)`,
    );
  }
  if (st && /\s/.test(st.value)) {
    throw new CredentialsError(
      'INVALID_ARGUMENT',
      `secret key ${st.name} is malformed: it contains spaces or line breaks`,
    );
  }
  const region = pick(secrets, SECRET_KEY_ALIASES.region);
  if (region && !/^[a-z0-9][a-z0-9-]{0,62}$/i.test(region.value)) {
    throw new CredentialsError(
      'INVALID_ARGUMENT',
      `secret key ${region.name} is malformed: "${region.value}" is not a region name like us-east-1`,
    );
  }
  const endpoint = pick(secrets, SECRET_KEY_ALIASES.endpoint);
  if (endpoint) {
    let ok = false;
    try {
      ok = ['http:', 'https:'].includes(new URL(endpoint.value).protocol);
    } catch {
      ok = false;
    }
    if (!ok)
      throw new CredentialsError(
        'INVALID_ARGUMENT',
        `secret key ${endpoint.name} is malformed: "${endpoint.value}" is not an http(s) URL`,
      );
  }
  return {
    credentials: { accessKeyId: ak.value, secretAccessKey: sk.value, ...(st ? { sessionToken: st.value } : {}) },
    ...(endpoint ? { endpoint: endpoint.value } : {}),
    ...(region ? { region: region.value } : {}),
  };
}

/** Endpoint / region that arrived in a secret, even when its keys are not used. */
export function secretEndpointAndRegion(secrets: Record<string, string>): { endpoint?: string; region?: string } {
  const e = pick(secrets, SECRET_KEY_ALIASES.endpoint);
  const r = pick(secrets, SECRET_KEY_ALIASES.region);
  return { ...(e ? { endpoint: e.value } : {}), ...(r ? { region: r.value } : {}) };
}
