// Request validation of the CSI RPCs, run by the server (server.ts) on every request before its
// handler, so before any side effect: every
// string of a request (ids, paths, names, tokens, map keys and values, mount flags) is checked
// for NUL bytes, control characters where they have no business, and an absurd size. Bad input
// is INVALID_ARGUMENT naming the field (proto name, e.g. volume_context["prefix"]), quoting at
// most ~100 escaped characters of the value and never a secret's value.
// The meaning of fields (bucket names, prefixes, options) is checked where they are parsed
// (params.ts, src/mount-contract, src/s3/names.ts); this module bounds what reaches that code and the mount's argv.
import { isAbsolute } from 'node:path';
import { resolveTarget } from '../mounter/target-path.js';
import { CONTROL_CHARS, quote } from '../bounded-text.js';
import { invalid } from './errors.js';

export const LIMITS = {
  /** volume_id, snapshot_id, source ids, tokens: ours are ≤ 128 bytes; static PV handles get room. */
  idBytes: 1024,
  /** target_path, volume_path, staging_target_path (PATH_MAX). */
  pathBytes: 4096,
  /** A key of parameters / volume_context / secrets (Kubernetes keys are at most 253 + 1 + 63). */
  mapKeyBytes: 512,
  /** A value of those maps (service-account token JSON fits easily). */
  mapValueBytes: 64 * 1024,
  /** All keys and values of one map together. */
  mapTotalBytes: 256 * 1024,
  mapEntries: 256,
  /** volume_capability.mount.mount_flags: how many, and each one. */
  mountFlags: 64,
  mountFlagBytes: 4096,
  /** Any other string field. */
  otherBytes: 4096,
} as const;

type FieldKind = 'id' | 'path' | 'map' | 'secrets' | 'capability' | 'capabilities' | 'source';

/** Request fields by their JS (camelCase) name; anything else that is a string gets the generic bound. */
const FIELDS: Record<string, FieldKind> = {
  volumeId: 'id',
  sourceVolumeId: 'id',
  snapshotId: 'id',
  name: 'id',
  startingToken: 'id',
  nodeId: 'id',
  targetPath: 'path',
  stagingTargetPath: 'path',
  volumePath: 'path',
  parameters: 'map',
  volumeContext: 'map',
  publishContext: 'map',
  mutableParameters: 'map',
  secrets: 'secrets',
  volumeCapability: 'capability',
  volumeCapabilities: 'capabilities',
  volumeContentSource: 'source',
};

/** The proto name of a field: volumeId → volume_id. */
const protoName = (k: string): string => k.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());

function checkString(
  rpc: string,
  field: string,
  v: string,
  maxBytes: number,
  opts: { control: boolean; secret?: boolean },
): void {
  const shown = opts.secret ? '' : ` ${quote(v)}`;
  if (v.includes('\0')) throw invalid(`${rpc}: ${field}${shown} contains a NUL byte`);
  const bytes = Buffer.byteLength(v);
  if (bytes > maxBytes) throw invalid(`${rpc}: ${field}${shown} is ${bytes} bytes, more than the limit of ${maxBytes}`);
  if (!opts.control && CONTROL_CHARS.test(v)) throw invalid(`${rpc}: ${field}${shown} contains control characters`);
}

function checkMap(rpc: string, field: string, m: unknown, secret: boolean): void {
  if (m === null || m === undefined) return;
  if (typeof m !== 'object') throw invalid(`${rpc}: ${field} must be a map of strings`);
  const entries = Object.entries(m as Record<string, unknown>);
  if (entries.length > LIMITS.mapEntries)
    throw invalid(`${rpc}: ${field} has ${entries.length} entries, more than the limit of ${LIMITS.mapEntries}`);
  let total = 0;
  for (const [k, v] of entries) {
    checkString(rpc, `${field} key`, k, LIMITS.mapKeyBytes, { control: false });
    if (typeof v !== 'string') throw invalid(`${rpc}: ${field}[${quote(k)}] must be a string`);
    // Values may hold newlines (a secret read from a file); never NUL, never huge.
    checkString(rpc, `${field}[${quote(k)}]`, v, LIMITS.mapValueBytes, { control: true, secret });
    total += Buffer.byteLength(k) + Buffer.byteLength(v);
  }
  if (total > LIMITS.mapTotalBytes)
    throw invalid(`${rpc}: ${field} is ${total} bytes in all, more than the limit of ${LIMITS.mapTotalBytes}`);
}

function checkCapability(rpc: string, field: string, cap: unknown): void {
  if (cap === null || cap === undefined || typeof cap !== 'object') return;
  const mount = (cap as { mount?: { fsType?: unknown; mountFlags?: unknown; volumeMountGroup?: unknown } | null })
    .mount;
  if (!mount) return;
  const flags = mount.mountFlags;
  if (Array.isArray(flags)) {
    if (flags.length > LIMITS.mountFlags)
      throw invalid(
        `${rpc}: ${field}.mount.mount_flags has ${flags.length} entries, more than the limit of ${LIMITS.mountFlags}`,
      );
    flags.forEach((f: unknown, i) => {
      if (typeof f === 'string')
        checkString(rpc, `${field}.mount.mount_flags[${i}]`, f, LIMITS.mountFlagBytes, { control: false });
    });
  }
  for (const k of ['fsType', 'volumeMountGroup'] as const) {
    const v = mount[k];
    if (typeof v === 'string')
      checkString(rpc, `${field}.mount.${protoName(k)}`, v, LIMITS.otherBytes, { control: false });
  }
}

/**
 * Check every string of a CSI request (see LIMITS); throws INVALID_ARGUMENT naming the field.
 * Missing fields are left to the handler (it knows which are required).
 */
export function validateRequest(rpc: string, req: unknown): void {
  if (req === null || typeof req !== 'object') return;
  for (const [k, v] of Object.entries(req as Record<string, unknown>)) {
    const field = protoName(k);
    switch (FIELDS[k]) {
      case 'id':
        if (typeof v === 'string') checkString(rpc, field, v, LIMITS.idBytes, { control: false });
        break;
      case 'path':
        if (typeof v === 'string') checkString(rpc, field, v, LIMITS.pathBytes, { control: false });
        break;
      case 'map':
        checkMap(rpc, field, v, false);
        break;
      case 'secrets':
        checkMap(rpc, field, v, true);
        break;
      case 'capability':
        checkCapability(rpc, field, v);
        break;
      case 'capabilities':
        if (Array.isArray(v)) v.forEach((c: unknown, i) => checkCapability(rpc, `${field}[${i}]`, c));
        break;
      case 'source': {
        const src = (v ?? {}) as { snapshot?: { snapshotId?: unknown } | null; volume?: { volumeId?: unknown } | null };
        if (typeof src.snapshot?.snapshotId === 'string')
          checkString(rpc, `${field}.snapshot.snapshot_id`, src.snapshot.snapshotId, LIMITS.idBytes, {
            control: false,
          });
        if (typeof src.volume?.volumeId === 'string')
          checkString(rpc, `${field}.volume.volume_id`, src.volume.volumeId, LIMITS.idBytes, { control: false });
        break;
      }
      default:
        if (typeof v === 'string') checkString(rpc, field, v, LIMITS.otherBytes, { control: true });
    }
  }
}

/**
 * NodePublishVolume (after validateRequest): a target_path that exists must be a directory (or a
 * mount point, or a symlink: those are the node's to judge), never a file: checked before a mount
 * process is started. What is at the path is read as the mounter reads it (resolveTarget: a mount
 * point is known from mountinfo, never stat'ed, so a hung FUSE mount cannot block the call).
 */
export async function checkPublishTarget(req: { targetPath?: string }): Promise<void> {
  const rpc = 'NodePublishVolume';
  const target = req.targetPath;
  if (!target || !isAbsolute(target)) return; // missing / relative: the handler says so
  const found = await resolveTarget(target).catch(() => undefined); // unreadable: the mounter reports it
  if (found?.kind === 'other') {
    throw invalid(
      `${rpc}: target_path ${quote(target)} exists and is not a directory; the target must be a directory or not exist`,
    );
  }
}
