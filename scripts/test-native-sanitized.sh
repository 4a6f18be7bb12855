#!/usr/bin/env bash
# Sanitizer run of bucketmount's native libfuse3 addon (issue 15; docs/fuse3.md, "Sanitizer run").
# Builds native/fuse3 with AddressSanitizer + UndefinedBehaviorSanitizer (LeakSanitizer included)
# into a temp dir (native/fuse3/build is left alone), runs the addon's own tests in a Node with the
# ASan runtime preloaded and a few FUSE suites with every mount process loading that build, then
# fails when a test fails, when a mount process ran without the runtime, or when any sanitizer
# report names our code (fuse3.c, fd-pass.c / bucketmount_fuse3.node). Reports of Node's own leaks are
# ignored. Needs root, /dev/fuse, gcc with libasan/libubsan (scripts/setup.sh installs them), MinIO.
# Usage: bash scripts/test-native-sanitized.sh [dist/test/... files run with sanitized mounts]
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
PATH="$(go env GOPATH 2>/dev/null)/bin:$PATH"
# shellcheck source=scripts/node-runtime.sh
. scripts/node-runtime.sh
use_project_node
say() { echo "sanitize: $*"; }
start=$SECONDS
work="$(mktemp -d "${TMPDIR:-/tmp}/bucketmount-sanitize.XXXXXX")"
reports="$work/reports"
mkdir -p "$reports" "$work/src"

# 1. The sanitizer build, with gcc (its libasan is what the processes preload).
asan_lib="$(gcc -print-file-name=libasan.so)"
[ -e "$asan_lib" ] || { say "gcc's libasan.so not found (apt-get install libasan8 libubsan1; scripts/setup.sh does)" >&2; exit 1; }
cp native/fuse3/binding.gyp native/fuse3/fuse3.c native/fuse3/fd-pass.c native/fuse3/napi-args.h "$work/src/"
# -fsanitize-recover=address (with halt_on_error=0 below): a bad access is reported and the process
# goes on. Aborting would hang the unit tests: their process serves the mount it is reading from,
# and a FUSE server that dies with one of its own requests in flight never finishes exiting.
flags="-fsanitize=address,undefined -fsanitize-recover=address -fno-omit-frame-pointer -g -O1"
if ! CC=gcc CFLAGS="$flags" LDFLAGS="$flags" \
  bash scripts/build-native.sh "$work/src" >"$work/build.log" 2>&1; then
  cat "$work/build.log" >&2; say "the sanitizer build failed (kept in $work)" >&2; exit 1
fi
addon="$work/src/build/Release/bucketmount_fuse3.node"
[ -f dist/cmd/bucketmount.js ] || npm run build --silent
say "built $addon in $((SECONDS - start)) s"

# 2. The environment. The addon refuses to load in a process without the ASan runtime first, so a
# mount process that missed LD_PRELOAD fails loudly instead of running unchecked.
cat >"$work/lsan.supp" <<'EOF'
# The session handle (napi_create_external's wrapper and the session struct only it reaches) is
# owned by a JS object: its only reference lives in the V8 heap, which LeakSanitizer does not scan,
# so at exit it always looks lost. test/unit/fuse3-addon-memory.test.ts checks that it is freed.
leak:napi_create_external
EOF
cat >"$work/bucketmount" <<EOF
#!/bin/sh
# bucketmount with the ASan runtime preloaded: BUCKETMOUNT_TEST_MOUNT_CMD of test/support/mount.ts.
echo \$\$ >>"$work/mount-pids"
LD_PRELOAD="$asan_lib" exec "$(command -v node)" "$repo/dist/cmd/bucketmount.js" "\$@"
EOF
chmod 0755 "$work/bucketmount"
: >"$work/mount-pids"
export BUCKETMOUNT_FUSE3_ADDON="$addon" BUCKETMOUNT_TEST_FUSE_LAYER=fuse3 BUCKETMOUNT_TEST_MOUNT_CMD="$work/bucketmount"
# exitcode=0: a leak report (Node always has a few of its own) must not change exit codes the tests
# check; the reports are judged in step 5. A fatal error (SEGV) still aborts (abort_on_error).
# atexit=1: every process that exits normally writes its allocator stats, the proof in step 4 that
# a mount process ran instrumented.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=0:exitcode=0:abort_on_error=1:atexit=1:log_path=$reports/asan"
export LSAN_OPTIONS="suppressions=$work/lsan.supp"
export UBSAN_OPTIONS="print_stacktrace=1:log_path=$reports/ubsan"

# A unit-test process that died while serving its own mount (fsname addontest / memorytest) is
# stuck in exit until the kernel's FUSE connection is aborted: abort it and detach the mount.
release_unit_mounts() {
  local mm mnt src ctl=/sys/fs/fuse/connections own_ctl=0
  while read -r mm mnt src; do
    if [ -z "$(ls -A "$ctl" 2>/dev/null)" ] && mount -t fusectl fusectl "$ctl" 2>/dev/null; then own_ctl=1; fi
    say "aborting the FUSE connection of $mnt ($src): its server died" >&2
    echo 1 >"$ctl/${mm#*:}/abort" 2>/dev/null || true
    umount -l "$mnt" 2>/dev/null || true
  done < <(awk '{ for (i = 7; $i != "-"; i++); if ($(i + 1) == "fuse.bucketmount" && ($(i + 2) == "addontest" || $(i + 2) == "memorytest")) print $3, $5, $(i + 2) }' /proc/self/mountinfo)
  if [ "$own_ctl" = 1 ]; then umount "$ctl" || true; fi
}

# 3. The runs.
status=0
LD_PRELOAD="$asan_lib" timeout -k 5 300 node --test --test-concurrency=1 \
  dist/test/unit/fuse3-addon.test.js dist/test/unit/fuse3-addon-memory.test.js || status=1
release_unit_mounts
if [ $# -gt 0 ]; then suites=("$@"); else
  suites=(dist/test/fs/fuse3-stress.test.js dist/test/fs/reads.test.js dist/test/fs/writes.test.js dist/test/fs/supervise.test.js)
fi
# Two supervise tests are skipped here: their timing assumes an uninstrumented server, and ASan
# slows every process down (not memory errors; docs/fuse3.md "Sanitizer run"). One kills each
# server 2 s after it starts and counts takeovers (a slowed successor is killed before it took
# over); the other SIGTERMs the supervisor 20 ms after SIGKILLing its server (the supervisor may
# see the SIGTERM before the server's exit, and then ends with 1 instead of 0).
node --test --test-concurrency=1 --test-timeout=600000 \
  --test-skip-pattern='a reader sees no error while the server is kill -9ed twice' \
  --test-skip-pattern='SIGTERM right after a server crash' "${suites[@]}" || status=1
[ "$status" = 0 ] || say "a test failed" >&2

# 4. Every mount process started by the tests ran with the runtime (it wrote its exit record).
mounts=0 unchecked=0
while read -r pid; do
  mounts=$((mounts + 1))
  grep -qs 'Stats:' "$reports/asan.$pid" || { unchecked=$((unchecked + 1)); say "mount process $pid left no sanitizer record" >&2; }
done <"$work/mount-pids"
[ "$mounts" -gt 0 ] || { say "no mount process went through the sanitizer wrapper" >&2; status=1; }
[ "$unchecked" = 0 ] || status=1

# 5. Reports that name our code: an ASan error report, a leak whose allocation stack passes
# through the addon or libfuse3 (only the addon uses libfuse3 in these processes; fuse-native links
# libfuse 2), any UBSan report (only the addon is built with UBSan).
ours_re='fuse3\.c|fd-pass\.c|bucketmount_fuse3|libfuse3\.so'
ours="$work/ours.txt" errors=0 leaks=0
: >"$ours"
for f in "$reports"/asan.*; do
  [ -e "$f" ] || continue
  if grep -q 'ERROR: AddressSanitizer' "$f"; then
    errors=$((errors + 1))
    grep -qE "$ours_re" "$f" && { echo "== $f" && cat "$f"; } >>"$ours"
  fi
  leaks=$((leaks + $(grep -cE '^(Direct|Indirect) leak' "$f" || true)))
  re="$ours_re" awk -v RS= -v ORS='\n\n' -v f="$f" '/^(Direct|Indirect) leak/ && $0 ~ ENVIRON["re"] { print "== " f; print }' "$f" >>"$ours"
done
for f in "$reports"/ubsan.*; do [ -e "$f" ] && { echo "== $f" && cat "$f"; } >>"$ours"; done
say "$mounts mount processes instrumented; $errors ASan error reports, $leaks leak reports in all (Node's own included)"
if [ -s "$ours" ]; then
  say "sanitizer reports naming the addon:" >&2
  cat "$ours" >&2
  status=1
fi
say "took $((SECONDS - start)) s"
if [ "$status" = 0 ]; then
  rm -rf "$work"
  say "ok: no invalid access, undefined behaviour or leak in the addon"
else
  say "FAILED (build, reports and logs kept in $work)" >&2
fi
exit "$status"
