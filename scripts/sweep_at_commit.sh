#!/usr/bin/env bash
# Run (or resume) one stage of a sweep from a clean worktree pinned at one
# commit, and commit each finished cell, one commit per cell, onto a branch.
#
# A sweep that outlives a session: every session starts it with the same line
# (from the main checkout's root), and it goes on from the committed cells:
#   nohup bash scripts/sweep_at_commit.sh d36a580 fit8k final > sweep.log 2>&1 &
# Later, from the main checkout, take the finished cells into main:
#   git merge --no-ff sweep/fit8k
#   .venv/bin/python -m actbook check --profile fit8k --results data/results   # only "missing" cells until done
#
# What it does:
#   1. the worktree ../sweep-<profile> at COMMIT (made if absent; refused if it
#      holds another commit or uncommitted changes to tracked files), with its
#      own .venv from that commit's requirements.txt, so the cells record that
#      commit and a clean tree;
#   2. the profile's cells already in this checkout (data/results/<profile>/ and
#      <profile>.chosen_rates.json: the grid, the chosen rates, finished final
#      cells) copied into the worktree, untracked there, so the runner skips them;
#   3. `actbook run` for the stage in the background (a cell in progress resumes
#      from its checkpoint, bit for bit);
#   4. every minute, and once more when the run ends, each finished cell (its
#      JSON and its predictions file) that the branch sweep/<profile> lacks is
#      committed there (in the worktree ../sweep-<profile>-cells), one commit per cell.
# A cell running when the machine goes away is lost; its checkpoint goes with
# the machine. Committed cells are never lost.
#
# Settings (environment): ACTBOOK_CIFAR10 (required by the runner),
# SWEEP_WORKTREE the pinned worktree (default ../sweep-<profile>),
# SWEEP_POLL seconds between looks for finished cells (default 60).
set -euo pipefail

usage() { echo "usage: $0 COMMIT PROFILE [grid|final]" >&2; exit 2; }
[ $# -ge 2 ] && [ $# -le 3 ] || usage
COMMIT="$1"; PROFILE="$2"; STAGE="${3:-final}"
case "$STAGE" in grid|final) ;; *) usage ;; esac
case "$PROFILE" in *[!A-Za-z0-9_]*|"") echo "$0: $PROFILE is not a profile name" >&2; exit 2 ;; esac
: "${ACTBOOK_CIFAR10:?set ACTBOOK_CIFAR10 to the absolute path of the CIFAR-10 archive}"

MAIN="$(git rev-parse --show-toplevel)"
PIN="$(git -C "$MAIN" rev-parse --verify --quiet "$COMMIT^{commit}")" \
    || { echo "$0: $COMMIT is not a commit of this repository" >&2; exit 2; }
RUN="${SWEEP_WORKTREE:-$MAIN/../sweep-$PROFILE}"
CELLS="$MAIN/../sweep-$PROFILE-cells"
BRANCH="sweep/$PROFILE"
POLL="${SWEEP_POLL:-60}"
say() { echo "$(date -u +%FT%TZ) $*"; }

if [ ! -d "$RUN" ]; then
    git -C "$MAIN" worktree add --detach "$RUN" "$PIN"
fi
[ "$(git -C "$RUN" rev-parse HEAD)" = "$PIN" ] \
    || { echo "$0: $RUN holds $(git -C "$RUN" rev-parse --short HEAD), not $COMMIT" >&2; exit 1; }
[ -z "$(git -C "$RUN" status --porcelain --untracked-files=no)" ] \
    || { echo "$0: $RUN has uncommitted changes; the cells would record a dirty tree" >&2; exit 1; }
if [ ! -x "$RUN/.venv/bin/python" ]; then
    say "installing $RUN/.venv from its requirements.txt"
    python3 -m venv "$RUN/.venv"
    "$RUN/.venv/bin/pip" install -q -r "$RUN/requirements.txt"
fi

mkdir -p "$RUN/data/results/$PROFILE"
if [ -d "$MAIN/data/results/$PROFILE" ]; then
    cp -Rn "$MAIN/data/results/$PROFILE/." "$RUN/data/results/$PROFILE/"
fi
if [ -f "$MAIN/data/results/$PROFILE.chosen_rates.json" ]; then
    cp -n "$MAIN/data/results/$PROFILE.chosen_rates.json" "$RUN/data/results/"
fi

if [ ! -d "$CELLS" ]; then
    git -C "$MAIN" show-ref --verify --quiet "refs/heads/$BRANCH" || git -C "$MAIN" branch "$BRANCH" HEAD
    git -C "$MAIN" worktree add "$CELLS" "$BRANCH"
fi

commit_finished() {
    # A final cell's JSON is written after its predictions file, and records it.
    local sub=""; [ "$STAGE" = grid ] && sub="grid/"
    local f name rel npz
    for f in "$RUN/data/results/$PROFILE/$sub"*.json; do
        [ -e "$f" ] || continue
        name="$(basename "$f")"; rel="data/results/$PROFILE/$sub$name"
        [ -e "$CELLS/$rel" ] && continue
        npz="${rel%.json}.predictions.npz"
        mkdir -p "$(dirname "$CELLS/$rel")"
        if [ -e "$RUN/$npz" ]; then cp "$RUN/$npz" "$CELLS/$npz"; else npz=""; fi
        cp "$f" "$CELLS/$rel"
        if git -C "$CELLS" add -- "$rel" $npz && git -C "$CELLS" commit -q -m "Sweep cell: $rel" -- "$rel" $npz; then
            say "committed $rel on $BRANCH"
        else
            say "could not commit $rel on $BRANCH (left in $CELLS)"
        fi
    done
}

say "$PROFILE ($STAGE) at $(git -C "$RUN" rev-parse --short HEAD) in $RUN; cells onto $BRANCH"
stage_args=(); [ "$STAGE" = grid ] && stage_args=(--stage grid)
(cd "$RUN" && exec .venv/bin/python -m actbook run --profile "$PROFILE" "${stage_args[@]}" \
    --results data/results --no-progress) &
runner=$!
trap 'kill "$runner" 2>/dev/null || true' INT TERM
while kill -0 "$runner" 2>/dev/null; do
    commit_finished
    sleep "$POLL" & wait $! || true
done
rc=0; wait "$runner" || rc=$?
commit_finished
say "run ended (exit $rc)"
exit "$rc"
