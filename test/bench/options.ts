// Benchmark options: workload sizes, which peers to run, where to write results. Parses
// `npm run bench -- [flags]`; `--smoke` selects tiny sizes (CI), other flags override a preset.
import { parseArgs } from 'node:util';

import { WORKLOADS, type WorkloadId } from './results.js';

/**
 * `ours-metrics`: ours with --metrics-socket, for the metrics overhead (on vs off) of issue 17.
 * `ours-writeback`: ours with --write-back (issue 15's small-file rows next to geesefs, which also
 * uploads after close); not in the default set: ask for it with --peers.
 */
export const PEER_NAMES = [
  'ours',
  'ours-metrics',
  'ours-writeback',
  's3fs',
  'rclone',
  'goofys',
  'geesefs',
  'mount-s3',
] as const;
export type PeerName = (typeof PEER_NAMES)[number];

export interface BenchOptions {
  /** Size of the big object for sequential read/write, TTFB and random reads (MiB). */
  sizeMiB: number;
  /** Objects in the flat directory listed with `ls -l`. */
  listCount: number;
  /** Objects in the tree walked with `find` (100 per leaf directory, 10 leaves per top directory). */
  treeCount: number;
  /** Small files created, copied (`cp -r`) and removed (`rm -r`). */
  smallCount: number;
  /** Size of each small file (bytes). */
  smallSize: number;
  /** Random 4 KiB reads per run. */
  randomReads: number;
  peers: PeerName[];
  /** Rows to run (default all); the others show as "–". */
  rows: WorkloadId[];
  /** Output directory for results.json / results.png. */
  out: string;
  smoke: boolean;
  /** Write the Markdown table into docs/benchmarks.md's bench section (never in smoke mode). */
  writeDoc: boolean;
  /** Extra profiled runs of ours (node --cpu-prof) for seq read/write; profiles land in out/profiles. */
  profile: boolean;
  /** Multipart part size (MiB) and parallel parts, shared by ours and the raw SDK upload. */
  partSizeMiB: number;
  uploadConcurrency: number;
  /** Run the whole sequence (raw, ceiling, every peer) this many times; rows report the median. */
  rounds: number;
  /** Per-workload time limit (s); a run over it is killed and recorded as a timeout. */
  timeoutS: number;
  verbose: boolean;
}

const FULL: BenchOptions = {
  sizeMiB: 1024,
  listCount: 10_000,
  treeCount: 16_000,
  smallCount: 1000,
  smallSize: 4096,
  randomReads: 500,
  peers: ['ours', 'ours-metrics', 's3fs', 'rclone', 'goofys', 'geesefs', 'mount-s3'],
  rows: WORKLOADS.map((w) => w.id),
  out: 'docs/bench',
  smoke: false,
  writeDoc: true,
  profile: false,
  partSizeMiB: 8,
  uploadConcurrency: 4,
  rounds: 1,
  timeoutS: 900,
  verbose: false,
};

const SMOKE: BenchOptions = {
  ...FULL,
  sizeMiB: 8,
  listCount: 150,
  treeCount: 200,
  smallCount: 40,
  randomReads: 20,
  peers: ['ours', 's3fs'],
  smoke: true,
  writeDoc: false,
  timeoutS: 60,
};

export class BenchArgsError extends Error {
  override name = 'BenchArgsError';
}

function posInt(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v) || Number(v) < 1)
    throw new BenchArgsError(`--${name} must be a positive whole number, got "${v}"`);
  return Number(v);
}

export function parsePeers(v: string): PeerName[] {
  const names = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const n of names) {
    if (!(PEER_NAMES as readonly string[]).includes(n))
      throw new BenchArgsError(`unknown peer "${n}" (known: ${PEER_NAMES.join(', ')})`);
  }
  return names as PeerName[];
}

export function parseRows(v: string): WorkloadId[] {
  const ids = WORKLOADS.map((w) => w.id) as string[];
  const rows = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const r of rows) if (!ids.includes(r)) throw new BenchArgsError(`unknown row "${r}" (known: ${ids.join(', ')})`);
  if (!rows.length) throw new BenchArgsError('--rows needs at least one row');
  return rows as WorkloadId[];
}

export const BENCH_USAGE = `usage: npm run bench -- [flags]
  --smoke                 tiny sizes, ours + s3fs, results to <out>/smoke-results.* (CI)
  --size-mib N            big object size in MiB (default 1024)
  --list-count N          objects in the ls -l directory (default 10000)
  --tree-count N          objects in the find tree (default 16000)
  --small-count N         small files for create / cp -r / rm -r (default 1000)
  --random-reads N        random 4 KiB reads (default 500)
  --peers a,b             subset of ${PEER_NAMES.join(',')} (default all; peers are
                          found on PATH only, the bench builds none; missing ones are listed)
  --rows a,b              only these rows (${WORKLOADS.map((w) => w.id).join(',')}; default all)
  --out DIR               output directory (default docs/bench)
  --no-doc                do not touch docs/benchmarks.md
  --profile               extra node --cpu-prof runs of ours for seq read/write
  --rounds N              repeat everything N times, interleaved; rows show the median (default 1)
  --timeout-s N           per-workload limit in seconds (default 900)
  --verbose               log progress details`;

export function parseBenchArgs(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      smoke: { type: 'boolean' },
      'size-mib': { type: 'string' },
      'list-count': { type: 'string' },
      'tree-count': { type: 'string' },
      'small-count': { type: 'string' },
      'random-reads': { type: 'string' },
      peers: { type: 'string' },
      rows: { type: 'string' },
      out: { type: 'string' },
      'no-doc': { type: 'boolean' },
      profile: { type: 'boolean' },
      'timeout-s': { type: 'string' },
      rounds: { type: 'string' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) throw new BenchArgsError(BENCH_USAGE);
  const base = values.smoke ? SMOKE : FULL;
  const opts: BenchOptions = {
    ...base,
    sizeMiB: posInt('size-mib', values['size-mib'], base.sizeMiB),
    listCount: posInt('list-count', values['list-count'], base.listCount),
    treeCount: posInt('tree-count', values['tree-count'], base.treeCount),
    smallCount: posInt('small-count', values['small-count'], base.smallCount),
    randomReads: posInt('random-reads', values['random-reads'], base.randomReads),
    timeoutS: posInt('timeout-s', values['timeout-s'], base.timeoutS),
    rounds: posInt('rounds', values.rounds, base.rounds),
    peers: values.peers !== undefined ? parsePeers(values.peers) : base.peers,
    rows: values.rows !== undefined ? parseRows(values.rows) : base.rows,
    out: values.out ?? base.out,
    profile: values.profile ?? false,
    verbose: values.verbose ?? false,
  };
  // A subset of rows never replaces the published table.
  if (values['no-doc'] || values.rows !== undefined) opts.writeDoc = false;
  return opts;
}
