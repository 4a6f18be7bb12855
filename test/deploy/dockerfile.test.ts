// Checks of the container image recipe. Static (always): every file the Dockerfile copies exists
// and is not excluded by .dockerignore, the runtime stage is node:24-bookworm-slim with the FUSE
// packages, runs as non-root by default, ships the two entry points and the node supervisor the
// manifests start, and the shipped code imports only production dependencies (the image prunes
// dev dependencies). The runtime stage's /app is rebuilt in a temp dir from the Dockerfile's own
// `COPY --from=build` lines (this tree's dist/, production-pruned node_modules) and both entry
// points are started from it. Real `docker build` + run: only where a Docker engine answers (CI
// machines of this project have the client only), otherwise that one test is skipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));

/** Logical Dockerfile lines (continuations joined, comments dropped). */
function instructions(): string[] {
  const out: string[] = [];
  let cur = '';
  for (const raw of dockerfile.split('\n')) {
    if (raw.trim().startsWith('#') && cur === '') continue;
    cur += raw.replace(/\\$/, ' ');
    if (!raw.endsWith('\\')) {
      if (cur.trim() !== '') out.push(cur.trim());
      cur = '';
    }
  }
  return out;
}

function isIgnored(path: string): boolean {
  return ignored.some((pattern) => {
    const p = pattern.replace(/^\*\*\//, '').replace(/\/$/, '');
    return path === p || path.startsWith(`${p}/`);
  });
}

test('every COPY source from the build context exists and is not excluded by .dockerignore', () => {
  const copies = instructions().filter((l) => /^COPY\s/.test(l) && !/--from=/.test(l));
  assert.ok(copies.length >= 5);
  for (const line of copies) {
    const parts = line
      .split(/\s+/)
      .slice(1)
      .filter((p) => !p.startsWith('--'));
    for (const src of parts.slice(0, -1)) {
      assert.ok(existsSync(join(ROOT, src)), `COPY source ${src} exists`);
      assert.ok(!isIgnored(src), `COPY source ${src} is not in .dockerignore`);
    }
  }
  // The entry points the image promises are compiled from these sources.
  for (const src of [
    'cmd/csi-driver.ts',
    'cmd/bucketmount.ts',
    'proto/csi.proto',
    'proto/pluginregistration.proto',
    'deploy/image/node-supervisor.sh',
  ]) {
    assert.ok(existsSync(join(ROOT, src)), `${src} exists`);
  }
});

test('runtime stage: slim Node 24, FUSE packages, tini, non-root default user, only dist + production modules', () => {
  const lines = instructions();
  const froms = lines.filter((l) => l.startsWith('FROM '));
  assert.equal(froms.length, 2, 'two stages');
  assert.match(froms[0], /^FROM node:24-bookworm AS build$/);
  assert.equal(froms[1], 'FROM node:24-bookworm-slim');
  const runtime = lines.slice(lines.indexOf(froms[1]));
  const install = runtime.find((l) => l.includes('apt-get install')) ?? '';
  for (const pkg of ['fuse3', 'libfuse3-3', 'tini', 'ca-certificates'])
    assert.match(install, new RegExp(`\\b${pkg}\\b`), `installs ${pkg}`);
  // libfuse 2 is gone with fuse-native: neither its library nor its `fuse` package (fuse3 Breaks it).
  for (const pkg of ['libfuse2', 'fuse'])
    assert.doesNotMatch(install, new RegExp(`\\s${pkg}(\\s|$)`), `does not install ${pkg}`);
  const buildInstall = lines.slice(0, lines.indexOf(froms[1])).find((l) => l.includes('apt-get install')) ?? '';
  assert.match(buildInstall, /\blibfuse3-dev\b/, 'the build stage has the libfuse3 headers for the addon');
  assert.doesNotMatch(buildInstall, /\blibfuse-dev\b/, 'no libfuse 2 headers');
  assert.ok(
    runtime.some((l) => /^USER 1000(:1000)?$/.test(l)),
    'non-root default user',
  );
  assert.ok(
    runtime.some((l) => l.startsWith('COPY --from=build /src/dist/cmd ')),
    'ships dist/cmd',
  );
  assert.ok(
    !runtime.some((l) => /COPY --from=build \/src\/dist\/test|COPY --from=build \/src\/dist /.test(`${l} `)),
    'tests are not shipped',
  );
  assert.ok(
    runtime.some((l) => l.includes('deploy/image/node-supervisor.sh /app/bin/node-supervisor')),
    'node supervisor at /app/bin',
  );
  // One Node.js major everywhere: the image, the pinned Node that scripts/setup.sh installs, the engines floor below it.
  const pinned = /^NODE_RUNTIME_VERSION=(\d+)\.\d+\.\d+$/m.exec(
    readFileSync(join(ROOT, 'scripts/node-runtime.sh'), 'utf8'),
  );
  assert.ok(pinned, 'scripts/node-runtime.sh pins an exact NODE_RUNTIME_VERSION');
  for (const from of froms)
    assert.match(from, new RegExp(`^FROM node:${pinned[1]}-`), 'image Node major = the pinned setup Node major');
  const engines =
    (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines?: { node?: string } }).engines?.node ??
    '';
  const floor = /^>=(\d+)/.exec(engines);
  assert.ok(floor && Number(floor[1]) <= Number(pinned[1]), `engines ${engines} admits Node ${pinned[1]}`);
  const build = lines.slice(lines.indexOf(froms[0]), lines.indexOf(froms[1]));
  assert.ok(
    build.some((l) => l.includes('npm ci')),
    'npm ci in the build stage',
  );
  assert.ok(
    build.some((l) => l.includes('npm prune --omit=dev')),
    'dev dependencies pruned',
  );
  for (const p of ['node_modules', 'dist', '.git']) assert.ok(isIgnored(p), `.dockerignore excludes ${p}`);
});

/** Files under dir (recursively) whose name ends with .ts, without declaration files. */
function tsFiles(dir: string): string[] {
  const out: string[] = [];
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...tsFiles(p));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Package name of a bare import specifier ("@aws-sdk/client-s3/x" → "@aws-sdk/client-s3"), or undefined for relative/builtin. */
function packageOf(spec: string): string | undefined {
  if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('node:')) return undefined;
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

test('what the image ships (cmd/, src/) imports only production dependencies, never test code', () => {
  // The image runs `npm prune --omit=dev`: a runtime import of a devDependency would crash there.
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  const prod = new Set(Object.keys(pkg.dependencies ?? {}));
  const builtins = new Set(builtinModules);
  const problems: string[] = [];
  const files = [...tsFiles(join(ROOT, 'cmd')), ...tsFiles(join(ROOT, 'src'))];
  assert.ok(files.length > 10, `found ${files.length} source files`);
  // Value imports only: `import type` and `export type` vanish when compiled.
  const importRe =
    /^\s*(?:import|export)\s+(?!type\s)(?:[^'"]*?\s+from\s+)?['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm;
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(importRe)) {
      const spec = m[1] ?? m[2];
      if (/(^|\/)test\//.test(spec)) problems.push(`${relative(ROOT, file)} imports test code ${spec}`);
      const name = packageOf(spec);
      if (name === undefined || builtins.has(name)) continue;
      if (!prod.has(name))
        problems.push(`${relative(ROOT, file)} imports ${name}, which is not in package.json dependencies`);
    }
  }
  assert.deepEqual(problems, []);
});

/** True when a Docker engine answers (the client alone is not enough). */
function dockerEngine(): boolean {
  const r = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { encoding: 'utf8', timeout: 20000 });
  return r.status === 0 && r.stdout.trim() !== '';
}

test('docker build produces an image whose entry points start (only where a Docker engine runs)', (t) => {
  if (!dockerEngine()) {
    t.skip('no Docker engine here (`docker info` has no server): the image build is checked statically above');
    return;
  }
  const tag = `bucketmount:test-${process.pid}`;
  try {
    const build = spawnSync('docker', ['build', '-q', '-t', tag, ROOT], { encoding: 'utf8', timeout: 15 * 60 * 1000 });
    assert.equal(build.status, 0, `docker build failed:\n${build.stderr}`);
    for (const cmd of [
      ['node', '/app/dist/cmd/csi-driver.js', '--help'],
      ['bucketmount', '--help'],
    ]) {
      const r = spawnSync('docker', ['run', '--rm', '--entrypoint', '', tag, ...cmd], {
        encoding: 'utf8',
        timeout: 60000,
      });
      assert.equal(r.status, 0, `${cmd.join(' ')} in the image: ${r.stderr}`);
    }
    const id = spawnSync('docker', ['run', '--rm', '--entrypoint', '', tag, 'id', '-u'], { encoding: 'utf8' });
    assert.equal(id.stdout.trim(), '1000', 'default user is non-root');
    const size = spawnSync('docker', ['image', 'inspect', '--format', '{{.Size}}', tag], { encoding: 'utf8' });
    t.diagnostic(`image size: ${(Number(size.stdout.trim()) / 1024 / 1024).toFixed(0)} MiB`);
  } finally {
    spawnSync('docker', ['image', 'rm', '-f', tag], { encoding: 'utf8' });
  }
});

test("the runtime stage's /app layout (its COPY --from=build lines, production modules only) starts both entry points", async () => {
  const lines = instructions();
  const runtime = lines.slice(lines.lastIndexOf(lines.filter((l) => l.startsWith('FROM ')).at(-1) as string));
  assert.ok(runtime.includes('WORKDIR /app'), 'runtime WORKDIR is /app');
  const copies = runtime.filter((l) => l.startsWith('COPY --from=build '));
  assert.ok(copies.length >= 4);
  assert.ok(existsSync(join(ROOT, 'dist/cmd/csi-driver.js')), 'dist/ is built (npm run build) before this test');
  const app = mkdtempSync(join(tmpdir(), 'bucketmount-app-'));
  let driver: ReturnType<typeof spawn> | undefined;
  try {
    for (const line of copies) {
      const [src, dest] = line.split(/\s+/).slice(2);
      assert.ok(src.startsWith('/src/'), `${line}: copies from the build stage's /src`);
      const to = resolve(app, dest.replace(/^\/app\/?/, './'));
      cpSync(join(ROOT, src.slice('/src/'.length)), to, { recursive: true });
    }
    // The build stage runs `npm prune --omit=dev` before node_modules is copied: same here.
    cpSync(join(ROOT, 'package-lock.json'), join(app, 'package-lock.json'));
    const prune = spawnSync('npm', ['prune', '--omit=dev', '--offline', '--no-audit', '--no-fund'], {
      cwd: app,
      encoding: 'utf8',
      timeout: 120000,
    });
    assert.equal(prune.status, 0, `npm prune: ${prune.stderr}`);
    rmSync(join(app, 'package-lock.json'));
    for (const dev of ['typescript', 'eslint']) assert.ok(!existsSync(join(app, 'node_modules', dev)), `${dev} pruned`);

    const version = spawnSync(process.execPath, [join(app, 'dist/cmd/csi-driver.js'), '--version'], {
      encoding: 'utf8',
      cwd: app,
    });
    assert.equal(version.status, 0, version.stderr);
    assert.match(version.stdout, /^bucketmount\.csi\.io \d+\.\d+\.\d+/);
    const mountHelp = spawnSync(process.execPath, [join(app, 'dist/cmd/bucketmount.js'), '--help'], {
      encoding: 'utf8',
      cwd: app,
    });
    assert.equal(mountHelp.status, 0, mountHelp.stderr);
    assert.match(mountHelp.stdout + mountHelp.stderr, /bucketmount mount/);

    // The node plugin's kubelet-registration proto is found beside dist/ as well.
    const reg = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { loadRegistrationService } from ${JSON.stringify(join(app, 'dist/src/csi/kubelet-registration.js'))}; loadRegistrationService();`,
      ],
      { encoding: 'utf8', cwd: app },
    );
    assert.equal(reg.status, 0, `pluginregistration.proto from the image layout: ${reg.stderr}`);

    // The controller really serves: proto found beside dist/, gRPC up on the socket; SIGTERM stops it.
    const sock = join(app, 'csi.sock');
    driver = spawn(
      process.execPath,
      [join(app, 'dist/cmd/csi-driver.js'), '--mode=controller', `--endpoint=unix://${sock}`, '--log-level=warn'],
      { cwd: app, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    driver.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((r) => driver?.on('exit', (code) => r(code)));
    const deadline = Date.now() + 30000;
    while (!existsSync(sock)) {
      assert.equal(driver.exitCode, null, `csi-driver exited early: ${stderr}`);
      assert.ok(Date.now() < deadline, `no socket after 30 s: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(statSync(sock).isSocket());
    assert.equal(statSync(sock).mode & 0o777, 0o700, 'socket mode 0700');
    driver.kill('SIGTERM');
    assert.equal(await exited, 0, `csi-driver exit status after SIGTERM: ${stderr}`);
  } finally {
    if (driver && driver.exitCode === null && driver.signalCode === null) driver.kill('SIGKILL');
    rmSync(app, { recursive: true, force: true });
  }
});
