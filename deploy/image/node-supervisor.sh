#!/usr/bin/env bash
# node-supervisor: runs the CSI node plugin inside the node DaemonSet's driver container
# (started as `tini -- node-supervisor <csi-driver flags>`; tini reaps the mount processes that
# get re-parented to PID 1).
#
# - If csi-driver exits on its own (crash, OOM kill of that one process), it is restarted in
#   place with a growing back-off. The container stays up, so the per-volume FUSE mount
#   processes it spawned (detached, own session) keep serving pods; the restarted plugin adopts
#   them from its state dir.
# - On SIGTERM/SIGINT (pod deletion, node drain, DaemonSet update): stop csi-driver, then send
#   SIGTERM to every mount process (each flushes pending uploads and unmounts) and wait for them,
#   up to BUCKETMOUNT_FLUSH_TIMEOUT_SECONDS (default 100). Without this the kernel would SIGKILL
#   them the moment PID 1 exits, dropping writes that were still uploading.
set -u
DRIVER=${BUCKETMOUNT_DRIVER:-/app/dist/cmd/csi-driver.js}
FLUSH_TIMEOUT=${BUCKETMOUNT_FLUSH_TIMEOUT_SECONDS:-100}
stopping=0
child=0

log() { # level message (JSON like the driver's own logs)
  printf '{"level":"%s","component":"node-supervisor","message":"%s","timestamp":"%s"}\n' \
    "$1" "$2" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >&2
}

on_stop() {
  stopping=1
  if [ "$child" -gt 0 ]; then kill -TERM "$child" 2>/dev/null; fi
}
trap on_stop TERM INT

# PIDs of mount processes: their argv is `node .../bucketmount.js mount ...`.
mount_pids() {
  local dir cmd
  for dir in /proc/[0-9]*; do
    [ "${dir#/proc/}" = "$$" ] && continue
    cmd=$(tr '\0' ' ' <"$dir/cmdline" 2>/dev/null) || continue
    case "$cmd" in
      *bucketmount.js\ mount\ *) printf '%s\n' "${dir#/proc/}" ;;
    esac
  done
}

backoff=1
while :; do
  started=$(date +%s)
  node "$DRIVER" "$@" &
  child=$!
  # `wait` returns early when a trapped signal arrives: keep waiting until the child is gone.
  wait "$child"
  rc=$?
  while kill -0 "$child" 2>/dev/null; do
    wait "$child"
    rc=$?
  done
  child=0
  [ "$stopping" = 1 ] && break
  # A run that lasted a minute resets the back-off.
  if [ $(($(date +%s) - started)) -ge 60 ]; then backoff=1; fi
  log error "csi-driver exited with status $rc; restarting in ${backoff}s (mount processes keep running)"
  sleep "$backoff" &
  wait $!
  [ "$stopping" = 1 ] && break
  backoff=$((backoff * 2))
  [ "$backoff" -gt 30 ] && backoff=30
done

pids=$(mount_pids)
if [ -n "$pids" ]; then
  log info "stopping: asking $(echo "$pids" | wc -l) mount process(es) to flush and unmount"
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null
  deadline=$(($(date +%s) + FLUSH_TIMEOUT))
  while [ -n "$(mount_pids)" ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 1; done
  left=$(mount_pids)
  if [ -n "$left" ]; then
    log error "mount process(es) still running after ${FLUSH_TIMEOUT}s: $(echo "$left" | tr '\n' ' ')"
  fi
fi
log info "stopped"
exit 0
