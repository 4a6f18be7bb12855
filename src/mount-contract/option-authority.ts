// Who may set each mount option: the one table (docs/security/authz.md shows it; a unit test
// keeps the two equal and fails when a flag of flags.ts has no entry here). Authors, from
// least to most trusted:
//   pod    – a pod author: inline (ephemeral) volume attributes (`csi.storage.k8s.io/ephemeral=true`);
//   volume – a PV or StorageClass author: PV volumeAttributes / mountOptions, StorageClass
//            parameters / mountOptions. The node cannot tell a static PV's author from a
//            StorageClass's author (both arrive as volume_context / mount_flags), so both are one tier;
//   node   – the node plugin's own flags (the cluster admin's DaemonSet), never a volume.
// `ceiling` bounds what a pod or volume author may ask for where one mount could otherwise take
// a node-wide resource (memory); the node's own flags are not bounded by it.

export type OptionAuthor = 'pod' | 'volume' | 'node';

export const AUTHOR_RANK: Record<OptionAuthor, number> = { pod: 0, volume: 1, node: 2 };

/** How each author tier is described in errors and docs. */
export const AUTHOR_DESCRIPTION: Record<OptionAuthor, string> = {
  pod: 'pod authors (inline volume attributes), PV/StorageClass authors and the node',
  volume:
    'PV/StorageClass authors (volumeAttributes, mountOptions, StorageClass parameters) and the node, not inline volumes',
  node: 'only the node plugin (its command-line flags)',
};

export interface OptionRule {
  /** Lowest author allowed to set the option. */
  author: OptionAuthor;
  /** Largest value a pod or volume author may set (in the flag's own unit). */
  ceiling?: number;
  why: string;
}

/**
 * Every flag of `bucketmount mount` (FLAGS in flags.ts) → its rule. Keys are checked
 * against FLAGS by test/unit/option-authority.test.ts.
 */
export const OPTION_AUTHORITY = {
  prefix: { author: 'node', why: 'the node derives it from the volume id / prefix attribute (validated there)' },
  region: { author: 'pod', why: 'only changes how this mount signs its own requests' },
  'endpoint-url': {
    author: 'pod',
    why: "fine with the volume's own credentials; with authenticationSource: driver the endpoint must be the node's default or in --allowed-endpoints (checked at publish)",
  },
  'force-path-style': { author: 'pod', why: "addressing style of this mount's own requests" },
  'read-only': { author: 'node', why: 'decided by the CSI readonly field / access mode / readOnly attribute' },
  'allow-delete': { author: 'pod', why: 'restricts this mount only' },
  'allow-overwrite': { author: 'pod', why: 'restricts this mount only' },
  uid: { author: 'pod', why: 'owner shown inside this mount only (no setuid: modes are limited to 0777)' },
  gid: { author: 'pod', why: 'group shown inside this mount only' },
  'file-mode': { author: 'pod', why: 'permission bits inside this mount only (at most 0777)' },
  'dir-mode': { author: 'pod', why: 'permission bits inside this mount only (at most 0777)' },
  'allow-other': { author: 'pod', why: 'always on for CSI publishes; accepted for compatibility' },
  'default-permissions': { author: 'pod', why: 'always on for CSI publishes; accepted for compatibility' },
  cache: {
    author: 'node',
    why: 'a host path: CSI mounts get <--cache-root>/<share id>; volumes use data-cache (or cache=true) to turn it on',
  },
  'data-cache': {
    author: 'volume',
    why: "uses node disk (bounded per mount by the node's --cache-max-size); not for inline volumes",
  },
  'cache-max-size': { author: 'node', why: 'node disk budget (node plugin flag --cache-max-size)' },
  'spool-dir': { author: 'node', why: 'a host path: CSI mounts spool inside their share dir under the state dir' },
  'metadata-ttl': { author: 'pod', why: "staleness of this mount's own view (0..60 s)" },
  'requester-pays': { author: 'pod', why: "billing header on this mount's own requests" },
  'storage-class': {
    author: 'pod',
    why: 'storage class of objects this mount writes; a class name only (letters, digits, `_ - .`), checked at parsing: it becomes a request header',
  },
  'upload-checksums': { author: 'pod', why: "integrity header on this mount's own uploads" },
  'part-size': {
    author: 'volume',
    ceiling: 64,
    why: 'each writer keeps up to 4 parts in flight in node memory (at least 64 MiB): a volume may raise a part to 64 MiB, i.e. 256 MiB per writer',
  },
  'max-prefetch': {
    author: 'pod',
    ceiling: 256,
    why: "read-ahead window per open file, inside the mount's prefetch budget; at most 256 MiB from a volume",
  },
  'prefetch-budget': {
    author: 'volume',
    ceiling: 2048,
    why: 'read-ahead memory of the mount process (node memory): at most 2048 MiB from a volume',
  },
  'dir-rename-limit': {
    author: 'pod',
    ceiling: 100_000,
    why: 'a directory rename lists and copies this many objects in the mount process: at most 100000 from a volume',
  },
  'credentials-file': { author: 'node', why: 'a host path written by the node (0600, per share)' },
  'volume-id': { author: 'node', why: 'log label set by the node' },
  'log-level': {
    author: 'volume',
    why: "verbosity of this mount's log (rotated at 10 MiB, 3 files kept), read by node admins",
  },
  'log-file': { author: 'node', why: 'a host path chosen by the node (per share)' },
  foreground: { author: 'node', why: "process plumbing of the node's mounter" },
  'retry-timeout': {
    author: 'pod',
    why: "how long this mount's own requests retry an unreachable endpoint before EIO (0..3600 s)",
  },
  'upload-journal': { author: 'node', why: 'a host path chosen by the node (per share, under the state dir)' },
  'proc-root': { author: 'node', why: "a host path: the procfs of the node (the node plugin's --host-proc)" },
  'metrics-socket': {
    author: 'node',
    why: "a host path chosen by the node (per share, under the state dir) where the plugin scrapes the mount's metrics",
  },
  'fuse-layer': {
    author: 'node',
    why: 'deprecated (fuse3 is the only layer; the flag is accepted as fuse3 for older nodes and supervisors): not a volume option',
  },
  supervise: {
    author: 'node',
    why: "process model of the node's mounts (a supervisor holds the FUSE fd and restarts a crashed server)",
  },
  'write-back': {
    author: 'volume',
    why: "trades durability of this volume's own writes (close returns before the upload); pending uploads use node disk and memory, bounded per mount by the node's write-back-max-size/-files; not for inline volumes",
  },
  'write-back-max-size': {
    author: 'node',
    why: 'node disk/memory ceiling for pending write-back uploads of one mount',
  },
  'write-back-max-files': {
    author: 'node',
    why: 'ceiling on files with a pending write-back upload in one mount',
  },
  'kernel-writeback-cache': {
    author: 'pod',
    why: "changes only this mount's write path: dirty pages are the writer's own page cache (charged to its cgroup, capped by the kernel's FUSE dirty limit); close still uploads",
  },
  'fuse-interrupts': {
    author: 'pod',
    why: "changes only what this mount's callers see when a signal interrupts their request (EINTR instead of waiting)",
  },
  'fuse-fd': {
    author: 'node',
    why: 'process plumbing between the supervisor and its server (an inherited descriptor)',
  },
  'fd-keeper': {
    author: 'node',
    why: "a host path: the node's fd keeper socket (holds the mount's FUSE connection across plugin container restarts)",
  },
  'fuse-state': {
    author: 'node',
    why: "a host path: the supervisor's private hand-off state (node table, INIT parameters)",
  },
} as const satisfies Record<string, OptionRule>;

export type OptionName = keyof typeof OPTION_AUTHORITY;

export function mayAuthorSet(option: OptionName, author: OptionAuthor): boolean {
  return AUTHOR_RANK[author] >= AUTHOR_RANK[OPTION_AUTHORITY[option].author];
}

/** Endpoints compared as URLs (scheme, host, port, path without trailing slashes). */
export function sameEndpoint(a: string | undefined, b: string | undefined): boolean {
  const norm = (u: string | undefined): string | undefined => {
    if (u === undefined) return undefined;
    try {
      const x = new URL(u);
      return `${x.protocol}//${x.host}${x.pathname.replace(/\/+$/, '')}`.toLowerCase();
    } catch {
      return u;
    }
  };
  return norm(a) === norm(b);
}

/**
 * Why a mount may not use this endpoint, or undefined when it may. With the node's own
 * (driver) credentials a volume-chosen endpoint would receive requests signed with the node's
 * identity, so only the node's default endpoint (or one from --allowed-endpoints) is allowed.
 * A non-empty allow-list restricts every volume, whatever its credentials.
 */
export function endpointRefusal(args: {
  endpoint: string | undefined;
  credentialSource: 'secret' | 'pod' | 'driver';
  nodeDefault: string | undefined;
  allowed: readonly string[];
}): string | undefined {
  const { endpoint, credentialSource, nodeDefault, allowed } = args;
  const shown = endpoint ?? 'AWS S3 (no endpoint)';
  const isAllowed = sameEndpoint(endpoint, nodeDefault) || allowed.some((a) => sameEndpoint(endpoint, a));
  if (isAllowed) return undefined;
  if (allowed.length > 0) {
    return `endpoint ${shown} is not in the node's --allowed-endpoints; the node admin may add it there (Helm value node.allowedEndpoints)`;
  }
  if (credentialSource === 'driver') {
    return (
      `endpoint ${shown} differs from the node's default endpoint: with authenticationSource: driver the node's own credentials would sign requests to it; ` +
      `use the volume's own credentials (secret or pod), or the node admin may allow it with --allowed-endpoints (Helm value node.allowedEndpoints)`
    );
  }
  return undefined;
}

/** The table as markdown rows (docs/security/authz.md embeds exactly this; a unit test checks it). */
export function authorityTableMarkdown(): string {
  const who: Record<OptionAuthor, string> = { pod: 'pod, volume, node', volume: 'volume, node', node: 'node only' };
  const rows = Object.entries(OPTION_AUTHORITY).map(([name, r]: [string, OptionRule]) => {
    const ceiling = r.ceiling === undefined ? '' : String(r.ceiling);
    return `| \`${name}\` | ${who[r.author]} | ${ceiling} | ${r.why.replace(/\|/g, '\\|')} |`;
  });
  return ['| option | who may set it | ceiling (volume/pod) | why |', '|---|---|---|---|', ...rows].join('\n');
}
