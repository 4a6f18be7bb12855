// Exchanges a pod's service-account token for temporary S3 credentials with STS
// AssumeRoleWithWebIdentity (AWS STS, MinIO STS, or any compatible endpoint), and maps STS
// failures to gRPC-style codes with messages that never contain the token.
import { AssumeRoleWithWebIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { UNREACHABLE_ERRORS } from '../s3/errors.js';
import { CredentialsError } from './errors.js';
import { redactText } from './redact.js';
import type { S3Credentials } from './types.js';

export interface StsTarget {
  /** Custom STS endpoint URL (MinIO, a VPC endpoint); undefined = AWS regional endpoint. */
  endpoint?: string;
  region: string;
}

export interface WebIdentityRequest extends StsTarget {
  roleArn: string;
  token: string;
  sessionName: string;
  durationSeconds?: number;
}

/** Driver-level STS defaults from the node's environment (volume attributes override them). */
export function stsDefaultsFromEnv(env: NodeJS.ProcessEnv = process.env): { endpoint?: string; region: string } {
  const endpoint = env.BUCKETMOUNT_STS_ENDPOINT || env.AWS_ENDPOINT_URL_STS || undefined;
  const region = env.BUCKETMOUNT_STS_REGION || env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1';
  return { ...(endpoint ? { endpoint } : {}), region };
}

interface StsErrorShape {
  name?: string;
  Code?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

const TOKEN_REFUSED = new Set([
  'ExpiredTokenException',
  'ExpiredToken',
  'InvalidIdentityToken',
  'InvalidIdentityTokenException',
  'IDPRejectedClaim',
  'IDPRejectedClaimException',
  'InvalidParameterValue',
  'InvalidClientTokenId',
]);
const NETWORK = new Set([
  ...UNREACHABLE_ERRORS,
  'IDPCommunicationError',
  'IDPCommunicationErrorException',
  'ServiceUnavailable',
  'InternalError',
]);

/**
 * Turn an STS failure into a CredentialsError with a useful, token-free message. The STS error is
 * deliberately not kept as the cause: its text is only safe after redaction (it may echo the token).
 */
export function stsErrorToCredentialsError(
  err: unknown,
  req: Pick<WebIdentityRequest, 'roleArn' | 'endpoint'>,
  secrets: readonly string[] = [],
): CredentialsError {
  if (err instanceof CredentialsError) return err;
  const e = (err ?? {}) as StsErrorShape;
  const name = e.Code ?? e.name ?? e.code ?? 'Error';
  const status = e.$metadata?.httpStatusCode;
  const detail = redactText(`${name}${status ? ` (HTTP ${status})` : ''}: ${e.message ?? String(err)}`, secrets);
  const where = `STS AssumeRoleWithWebIdentity for role ${req.roleArn}${req.endpoint ? ` at ${req.endpoint}` : ''}`;
  if (NETWORK.has(name) || (e.code !== undefined && NETWORK.has(e.code)) || (status !== undefined && status >= 500)) {
    return new CredentialsError('UNAVAILABLE', `${where} could not be reached: ${detail}`);
  }
  if (name === 'AccessDenied' || name === 'AccessDeniedException' || status === 403) {
    return new CredentialsError(
      'PERMISSION_DENIED',
      `${where} was denied (check the role's trust policy for this service account): ${detail}`,
    );
  }
  if (/RoleArn/i.test(detail) && name === 'InvalidParameterValue') {
    return new CredentialsError('PERMISSION_DENIED', `${where}: the role is not known to STS: ${detail}`);
  }
  if (TOKEN_REFUSED.has(name) || status === 400 || status === 401) {
    return new CredentialsError(
      'UNAUTHENTICATED',
      `${where} refused the pod's service-account token (expired, wrong audience or untrusted issuer): ${detail}`,
    );
  }
  return new CredentialsError('UNAVAILABLE', `${where} failed: ${detail}`);
}

/** AssumeRoleWithWebIdentity → temporary credentials with their expiration. */
export async function assumeRoleWithWebIdentity(req: WebIdentityRequest): Promise<S3Credentials> {
  const client = new STSClient({
    region: req.region,
    ...(req.endpoint ? { endpoint: req.endpoint } : {}),
    maxAttempts: 3,
    // The call is unsigned; never let the SDK go looking for node/instance credentials.
    credentials: async () => {
      throw new Error('AssumeRoleWithWebIdentity is unsigned and needs no credentials');
    },
  });
  try {
    const out = await client.send(
      new AssumeRoleWithWebIdentityCommand({
        RoleArn: req.roleArn,
        RoleSessionName: req.sessionName,
        WebIdentityToken: req.token,
        ...(req.durationSeconds ? { DurationSeconds: req.durationSeconds } : {}),
      }),
    );
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey) {
      throw new CredentialsError(
        'UNAVAILABLE',
        `STS AssumeRoleWithWebIdentity for role ${req.roleArn} returned no credentials`,
      );
    }
    return {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      ...(c.SessionToken ? { sessionToken: c.SessionToken } : {}),
      ...(c.Expiration ? { expiration: new Date(c.Expiration).toISOString() } : {}),
    };
  } catch (err) {
    throw stsErrorToCredentialsError(err, req, [req.token]);
  } finally {
    client.destroy();
  }
}
