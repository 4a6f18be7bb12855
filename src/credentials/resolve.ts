// Resolves the S3 credentials for a volume from what CSI hands us: `secrets` (from
// nodePublishSecretRef / provisioner secrets) and `volume_context` (authenticationSource,
// roleArn, pod service-account tokens). Errors say which key is missing or what was refused.
import { createHash } from 'node:crypto';
import type { S3Credentials } from './types.js';

export type CredentialsErrorCode = 'INVALID_ARGUMENT' | 'UNAUTHENTICATED' | 'PERMISSION_DENIED' | 'UNAVAILABLE' | 'FAILED_PRECONDITION';

export class CredentialsError extends Error {
  override name = 'CredentialsError';
  constructor(
    readonly code: CredentialsErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface CredentialRequest {
  volumeId: string;
  volumeContext: Record<string, string>;
  secrets: Record<string, string>;
}

export interface ResolvedCredentials {
  /** undefined when the volume asks for the driver's own credentials. */
  credentials?: S3Credentials;
  source: 'secret' | 'pod' | 'driver';
  /** Non-secret fingerprint of who these credentials are (used to decide mount sharing). */
  identity: string;
  /** Endpoint / region that arrived with the secret (k8s-csi-s3 style), if any. */
  endpoint?: string;
  region?: string;
}

const KEY_ALIASES = {
  accessKeyId: ['AWS_ACCESS_KEY_ID', 'accessKeyID', 'accessKeyId', 'GOOGLE_ACCESS_KEY_ID'],
  secretAccessKey: ['AWS_SECRET_ACCESS_KEY', 'secretAccessKey', 'GOOGLE_ACCESS_KEY_SECRET'],
  sessionToken: ['AWS_SESSION_TOKEN', 'sessionToken'],
  region: ['AWS_REGION', 'region'],
  endpoint: ['endpoint', 'AWS_ENDPOINT_URL'],
} as const;

function pick(secrets: Record<string, string>, names: readonly string[]): string | undefined {
  for (const n of names) {
    const v = secrets[n];
    if (v !== undefined && v.trim() !== '') return v.trim();
  }
  return undefined;
}

export function fingerprint(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 16);
}

/** Credentials from a CSI `secrets` map; undefined when the map carries none at all. */
export function credentialsFromSecrets(secrets: Record<string, string>): ResolvedCredentials | undefined {
  const accessKeyId = pick(secrets, KEY_ALIASES.accessKeyId);
  const secretAccessKey = pick(secrets, KEY_ALIASES.secretAccessKey);
  if (accessKeyId === undefined && secretAccessKey === undefined) return undefined;
  if (accessKeyId === undefined) {
    throw new CredentialsError('INVALID_ARGUMENT', `secret has a secret key but no access key id: set one of ${KEY_ALIASES.accessKeyId.join(', ')}`);
  }
  if (secretAccessKey === undefined) {
    throw new CredentialsError('INVALID_ARGUMENT', `secret has an access key id but no secret key: set one of ${KEY_ALIASES.secretAccessKey.join(', ')}`);
  }
  const sessionToken = pick(secrets, KEY_ALIASES.sessionToken);
  return {
    credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) },
    source: 'secret',
    identity: fingerprint('secret', accessKeyId, secretAccessKey, sessionToken ?? ''),
    endpoint: pick(secrets, KEY_ALIASES.endpoint),
    region: pick(secrets, KEY_ALIASES.region),
  };
}

/**
 * The credentials a node publish should mount with. First version: secrets, else driver env.
 * (The credentials issue extends this with authenticationSource: pod / STS web identity.)
 */
export async function resolveCredentials(req: CredentialRequest): Promise<ResolvedCredentials> {
  const fromSecret = credentialsFromSecrets(req.secrets);
  if (fromSecret) return fromSecret;
  return { source: 'driver', identity: fingerprint('driver') };
}
