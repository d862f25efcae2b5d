#!/usr/bin/env bash
# Stop the test cluster started by slurm_up.sh STATE_DIR: cancel its jobs, then stop
# slurmd, slurmctld and munged, each by the pid in its own pid file under STATE_DIR
# (never by name: other SLURM or munge daemons on the machine are left alone).
set -uo pipefail

STATE=${1:?usage: slurm_down.sh STATE_DIR}
[[ -d $STATE ]] || exit 0
STATE=$(cd "$STATE" && pwd)
export SLURM_CONF="$STATE/slurm.conf"

# Jobs' processes (slurmstepd and the job itself) outlive slurmd: cancel them first.
if [[ -f $SLURM_CONF && -f $STATE/slurmctld.pid ]] && command -v scancel >/dev/null 2>&1; then
    if [[ -n $(squeue -h -t PENDING,RUNNING,CONFIGURING,COMPLETING -o %i 2>/dev/null) ]]; then
        scancel --full --user="$(id -un)" 2>/dev/null || true
        for _ in $(seq 50); do
            [[ -z $(squeue -h -t PENDING,RUNNING,CONFIGURING,COMPLETING -o %i 2>/dev/null) ]] && break
            sleep 0.2
        done
    fi
fi

# stop NAME PIDFILE: SIGTERM the pid if it is that daemon, wait, then SIGKILL.
stop() {
    local name=$1 pidfile=$2 pid
    [[ -f $pidfile ]] || return 0
    pid=$(tr -dc 0-9 <"$pidfile")
    if [[ -n $pid ]] && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]]; then
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    fi
    rm -f "$pidfile"
}

# The link slurm_up.sh made for the jobs' srun (only if it still leads here).
[[ $(readlink /etc/slurm/slurm.conf 2>/dev/null) == "$STATE/slurm.conf" ]] && rm -f /etc/slurm/slurm.conf

stop slurmd "$STATE/slurmd.pid"
stop slurmctld "$STATE/slurmctld.pid"
stop munged "$STATE/munge/munged.pid"
exit 0
