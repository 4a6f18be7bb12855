// Scrubs secret material out of free text (error messages from STS/S3, log lines): JWTs,
// AWS-style secret/session values and signed-request parameters. Structured log fields are
// redacted by src/log.ts; this covers strings that may embed a secret.

const JWT = /\beyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]{4,}/g;
const SIGNED_PARAMS =
  /\b(X-Amz-(?:Credential|Signature|Security-Token)|Signature|Credential|WebIdentityToken|SessionToken|SecretAccessKey)=[^&\s,"]+/gi;
const SECRET_JSON =
  /"(secretAccessKey|sessionToken|SessionToken|SecretAccessKey|token|WebIdentityToken)"\s*:\s*"[^"]*"/g;

export function redactText(text: string, secrets: readonly string[] = []): string {
  let out = text
    .replace(JWT, '[REDACTED-JWT]')
    .replace(SIGNED_PARAMS, '$1=[REDACTED]')
    .replace(SECRET_JSON, '"$1":"[REDACTED]"');
  for (const s of secrets) {
    if (s.length >= 4) out = out.split(s).join('[REDACTED]');
  }
  return out;
}
