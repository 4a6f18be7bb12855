// Which volume capabilities bucketmount supports: the mount access type (any fs_type is
// accepted and ignored: the file system is always the bucketmount FUSE file system) with every
// access mode; never the block access type. Also the read-only rule of each access mode and a
// stable fingerprint of a capability, so a conflicting re-publish can be recognised.
import { createHash } from 'node:crypto';
import type { AccessModeName } from './types.js';

/** The parts of a capability read here: a decoded request's (VolumeCapability__Output) fits, so does a partial one. */
export interface CapabilityView {
  block?: object | null;
  mount?: { fsType?: string; mountFlags?: string[]; volumeMountGroup?: string } | null;
  accessMode?: { mode?: AccessModeName } | null;
  accessType?: 'block' | 'mount';
}

const SUPPORTED_MODES = new Set<AccessModeName>([
  'SINGLE_NODE_WRITER',
  'SINGLE_NODE_READER_ONLY',
  'MULTI_NODE_READER_ONLY',
  'MULTI_NODE_SINGLE_WRITER',
  'MULTI_NODE_MULTI_WRITER',
  'SINGLE_NODE_SINGLE_WRITER',
  'SINGLE_NODE_MULTI_WRITER',
]);

const READ_ONLY_MODES = new Set<AccessModeName>(['SINGLE_NODE_READER_ONLY', 'MULTI_NODE_READER_ONLY']);

/** undefined when supported; otherwise why not (a sentence that says what to change). */
export function unsupportedReason(cap: CapabilityView): string | undefined {
  const isBlock = cap.accessType === 'block' || (cap.block !== undefined && cap.block !== null);
  const isMount = cap.accessType === 'mount' || (cap.mount !== undefined && cap.mount !== null);
  if (isBlock)
    return 'block access type is not supported: bucketmount volumes are file systems (use volumeMode: Filesystem)';
  if (!isMount) return 'volume capability has no access type: set mount (volumeMode: Filesystem)';
  const mode = cap.accessMode?.mode;
  if (!mode || mode === 'UNKNOWN') return 'volume capability has no access mode';
  if (!SUPPORTED_MODES.has(mode)) return `access mode ${mode} is not supported`;
  return undefined;
}

export function isReadOnlyMode(cap: CapabilityView): boolean {
  const mode = cap.accessMode?.mode;
  return mode !== undefined && READ_ONLY_MODES.has(mode);
}

export function capabilityFingerprint(cap: CapabilityView, readOnly: boolean): string {
  const canonical = JSON.stringify({
    type: cap.mount ? 'mount' : 'block',
    fsType: cap.mount?.fsType ?? '',
    flags: [...(cap.mount?.mountFlags ?? [])].sort(),
    group: cap.mount?.volumeMountGroup ?? '',
    mode: cap.accessMode?.mode ?? 'UNKNOWN',
    readOnly,
  });
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}
