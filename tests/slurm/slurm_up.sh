#!/usr/bin/env bash
# Start a real single-node SLURM cluster on localhost, its files all inside STATE_DIR.
#
#   tests/slurm/slurm_up.sh STATE_DIR      start (installs the Debian packages if missing)
#   tests/slurm/slurm_down.sh STATE_DIR    cancel its jobs, stop every daemon by pid file
#
# Then point the SLURM commands at it:  export SLURM_CONF=STATE_DIR/slurm.conf
#
# Why it looks like this (see /work/shared/notes/slurm-ci.md): there is no systemd,
# so nothing starts by itself; munged, slurmctld and slurmd are started by hand with
# their own key, socket, free ports, spool, state, log and pid files under STATE_DIR.
# The one file outside it is the link /etc/slurm/slurm.conf -> STATE_DIR/slurm.conf
# (see below why), made only when no real configuration is there.
# No accounting (no slurmdbd): snakemake's status command must be squeue, which sees
# finished jobs for MinJobAge seconds. The node has stand-in "gpu" GRES (links to
# /dev/null) so that a test can check that a GPU request reaches the scheduler.
#
# Exit status: 0 up and idle; 3 SLURM/munge missing and cannot be installed (callers
# skip); anything else is a real failure (the daemons' logs are printed).
set -euo pipefail

STATE=${1:?usage: slurm_up.sh STATE_DIR}
MIN_JOB_AGE=${SLURM_MIN_JOB_AGE:-600}
ETC_CONF=/etc/slurm/slurm.conf
mkdir -p "$STATE"
STATE=$(cd "$STATE" && pwd)
chmod 755 "$STATE"  # munged runs as the munge user
MUNGE="$STATE/munge"
export SLURM_CONF="$STATE/slurm.conf"

# ---------------------------------------------------------------- packages
missing=()
for bin in munged mungekey slurmctld slurmd sbatch squeue scontrol sinfo; do
    command -v "$bin" >/dev/null 2>&1 || missing+=("$bin")
done
if ((${#missing[@]})); then
    if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        echo "slurm_up: ${missing[*]} missing and apt-get unusable (need root on Debian/Ubuntu)" >&2
        exit 3
    fi
    if ! { apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            slurmctld slurmd slurm-client munge; } >"$STATE/apt.log" 2>&1; then
        echo "slurm_up: apt-get could not install slurmctld slurmd slurm-client munge:" >&2
        tail -n 5 "$STATE/apt.log" >&2
        exit 3
    fi
fi

# ---------------------------------------------------------------- checks (nothing started yet)
# Snakemake's slurm-jobstep plugin removes every SLURM_* variable, SLURM_CONF included,
# before the srun inside each job, which then reads /etc/slurm/slurm.conf only: that
# path must lead to this cluster's configuration.
if [[ -e $ETC_CONF && ! -L $ETC_CONF ]]; then
    echo "slurm_up: $ETC_CONF is a real SLURM configuration; not replacing it" >&2
    exit 1
fi
if [[ -L $ETC_CONF ]]; then
    # A link left by an earlier test cluster: replace it unless that cluster still runs.
    other=$(dirname "$(readlink "$ETC_CONF")")
    pid=$({ tr -dc 0-9 <"$other/slurmctld.pid"; } 2>/dev/null || true)
    if [[ $other != "$STATE" && -n $pid && $(cat "/proc/$pid/comm" 2>/dev/null) == slurmctld ]]; then
        echo "slurm_up: another test cluster ($other) is running; stop it with slurm_down.sh $other" >&2
        exit 1
    fi
fi
mkdir -p "$MUNGE" "$STATE/ctld" "$STATE/spool"
chown munge:munge "$MUNGE"
chmod 755 "$MUNGE"  # munged wants its socket's directory reachable by all
if ! runuser -u munge -- test -x "$MUNGE"; then
    echo "slurm_up: the munge user cannot reach $MUNGE: the directories above STATE_DIR must be world-executable" >&2
    exit 1
fi

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---------------------------------------------------------------- configuration
# Usable cores whatever OMP_NUM_THREADS says: GNU nproc honours it, which would shrink the node.
CPUS=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
# A little below MemTotal: slurmd drains a node that has less memory than configured.
MEM_MB=$(awk '/^MemTotal:/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
cat >"$SLURM_CONF" <<EOF
# Written by tests/slurm/slurm_up.sh: a one-node test cluster on localhost.
ClusterName=locfusion-ci
SlurmctldHost=localhost
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE/munge.socket
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
# Finished jobs stay visible to squeue/scontrol this long (snakemake's squeue
# status checks need at least 3 x slurm-init-seconds-before-status-checks).
MinJobAge=$MIN_JOB_AGE
KillWait=5
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
GresTypes=gpu
NodeName=localhost NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=$CPUS Sockets=1 CoresPerSocket=$CPUS ThreadsPerCore=1 RealMemory=$MEM_MB Gres=gpu:$CPUS State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
# Stand-in GPUs: slurmd drops GPUs without a device file and wants a character
# device, so each "GPU" is a link to /dev/null. Nothing runs on them.
for ((i = 0; i < CPUS; i++)); do ln -sfn /dev/null "$STATE/fakegpu$i"; done
cat >"$STATE/gres.conf" <<EOF
NodeName=localhost Name=gpu File=$STATE/fakegpu[0-$((CPUS - 1))]
EOF
if [[ ! -s $MUNGE/munge.key ]]; then
    mungekey --create --keyfile="$MUNGE/munge.key"
    chown munge:munge "$MUNGE/munge.key"
    chmod 400 "$MUNGE/munge.key"
fi

# ---------------------------------------------------------------- daemons
cleanup_on_error() {
    echo "slurm_up: SLURM did not come up; logs follow" >&2
    for f in "$MUNGE/munged.log" "$STATE/slurmctld.log" "$STATE/slurmd.log"; do
        [[ -f $f ]] && { echo "== $f" >&2; tail -n 20 "$f" >&2; }
    done
    "$(dirname "$0")/slurm_down.sh" "$STATE" >&2 || true
}
trap cleanup_on_error ERR

mkdir -p /etc/slurm
ln -sfn "$SLURM_CONF" "$ETC_CONF"
runuser -u munge -- munged --socket="$MUNGE/munge.socket" --key-file="$MUNGE/munge.key" \
    --pid-file="$MUNGE/munged.pid" --log-file="$MUNGE/munged.log" --seed-file="$MUNGE/munged.seed"
for _ in $(seq 50); do
    munge --socket="$MUNGE/munge.socket" -n 2>/dev/null | unmunge --socket="$MUNGE/munge.socket" >/dev/null 2>&1 && break
    sleep 0.1
done
munge --socket="$MUNGE/munge.socket" -n | unmunge --socket="$MUNGE/munge.socket" >/dev/null
slurmctld -i -f "$SLURM_CONF"
slurmd -N localhost -f "$SLURM_CONF"  # the machine's hostname is not the node's name
state=""
for _ in $(seq 150); do
    state=$(sinfo -h -o %T 2>/dev/null || true)
    [[ $state == idle ]] && break
    sleep 0.2
done
if [[ $state != idle ]]; then
    echo "slurm_up: node state '${state}' after 30 s, expected idle" >&2
    false
fi
trap - ERR
echo "SLURM_CONF=$SLURM_CONF"
