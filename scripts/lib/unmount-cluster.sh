# Sourced by the stop scripts.

# wait_or_kill PID WAIT_S: waits up to WAIT_S for a signalled process to
# exit; kills it past that. Succeeds when it exited by itself.
wait_or_kill() {
  local pid="$1" wait_s="$2"
  for _ in $(seq 1 $((wait_s * 10))); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null || return 0
  kill -KILL "$pid" 2>/dev/null || true
  return 1
}

# unmount_cluster_mount DIR WAIT_S stops the host
# mount that mount_cluster.sh (or start_cluster.sh --mount) recorded in
# DIR/run. SIGTERM makes mountd flush open files and unmount; if it is stuck
# past WAIT_S, kill it and detach the mountpoint lazily. Only a mountd whose
# command line names DIR is signalled (a stale pid file never hits another
# process).
unmount_cluster_mount() {
  local dir="$1" wait_s="$2" mpid mnt
  [ -f "$dir/run/mountd.pid" ] || return 0
  mpid="$(cat "$dir/run/mountd.pid")"
  mnt="$(cat "$dir/run/mountpoint" 2>/dev/null || true)"
  if [ -n "$mpid" ] && kill -0 "$mpid" 2>/dev/null && tr '\0' ' ' < "/proc/$mpid/cmdline" 2>/dev/null | grep -qF -- "$dir/"; then
    kill -TERM "$mpid"
    if wait_or_kill "$mpid" "$wait_s"; then
      echo "stop_cluster: unmounted $mnt (mountd pid $mpid)"
    else
      echo "stop_cluster: mountd (pid $mpid) did not unmount within ${wait_s}s; killing it" >&2
    fi
  fi
  if [ -n "$mnt" ] && grep -qF " $mnt fuse.mosaic " /proc/mounts; then fusermount -u -z "$mnt" || true; fi
  rm -f "$dir/run/mountd.pid" "$dir/run/mountpoint"
}
