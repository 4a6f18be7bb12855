// Pure helpers for pod-level (OIDC web identity) credentials: the volume-context keys kubelet
// fills in (podInfoOnMount, tokenRequests), parsing the service-account token map, choosing the
// token for the STS audience, and deriving a valid STS RoleSessionName from the pod.
import { CredentialsError } from './errors.js';

/** Volume-context keys set by kubelet when the CSIDriver has podInfoOnMount / tokenRequests. */
export const POD_CONTEXT = {
  name: 'csi.storage.k8s.io/pod.name',
  namespace: 'csi.storage.k8s.io/pod.namespace',
  uid: 'csi.storage.k8s.io/pod.uid',
  serviceAccount: 'csi.storage.k8s.io/serviceAccount.name',
  tokens: 'csi.storage.k8s.io/serviceAccount.tokens',
  ephemeral: 'csi.storage.k8s.io/ephemeral',
} as const;

/** Volume attributes this module understands. */
export const CREDENTIAL_ATTRIBUTES = {
  authenticationSource: 'authenticationSource',
  roleArn: 'roleArn',
  stsAudience: 'stsAudience',
  stsEndpoint: 'stsEndpoint',
  stsRegion: 'stsRegion',
} as const;

export const DEFAULT_STS_AUDIENCE = 'sts.amazonaws.com';
/** ServiceAccount annotation that names the IAM role (same as EKS IRSA). */
export const ROLE_ARN_ANNOTATION = 'eks.amazonaws.com/role-arn';

export interface ServiceAccountToken {
  token: string;
  /** ISO-8601, as kubelet writes it. */
  expirationTimestamp?: string;
}

export interface PodInfo {
  name?: string;
  namespace?: string;
  uid?: string;
  serviceAccount?: string;
}

export function podInfoFromContext(ctx: Record<string, string>): PodInfo {
  const get = (k: string): string | undefined => {
    const v = ctx[k];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  return {
    name: get(POD_CONTEXT.name),
    namespace: get(POD_CONTEXT.namespace),
    uid: get(POD_CONTEXT.uid),
    serviceAccount: get(POD_CONTEXT.serviceAccount),
  };
}

/**
 * Parse kubelet's `csi.storage.k8s.io/serviceAccount.tokens` value:
 * `{"<audience>": {"token": "<jwt>", "expirationTimestamp": "<RFC3339>"}, ...}`.
 * Errors never include token text.
 */
export function parseServiceAccountTokens(raw: string): Map<string, ServiceAccountToken> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new CredentialsError(
      'INVALID_ARGUMENT',
      `volume context ${POD_CONTEXT.tokens} is not valid JSON (expected {"<audience>": {"token": "...", "expirationTimestamp": "..."}})`,
    );
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new CredentialsError(
      'INVALID_ARGUMENT',
      `volume context ${POD_CONTEXT.tokens} must be a JSON object keyed by audience`,
    );
  }
  const out = new Map<string, ServiceAccountToken>();
  for (const [audience, entry] of Object.entries(parsed as Record<string, unknown>)) {
    if (entry === null || typeof entry !== 'object') {
      throw new CredentialsError(
        'INVALID_ARGUMENT',
        `volume context ${POD_CONTEXT.tokens}: entry for audience "${audience}" must be an object with a "token" field`,
      );
    }
    const e = entry as Record<string, unknown>;
    if (typeof e.token !== 'string' || e.token.trim() === '') {
      throw new CredentialsError(
        'INVALID_ARGUMENT',
        `volume context ${POD_CONTEXT.tokens}: entry for audience "${audience}" has no "token" string`,
      );
    }
    const exp = e.expirationTimestamp;
    if (exp !== undefined && (typeof exp !== 'string' || Number.isNaN(Date.parse(exp)))) {
      throw new CredentialsError(
        'INVALID_ARGUMENT',
        `volume context ${POD_CONTEXT.tokens}: entry for audience "${audience}" has an invalid expirationTimestamp`,
      );
    }
    out.set(audience, { token: e.token.trim(), ...(typeof exp === 'string' ? { expirationTimestamp: exp } : {}) });
  }
  return out;
}

/**
 * The pod's token for `audience`. Kubelet puts the tokens in the volume context; newer
 * Kubernetes versions can put them in the CSI secrets instead, so both are looked at.
 */
export function selectServiceAccountToken(
  ctx: Record<string, string>,
  secrets: Record<string, string>,
  audience: string,
): ServiceAccountToken {
  const raw = ctx[POD_CONTEXT.tokens] ?? secrets[POD_CONTEXT.tokens];
  if (raw === undefined || raw.trim() === '') {
    throw new CredentialsError(
      'INVALID_ARGUMENT',
      `authenticationSource: pod needs the pod's service-account token, but ${POD_CONTEXT.tokens} is missing: ` +
        `add tokenRequests [{audience: "${audience}"}] and requiresRepublish: true to the CSIDriver object`,
    );
  }
  const tokens = parseServiceAccountTokens(raw);
  const tok = tokens.get(audience);
  if (!tok) {
    const have = [...tokens.keys()].map((a) => `"${a}"`).join(', ') || 'none';
    throw new CredentialsError(
      'INVALID_ARGUMENT',
      `no service-account token for audience "${audience}" (tokens present for: ${have}): add it to the CSIDriver tokenRequests or set the volume attribute stsAudience`,
    );
  }
  return tok;
}

/**
 * A RoleSessionName (2-64 chars of [\w+=,.@-]) derived from the pod: `<namespace>.<pod>`,
 * other characters replaced by `-`, long names shortened with a stable hash suffix.
 */
export function roleSessionName(pod: PodInfo, hash: (s: string) => string): string {
  const base =
    [pod.namespace, pod.name].filter((p): p is string => p !== undefined && p !== '').join('.') ||
    pod.uid ||
    'bucketmount';
  let name = base.replace(/[^\w+=,.@-]/g, '-');
  if (name.length > 64) name = `${name.slice(0, 55)}-${hash(base).slice(0, 8)}`;
  if (name.length < 2) name = `bm-${name}`;
  return name;
}

/** Decode a JWT's payload without verifying it (only for non-secret hints such as `exp`). */
export function jwtExpiry(token: string): Date | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
    return typeof payload.exp === 'number' ? new Date(payload.exp * 1000) : undefined;
  } catch {
    return undefined;
  }
}
