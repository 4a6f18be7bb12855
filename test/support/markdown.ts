// Test helper: the little Markdown reading the documentation tests need — headings and their
// GitHub anchors, relative links, fenced code blocks — outside fenced code, without a parser
// dependency. Pure functions over the file text.

export interface Heading {
  level: number;
  text: string;
  /** The anchor GitHub gives the heading (`#…` without the hash), duplicates numbered. */
  anchor: string;
}

export interface Link {
  target: string;
  /** 1-based line of the link. */
  line: number;
}

export interface CodeBlock {
  lang: string;
  body: string;
}

/** The lines of `md` with a flag saying whether each is inside a fenced code block (fences count as inside). */
function linesWithFences(md: string): Array<{ text: string; fenced: boolean }> {
  let fence: string | undefined;
  return md.split('\n').map((text) => {
    const m = /^\s*(```+|~~~+)/.exec(text);
    if (m) {
      if (fence === undefined) fence = m[1]![0]!;
      else if (m[1]![0] === fence) fence = undefined;
      return { text, fenced: true };
    }
    return { text, fenced: fence !== undefined };
  });
}

/** GitHub's heading anchor: lower case, punctuation dropped (letters, digits, `_`, `-` and spaces kept), spaces → `-`. */
export function githubSlug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** ATX headings outside code blocks, with anchors numbered as GitHub numbers duplicates (`x`, `x-1`, …). */
export function headings(md: string): Heading[] {
  const seen = new Map<string, number>();
  const out: Heading[] = [];
  for (const { text, fenced } of linesWithFences(md)) {
    if (fenced) continue;
    const m = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(text);
    if (!m) continue;
    const base = githubSlug(m[2]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.push({ level: m[1]!.length, text: m[2]!, anchor: n === 0 ? base : `${base}-${n}` });
  }
  return out;
}

/** Every anchor a link may point at in this file: heading anchors plus explicit `id=`/`name=` anchors. */
export function anchors(md: string): Set<string> {
  const set = new Set(headings(md).map((h) => h.anchor));
  for (const m of md.matchAll(/<a\s+(?:name|id)="([^"]+)"/g)) set.add(m[1]!);
  return set;
}

/** Inline links and images `[text](target)` outside code blocks and code spans. */
export function links(md: string): Link[] {
  const out: Link[] = [];
  linesWithFences(md).forEach(({ text, fenced }, i) => {
    if (fenced) return;
    const prose = text.replace(/`[^`]*`/g, 'code');
    for (const m of prose.matchAll(/\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g))
      out.push({ target: m[1]!, line: i + 1 });
  });
  return out;
}

/** True for a link that leaves the repository (a URL scheme such as https: or mailto:). */
export function isExternal(target: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(target);
}

/** Fenced code blocks (```lang … ```), in order. */
export function codeBlocks(md: string): CodeBlock[] {
  const out: CodeBlock[] = [];
  for (const m of md.matchAll(/^```([\w-]*)\n([\s\S]*?)^```\s*$/gm)) out.push({ lang: m[1]!, body: m[2]! });
  return out;
}

/** The text from the heading with this exact title down to the next heading of the same or a higher level. */
export function section(md: string, title: string): string | undefined {
  const lines = linesWithFences(md);
  const start = lines.findIndex(
    (l) => !l.fenced && /^#{1,6}\s/.test(l.text) && l.text.replace(/^#+\s+/, '').trim() === title,
  );
  if (start < 0) return undefined;
  const level = /^#+/.exec(lines[start]!.text)![0].length;
  let end = start + 1;
  while (end < lines.length) {
    const l = lines[end]!;
    const m = /^(#{1,6})\s/.exec(l.text);
    if (!l.fenced && m && m[1]!.length <= level) break;
    end++;
  }
  return lines
    .slice(start, end)
    .map((l) => l.text)
    .join('\n');
}
