// `npm run bench [-- flags]`: starts MinIO on loopback, fills a bucket through the SDK, runs
// every workload against the raw SDK, the no-op FUSE ceiling, ours and each peer in one run,
// then writes results.json, results.md, results.png (smoke-results.* with --smoke) and, for
// full runs, the table in docs/benchmarks.md's bench section. Mounts and MinIO are always cleaned up.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger, quietSdkNodeVersionWarning } from '../../src/log.js';
import { startMinio, findMinioBinary, type MinioServer } from '../support/minio.js';
import { renderChart } from './chart.js';
import { deletePrefix, populate } from './dataset.js';
import { BenchArgsError, parseBenchArgs, type BenchOptions } from './options.js';
import { findBinary, PEERS, removeWorkDir, unmountAll, ZERO_FS, type BenchTarget } from './peers.js';
import { profileMarkdown, summariseProfile } from './profile.js';
import { checkTargets, machineLine, markdownTable, rowTitles, targetsMarkdown, updateBenchDoc } from './report.js';
import { mergeRounds, type BenchResults, type Measurement, type SystemResult } from './results.js';
import { FsSuite, runRaw, type SuiteContext } from './suite.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
/** The doc whose bench section gets the results table of a full run. */
const BENCH_DOC = join(REPO, 'docs', 'benchmarks.md');
const BUCKET = 'bench';
const log = createLogger({ level: process.env.LOG_LEVEL ?? 'info', defaultMeta: { component: 'bench' } });

function machine(minioBin: string): BenchResults['machine'] {
  const v = spawnSync(minioBin, ['--version'], { encoding: 'utf8' });
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.replace(/\s+/g, ' ').trim() ?? '?',
    memGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    minio:
      (v.stdout ?? '')
        .split('\n')[0]
        ?.replace(/^minio version /, 'MinIO ')
        .trim() || 'MinIO',
  };
}

/**
 * Says up front which requested systems will run and which are missing and why (peers are looked
 * for on PATH only; the bench builds and installs none). The report lists the missing ones again.
 */
function announcePeers(o: BenchOptions): void {
  const found: string[] = [];
  const missing: string[] = [];
  for (const name of o.peers) {
    const reason = PEERS[name].unavailable();
    if (reason) missing.push(`${name}: ${reason}`);
    else found.push(name.startsWith('ours') ? name : `${name} (${findBinary(name) ?? '?'})`);
  }
  log.info('systems under test', { found });
  if (missing.length) log.warn('peers missing (not measured)', { missing });
}

function newestProfile(dir: string): string | undefined {
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => join(dir, f))
      .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
  } catch {
    return undefined;
  }
}

async function profileOurs(ctx: SuiteContext, outDir: string): Promise<string> {
  const parts = ['### CPU profiles of the mount process (`node --cpu-prof`, separate runs)', ''];
  for (const row of ['seqRead', 'seqWrite', 'smallFiles'] as const) {
    const dir = join(outDir, 'profiles', row);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const suite = new FsSuite(ctx, PEERS.ours);
    let m: Measurement;
    if (row === 'seqRead') m = await suite.seqRead({ cpuProfDir: dir });
    else if (row === 'seqWrite') m = await suite.seqWrite('w-profile', { cpuProfDir: dir });
    else {
      await suite.smallFiles('w-profile', { cpuProfDir: dir });
      const r = suite.result.rows;
      m = {
        seconds: (r.createSmall?.seconds ?? 0) + (r.cpSmall?.seconds ?? 0) + (r.rmSmall?.seconds ?? 0),
        error: r.rmSmall?.error,
      };
    }
    await deletePrefix(ctx.admin, ctx.target.bucket, 'w-profile/');
    const file = newestProfile(dir);
    if (!file) {
      parts.push(`${row}: no profile written (${m.error ?? 'process did not exit cleanly'})`, '');
      continue;
    }
    const mibs = m.bytes
      ? `${(m.bytes / 2 ** 20 / m.seconds).toFixed(0)} MiB/s under the profiler`
      : `create + cp -r + rm -r: ${m.seconds.toFixed(1)} s under the profiler`;
    parts.push(profileMarkdown(`${row} (${mibs})`, summariseProfile(file)));
  }
  return parts.join('\n');
}

async function main(argv: string[]): Promise<number> {
  quietSdkNodeVersionWarning();
  let o: BenchOptions;
  try {
    o = parseBenchArgs(argv);
  } catch (err) {
    if (err instanceof BenchArgsError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const outDir = resolve(REPO, o.out);
  mkdirSync(outDir, { recursive: true });
  announcePeers(o);
  const workDir = mkdtempSync(join(tmpdir(), 'bucketmount-bench-'));
  let minio: MinioServer | undefined;
  const stop = (sig: string): void => {
    log.warn('interrupted: cleaning up', { signal: sig });
    void unmountAll().finally(async () => {
      await minio?.stop().catch(() => undefined);
      if (!removeWorkDir(workDir)) log.error('left scratch dir behind: still mounted below it', { workDir });
      process.exit(130);
    });
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  try {
    const minioBin = findMinioBinary();
    minio = await startMinio({ buckets: [BUCKET] });
    const target: BenchTarget = {
      endpoint: minio.endpoint,
      accessKey: minio.accessKey,
      secretKey: minio.secretKey,
      region: minio.region,
      bucket: BUCKET,
      workDir,
      partSizeMiB: o.partSizeMiB,
    };
    const ctx: SuiteContext = {
      target,
      opts: o,
      admin: minio.client,
      mountRoot: join(workDir, 'mnt'),
      log: (m) => log.info(m),
    };
    const t0 = Date.now();
    await populate(minio.client, BUCKET, o, (m) => log.info(m));
    log.info('populated', { seconds: (Date.now() - t0) / 1000 });

    const results: BenchResults = {
      date: new Date().toISOString(),
      machine: machine(minioBin),
      options: { ...o },
      systems: [],
      notes: [],
    };
    // Rounds interleave the systems, so a burst of load from other work on the machine hits
    // every system rather than one; each row then reports the median round.
    const perSystem = new Map<string, SystemResult[]>();
    const add = (r: SystemResult): void => {
      perSystem.set(r.name, [...(perSystem.get(r.name) ?? []), r]);
    };
    for (let round = 1; round <= o.rounds; round++) {
      log.info('round', { round, of: o.rounds });
      add(await runRaw(ctx));
      const ceilingReason = ZERO_FS.unavailable();
      add(
        ceilingReason
          ? { name: ZERO_FS.name, available: false, reason: ceilingReason, rows: {} }
          : await new FsSuite(ctx, ZERO_FS).runCeiling(),
      );
      for (const name of o.peers) {
        const tool = PEERS[name];
        const reason = tool.unavailable();
        if (reason) {
          add({ name, available: false, reason, rows: {} });
          continue;
        }
        log.info('running', { system: name, round });
        const r: SystemResult = await new FsSuite(ctx, tool).run();
        r.description = tool.describe();
        add(r);
      }
    }
    for (const rounds of perSystem.values()) results.systems.push(mergeRounds(rounds));
    let profiles = '';
    if (o.profile && o.peers.includes('ours')) profiles = await profileOurs(ctx, outDir);

    const base = o.smoke ? 'smoke-results' : 'results';
    writeFileSync(join(outDir, `${base}.json`), JSON.stringify(results, null, 2) + '\n');
    writeFileSync(join(outDir, `${base}.png`), renderChart(results, rowTitles(o)));
    const described = results.systems.filter((s) => s.description).map((s) => `- ${s.name}: ${s.description}`);
    /** The report, its chart linked relative to the Markdown file in `fromDir`. */
    const md = (fromDir: string): string =>
      [
        machineLine(results),
        '',
        markdownTable(results, o),
        '',
        targetsMarkdown(checkTargets(results)),
        '',
        'Mounted with:',
        ...described,
        '',
        `![benchmark chart](${relative(fromDir, join(outDir, `${base}.png`))})`,
        '',
      ].join('\n');
    writeFileSync(join(outDir, `${base}.md`), md(outDir) + (profiles ? `\n${profiles}\n` : ''));
    if (profiles) writeFileSync(join(outDir, 'profiles.md'), profiles + '\n');
    if (o.writeDoc && !o.smoke) updateBenchDoc(BENCH_DOC, md(dirname(BENCH_DOC)));
    log.info('done', { out: join(outDir, `${base}.json`), minutes: ((Date.now() - t0) / 60000).toFixed(1) });
    return 0;
  } finally {
    await unmountAll();
    await minio?.stop().catch((err: Error) => log.error('stopping MinIO failed', { error: err.message }));
    if (!removeWorkDir(workDir)) log.error('left scratch dir behind: still mounted below it', { workDir });
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    log.error('benchmark failed', { error: err.stack ?? err.message });
    process.exit(1);
  },
);
