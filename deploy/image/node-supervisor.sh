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
# - With an fd keeper (csi-driver flag --fd-keeper=<socket> with a non-empty value, and that
#   socket present: the bucketmount-fd-keeper DaemonSet runs on this node), the stop PARKS the
#   supervised mounts instead: a mount supervisor (argv has --supervise) gets SIGQUIT, has its
#   server flush pending uploads and exit WITHOUT unmounting, then exits itself; the keeper's
#   duplicate of /dev/fuse keeps the connection, pods see a pause, and the next plugin container's
#   reconcile takes the descriptor back and resumes the mount. Servers of a supervisor (argv has
#   --fuse-fd=) get no signal from here (their supervisor stops them); any other mount process
#   (unsupervised) gets SIGTERM as above. The wait and its timeout are the same. Without the
#   flag, or when the socket is missing (no keeper), everything gets SIGTERM as above.
set -u
DRIVER=${BUCKETMOUNT_DRIVER:-/app/dist/cmd/csi-driver.js}
FLUSH_TIMEOUT=${BUCKETMOUNT_FLUSH_TIMEOUT_SECONDS:-100}
# The fd keeper's socket, from csi-driver's own --fd-keeper=<path> (the last one given wins, as
# in the driver); empty: no keeper.
FD_KEEPER=""
for arg in "$@"; do
  case "$arg" in
    --fd-keeper=*) FD_KEEPER=${arg#--fd-keeper=} ;;
  esac
done
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

# Sends the stop signals; with a keeper: SIGQUIT to supervisors (park), nothing to their servers,
# SIGTERM to unsupervised mount processes.
signal_mounts() { # pids (one a line)
  local pid cmd park="" term="" parked=0 termed=0 servers=0
  if [ -z "$FD_KEEPER" ]; then
    log info "stopping: asking $(echo "$1" | wc -l) mount process(es) to flush and unmount"
    # shellcheck disable=SC2086
    kill -TERM $1 2>/dev/null
    return 0
  fi
  if [ ! -S "$FD_KEEPER" ]; then
    log warn "stopping: no fd keeper socket at $FD_KEEPER, so nothing can hold the connections; asking $(echo "$1" | wc -l) mount process(es) to flush and unmount"
    # shellcheck disable=SC2086
    kill -TERM $1 2>/dev/null
    return 0
  fi
  for pid in $1; do
    # The joined argv ends with a space: " --supervise " is that whole argument.
    cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || continue
    # A supervisor first: one that resumed a kept connection has --fuse-fd= too.
    case "$cmd" in
      *\ --supervise\ *)
        park="$park $pid"
        parked=$((parked + 1))
        ;;
      *\ --fuse-fd=*) servers=$((servers + 1)) ;;
      *)
        term="$term $pid"
        termed=$((termed + 1))
        ;;
    esac
  done
  log info "stopping with fd keeper $FD_KEEPER: parking $parked supervised mount(s) (SIGQUIT: flush, exit without unmounting; the keeper holds the connection), leaving $servers supervised server(s) to their supervisors, asking $termed unsupervised mount process(es) to flush and unmount (SIGTERM)"
  # shellcheck disable=SC2086
  if [ -n "$park" ]; then kill -QUIT $park 2>/dev/null; fi
  # shellcheck disable=SC2086
  if [ -n "$term" ]; then kill -TERM $term 2>/dev/null; fi
  return 0
}

pids=$(mount_pids)
if [ -n "$pids" ]; then
  signal_mounts "$pids"
  deadline=$(($(date +%s) + FLUSH_TIMEOUT))
  while [ -n "$(mount_pids)" ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 1; done
  left=$(mount_pids)
  if [ -n "$left" ]; then
    log error "mount process(es) still running after ${FLUSH_TIMEOUT}s: $(echo "$left" | tr '\n' ' ')"
  fi
fi
log info "stopped"
exit 0
