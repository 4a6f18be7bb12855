// Resolves the S3 credentials for a volume from what CSI hands us: `secrets` (from
// nodePublishSecretRef / provisioner secrets) and `volume_context` (authenticationSource,
// roleArn, pod service-account tokens). Sources:
//   secret  – static keys from the CSI secrets (default when the secrets carry keys);
//   pod     – the pod's service-account token exchanged at STS (AssumeRoleWithWebIdentity);
//             never falls back to anything else;
//   driver  – the node plugin's own environment (AWS_* env, IRSA web-identity file), handed to
//             the mount process; only when the volume says `authenticationSource: driver`.
// Errors are CredentialsError with a gRPC-style code and say what to fix; never a secret.
//
// API used by the CSI node (src/csi/node.ts) – keep stable:
//   createCredentialResolver(opts?: ResolverOptions): CredentialResolver
//     .resolve(req: CredentialRequest, opts?: ResolveOptions): Promise<ResolvedCredentials>
//   resolveCredentials(req, opts?)  – same, on a module-wide resolver (shared STS cache)
//   ResolvedCredentials: { credentials?: S3Credentials (undefined = driver source), source,
//     identity (non-secret fingerprint; part of the mount-sharing key), endpoint?, region?,
//     expiration?, roleArn? }
//   Throws CredentialsError { code: 'INVALID_ARGUMENT' | 'UNAUTHENTICATED' | 'PERMISSION_DENIED' |
//     'UNAVAILABLE' | 'FAILED_PRECONDITION' } – map `code` 1:1 to the gRPC status.
// After a successful publish the node calls CredentialRefresher.track(target, req, resolved,
// (c) => mounter.updateCredentials(target, c)) and untrack(target) on unpublish
// (src/credentials/refresher.ts).
import { createHash } from 'node:crypto';
import { K8sApiError, createServiceAccountReader, type ServiceAccountReader } from '../k8s/service-account.js';
import { CredentialsError } from './errors.js';
import {
  CREDENTIAL_ATTRIBUTES,
  DEFAULT_STS_AUDIENCE,
  ROLE_ARN_ANNOTATION,
  podInfoFromContext,
  roleSessionName,
  selectServiceAccountToken,
} from './pod-identity.js';
import { fingerprint, parseSecretCredentials, secretEndpointAndRegion } from './secrets.js';
import { assumeRoleWithWebIdentity, stsDefaultsFromEnv, type WebIdentityRequest } from './sts.js';
import type { S3Credentials } from './types.js';

export { CredentialsError, type CredentialsErrorCode } from './errors.js';
export { fingerprint } from './secrets.js';

export interface CredentialRequest {
  volumeId: string;
  volumeContext: Record<string, string>;
  secrets: Record<string, string>;
}

export type AuthenticationSource = 'secret' | 'pod' | 'driver';

export interface ResolvedCredentials {
  /** undefined when the volume asks for the driver's own credentials. */
  credentials?: S3Credentials;
  source: AuthenticationSource;
  /** Non-secret fingerprint of who these credentials are (used to decide mount sharing). */
  identity: string;
  /** Endpoint / region that arrived with the secret (k8s-csi-s3 style), if any. */
  endpoint?: string;
  region?: string;
  /** ISO-8601 expiry of temporary credentials (pod source; secret with a session token has none known). */
  expiration?: string;
  /** Pod source: the role that was assumed (not secret; for logs). */
  roleArn?: string;
}

export interface ResolverOptions {
  /** ServiceAccount look-up for the role-ARN annotation (default: @kubernetes/client-node, lazily). */
  serviceAccounts?: ServiceAccountReader;
  /** STS exchange (tests may replace it; default: @aws-sdk/client-sts). */
  assumeRole?: (req: WebIdentityRequest) => Promise<S3Credentials>;
  /** Node environment for driver-level defaults (default: process.env). */
  env?: NodeJS.ProcessEnv;
  now?: () => number;
  /**
   * Reuse STS credentials for the same pod identity and token while they have more than this
   * left (default 10 min), so kubelet's periodic republish does not call STS each time.
   */
  reuseMarginMs?: number;
}

export interface ResolveOptions {
  /** Skip the STS cache (the refresher uses this). */
  forceRefresh?: boolean;
}

export interface CredentialResolver {
  resolve(req: CredentialRequest, opts?: ResolveOptions): Promise<ResolvedCredentials>;
}

const ROLE_ARN = /^arn:[\w-]+:iam:[^:]*:[^:]*:role\/[\w+=,.@/-]+$/;

function attr(ctx: Record<string, string>, key: string): string | undefined {
  const v = ctx[key];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/** The volume's authenticationSource after defaults; throws INVALID_ARGUMENT when it cannot be decided. */
export function authenticationSourceOf(
  req: CredentialRequest,
  env: NodeJS.ProcessEnv = process.env,
): AuthenticationSource {
  const raw = attr(req.volumeContext, CREDENTIAL_ATTRIBUTES.authenticationSource);
  if (raw !== undefined) {
    const v = raw.toLowerCase();
    if (v === 'secret' || v === 'pod' || v === 'driver') return v;
    throw new CredentialsError(
      'INVALID_ARGUMENT',
      `volume attribute authenticationSource is "${raw}": use one of secret, pod, driver`,
    );
  }
  if (parseSecretCredentials(req.secrets)) return 'secret';
  // A node-wide default may select pod identity; it can never select the driver's own
  // credentials (only an explicit `authenticationSource: driver` on the volume does that).
  const def = env.BUCKETMOUNT_DEFAULT_AUTHENTICATION_SOURCE?.trim().toLowerCase();
  if (def === 'pod') return def;
  throw new CredentialsError(
    'INVALID_ARGUMENT',
    `volume ${req.volumeId} has no credentials: reference a Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (nodePublishSecretRef or csi.storage.k8s.io/node-publish-secret-name), ` +
      `or set the volume attribute authenticationSource to pod (service-account token + STS) or driver (the driver's own credentials)`,
  );
}

/** Credential sources an inline (ephemeral) volume may use by default (node flag --inline-auth-sources). */
export const DEFAULT_INLINE_AUTH_SOURCES: readonly AuthenticationSource[] = ['pod'];

/**
 * Parse the node flag --inline-auth-sources: a comma list of pod and secret ('' = no inline
 * volumes at all). `driver` is refused: an inline volume's attributes are the pod author's, and
 * the driver source hands any pod the node plugin's own cloud identity.
 */
export function parseInlineAuthSources(raw: string): AuthenticationSource[] {
  const out: AuthenticationSource[] = [];
  for (const part of raw
    .split(',')
    .map((p) => p.trim().toLowerCase())
    .filter((p) => p !== '')) {
    if (part === 'driver')
      throw new Error(
        "--inline-auth-sources may not contain driver: it would give every pod author the node plugin's own credentials",
      );
    if (part !== 'pod' && part !== 'secret')
      throw new Error(`--inline-auth-sources takes a comma list of pod and secret, got "${part}"`);
    if (!out.includes(part)) out.push(part);
  }
  return out;
}

/**
 * The inline-volume rule, checked before anything is resolved or mounted: an inline volume
 * (pod-authored attributes) may use only the sources the node allows (`allowed`). Throws
 * CredentialsError PERMISSION_DENIED saying why and which node flag the admin would change.
 */
export function checkInlineAuthSource(
  req: CredentialRequest,
  inline: boolean,
  allowed: readonly AuthenticationSource[],
  env: NodeJS.ProcessEnv = process.env,
): void {
  if (!inline) return;
  const source = authenticationSourceOf(req, env);
  if (allowed.includes(source)) return;
  const why =
    source === 'driver'
      ? "it would give the pod the node plugin's own cloud identity (its keys or IAM role)"
      : source === 'secret'
        ? 'a Secret reference in a pod spec is not allowed for inline volumes on this cluster'
        : 'pod identity is not allowed for inline volumes on this cluster';
  throw new CredentialsError(
    'PERMISSION_DENIED',
    `inline volume ${req.volumeId} (csi.storage.k8s.io/ephemeral=true) uses authenticationSource ${source}: refused because ${why}; ` +
      `inline volumes may use ${allowed.length ? allowed.join(', ') : 'no credential source (inline volumes are off)'}. ` +
      `Use a PersistentVolume for other sources, or the node admin changes the node plugin flag --inline-auth-sources (Helm value node.inlineAuthSources; pod and/or secret)`,
  );
}

/** Credentials from a CSI `secrets` map; undefined when the map carries none at all. */
export function credentialsFromSecrets(secrets: Record<string, string>): ResolvedCredentials | undefined {
  const parsed = parseSecretCredentials(secrets);
  if (!parsed) return undefined;
  const c = parsed.credentials;
  return {
    credentials: c,
    source: 'secret',
    identity: fingerprint('secret', c.accessKeyId, c.secretAccessKey, c.sessionToken ?? ''),
    ...(parsed.endpoint ? { endpoint: parsed.endpoint } : {}),
    ...(parsed.region ? { region: parsed.region } : {}),
  };
}

export function createCredentialResolver(opts: ResolverOptions = {}): CredentialResolver {
  const env = opts.env ?? process.env;
  const now = opts.now ?? Date.now;
  const reuseMargin = opts.reuseMarginMs ?? 10 * 60_000;
  const assume = opts.assumeRole ?? assumeRoleWithWebIdentity;
  let serviceAccounts = opts.serviceAccounts;
  const stsCache = new Map<string, { tokenHash: string; creds: S3Credentials }>();

  async function roleArnFor(req: CredentialRequest, namespace: string, sa: string): Promise<string> {
    const explicit = attr(req.volumeContext, CREDENTIAL_ATTRIBUTES.roleArn);
    let arn = explicit;
    if (arn === undefined) {
      serviceAccounts ??= createServiceAccountReader();
      let annotations: Record<string, string>;
      try {
        annotations = await serviceAccounts.annotations(namespace, sa);
      } catch (err) {
        if (err instanceof K8sApiError) {
          throw new CredentialsError(
            err.status === undefined || err.status >= 500 ? 'UNAVAILABLE' : 'FAILED_PRECONDITION',
            `cannot find the role for authenticationSource: pod: ${err.message}`,
            { cause: err },
          );
        }
        throw new CredentialsError(
          'UNAVAILABLE',
          `cannot find the role for authenticationSource: pod: ${(err as Error).message}`,
          { cause: err },
        );
      }
      arn = annotations[ROLE_ARN_ANNOTATION]?.trim();
      if (!arn) {
        throw new CredentialsError(
          'INVALID_ARGUMENT',
          `authenticationSource: pod needs a role: set the volume attribute roleArn, or annotate ServiceAccount ${namespace}/${sa} with ${ROLE_ARN_ANNOTATION}`,
        );
      }
    }
    if (!ROLE_ARN.test(arn)) {
      const where =
        explicit !== undefined
          ? 'volume attribute roleArn'
          : `annotation ${ROLE_ARN_ANNOTATION} of ServiceAccount ${namespace}/${sa}`;
      throw new CredentialsError(
        'INVALID_ARGUMENT',
        `${where} is "${arn}": expected a role ARN like arn:aws:iam::123456789012:role/name`,
      );
    }
    return arn;
  }

  async function fromPod(req: CredentialRequest, ro: ResolveOptions): Promise<ResolvedCredentials> {
    const ctx = req.volumeContext;
    const pod = podInfoFromContext(ctx);
    const missing = [
      pod.namespace ? undefined : 'csi.storage.k8s.io/pod.namespace',
      pod.uid ? undefined : 'csi.storage.k8s.io/pod.uid',
      pod.serviceAccount ? undefined : 'csi.storage.k8s.io/serviceAccount.name',
    ].filter((m): m is string => m !== undefined);
    if (missing.length > 0) {
      throw new CredentialsError(
        'INVALID_ARGUMENT',
        `authenticationSource: pod needs pod information (${missing.join(', ')} missing): set podInfoOnMount: true on the CSIDriver object`,
      );
    }
    const audience =
      attr(ctx, CREDENTIAL_ATTRIBUTES.stsAudience) ?? env.BUCKETMOUNT_STS_AUDIENCE?.trim() ?? DEFAULT_STS_AUDIENCE;
    const token = selectServiceAccountToken(ctx, req.secrets, audience);
    const roleArn = await roleArnFor(req, pod.namespace!, pod.serviceAccount!);
    const defaults = stsDefaultsFromEnv(env);
    const endpoint = attr(ctx, CREDENTIAL_ATTRIBUTES.stsEndpoint) ?? defaults.endpoint;
    if (endpoint !== undefined) {
      let ok = false;
      try {
        ok = ['http:', 'https:'].includes(new URL(endpoint).protocol);
      } catch {
        ok = false;
      }
      if (!ok)
        throw new CredentialsError(
          'INVALID_ARGUMENT',
          `STS endpoint "${endpoint}" (volume attribute stsEndpoint or BUCKETMOUNT_STS_ENDPOINT) is not an http(s) URL`,
        );
    }
    const region = attr(ctx, CREDENTIAL_ATTRIBUTES.stsRegion) ?? defaults.region;
    const identity = fingerprint('pod', roleArn, pod.namespace!, pod.serviceAccount!, pod.uid!, endpoint ?? '', region);
    const tokenHash = createHash('sha256').update(token.token).digest('hex');

    for (const [k, v] of stsCache) {
      if (v.creds.expiration && Date.parse(v.creds.expiration) <= now()) stsCache.delete(k); // pods come and go
    }
    const cached = stsCache.get(identity);
    if (
      !ro.forceRefresh &&
      cached &&
      cached.tokenHash === tokenHash &&
      cached.creds.expiration &&
      Date.parse(cached.creds.expiration) - now() > reuseMargin
    ) {
      return { credentials: cached.creds, source: 'pod', identity, expiration: cached.creds.expiration, roleArn };
    }
    const creds = await assume({
      roleArn,
      token: token.token,
      sessionName: roleSessionName(pod, (s) => createHash('sha256').update(s).digest('hex')),
      region,
      ...(endpoint ? { endpoint } : {}),
    });
    stsCache.set(identity, { tokenHash, creds });
    return {
      credentials: creds,
      source: 'pod',
      identity,
      roleArn,
      ...(creds.expiration ? { expiration: creds.expiration } : {}),
    };
  }

  return {
    async resolve(req, ro = {}) {
      const source = authenticationSourceOf(req, env);
      switch (source) {
        case 'secret': {
          const r = credentialsFromSecrets(req.secrets);
          if (!r) {
            throw new CredentialsError(
              'INVALID_ARGUMENT',
              `authenticationSource: secret but the volume's secret has no keys: it needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (nodePublishSecretRef)`,
            );
          }
          return r;
        }
        case 'pod':
          // Pod-level volumes never fall back to secret, driver or instance credentials.
          return fromPod(req, ro);
        case 'driver':
          // The mount process gets no credentials and uses the driver's environment (SDK
          // default chain: AWS_* env, AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN, ...).
          return { source: 'driver', identity: fingerprint('driver'), ...secretEndpointAndRegion(req.secrets) };
      }
    },
  };
}

let defaultResolver: CredentialResolver | undefined;

/** The credentials a node publish should mount with (module-wide resolver with its STS cache). */
export async function resolveCredentials(
  req: CredentialRequest,
  opts: ResolveOptions = {},
): Promise<ResolvedCredentials> {
  defaultResolver ??= createCredentialResolver();
  return defaultResolver.resolve(req, opts);
}
