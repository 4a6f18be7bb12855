// Bounded text for messages: quote a user-supplied value without echoing a huge or binary value
// (escaped, at most ~100 characters), cut a long message in the middle to a byte budget, and
// the one pattern of control characters that user-supplied names must not contain.
// Shared by the mount arguments (src/mounter) and the CSI error replies (src/csi).

/** C0 and C1 control characters (and DEL): never in ids, names, paths, prefixes or flags. */
// eslint-disable-next-line no-control-regex
export const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

/** Longest part of a value that a message quotes. */
export const QUOTE_MAX_CHARS = 100;

/**
 * `value` as a JSON string literal (control characters and quotes escaped); values longer than
 * `maxChars` are cut, with their total size appended: "abc…" (102400 bytes).
 */
export function quote(value: string, maxChars = QUOTE_MAX_CHARS): string {
  const chars = Array.from(value);
  if (chars.length <= maxChars) return JSON.stringify(value);
  return `${JSON.stringify(chars.slice(0, maxChars).join(''))}… (${Buffer.byteLength(value)} bytes)`;
}

/** The longest run of whole characters from the start (or the end) of `chars` within `budget` UTF-8 bytes. */
function takeBytes(chars: string[], budget: number, fromEnd: boolean): string {
  const out: string[] = [];
  let used = 0;
  for (let i = 0; i < chars.length; i++) {
    const c = chars[fromEnd ? chars.length - 1 - i : i]!;
    const n = Buffer.byteLength(c);
    if (used + n > budget) break;
    used += n;
    out.push(c);
  }
  return (fromEnd ? out.reverse() : out).join('');
}

/**
 * `text` unchanged when it fits `maxBytes` UTF-8 bytes; otherwise its head and tail around a
 * marker saying how much was cut, the whole within `maxBytes`.
 */
export function cutMiddle(text: string, maxBytes: number): string {
  const total = Buffer.byteLength(text);
  if (total <= maxBytes) return text;
  const marker = ` …[${total} bytes, middle cut]… `;
  const room = Math.max(0, maxBytes - Buffer.byteLength(marker));
  const chars = Array.from(text);
  const head = takeBytes(chars, Math.ceil(room / 2), false);
  const tail = takeBytes(chars, room - Buffer.byteLength(head), true);
  return head + marker + tail;
}
