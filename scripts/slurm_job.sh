#!/bin/bash
# The body of fine_tune_har_clip.slurm and fine_tune_har_siglip.slurm (submit those, not this):
#
#   exec bash scripts/slurm_job.sh FAMILY [flags for fine_tune_har_FAMILY.py ...]
#
# Runs one torchrun per node under a single srun (c10d rendezvous on the first node), one training process per GPU,
# or one CPU process when the job has no GPU. Near the time limit (--signal=B:USR1@...) it asks the training to
# checkpoint and requeues the job; on preemption or `scontrol requeue` Slurm sends SIGTERM to every process and
# requeues the job itself. A requeued or resubmitted job resumes from the newest complete checkpoint in the
# (deterministic) run folder; a finished run exits at once. Under a job array (`sbatch --array`) each task is such a
# job on its own: the training parser turns SLURM_ARRAY_TASK_ID into the task's seed or sweep combination and its run
# folder (har_finetune/settings/tasks.py), in check_args below and in every training process alike.
#
# Settings from the environment (sbatch --export=ALL passes them on):
#   VENV            virtual environment to activate (default: .venv of the repository)
#   HF_HOME         Hugging Face cache, on a filesystem the compute nodes share (default: ~/.cache/huggingface)
#   HF_HUB_OFFLINE  1 by default: compute nodes often have no internet; prefetch on a login node (docs/slurm.md)
#   NPROC_PER_NODE  training processes per node (default: GPUs allocated on the node, or 1 without GPU)
#   MASTER_PORT     rendezvous port on the first node (default: 29500 + job id % 1000)
set -euo pipefail
# The braces around the rest make bash read the whole file before running any of it: editing this script (or
# pulling a new version) while jobs run or wait in the queue cannot break them halfway.
{
family=${1:?usage: scripts/slurm_job.sh clip|siglip [training flags]}
shift
PREEMPTED_EXIT_CODE=124  # har_finetune/training/preemption.py: "stopped early, checkpoint saved"
log() { echo "[$(date '+%F %T')] slurm_job: $*"; }

# --- environment: the one place ---------------------------------------------------------------------------------
cd "${SLURM_SUBMIT_DIR:?submit fine_tune_har_${family}.slurm with sbatch from the repository root}"
# shellcheck disable=SC1091
source "${VENV:-.venv}/bin/activate"
export HF_HOME=${HF_HOME:-$HOME/.cache/huggingface}
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1}
export PYTHONUNBUFFERED=1  # log lines reach logs/ as they happen

# --- processes: one torchrun per node, one training process per GPU ----------------------------------------------
gpus=${SLURM_GPUS_ON_NODE:-0}
if [[ $gpus == 0 && -n ${CUDA_VISIBLE_DEVICES:-} ]]; then
    gpus=$(tr ',' '\n' <<<"$CUDA_VISIBLE_DEVICES" | grep -c .)
fi
nproc=${NPROC_PER_NODE:-$((gpus > 0 ? gpus : 1))}

# --- the command line, checked here in seconds, before srun and torchrun start (the same parser, no data read) ---
# a bad flag is one `error:` line and exit 2; a finished run is one line and exit 0 (resubmitting it does nothing)
FINISHED_EXIT_CODE=10  # har_finetune/check_args.py
check=0
# the world size the job will have: a run resumed with another one would change its effective batch (refused)
HAR_WORLD_SIZE=$((SLURM_JOB_NUM_NODES * nproc)) python -m har_finetune.check_args "$family" "$@" || check=$?
if ((check == FINISHED_EXIT_CODE)); then
    exit 0
elif ((check != 0)); then
    exit "$check"
fi

if ((gpus == 0)); then
    # without it, several CPU processes would each train alone (transformers only sets up gloo DDP for use_cpu)
    export ACCELERATE_USE_CPU=true
fi
# each process gets its share of the task's CPUs (torchrun would otherwise set 1 thread)
threads=$((${SLURM_CPUS_PER_TASK:-1} / nproc))
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$((threads > 0 ? threads : 1))}
# The rendezvous host is the first node, by an address that resolves: a Slurm node name need not be a host name
# (NodeName=n1 NodeHostname=... NodeAddr=...), so take its NodeAddr, else ask the node itself (`hostname -I`)
first_node() {
    local node addr
    node=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
    addr=$(scontrol show node "$node" 2>/dev/null | grep -o 'NodeAddr=[^ ]*' | cut -d= -f2 || true)
    if [[ -z $addr ]] || ! getent hosts "$addr" >/dev/null; then
        addr=$(srun --nodes=1 --ntasks=1 -w "$node" hostname -I | awk '{print $1}')
    fi
    echo "${addr:-$node}"
}
master=127.0.0.1  # one node: no need for any name to resolve
if ((SLURM_JOB_NUM_NODES > 1)); then
    master=$(first_node)
fi
port=${MASTER_PORT:-$((29500 + SLURM_JOB_ID % 1000))}
# An array task is named <array job>_<index>: the last task's own job id equals the array's id, and
# `scontrol requeue <array id>` would requeue every task of the array (finished ones too)
job=$SLURM_JOB_ID
if [[ -n ${SLURM_ARRAY_TASK_ID:-} ]]; then
    job=${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}
fi
log "job $job (restart ${SLURM_RESTART_COUNT:-0}): $SLURM_JOB_NUM_NODES node(s) x $nproc process(es)," \
    "$([[ $gpus == 0 ]] && echo "no GPU: CPU run" || echo "$gpus GPU(s) per node"), rendezvous $master:$port"

# --- preemption --------------------------------------------------------------------------------------------------
# A trap runs only once the foreground command returns, so srun runs in the background and we `wait` for it,
# again after every signal, until it has really exited (i.e. the checkpoint is written).
time_limit_signal=0
srun_pid=
# shellcheck disable=SC2317  # (the trap handlers are called indirectly)
on_usr1() {  # sbatch --signal=B:USR1@margin: the time limit is near
    time_limit_signal=1
    log "SIGUSR1: time limit near, asking the training processes to checkpoint and stop"
    if [[ -n $srun_pid ]]; then
        kill -USR1 "$srun_pid" 2>/dev/null || true  # srun passes it on to every process of the step, on every node
    fi
}
# shellcheck disable=SC2317
on_term() {  # preemption, scontrol requeue, scancel: Slurm signals every process of the job itself
    log "SIGTERM: the training processes checkpoint and stop; Slurm requeues the job if it was preempted"
}
trap on_usr1 USR1
trap on_term TERM

# har_finetune.training.launch is torchrun that ignores SIGUSR1 itself and exits 124 when the training stopped for preemption
# (--cpus-per-task is repeated because srun of Slurm 22.05-23.02 does not take it over from sbatch)
srun --kill-on-bad-exit=1 --ntasks-per-node=1 ${SLURM_CPUS_PER_TASK:+--cpus-per-task=$SLURM_CPUS_PER_TASK} \
    python -m har_finetune.training.launch --nnodes="$SLURM_JOB_NUM_NODES" --nproc_per_node="$nproc" \
    --rdzv_backend=c10d --rdzv_endpoint="$master:$port" --rdzv_id="$SLURM_JOB_ID" \
    "fine_tune_har_${family}.py" "$@" &
srun_pid=$!
while [[ -n $(jobs -rp) ]]; do  # srun is our only background job
    wait "$srun_pid" || true   # returns early when a trapped signal arrives: wait again
done
rc=0
wait "$srun_pid" || rc=$?      # bash keeps the exit status of the finished step

# Requeue only for our own time-limit signal: `scontrol requeue` would also revive a job the user scancel'ed
if ((rc == PREEMPTED_EXIT_CODE && time_limit_signal)); then
    log "training checkpointed before the time limit; requeueing job $job to resume"
    trap '' TERM  # the requeue signals this shell too
    scontrol requeue "$job"
    exit 0
fi
log "training exited with $rc"
exit "$rc"
}
