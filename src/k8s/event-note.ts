// What an Event may say: the note (message) is scrubbed of secrets (credentials/redact.ts),
// made one line and cut to the API's limit; reasons and actions are checked against the
// API's rules. Pure functions, shared by every Event the driver records.
import { cutMiddle } from '../bounded-text.js';
import { redactText } from '../credentials/redact.js';

/** events.k8s.io/v1 refuses a note longer than 1 kB. */
export const NOTE_MAX_BYTES = 1024;
/** reportingInstance, action and reason are limited to 128 characters. */
export const FIELD_MAX_CHARS = 128;

/** `text` as an Event note: secrets redacted, control characters and newlines as spaces, at most NOTE_MAX_BYTES. */
export function eventNote(text: string, secrets: readonly string[] = []): string {
  const oneLine = redactText(text, secrets)
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ')
    .replace(/ {2,}/g, ' ')
    .trim();
  return cutMiddle(oneLine, NOTE_MAX_BYTES);
}

/** A reason or action: UpperCamelCase letters, at most 128 characters. */
export function checkEventWord(what: 'reason' | 'action', value: string): string {
  if (!/^[A-Z][A-Za-z0-9]*$/.test(value) || value.length > FIELD_MAX_CHARS)
    throw new Error(
      `event ${what} "${value.slice(0, 40)}" must be UpperCamelCase, at most ${FIELD_MAX_CHARS} characters`,
    );
  return value;
}

/**
 * reportingInstance: `<driver>-<node id>` (the node id may be long: cut with its end kept,
 * the API refuses more than 128 characters).
 */
export function reportingInstance(driver: string, nodeId: string): string {
  const v = `${driver}-${nodeId}`;
  return v.length <= FIELD_MAX_CHARS ? v : `${driver}-…${nodeId.slice(-(FIELD_MAX_CHARS - driver.length - 2))}`;
}

/**
 * A new Event's name: `<object name>.<hex time><hex seq>` like client-go's, lower case, within
 * the 253 characters of a DNS subdomain.
 */
export function eventName(objectName: string, nowMs: number, seq: number): string {
  const suffix = `.${Math.floor(nowMs).toString(16)}${(seq & 0xffff).toString(16).padStart(4, '0')}`;
  const base = objectName
    .toLowerCase()
    .replace(/[^a-z0-9.-]/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 253 - suffix.length)
    .replace(/[^a-z0-9]+$/, '');
  return (base || 'object') + suffix;
}
