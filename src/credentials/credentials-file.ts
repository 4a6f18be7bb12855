// The credentials file (`--credentials-file`): JSON S3 credentials, mode 0600. The CSI node
// writes it (atomically, so a reader never sees half a file) for the mount process it starts and
// rewrites it to refresh a running mount's credentials (token refresh, requiresRepublish); the
// mount process reads it through an AWS SDK credential provider that re-reads it when it changes.
import { readFileSync, statSync } from 'node:fs';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types';
import { writeFileAtomic } from '../util/atomic-write.js';
import { isS3Credentials, type S3Credentials } from './types.js';

export class CredentialsFileError extends Error {
  override name = 'CredentialsFileError';
}

export function readCredentialsFile(path: string): S3Credentials {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CredentialsFileError(
      `cannot read credentials file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'read failed'}`,
      { cause: err },
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // No cause here on purpose: JSON.parse's message quotes the file's text, i.e. the secret.
    throw new CredentialsFileError(`cannot read credentials file ${path}: invalid JSON`);
  }
  if (!isS3Credentials(parsed)) {
    throw new CredentialsFileError(
      `credentials file ${path} must hold a JSON object with accessKeyId and secretAccessKey`,
    );
  }
  return parsed;
}

/** Provider that re-reads the file whenever its mtime or size changes. */
export function fileCredentialsProvider(path: string): AwsCredentialIdentityProvider {
  let cachedKey = '';
  let cached: AwsCredentialIdentity | undefined;
  return async () => {
    const st = statSync(path);
    const key = `${st.mtimeMs}:${st.size}:${st.ino}`;
    if (cached === undefined || key !== cachedKey) {
      const c = readCredentialsFile(path);
      cached = {
        accessKeyId: c.accessKeyId,
        secretAccessKey: c.secretAccessKey,
        sessionToken: c.sessionToken,
        // Expire a few seconds after now so the SDK asks again soon and sees file rewrites.
        expiration: new Date(Date.now() + 5_000),
      };
      cachedKey = key;
    }
    return cached;
  };
}

/**
 * Write (or replace) a credentials file atomically with mode 0600 (temp file in the same
 * directory, fsync, rename). Only the credential fields are written.
 */
export async function writeCredentialsFile(path: string, credentials: S3Credentials): Promise<void> {
  const body: S3Credentials = { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey };
  if (credentials.sessionToken) body.sessionToken = credentials.sessionToken;
  if (credentials.expiration) body.expiration = credentials.expiration;
  await writeFileAtomic(path, JSON.stringify(body), { mode: 0o600, fsync: true });
}
