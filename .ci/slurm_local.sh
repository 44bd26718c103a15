#!/usr/bin/env bash
# A one-node SLURM on this machine, for tests/test_slurm.py and CI (Debian 12, SLURM 22.05, root).
#
#   .ci/slurm_local.sh install   apt-get the daemons and clients (skipped when already installed)
#   .ci/slurm_local.sh start     write /etc/slurm/slurm.conf, start munged, slurmctld, slurmd, wait for an idle node
#   .ci/slurm_local.sh stop      stop the daemons this script started, by their recorded process ids
#   .ci/slurm_local.sh status    exit 0 when all three daemons are running, and print sinfo
#   .ci/slurm_local.sh uninstall stop, remove the config files this script wrote and its state, and
#                                apt-get purge exactly the packages its `install` added (none if SLURM
#                                was there before)
#
# Every command is idempotent. The cluster: one node `localhost` (CPUs = this machine's, RealMemory from
# /proc/meminfo, one pretend GPU), one partition `debug` (Default=YES), no accounting (job status comes
# from squeue).
# The config must live at /etc/slurm/slurm.conf: the jobs' own `srun` steps look only there, not at SLURM_CONF.
# An /etc/slurm/slurm.conf or gres.conf that this script did not write is never overwritten.
set -euo pipefail

BASE="${CONTLAWS_SLURM_DIR:-/var/tmp/contlaws-slurm}"  # state, spool and logs
PIDS="${CONTLAWS_SLURM_PIDS:-/run/contlaws-slurm}"      # recorded daemon pids (tmpfs: gone after a reboot)
ETC="${CONTLAWS_SLURM_ETC:-/etc/slurm}"                 # this and the next: only tests of this script change them
POLICY_RC="${CONTLAWS_SLURM_POLICY_RC:-/usr/sbin/policy-rc.d}"
CONF="$ETC/slurm.conf"
# the packages `install` added (one per line), kept where a reboot does not lose it; `uninstall` purges them
ADDED="$BASE/added-packages"
MARKER="# written by contlaws .ci/slurm_local.sh"
PARTITION=debug
DAEMONS=(munged slurmctld slurmd)                       # start order; stopped in reverse
PACKAGES=(slurmctld slurmd munge slurm-client)

die() { echo "slurm_local: error: $*" >&2; exit 1; }
say() { echo "slurm_local: $*" >&2; }

require_root() { [ "$(id -u)" -eq 0 ] || die "must run as root (it installs packages and starts daemons)"; }

installed() {
    local cmd
    for cmd in munged slurmctld slurmd sbatch squeue sinfo scontrol srun; do
        command -v "$cmd" >/dev/null 2>&1 || return 1
    done
}

cmd_install() {
    require_root
    if installed; then
        say "already installed: $(slurmctld -V)"
        return 0
    fi
    command -v apt-get >/dev/null || die "apt-get not found (this script supports Debian/Ubuntu only)"
    export DEBIAN_FRONTEND=noninteractive
    # keep the packages' init scripts from starting daemons at install time (`start` runs them itself)
    if [ ! -e "$POLICY_RC" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$POLICY_RC"
        chmod +x "$POLICY_RC"
        trap 'rm -f "$POLICY_RC"' EXIT
    fi
    timeout -k 10 300 apt-get update -qq || die "apt-get update failed (no network to the Debian mirror?)"
    mkdir -p "$BASE"
    installed_packages | sort >"$BASE/packages-before"
    timeout -k 10 600 apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null \
        || die "apt-get install ${PACKAGES[*]} failed"
    # record what this install added (the packages and their dependencies), for `uninstall`
    installed_packages | sort | comm -13 "$BASE/packages-before" - >>"$ADDED"
    rm -f "$BASE/packages-before"
    installed || die "packages installed but some SLURM/munge commands are still missing"
    say "installed: $(slurmctld -V)"
}

# Names of the installed Debian packages, one per line.
installed_packages() {
    dpkg-query -W -f='${binary:Package} ${db:Status-Status}\n' | awk '$2 == "installed" {print $1}'
}

# The pid recorded for daemon $1, if that process is still alive and is that daemon.
running_pid() {
    local file="$PIDS/$1.pid" pid
    [ -f "$file" ] || return 1
    pid="$(cat "$file")"
    [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
    # guard against a recycled pid: the process must be the daemon we started
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] || return 1
    echo "$pid"
}

write_config() {
    local file
    for file in "$CONF" "$ETC/gres.conf"; do
        if [ -f "$file" ] && ! grep -qxF "$MARKER" "$file"; then
            die "$file exists and was not written by this script; refusing to overwrite it"
        fi
    done
    local cpus mem_mb
    cpus="$(nproc)"
    # slurmd drains a node whose RealMemory exceeds what it detects: declare 90% of MemTotal.
    mem_mb="$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)"
    mkdir -p "$ETC" "$BASE/state" "$BASE/spool" "$BASE/log"
    cat >"$CONF.tmp" <<EOF
$MARKER
# One-node test cluster; see the header of .ci/slurm_local.sh.
ClusterName=contlaws
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
# linuxproc: tracks job processes through /proc; needs no cgroup setup inside containers
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# no accounting daemon: sacct has nothing to ask, so clients query job status with squeue
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# finished jobs stay visible to squeue for 5 minutes (the executor needs >= 3x its status interval)
MinJobAge=300
ReturnToService=2
MpiDefault=none
# one pretend GPU (no device file), so jobs of rules with resources: gpu=1 (sbatch --gpus=1) are scheduled
GresTypes=gpu
StateSaveLocation=$BASE/state
SlurmdSpoolDir=$BASE/spool
SlurmctldLogFile=$BASE/log/slurmctld.log
SlurmdLogFile=$BASE/log/slurmd.log
SlurmctldPidFile=$BASE/slurmctld.pid
SlurmdPidFile=$BASE/slurmd.pid
NodeName=localhost CPUs=$cpus RealMemory=$mem_mb Gres=gpu:1 State=UNKNOWN
PartitionName=$PARTITION Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
    mv "$CONF.tmp" "$CONF"
    printf '%s\nNodeName=localhost Name=gpu File=/dev/null\n' "$MARKER" >"$ETC/gres.conf"
}

ensure_munge_key() {
    local key=/etc/munge/munge.key
    if [ ! -s "$key" ]; then
        mkdir -p /etc/munge
        if command -v mungekey >/dev/null; then
            timeout -k 5 30 mungekey --create --keyfile="$key" --force
        else
            timeout -k 5 30 dd if=/dev/urandom of="$key" bs=1 count=1024 status=none
        fi
    fi
    chown munge:munge "$key" && chmod 0400 "$key"
    mkdir -p /run/munge /var/lib/munge /var/log/munge
    chown munge:munge /run/munge /var/lib/munge /var/log/munge
}

# Start daemon $1 in the foreground mode of the command line "$@" (after $1), detached; record its pid.
launch() {
    local name="$1" pid
    shift
    if pid="$(running_pid "$name")"; then
        say "$name already running (pid $pid)"
        return 0
    fi
    rm -f "$PIDS/$name.pid"
    # setsid: the daemon must not die with the calling shell or test (nor with a `timeout` around it).
    # The child records its own pid, then `exec`s the daemon, which keeps that pid.
    setsid bash -c 'echo $$ >"$0"; exec "$@"' "$PIDS/$name.pid" "$@" </dev/null >>"$BASE/log/$name.out" 2>&1 &
    wait_for 5 "[ -s '$PIDS/$name.pid' ]" || die "$name: no pid recorded"
    sleep 0.5
    running_pid "$name" >/dev/null || { tail -n 20 "$BASE/log/$name.out" "$BASE/log/$name.log" 2>/dev/null >&2 || true;
        die "$name exited at start (logs in $BASE/log)"; }
    say "$name started (pid $(cat "$PIDS/$name.pid"))"
}

munge_answers() { timeout -k 2 5 bash -c 'munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1'; }
export -f munge_answers  # wait_for runs its condition in a child bash

# Wait up to $1 seconds for `$2` (a shell condition) to hold.
wait_for() {
    timeout -k 5 "$1" bash -c "until $2; do sleep 0.5; done"
}

cmd_start() {
    require_root
    installed || die "SLURM is not installed: run '$0 install' first"
    mkdir -p "$PIDS" "$BASE/log"
    write_config
    ensure_munge_key
    if ! running_pid munged >/dev/null && munge_answers; then
        say "using the munged already running on this machine"
    else
        launch munged setpriv --reuid=munge --regid=munge --init-groups munged --foreground
    fi
    wait_for 20 munge_answers \
        || die "munge does not answer (see $BASE/log/munged.out, /var/log/munge/munged.log)"
    # -c: forget jobs of an earlier test run; -D: foreground, so the recorded pid is the daemon
    launch slurmctld slurmctld -D -c
    wait_for 30 "timeout -k 2 5 scontrol ping 2>/dev/null | grep -q UP" \
        || die "slurmctld does not answer (see $BASE/log/slurmctld.log)"
    launch slurmd slurmd -D -N localhost
    if ! wait_for 60 "timeout -k 2 5 sinfo -h -n localhost -o %t 2>/dev/null | grep -qx idle"; then
        timeout -k 2 5 sinfo -N -l >&2 || true
        tail -n 20 "$BASE/log/slurmd.log" >&2 || true
        die "node localhost did not become idle within 60 s (logs in $BASE/log)"
    fi
    say "ready: partition $PARTITION, node localhost idle"
}

cmd_stop() {
    local i name pid
    # cancel what is left of a test run (a killed workflow leaves its jobs running); our cluster only
    if running_pid slurmctld >/dev/null; then
        timeout -k 2 10 scancel --partition="$PARTITION" 2>/dev/null || true
    fi
    for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do
        name="${DAEMONS[i]}"
        if pid="$(running_pid "$name")"; then
            kill -TERM "$pid" 2>/dev/null || true
            if ! wait_for 15 "[ ! -d /proc/$pid ] || [ \"\$(cut -d' ' -f3 /proc/$pid/stat)\" = Z ]"; then
                say "$name (pid $pid) ignored SIGTERM; sending SIGKILL"
                kill -KILL "$pid" 2>/dev/null || true
            fi
            say "$name stopped (pid $pid)"
        fi
        rm -f "$PIDS/$name.pid"
    done
}

cmd_status() {
    local name pid missing=0
    for name in "${DAEMONS[@]}"; do
        if pid="$(running_pid "$name")"; then
            echo "$name running (pid $pid)"
        else
            echo "$name not running"
            missing=1
        fi
    done
    [ "$missing" -eq 0 ] && timeout -k 2 10 sinfo
    return "$missing"
}

cmd_uninstall() {
    require_root
    cmd_stop
    local file
    for file in "$CONF" "$ETC/gres.conf"; do
        if [ -f "$file" ] && grep -qxF "$MARKER" "$file"; then
            rm -f "$file"
        fi
    done
    rmdir "$ETC" 2>/dev/null || true  # only if nothing else is left in it
    if [ -s "$ADDED" ]; then
        export DEBIAN_FRONTEND=noninteractive
        # shellcheck disable=SC2046  # one package name per line
        timeout -k 10 600 apt-get purge -y -qq $(sort -u "$ADDED") >/dev/null \
            || die "apt-get purge $(sort -u "$ADDED" | tr '\n' ' ')failed"
        say "purged what install added: $(sort -u "$ADDED" | tr '\n' ' ')"
    else
        say "install added no packages here (SLURM was already installed): nothing to purge"
    fi
    rm -rf "$BASE" "$PIDS"
}

case "${1:-}" in
    install) cmd_install ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    uninstall) cmd_uninstall ;;
    *) echo "usage: $0 {install|start|stop|status|uninstall}" >&2; exit 2 ;;
esac
