// Kubernetes-style mount options ("uid=1000", "allow-other", "ro", comma- or space-separated, from
// PV / StorageClass mountOptions, the mountOptions volume attribute or mount_flags) normalised into
// mount-command flags, with the author's tier enforced (option-authority.ts).
import { MountArgsError, isFlagName, type FlagName } from './flags.js';
import { AUTHOR_DESCRIPTION, OPTION_AUTHORITY, mayAuthorSet, type OptionAuthor } from './option-authority.js';

/** A mount option its author may not set (the CSI node answers PERMISSION_DENIED). */
export class MountOptionAuthorityError extends MountArgsError {
  override name = 'MountOptionAuthorityError';
}

const BOOL_WORDS = /^(true|false|yes|no|1|0)$/i;

/**
 * Normalise Kubernetes mount options (PV `mountOptions`, StorageClass `mountOptions`, or the
 * `mountOptions` volume attribute) into mount-command flags. Accepts "uid=1000", "--uid=1000",
 * "allow-other", "ro", and comma- or space-separated lists. `author` is who wrote them (see
 * option-authority.ts): options above the author's tier throw MountOptionAuthorityError, values
 * over the table's ceiling too; unknown options throw MountArgsError. The volume form of `cache`
 * is a switch (cache, cache=true|false) that becomes --data-cache; a path is refused: host paths
 * are the node's (--cache-root).
 */
export function normaliseMountOptions(options: readonly string[], author: OptionAuthor): string[] {
  const out: string[] = [];
  for (const raw of options.flatMap((o) => o.split(/[\s,]+/)).filter((o) => o !== '')) {
    const body = raw.replace(/^--?/, '');
    if (body === 'ro' || body === 'rw') continue; // read-only is decided by the CSI readonly field
    const eq = body.indexOf('=');
    const written = (eq < 0 ? body : body.slice(0, eq)).replace(/_/g, '-');
    let value = eq < 0 ? undefined : body.slice(eq + 1);
    if (!isFlagName(written)) throw new MountArgsError(`unknown mount option "${raw}"`);
    let name: FlagName = written;
    if (name === 'cache' && author !== 'node') {
      if (value !== undefined && !BOOL_WORDS.test(value)) {
        throw new MountOptionAuthorityError(
          `mount option "${raw}" chooses a host path, which ${AUTHOR_DESCRIPTION.node} may do (--cache-root); a volume may only turn the data cache on or off: "cache" or "cache=false"`,
        );
      }
      name = 'data-cache';
      value = value?.toLowerCase();
    }
    const rule = OPTION_AUTHORITY[name];
    if (!mayAuthorSet(name, author)) {
      throw new MountOptionAuthorityError(
        `mount option "${raw}" may be set by ${AUTHOR_DESCRIPTION[rule.author]}; it came from ${author === 'pod' ? 'an inline volume (pod author)' : 'a PV/StorageClass (volume author)'}`,
      );
    }
    if (
      'ceiling' in rule &&
      author !== 'node' &&
      value !== undefined &&
      /^\d+$/.test(value) &&
      Number(value) > rule.ceiling
    ) {
      throw new MountOptionAuthorityError(
        `mount option "${raw}" is over ${rule.ceiling}, the most a volume may set (${rule.why})`,
      );
    }
    out.push(value === undefined ? `--${name}` : `--${name}=${value}`);
  }
  return out;
}
