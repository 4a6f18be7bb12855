// An AWS SDK credential provider that reads a 0600 JSON credentials file and re-reads it when
// it changes on disk, so the CSI node can refresh a running mount's credentials (token refresh,
// requiresRepublish) by rewriting the file atomically.
import { readFileSync, renameSync, statSync, writeFileSync, unlinkSync } from 'node:fs';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types';
import { isS3Credentials, type CredentialsFile } from './types.js';

export class CredentialsFileError extends Error {
  override name = 'CredentialsFileError';
}

export function readCredentialsFile(path: string): CredentialsFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new CredentialsFileError(`cannot read credentials file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'invalid JSON'}`);
  }
  if (!isS3Credentials(parsed)) {
    throw new CredentialsFileError(`credentials file ${path} must hold a JSON object with accessKeyId and secretAccessKey`);
  }
  return parsed as CredentialsFile;
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
 * Write (or replace) a credentials file atomically with mode 0600: a temp file in the same
 * directory renamed over the old one, so a reader never sees a half-written file.
 */
export function writeCredentialsFile(path: string, contents: CredentialsFile): void {
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  try {
    writeFileSync(tmp, JSON.stringify(contents), { mode: 0o600 });
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    throw err;
  }
}
