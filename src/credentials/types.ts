// Credential shapes shared by the CSI node (which resolves them) and the mount process
// (which signs S3 requests with them). Never logged; passed only by env or 0600 files.

/** Static or temporary S3 credentials. */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** ISO-8601 expiry for temporary credentials. */
  expiration?: string;
}

export function isS3Credentials(v: unknown): v is S3Credentials {
  if (v === null || typeof v !== 'object') return false;
  const o = v as Record<string, unknown>;
  return (
    typeof o.accessKeyId === 'string' &&
    o.accessKeyId !== '' &&
    typeof o.secretAccessKey === 'string' &&
    o.secretAccessKey !== ''
  );
}
