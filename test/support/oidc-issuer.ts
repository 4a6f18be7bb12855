// A local OpenID Connect issuer for tests, shaped like a kube-apiserver service-account issuer:
// serves /.well-known/openid-configuration and a JWKS on 127.0.0.1 and mints RS256 JWTs with
// Kubernetes service-account claims. A fresh RSA key per issuer (node:crypto).
import { createSign, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';

export interface MintOptions {
  namespace?: string;
  serviceAccount?: string;
  podName?: string;
  podUid?: string;
  /** `aud` claim (default sts.amazonaws.com). */
  audience?: string | string[];
  /** Seconds from now until `exp` (negative = already expired). Default 3600. */
  expiresInSec?: number;
  /** Sign with a different key than the one published (untrusted token). */
  signWith?: KeyObject;
}

export interface MintedToken {
  token: string;
  expiration: Date;
}

export interface OidcIssuer {
  url: string;
  discoveryUrl: string;
  kid: string;
  mint(opts?: MintOptions): MintedToken;
  /** kubelet's csi.storage.k8s.io/serviceAccount.tokens value for one audience. */
  tokensAttribute(minted: MintedToken, audience?: string): string;
  /** How many times the JWKS was fetched. */
  jwksFetches(): number;
  stop(): Promise<void>;
}

function b64url(v: unknown): string {
  return Buffer.from(JSON.stringify(v)).toString('base64url');
}

export async function startOidcIssuer(): Promise<OidcIssuer> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomUUID();
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
  let fetches = 0;
  let url = '';
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/.well-known/openid-configuration') {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          issuer: url,
          jwks_uri: `${url}/openid/v1/jwks`,
          authorization_endpoint: `${url}/authorize`,
          token_endpoint: `${url}/token`,
          response_types_supported: ['id_token'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['RS256'],
          scopes_supported: ['openid'],
          claims_supported: ['sub', 'aud', 'exp', 'iat', 'iss'],
        }),
      );
      return;
    }
    if (path === '/openid/v1/jwks') {
      fetches++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
      return;
    }
    res.statusCode = 404;
    res.end('not found');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;

  return {
    url,
    discoveryUrl: `${url}/.well-known/openid-configuration`,
    kid,
    mint(o: MintOptions = {}) {
      const ns = o.namespace ?? 'default';
      const sa = o.serviceAccount ?? 'default';
      const now = Math.floor(Date.now() / 1000);
      const exp = now + (o.expiresInSec ?? 3600);
      const claims = {
        iss: url,
        sub: `system:serviceaccount:${ns}:${sa}`,
        aud: o.audience ?? 'sts.amazonaws.com',
        iat: now - 1,
        nbf: now - 1,
        exp,
        'kubernetes.io': {
          namespace: ns,
          pod: { name: o.podName ?? 'pod', uid: o.podUid ?? randomUUID() },
          serviceaccount: { name: sa, uid: randomUUID() },
        },
      };
      const input = `${b64url({ alg: 'RS256', kid, typ: 'JWT' })}.${b64url(claims)}`;
      const key = o.signWith ?? privateKey;
      const sig = createSign('RSA-SHA256').update(input).sign(key).toString('base64url');
      return { token: `${input}.${sig}`, expiration: new Date(exp * 1000) };
    },
    tokensAttribute(minted: MintedToken, audience = 'sts.amazonaws.com') {
      return JSON.stringify({
        [audience]: { token: minted.token, expirationTimestamp: minted.expiration.toISOString() },
      });
    },
    jwksFetches: () => fetches,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
