// A stand-in for the CSI node plugin in lifecycle tests: a child process that owns a
// ProcessMounter and executes JSON-line commands from stdin ({id, op, args}) and answers
// JSON lines on stdout ({id, ok, result | error, kind}). Tests kill -9 it to simulate a
// plugin crash and start a new one on the same state dir to check adoption.
//   node dist/test/lifecycle/plugin-harness.js <stateDir>
import { createInterface } from 'node:readline';
import { createProcessMounter } from '../../src/mounter/process-mounter.js';
import { createLogger } from '../../src/log.js';
import { MountError, type PublishRequest } from '../../src/mounter/types.js';
import type { S3Credentials } from '../../src/credentials/types.js';

interface Command {
  id: number;
  op: 'reconcile' | 'publish' | 'unpublish' | 'lookup' | 'usage' | 'updateCredentials' | 'pid';
  args?: unknown;
}

const stateDir = process.argv[2];
if (!stateDir) {
  process.stderr.write('usage: plugin-harness <stateDir>\n');
  process.exit(2);
}
const logger = createLogger({ level: process.env.HARNESS_LOG_LEVEL ?? 'warn' });
const mounter = createProcessMounter({ stateDir, logger, readyTimeoutMs: 30_000, unmountTimeoutMs: 30_000 });

const reply = (msg: object): void => {
  process.stdout.write(JSON.stringify(msg) + '\n');
};

async function exec(cmd: Command): Promise<unknown> {
  switch (cmd.op) {
    case 'reconcile':
      return mounter.reconcile();
    case 'publish':
      return mounter.publish(cmd.args as PublishRequest);
    case 'unpublish':
      return mounter.unpublish(cmd.args as string);
    case 'lookup':
      return mounter.lookup(cmd.args as string);
    case 'usage':
      return mounter.usage(cmd.args as string);
    case 'updateCredentials': {
      const { target, credentials, credentialIdentity } = cmd.args as {
        target: string;
        credentials: S3Credentials;
        credentialIdentity: string;
      };
      return mounter.updateCredentials(target, credentials, credentialIdentity);
    }
    case 'pid':
      return process.pid;
  }
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = JSON.parse(line) as Command;
  exec(cmd).then(
    (result) => reply({ id: cmd.id, ok: true, result: result ?? null }),
    (err: Error) =>
      reply({ id: cmd.id, ok: false, error: err.message, kind: err instanceof MountError ? err.kind : 'internal' }),
  );
});
