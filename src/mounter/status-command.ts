// The `bucketmount status` command line: flags, then collectStatus (status.ts) printed as a table
// (status-format.ts) or as JSON (--json). Run inside the node plugin container, where the state
// dir, the share dirs and the mounts are; it only reads.
import { parseArgs } from 'node:util';
import { DEFAULT_STATE_DIR } from './state-store.js';
import { HEALTH_FLAGS, healthThresholdsFrom, type HealthThresholds } from './health.js';
import { collectStatus } from './status.js';
import { formatStatus } from './status-format.js';

export const STATUS_USAGE = `usage: bucketmount status [--state-dir <dir>] [--json]

Prints every mount the node plugin keeps on this node (run it inside the node plugin container):
share, volume, bucket/prefix, mount process and whether it lives, state (healthy, degraded, dead;
a target can also be stale), counters from the mount's metrics, the last error of its log, and
each target with the pod it serves. Read-only: it never mounts, unmounts or writes state.

  --state-dir <dir>   the node plugin's state dir (default $BUCKETMOUNT_STATE_DIR or ${DEFAULT_STATE_DIR})
  --json              machine-readable output
  ${HEALTH_FLAGS.s3FailuresPerMinute.flag} <n>       degraded threshold (default $${HEALTH_FLAGS.s3FailuresPerMinute.env} or 10)
  ${HEALTH_FLAGS.credentialExpiryMinutes.flag} <m>  degraded window (default $${HEALTH_FLAGS.credentialExpiryMinutes.env} or 5)
  -h, --help          this help`;

export interface CommandIo {
  out: (text: string) => void;
  err: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

/** Runs `bucketmount status <argv>`; returns the exit code (0 ok, 2 bad arguments, 1 cannot read the state). */
export async function statusCommand(argv: string[], io: CommandIo): Promise<number> {
  let values: {
    'state-dir'?: string;
    json?: boolean;
    help?: boolean;
    'health-s3-failures-per-minute'?: string;
    'health-credential-expiry-minutes'?: string;
  };
  let thresholds: HealthThresholds;
  try {
    values = parseArgs({
      args: argv,
      options: {
        'state-dir': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        'health-s3-failures-per-minute': { type: 'string' },
        'health-credential-expiry-minutes': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
    thresholds = healthThresholdsFrom(
      {
        s3FailuresPerMinute: values['health-s3-failures-per-minute'],
        credentialExpiryMinutes: values['health-credential-expiry-minutes'],
      },
      io.env,
    );
  } catch (err) {
    io.err(`bucketmount: error: ${(err as Error).message}\n${STATUS_USAGE}\n`);
    return 2;
  }
  if (values.help) {
    io.out(STATUS_USAGE + '\n');
    return 0;
  }
  const stateDir = values['state-dir'] ?? (io.env.BUCKETMOUNT_STATE_DIR || DEFAULT_STATE_DIR);
  try {
    const report = await collectStatus({ stateDir, thresholds });
    io.out(values.json ? JSON.stringify(report, null, 2) + '\n' : formatStatus(report) + '\n');
    return 0;
  } catch (err) {
    io.err(`bucketmount: error: ${(err as Error).message}\n`);
    return 1;
  }
}
