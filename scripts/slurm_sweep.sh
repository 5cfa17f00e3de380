#!/usr/bin/env bash
# One shard of a CIFAR-10 sweep per Slurm array task.
#
# Submit from the repository root (the job cds to $SLURM_SUBMIT_DIR):
#   sbatch --array=0-7 scripts/slurm_sweep.sh                 # paper profile, 8 shards, into data/results
#   PROFILE=paper RESULTS=/shared/actbook sbatch --array=0-7 scripts/slurm_sweep.sh --set epochs=60
#   sbatch --array=3 --export=ALL,SHARDS=8 scripts/slurm_sweep.sh   # redo shard 4 of 8 alone
# Watch:
#   squeue -u $USER
#   tail -f slurm-*.out                                       # one log per task: slurm-<job>_<task>.out
# Merge and check (only needed when the shards wrote to different folders;
# with --set, the folder is <profile>+<hash> instead of <profile>, and under
# another backend or on several devices <profile>@<runtime>, e.g. paper@jax-gpu):
#   mkdir -p merged/paper && cp RESULTS_OF_EACH_SHARD/paper/*.json merged/paper/
#   python -m actbook check --profile paper --results merged/
# What a shard will train and roughly how long it takes:
#   python -m actbook plan --profile paper --shard 2/8
#
# Settings (environment, passed through by sbatch):
#   PROFILE     profile name (default: paper)
#   RESULTS     results folder (default: data/results); put it on storage
#               every node sees, so a requeued task finds its checkpoints
#   SHARDS      number of shards N (default: SLURM_ARRAY_TASK_COUNT); set it
#               when resubmitting some tasks of the array alone
#   EXTRA_ARGS  more arguments for `run` (word-split), like the script's own
#               arguments: --set KEY=VALUE, --activations, --seeds, --rerun-stale
#   PYTHON      the interpreter (default: python, from .venv when there is one)
#
# Requeue (preemption, node failure) needs nothing from this script: the
# runner skips finished cells and resumes a cell in progress from its last
# checkpoint (RESULTS/<profile>/.checkpoints/, written after every epoch;
# the training stream is a function of seed and epoch, so the resumed cell is
# bit-identical), so a requeued task loses at most one epoch.
# Hence no `--signal=B:USR1@120` trap: there is nothing to save on the way out.
# A cell still locked by a task that was not cleaned up is skipped with a
# message; `check` then lists it as missing, and resubmitting the shard runs it.
#
#SBATCH --job-name=actbook-sweep
#SBATCH --array=0-7
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --mem=32G
#SBATCH --time=06:00:00
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=slurm-%A_%a.out

set -euo pipefail

cd "${SLURM_SUBMIT_DIR:-$PWD}"
if [[ -f .venv/bin/activate ]]; then
    # shellcheck disable=SC1091
    source .venv/bin/activate
fi

PROFILE="${PROFILE:-paper}"
RESULTS="${RESULTS:-data/results}"
PYTHON="${PYTHON:-python}"
: "${SLURM_ARRAY_TASK_ID:?submit as an array job: sbatch --array=0-7 $0}"
SHARDS="${SHARDS:-${SLURM_ARRAY_TASK_COUNT:?SLURM_ARRAY_TASK_COUNT is not set}}"
shard=$((SLURM_ARRAY_TASK_ID + 1))
if (( shard > SHARDS )); then
    echo "error: array task ${SLURM_ARRAY_TASK_ID} has no shard among ${SHARDS}; use --array=0-$((SHARDS - 1))," \
         "or set SHARDS when resubmitting some tasks alone" >&2
    exit 2
fi

read -r -a extra <<< "${EXTRA_ARGS:-}"
cmd=("$PYTHON" -m actbook run --profile "$PROFILE" --results "$RESULTS"
     --shard "${shard}/${SHARDS}" --no-progress ${extra[@]+"${extra[@]}"} "$@")

echo "[$(date -u +%FT%TZ)] ${SLURM_JOB_ID:-?} task ${SLURM_ARRAY_TASK_ID} on $(hostname)" \
     "(restart ${SLURM_RESTART_COUNT:-0}): ${cmd[*]}"
exec "${cmd[@]}"
