// The mounter's on-disk state under its state dir: which shared (staging) mounts exist, which
// process serves each, and which targets are bind-mounted from them. Written atomically
// (util/atomic-write.ts: temp file + fsync + rename) so a crash of the plugin never leaves a
// half-written file, and read back at start-up by reconcile(). The store keeps the state in
// memory and owns its invariants: a target's record and its share's target list change together
// (addTarget, removeTarget), a share is recorded without targets (putShare) and forgotten with
// its target records left naming a dead share (removeShare). Per-share files (credentials 0600, logs) live in
// <stateDir>/shares/<id>/ with mode 0700 directories. State files of older versions that recorded a
// FUSE layer choice (`source.fuseLayer`) are brought up to date when loaded (dropLegacyFuseLayer).
import { mkdirSync, readFileSync, chmodSync } from 'node:fs';
import { mkdir, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import type { MountSource } from '../mount-contract/options.js';
import { writeFileAtomic } from '../util/atomic-write.js';

export const STATE_VERSION = 1;

/** The node plugin's state dir unless --state-dir or $BUCKETMOUNT_STATE_DIR say otherwise. */
export const DEFAULT_STATE_DIR = '/var/lib/bucketmount';

export interface ShareState {
  /** Directory name under <stateDir>/shares/ (unique per incarnation of the share). */
  id: string;
  /** Share key: the exact identity a publish must match to reuse this mount. */
  key: string;
  volumeId: string;
  readOnly: boolean;
  source: MountSource;
  credentialIdentity: string;
  /** 0 while the process is being started. */
  pid: number;
  /** Start time of the process (/proc/<pid>/stat field 22), to detect pid reuse. */
  pidStartTime?: string;
  stagingPath: string;
  logFile: string;
  credentialsFile?: string;
  targets: string[];
  createdAt: string;
}

export interface TargetState {
  targetPath: string;
  volumeId: string;
  /** The share it was bound from; may name a share that no longer exists (dead, reconciled). */
  shareId: string;
  shareKey: string;
  readOnly: boolean;
  capabilityFingerprint: string;
  /** Credential identity of the share it is bound from (absent in state files of older versions). */
  credentialIdentity?: string;
  /**
   * When the mount the target was first published with stopped being the one that serves it
   * (its process died and a republish restored the host-side target, or the target moved to a
   * mount of another credential identity). Containers started before keep their own bind of the
   * old mount until they restart, so NodeGetVolumeStats stays abnormal until unpublish.
   */
  staleSince?: string;
  /** Why (shown in NodeGetVolumeStats's message). */
  staleReason?: string;
  /** Who the target was published for (metrics labels, Events, `bucketmount status`); absent in older state files. */
  workload?: TargetWorkload;
}

/** The Kubernetes objects a target serves, from the publish's volume context (podInfoOnMount, the PV's attributes). */
export interface TargetWorkload {
  podName?: string;
  podNamespace?: string;
  podUid?: string;
  /** PersistentVolume name (absent for inline volumes). */
  pvName?: string;
  pvcName?: string;
  pvcNamespace?: string;
}

export interface MounterState {
  version: number;
  shares: Record<string, ShareState>;
  targets: Record<string, TargetState>;
}

export function emptyState(): MounterState {
  return { version: STATE_VERSION, shares: {}, targets: {} };
}

/** Canonical JSON (sorted keys) so equal objects give equal strings. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(v as Record<string, unknown>)
    .filter(([, x]) => x !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
}

/**
 * The sharing key: two publishes share one mount process only when volume, bucket, prefix,
 * every option, read-only and credential identity are all exactly equal.
 */
export function shareKey(volumeId: string, source: MountSource, readOnly: boolean, credentialIdentity: string): string {
  const body = canonicalJson({ volumeId, source, readOnly, credentialIdentity });
  return createHash('sha256').update(body).digest('hex');
}

/** A fresh share directory name: short key prefix plus randomness (an incarnation). */
export function newShareId(key: string): string {
  return `${key.slice(0, 12)}-${randomBytes(4).toString('hex')}`;
}

/**
 * The state in a state file's text (read-only readers such as `bucketmount status` use it too). A
 * share's target list keeps only the targets whose record names that share.
 */
export function parseState(text: string, file: string): MounterState {
  const parsed = JSON.parse(text) as Partial<MounterState>;
  if (parsed.version !== STATE_VERSION || typeof parsed.shares !== 'object' || typeof parsed.targets !== 'object') {
    throw new Error(
      `state file ${file} has an unknown format (version ${String(parsed.version)}); move it away to start clean`,
    );
  }
  const state: MounterState = { version: STATE_VERSION, shares: parsed.shares ?? {}, targets: parsed.targets ?? {} };
  for (const share of Object.values(state.shares)) {
    share.targets = [...new Set(share.targets)].filter((t) => state.targets[t]?.shareId === share.id);
  }
  return state;
}

/** A share recorded by an older version with `source.fuseLayer` (see dropLegacyFuseLayer). */
export interface LegacyFuseLayerShare {
  shareId: string;
  /** What was recorded: 'fuse3' or 'fuse-native' (as written by the older version). */
  fuseLayer: string;
}

/**
 * Older versions let the node pick the FUSE layer (`--fuse-layer`) and recorded it in each share's
 * source, so in its sharing key. fuse3 is now the only layer and no longer part of a source: drop
 * the field and re-key the share and the target records of its key, so a republish of the same
 * volume matches its target again instead of failing with "published with different options".
 * A share served by a fuse-native process of the older version is kept the same way: while that
 * process lives it serves its targets (reconcile adopts it; replacing it would cut off running
 * pods); once it is gone, the next publish starts a fuse3 mount. A key that is not the one its
 * recorded fields give (never written so) is left as it is.
 */
export function dropLegacyFuseLayer(state: MounterState): LegacyFuseLayerShare[] {
  const found: LegacyFuseLayerShare[] = [];
  for (const share of Object.values(state.shares)) {
    const source = share.source as MountSource & { fuseLayer?: unknown };
    if (source.fuseLayer === undefined) continue;
    found.push({ shareId: share.id, fuseLayer: String(source.fuseLayer) });
    const oldKey = shareKey(share.volumeId, source, share.readOnly, share.credentialIdentity);
    delete source.fuseLayer;
    if (share.key !== oldKey) continue;
    const key = shareKey(share.volumeId, source, share.readOnly, share.credentialIdentity);
    for (const t of Object.values(state.targets)) if (t.shareKey === oldKey) t.shareKey = key;
    share.key = key;
  }
  return found;
}

export class StateStore {
  readonly file: string;
  readonly sharesDir: string;
  private state: MounterState = emptyState();
  private writing: Promise<void> = Promise.resolve();
  /** Shares the last load() found with a FUSE layer recorded by an older version (reconcile logs them). */
  legacyFuseLayers: LegacyFuseLayerShare[] = [];

  constructor(readonly stateDir: string) {
    this.file = join(stateDir, 'state.json');
    this.sharesDir = join(stateDir, 'shares');
  }

  /**
   * Create the state dir (0700) and (re)load the state; a missing file is an empty state. A
   * share's target list keeps only the targets whose record names that share.
   */
  load(): void {
    mkdirSync(this.stateDir, { recursive: true, mode: 0o700 });
    chmodSync(this.stateDir, 0o700);
    mkdirSync(this.sharesDir, { recursive: true, mode: 0o700 });
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.state = emptyState();
        return;
      }
      throw err;
    }
    const state = parseState(text, this.file);
    this.legacyFuseLayers = dropLegacyFuseLayer(state);
    this.state = state;
  }

  /** Write the current state atomically. Writes are serialised; each writes the state as it is when called. */
  save(): Promise<void> {
    const body = JSON.stringify(this.state, null, 2) + '\n';
    const next = this.writing.then(() => writeFileAtomic(this.file, body, { mode: 0o600, fsync: true }));
    this.writing = next.catch(() => undefined);
    return next;
  }

  /** A deep copy of the state (tests, debugging). */
  snapshot(): MounterState {
    return JSON.parse(JSON.stringify(this.state)) as MounterState;
  }

  shares(): ShareState[] {
    return Object.values(this.state.shares);
  }

  targets(): TargetState[] {
    return Object.values(this.state.targets);
  }

  share(id: string): ShareState | undefined {
    return this.state.shares[id];
  }

  target(path: string): TargetState | undefined {
    return this.state.targets[path];
  }

  /** The recorded share of this sharing key. */
  findShare(key: string): ShareState | undefined {
    return this.shares().find((s) => s.key === key);
  }

  /** Record a new share (no targets yet: addTarget links them). */
  putShare(share: ShareState): void {
    if (this.state.shares[share.id]) throw new Error(`share ${share.id} is already recorded`);
    if (share.targets.length > 0)
      throw new Error(`share ${share.id} is recorded without targets; add them with addTarget`);
    this.state.shares[share.id] = share;
  }

  /**
   * Forget a share. Records of its targets stay: they name a share that no longer exists (a dead
   * mount) until the target is published again or unpublished.
   */
  removeShare(id: string): ShareState | undefined {
    const share = this.state.shares[id];
    delete this.state.shares[id];
    return share;
  }

  /**
   * Record a target as bound from its share (t.shareId, which must be recorded): the target's
   * record and the share's target list change together. A record of the same path is replaced.
   */
  addTarget(t: TargetState): void {
    const share = this.state.shares[t.shareId];
    if (!share) throw new Error(`target ${t.targetPath}: share ${t.shareId} is not recorded`);
    if (t.shareKey !== share.key)
      throw new Error(`target ${t.targetPath}: share key does not match share ${t.shareId}`);
    this.removeTarget(t.targetPath);
    this.state.targets[t.targetPath] = t;
    share.targets.push(t.targetPath);
  }

  /** Forget a target: its record and its place in its share's target list. */
  removeTarget(path: string): TargetState | undefined {
    const t = this.state.targets[path];
    if (!t) return undefined;
    delete this.state.targets[path];
    const share = this.state.shares[t.shareId];
    if (share) share.targets = share.targets.filter((x) => x !== path);
    return t;
  }

  /** Give a share another sharing key and credential identity, and its targets with it. */
  rekeyShare(id: string, key: string, credentialIdentity: string): void {
    const share = this.state.shares[id];
    if (!share) throw new Error(`share ${id} is not recorded`);
    share.key = key;
    share.credentialIdentity = credentialIdentity;
    for (const path of share.targets) {
      const t = this.state.targets[path]!;
      t.shareKey = key;
      t.credentialIdentity = credentialIdentity;
    }
  }

  shareDir(id: string): string {
    return join(this.sharesDir, id);
  }

  async createShareDir(id: string): Promise<string> {
    const dir = this.shareDir(id);
    await mkdir(join(dir, 'mnt'), { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    return dir;
  }
}
