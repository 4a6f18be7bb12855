// E2E images without a registry: the busybox image the manifests name and the sandbox (pause) image,
// both one layer holding Debian's busybox-static (plus the static test helper cloexec-writer, built
// here with gcc from test/e2e/cloexec-writer.c), written as docker-archive tarballs for `ctr images import`.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BUSYBOX_IMAGE = 'docker.io/library/busybox:1.37';
export const PAUSE_IMAGE = 'registry.k8s.io/pause:3.10.1';
const BUSYBOX_BIN = '/bin/busybox';
/** The helper's C source (not copied to dist/: read from the repository). */
const CLOEXEC_WRITER_SRC = fileURLToPath(new URL('../../../test/e2e/cloexec-writer.c', import.meta.url));

function layer(dir: string): { file: string; digest: string } {
  const root = join(dir, 'rootfs');
  mkdirSync(join(root, 'bin'), { recursive: true });
  for (const d of ['tmp', 'etc', 'proc', 'sys', 'dev']) mkdirSync(join(root, d), { recursive: true });
  copyFileSync(BUSYBOX_BIN, join(root, 'bin', 'busybox'));
  const applets = execFileSync(BUSYBOX_BIN, ['--list'], { encoding: 'utf8' })
    .split('\n')
    .filter((a) => a && a !== 'busybox');
  for (const a of applets) symlinkSync('busybox', join(root, 'bin', a));
  execFileSync('gcc', ['-static', '-O2', '-o', join(root, 'bin', 'cloexec-writer'), CLOEXEC_WRITER_SRC]);
  writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/tmp:/bin/sh\n');
  writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\nuser:x:1000:\n');
  const file = join(dir, 'layer.tar');
  execFileSync('tar', ['-C', root, '--owner=0', '--group=0', '--numeric-owner', '-cf', file, '.']);
  return { file, digest: createHash('sha256').update(readFileSync(file)).digest('hex') };
}

function archive(dir: string, tag: string, cmd: string[], l: { file: string; digest: string }): string {
  const out = join(dir, tag.replace(/[^a-z0-9]+/gi, '_'));
  mkdirSync(out, { recursive: true });
  copyFileSync(l.file, join(out, 'layer.tar'));
  const config = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/bin'], Cmd: cmd },
    rootfs: { type: 'layers', diff_ids: [`sha256:${l.digest}`] },
  });
  const configName = `${createHash('sha256').update(config).digest('hex')}.json`;
  writeFileSync(join(out, configName), config);
  writeFileSync(
    join(out, 'manifest.json'),
    JSON.stringify([{ Config: configName, RepoTags: [tag], Layers: ['layer.tar'] }]),
  );
  const tarball = `${out}.tar`;
  execFileSync('tar', ['-C', out, '-cf', tarball, '.']);
  return tarball;
}

/** Writes the two image tarballs into `dir`; returns their paths. */
export function buildImages(dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const l = layer(dir);
  return [
    archive(dir, BUSYBOX_IMAGE, ['sh'], l),
    // The sandbox only has to exist and stop on SIGKILL (containerd stops sandboxes with it).
    archive(dir, PAUSE_IMAGE, ['sleep', '2147483647'], l),
  ];
}
