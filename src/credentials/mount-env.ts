// What the node gives a mount process besides its credentials file: the environment. Volumes
// with their own credentials (secret, pod) must not inherit the node plugin's AWS identity, so
// the SDK in the mount process can never fall back to it; driver-source volumes keep it.
import type { AuthenticationSource } from './resolve.js';

/** Variables through which the AWS SDK default chain would find the node's own identity. */
export const DRIVER_CREDENTIAL_ENV = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_CREDENTIAL_EXPIRATION',
  'AWS_PROFILE',
  'AWS_DEFAULT_PROFILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_CONFIG_FILE',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_ROLE_ARN',
  'AWS_ROLE_SESSION_NAME',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE',
  'GOOGLE_ACCESS_KEY_ID',
  'GOOGLE_ACCESS_KEY_SECRET',
] as const;

/**
 * The environment for a mount process. For `secret` and `pod` sources every driver credential
 * variable is removed and instance metadata is disabled (AWS_EC2_METADATA_DISABLED=true), so the
 * only credentials the process can use are the ones in its credentials file.
 */
export function mountProcessEnv(base: NodeJS.ProcessEnv, source: AuthenticationSource): NodeJS.ProcessEnv {
  if (source === 'driver') return { ...base };
  const env: NodeJS.ProcessEnv = { ...base };
  for (const k of DRIVER_CREDENTIAL_ENV) delete env[k];
  env.AWS_EC2_METADATA_DISABLED = 'true';
  return env;
}
