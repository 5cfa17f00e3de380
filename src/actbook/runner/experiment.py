"""The CIFAR-10 comparison from the command line: plan, run, check.

    actbook list
    actbook plan   --profile paper [--shard 2/8] [--set epochs=1 ...]
    actbook run    --profile cpu --results data/results \\
        [--activations relu,elu] [--seeds 0,1,2] [--shard K/N] [--set KEY=VALUE ...]
    actbook check  --profile cpu --results data/results
    actbook run    --profile overfit --stage grid --results data/results
    actbook select --profile overfit --results data/results [--write]

(``actbook`` is the installed command; ``python -m actbook`` is the same.)

A profile with a learning-rate ``grid`` runs in two stages: ``--stage grid``
trains every activation at every rate of the grid (scored on held-out
validation images only) into ``DIR/<profile>/grid/``; ``select`` picks each
activation's rate by its mean validation error and, with ``--write``,
records the choice beside the results, in ``DIR/<profile>.chosen_rates.json``
(or, where the edge rule first extends the grid, the extension in
``DIR/<profile>.grid_extended.json``, whose cells ``--stage grid`` then runs);
the final cells (``--stage final``, the default) then train at those rates.

Each finished cell is one JSON file ``DIR/<profile>/<activation>-seed<k>.json``
(a ``/`` in an activation name becomes ``_``; a run with ``--set`` overrides
writes to ``DIR/<profile>+<hash of the overrides>/`` instead) holding the
config, the per-epoch history and the provenance, written atomically. A rerun
skips finished cells, refuses cells made with another version of the profile,
and resumes a cell in progress from its last finished epoch, bit-identically;
a lock file lets only one process work on a cell at a time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from actbook.runner import profiles as P  # noqa: E402  (no TensorFlow)
from actbook.runner.errors import UsageError, printable, to_stderr  # noqa: E402
from actbook.runner.profiles import Cell, get_profile, plan, result_path  # noqa: E402

from actbook.runner.result_format import CURRENT_SCHEMAS  # noqa: E402

__all__ = ["run", "check", "cost", "select", "recorded_rate_problems", "main", "UsageError", "Cell", "plan", "get_profile", "result_path"]

#: Sustained training throughput assumed by ``plan``'s time estimate (FLOP/s),
#: by device and precision: about a third of an H100-class GPU's dense bf16
#: peak and of its float32 peak (TF32 off, as the policy's float32 means);
#: the 2-core CPU figure is what the float32 ``overfit`` sweep sustained
#: (about 850 images/s x 3 x 60 MFLOP per image).
ASSUMED_RATE = {("gpu", "mixed_bfloat16"): 100e12, ("gpu", "float32"): 20e12,
                ("cpu (2 cores)", "float32"): 0.15e12}

#: A training step's time relative to ReLU's on the 2-core CPU, by activation: FLOPs
#: do not see an activation's elementwise work, which the CPU pays for (GELU's erf,
#: RReLU's random slopes). Rounded from the committed benchmark of the rung's own
#: setting (batch size 32), timed on a quiet host with nothing else running:
#: ``data/benchmarks/step_time_fit8k_float32.json`` (``benchmarks/bench_step.py
#: --profile fit8k``; a test keeps the two equal). ``plan`` scales each cell's CPU time by it; an arm not
#: listed counts as ReLU.
CPU_STEP_COST = {"sigmoid": 1.07, "relu": 1.0, "lrelu_0.01": 1.1, "lrelu_1/5.5": 1.08,
                 "prelu": 1.44, "rrelu": 1.42, "rrelu_channel": 1.15, "elu": 1.03, "tanh": 1.07,
                 "selu": 1.1, "gelu": 1.53, "silu": 1.22}


def _read_result(path: Path):
    """The parsed result file, or None when it is not a regular, readable, well-formed
    result (:func:`actbook.runner.result_files.read_result`; never blocks on a FIFO)."""
    from actbook.runner.result_files import OLDER_FORMATS, read_result
    try:
        return read_result(path, also_formats=OLDER_FORMATS)
    except (OSError, ValueError):
        return None


def _finished(data: dict, config: dict) -> bool:
    """All epochs, or stopped at a recorded divergence (an outcome, not a gap)."""
    n = len(data["history"])
    if data.get("outcome") == "diverged":
        return isinstance(data.get("diverged_epoch"), int) and n == data["diverged_epoch"] <= config["epochs"]
    return n == config["epochs"]


def cell_status(path: Path, config: dict) -> str:
    """``missing``, ``complete``, ``stale`` (another config, or made by an older
    runner whose numbers the current one does not reproduce), ``no predictions``
    (finished, but its predictions file is missing or refused by
    :func:`actbook.runner.result_files.load_predictions`, as the loaders and
    ``check`` refuse it) or ``broken``.

    A file there that is no result this runner can read (edited by hand, or
    written by a newer runner) is refused with a :class:`UsageError`: it may
    hold the only copy of a result, so no run replaces it, ``--rerun-stale``
    included; whoever knows what it is moves it away."""
    if path.is_dir():
        raise UsageError(f"{path} is a directory, not a result file; move it away")
    if not path.exists() and not path.is_symlink():
        return "missing"
    from actbook.runner.result_files import OLDER_FORMATS, read_result
    try:
        data = read_result(path, also_formats=OLDER_FORMATS)
    except (OSError, ValueError) as e:  # Malformed and Unreadable are ValueErrors
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise UsageError(f"{printable(str(path))} is not a result file this runner can read "
                         f"({printable(reason)}); it is never replaced: move it away (or fix it) and rerun") from None
    try:
        if (P.experiment_identity(data["config"]) != P.experiment_identity(config)
                or data.get("schema") not in CURRENT_SCHEMAS):
            return "stale"
        if not _finished(data, config):
            return "broken"
    except (TypeError, KeyError, AttributeError):
        return "broken"
    # A finished cell whose predictions file is gone or refused is not done: the loaders refuse it too.
    from actbook.runner.result_files import ResultsError, load_predictions
    if isinstance(data.get("predictions"), dict):
        try:
            load_predictions({**data, "file": str(path)})
        except ResultsError:
            return "no predictions"
    return "complete"


def check_writable(folder: Path) -> None:
    """Fail before any training if results cannot be written."""
    import tempfile
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise UsageError(f"results directory {folder} is not writable: {e}") from None


def _runtime():
    """The devices and the folder tag of this process's backend, checked before any data loads."""
    from actbook.runner import backend as B
    try:
        devices = B.device_names()
    except B.BackendError as e:
        raise UsageError(str(e)) from None
    return devices, B.runtime_tag(devices)


def _folder_datasets(folder: Path) -> dict:
    """sha256 of the data set -> result files, for the results already in ``folder``."""
    out = {}
    for f in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        data = _read_result(f)
        sha = ((data or {}).get("provenance") or {}).get("dataset", {}) if isinstance(data, dict) else {}
        sha = sha.get("sha256") if isinstance(sha, dict) else None
        if sha:
            out.setdefault(sha, []).append(f.name)
    return out


def run(profile: str, results: Path, arms=None, seeds=None, shard=None, progress=True, data=None,
        overrides: dict | None = None, rerun_stale: bool = False, stage: str = "final") -> list[Path]:
    """Run every cell of the plan (of ``stage``) that has no complete result yet."""
    if not str(results).strip():
        raise UsageError("the results folder is empty; name one (e.g. data/results)")
    profile_config = get_profile(profile, overrides, results=results)
    overrides = P.effective_overrides(profile, overrides) if overrides else None
    cells = plan(profile, arms, seeds, shard, overrides, stage=stage, results=results)
    configs = {c: P.cell_config(profile_config, c) for c in cells}
    config = configs[cells[0]] if cells else profile_config
    from actbook.runner import backend as B
    try:
        B.setup(config["threads"])  # before anything starts the backend's runtime
    except B.BackendError as e:
        raise UsageError(str(e)) from None
    devices, tag = _runtime()
    folder = Path(results) / P.profile_folder(profile, overrides, tag) / P.stage_folder(stage)
    for part in (Path(results) / P.profile_folder(profile, overrides, tag), folder):
        if part.is_symlink():  # the run would write, and clean up checkpoints, outside --results
            raise UsageError(f"{part} is a symbolic link; results are written only inside --results: move it away")
    paths = {c: result_path(results, c, overrides, tag) for c in cells}
    status = {c: cell_status(paths[c], configs[c]) for c in cells}
    stale = [c.stem for c, s in status.items() if s == "stale"]
    if stale and not rerun_stale:
        raise _stale_error(stale, folder, profile)
    lost = [c.stem for c, s in status.items() if s == "no predictions"]
    if lost and not rerun_stale:
        raise _lost_predictions_error(lost, folder)
    todo = [c for c in cells if status[c] != "complete"]
    if stage == "final" and todo and (profile_config.get("grid") or profile_config.get("rates_from")):
        # A final cell trains at its arm's recorded rate: never at one the grid did not choose.
        wrong = recorded_rate_problems(profile, results)
        wrong = [wrong[a] for a in dict.fromkeys(c.arm for c in todo) if a in wrong]
        if wrong:
            raise UsageError("; ".join(wrong) + "; no cell is run")
    if stage == "grid" and todo:
        # The extension's cells run only at the rates the edge rule asked for.
        wrong = extension_problems(profile, results)
        wrong = [wrong[a] for a in dict.fromkeys(c.arm for c in todo) if a in wrong]
        if wrong:
            raise UsageError("; ".join(wrong) + "; no cell is run")
    what = f"{profile} ({stage})" if profile_config.get("grid") else profile
    print(f"{what}: {len(cells)} cells in this shard, {len(cells) - len(todo)} already done, "
          f"{len(todo)} to run -> {folder}", flush=True)
    if not todo:
        return [paths[c] for c in cells]
    check_writable(folder)
    if B.name() == "tensorflow":
        from actbook.runner.precision import PrecisionUnsupported, check_supported
        try:
            check_supported(config["precision"])
        except PrecisionUnsupported as e:
            raise UsageError(str(e)) from None
    from actbook.runner import data as D
    from actbook.runner.checkpoints import checkpoint_dir
    from actbook.runner.files import LockBusy, cell_lock
    from actbook.runner.train import run_cell
    per_seed = P.with_defaults(config)["subset_per_seed"]
    source = data if data is not None else (D.load_cifar10() if per_seed else None)
    # The data do not depend on the cell's learning rate; with a subset per seed they depend on its seed.
    prepared = D.prepare(config, source, seed=todo[0].seed if per_seed else None)
    _refuse_other_data(folder, prepared.dataset)
    for cell in todo:
        out = paths[cell]
        try:
            # The lock file is a cell's first write: never into a folder swapped for a link (checkpoint_dir refuses one).
            checkpoint_dir(out, cell.stem)
            with cell_lock(out):
                # Another run (of this profile version or another) may have worked here
                # since start-up: its result is checked again, now that no one else can write it.
                now = cell_status(out, configs[cell])
                if now == "complete":
                    continue
                if now == "stale" and not rerun_stale:
                    raise _stale_error([cell.stem], folder, profile)
                if now == "no predictions" and not rerun_stale:
                    raise _lost_predictions_error([cell.stem], folder)
                _refuse_other_data(folder, prepared.dataset)
                if per_seed and prepared.train_subset["key"][-1] != cell.seed:
                    prepared = D.prepare(config, source, seed=cell.seed)
                run_cell(cell, results, configs[cell], prepared, overrides, progress=progress, devices=devices,
                         runtime_tag=tag)
        except LockBusy as e:
            to_stderr(f"skipping {cell.stem}: {e}")
    return [paths[c] for c in cells]


def _lost_predictions_error(stems: list[str], folder: Path) -> UsageError:
    return UsageError(f"{len(stems)} finished result(s) in {folder} have no readable predictions file of their own "
                      f"({', '.join(f'{s}.json' for s in stems[:5])}{', ...' if len(stems) > 5 else ''}; `actbook "
                      f"check` names why): restore the .predictions.npz, or pass --rerun-stale to redo the cell(s)")


def _stale_error(stale: list[str], folder: Path, profile: str) -> UsageError:
    return UsageError(f"{len(stale)} result(s) in {folder} were made with another version of profile "
                      f"{profile!r} or by an older runner ({', '.join(stale[:5])}"
                      f"{', ...' if len(stale) > 5 else ''}); move them away or pass --rerun-stale to replace them")


def _refuse_other_data(folder: Path, dataset: dict) -> None:
    others = {sha: files for sha, files in _folder_datasets(folder).items() if sha != dataset["sha256"]}
    if others:
        sha, files = next(iter(others.items()))
        raise UsageError(f"{folder} holds results made from another data set (sha256 {sha[:12]}..., e.g. "
                         f"{files[0]}) than this run's {dataset['sha256'][:12]}... "
                         f"({dataset['dataset']}); use another results folder")


def cost(profile: str, cells: list[Cell], overrides: dict | None = None) -> dict:
    """Forward FLOPs per image (counted from the architecture, no framework
    needed), training PFLOP and hours at :data:`ASSUMED_RATE` for the profile's precision.

    A cell costs its training (about 3x the forward pass per image: forward,
    and two products backward) and its evaluations: the measured training
    images, the validation images and, for a final cell, the test images, at
    every ``eval_every``-th epoch and the last. On the CPU, each cell's time is
    scaled by its activation's :data:`CPU_STEP_COST`.
    """
    from actbook.runner.architectures import forward_flops
    config = P.with_defaults(get_profile(profile, overrides))
    flops = forward_flops(config["model"], **config["model_kwargs"])
    train_images = P.training_images(config)
    evals = math.ceil(config["epochs"] / config["eval_every"])
    measured = min(config["train_eval_size"] or train_images, train_images)
    held_out = config["validation_size"] or 0

    def per_cell(cell: Cell) -> float:
        test = (config["test_size"] or P.TEST_IMAGES) if cell.stage == "final" else 0
        return 3 * flops * train_images * config["epochs"] + flops * (measured + held_out + test) * evals

    def cpu_flops(cell: Cell) -> float:  # the CPU also pays for an activation's elementwise work, unseen by FLOPs
        return per_cell(cell) * CPU_STEP_COST.get(cell.arm, 1.0)

    total = sum(per_cell(c) for c in cells)
    rates = {device: rate for (device, precision), rate in ASSUMED_RATE.items() if precision == config["precision"]}
    on_cpu = {device: rate for device, rate in rates.items() if device.startswith("cpu")}
    return {"forward_flops_per_image": flops, "pflop_per_cell": total / max(len(cells), 1) / 1e15,
            "pflop_total": total / 1e15, "rates": rates,
            "hours": {device: (sum(map(cpu_flops, cells)) if device in on_cpu else total) / rate / 3600
                      for device, rate in rates.items()},
            "cpu_minutes_per_cell": {c.arm: cpu_flops(c) / rate / 60 for c in cells for rate in on_cpu.values()}}


def _file_cell(data: dict) -> Cell:
    """The cell a result file holds (a grid cell is named by its learning rate too)."""
    rate = data["config"]["optimizer"]["learning_rate"] if data.get("stage") == "grid" else None
    return Cell(data["profile"], data["activation"], data["seed"], rate)


def check(profile: str, results: Path, overrides: dict | None = None, runtime: str = "",
          stage: str = "final") -> list[str]:
    """Problems of a merged results folder (of one ``stage``): missing,
    unfinished, duplicate, stale, malformed or foreign files, cells from
    other data sets, kernels or result formats, and recorded rates that are
    not the choice of the complete grid they come from
    (:func:`recorded_rate_problems`), or, for the grid, a recorded extension the
    edge rule did not ask for (:func:`extension_problems`). Empty when the sweep
    is complete and consistent."""
    problems = _folder_problems(profile, results, overrides, runtime, stage)
    config = get_profile(profile, results=results)
    if stage == "grid" and not overrides and not runtime:
        # The recorded extension, against the edge rule on the profile's own grid cells: those
        # of the default folder, which a folder made with --set or another runtime is not.
        problems += list(extension_problems(profile, results).values())
    # The final cells train at the recorded rates; a grid that records its own
    # choice is checked against it once the grid itself is sound.
    if stage == "final" and (config.get("grid") or config.get("rates_from")) or (
            stage == "grid" and config.get("chosen_rates") and not problems):
        problems += list(recorded_rate_problems(profile, results).values())
    if stage == "final":
        problems += _label_problems(profile, results, overrides, runtime)
    return problems


def _label_problems(profile: str, results: Path, overrides: dict | None, runtime: str) -> list[str]:
    """The final cells' predictions compared with the test labels (:mod:`actbook.runner.label_check`)
    where ``ACTBOOK_CIFAR10`` gives the labels the cells record; one line on stderr where it cannot."""
    from actbook.runner.result_files import ResultsError, load_predictions
    overrides = P.effective_overrides(profile, overrides) if overrides else None
    folder = Path(results) / P.profile_folder(profile, overrides, runtime)
    readable = []
    for f in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        data = _read_result(f)
        if isinstance(data, dict) and isinstance(data.get("predictions"), dict):
            try:  # a file refused here is already a problem of its own (_predictions_problem)
                readable.append((f.name, data, load_predictions({**data, "file": str(f)})))
            except (ResultsError, KeyError, TypeError):
                continue
    if not readable:
        return []
    from actbook.runner.label_check import label_problems, load_test_source
    cifar, why = load_test_source()
    problems, skipped = [], []
    for name, data, arrays in readable if cifar is not None else []:
        found, compared = label_problems(name, data, arrays, cifar)
        problems += found
        if not compared:
            skipped.append(name)
    if cifar is not None and skipped:
        why = (f"the test labels of ACTBOOK_CIFAR10 are not the ones they record "
               f"({', '.join(skipped[:3])}{', ...' if len(skipped) > 3 else ''})")
    if (cifar is None or skipped) and sys.stderr is not None:  # a warning: the other checks hold without the labels
        count = len(readable) if cifar is None else len(skipped)
        print(f"warning: predictions of {count} cell(s) not compared with the test labels: {why}", file=sys.stderr)
    return problems


def _folder_problems(profile: str, results: Path, overrides: dict | None = None, runtime: str = "",
                     stage: str = "final") -> list[str]:
    """:func:`check`'s problems of the folder's files alone."""
    from actbook.runner.files import Malformed
    from actbook.runner.result_files import OLDER_FORMATS, any_format_problems, mixed_format_problem, read_result
    config = get_profile(profile, overrides, results=results)
    overrides = P.effective_overrides(profile, overrides) if overrides else None
    folder = Path(results) / P.profile_folder(profile, overrides, runtime) / P.stage_folder(stage)
    expected = {c.stem: c for c in plan(profile, overrides=overrides, stage=stage, results=results)}
    problems, seen, finished = [], {}, set()
    wanted = {}
    for stem, c in expected.items():
        try:
            wanted[stem] = P.cell_config(config, c)
        except UsageError as e:
            problems.append(f"not runnable yet: {e}")
            break
    datasets, kernels, schemas, backends, readable = {}, {}, {}, {}, []
    for f in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = read_result(f, also_formats=OLDER_FORMATS)
        except Malformed as e:
            problems.append(f"not a well-formed result file: {f.name} ({e})")
            continue
        except (OSError, ValueError):
            problems.append(f"unreadable: {f.name}")
            continue
        malformed = any_format_problems(data)
        if malformed:
            problems.append(f"not a well-formed result file: {f.name} ({'; '.join(malformed[:3])})")
            continue
        try:
            problems += _file_problems(f, data, profile, stage, config, expected, wanted, seen, finished)
        except (KeyError, TypeError, ValueError, AttributeError) as e:  # a shape any_format_problems does not know
            problems.append(f"not a well-formed result file: {f.name} ({type(e).__name__}: {e})")
            continue
        prov = data["provenance"]
        datasets.setdefault((prov.get("dataset") or {}).get("sha256"), []).append(f.name)
        kernels.setdefault(((prov.get("hardware") or {}).get("kernels") or {}).get("effective_isa"), []).append(f.name)
        schemas.setdefault(data.get("schema", 1), []).append(f.name)
        backends.setdefault((prov.get("backend") or {}).get("name", "tensorflow"), []).append(f.name)
        readable.append((f.name, data))
    # Formats 4 and 5 hold the same numbers (5 adds measurements): a folder may mix them.
    formats = {}
    for k, v in schemas.items():
        formats.setdefault("4 or 5" if k in CURRENT_SCHEMAS else k, []).extend(v)
    for what, groups in [("data sets", datasets), ("kernels", kernels), ("result formats", formats),
                         ("backends", backends)]:
        if len(groups) > 1:
            problems.append(f"mixed {what}: " + "; ".join(f"{k}: {len(v)} file(s), e.g. {v[0]}"
                                                         for k, v in groups.items()))
    mixed = mixed_format_problem(readable) if stage == "final" else None
    if mixed:
        problems.append(f"mixed result formats: {mixed}")
    if schemas and not set(schemas) <= set(CURRENT_SCHEMAS):
        old = [f for k, v in schemas.items() if k not in CURRENT_SCHEMAS for f in v]
        problems.append(f"made by an older runner (result format other than {', '.join(map(str, CURRENT_SCHEMAS))}): "
                        f"{len(old)} file(s), e.g. {old[0]}")
    problems += [f"missing: {stem}" for stem in expected if stem not in seen]
    ckpts = folder / ".checkpoints"
    if ckpts.is_dir():  # a checkpoint beside a finished result is a leftover, not work in progress
        problems += [f"in progress (checkpoint): {d.name}" for d in sorted(ckpts.iterdir())
                     if d.is_dir() and d.name not in finished]
    return problems


def _file_problems(f: Path, data: dict, profile: str, stage: str, config: dict, expected: dict, wanted: dict,
                   seen: dict, finished: set) -> list[str]:
    """The problems of one well-formed result file of ``check``'s folder (``seen``
    and ``finished`` gather the cells met so far)."""
    problems = []
    if data["profile"] != profile:
        problems.append(f"foreign: {f.name} belongs to profile {data['profile']!r}, not {profile!r}")
    else:
        from actbook.runner.result_files import folder_made_for
        made_for, here = folder_made_for(data), f.parent.name if stage == "final" else f.parent.parent.name
        if made_for != here:
            problems.append(f"made for another folder: {f.name} belongs in {made_for!r}, not {here!r} (its --set "
                            f"overrides or the backend and devices it ran on differ)")
    key = _file_cell(data).stem
    if key in seen:
        problems.append(f"duplicate: {f.name} and {seen[key]} are both {key}")
    seen[key] = f.name
    if key not in expected:
        problems.append(f"outside the plan: {f.name} ({key} is not a {stage} cell of profile {profile!r})")
    if data.get("stage", "final") != stage:
        problems.append(f"wrong stage: {f.name} is a {data.get('stage', 'final')} cell in the {stage} folder")
    if key in expected and key not in wanted:
        pass  # the profile cannot say yet what this cell should be (reported above)
    elif P.experiment_identity(data["config"]) != P.experiment_identity(wanted.get(key, config)):
        problems.append(f"config differs from profile {profile!r}: {f.name}")
    elif not _finished(data, config):
        problems.append(f"unfinished: {f.name} ({len(data['history'])} of {config['epochs']} epochs)")
    else:
        finished.add(key)
    if f.name != f"{key}.json":
        problems.append(f"misnamed: {f.name} holds {key}")
    return problems + _predictions_problem(f, data)


def _predictions_problem(f: Path, data: dict) -> list[str]:
    """A result whose predictions file is missing or is not the one it records."""
    import hashlib
    pred = data.get("predictions")
    if not isinstance(pred, dict):
        return []
    from actbook.runner.files import MAX_RESULT_BYTES, read_regular_file
    path = f.with_name(pred["file"])
    try:
        digest = hashlib.sha256(read_regular_file(path, MAX_RESULT_BYTES)).hexdigest()
    except (OSError, ValueError):
        return [f"predictions missing: {f.name} names {pred['file']}, which cannot be read"]
    if digest != pred["sha256"]:
        return [f"predictions changed: {pred['file']} is not the file {f.name} records"]
    from actbook.runner.result_files import ResultsError, load_predictions
    try:  # the hash vouches for the bytes, not for what they hold (the loaders read that)
        load_predictions({**data, "file": str(f)})
    except ResultsError as e:
        return [f"predictions unreadable: {f.name} names {pred['file']}, which the loaders refuse ({e})"]
    return []


def select(profile: str, results: Path, write: bool = False) -> int:
    """Print each arm's rate chosen from the complete grid (the profile's own,
    or that of the profile its ``rates_from`` names), by the rule of
    :mod:`actbook.runner.rate_rule`, edge rule included.

    Where the edge rule asks for one more rate, nothing is chosen yet: with
    ``write``, the grid's extension is recorded beside the results
    (:func:`actbook.runner.profiles.grid_extended_path`), where ``plan``,
    ``run --stage grid`` and ``check`` read it. Otherwise, with ``write``, the
    choice is recorded there too (:func:`actbook.runner.profiles.chosen_rates_path`),
    where ``run`` and ``check`` read it. 0 when chosen, 3 when the grid must
    be extended first, 1 when the grid is incomplete or, without ``write``,
    when the rates recorded for ``profile`` are not the choice (each such arm
    is printed)."""
    from actbook.runner import rate_rule
    config = get_profile(profile)
    source = config.get("rates_from") or profile
    grid_config = get_profile(source, results=results)  # with the extension recorded so far
    grid = grid_config.get("grid")
    if not grid:
        raise UsageError(f"profile {source!r} has no learning-rate grid" +
                         (f" (profile {profile!r} takes its rates from it)" if source != profile else ""))
    unknown = [a for a in config["arms"] if a not in grid_config["arms"]]
    if unknown:
        raise UsageError(f"the grid of {source!r} has no cells for {', '.join(unknown)}")
    chosen, problems = _grid_choice(source, grid_config, results, config["arms"])
    if problems:
        print("\n".join(problems[:20]))
        print(f"the grid is not complete and consistent ({len(problems)} problem(s)); no rate is chosen")
        return 1
    print(chosen.to_string())
    if not write:  # a record that is not this choice is never passed over in silence
        wrong = recorded_rate_problems(profile, results)
        if wrong:
            print("\n".join(wrong.values()))
            print(f"the rates recorded for {profile!r} are not the grid's choice ({len(wrong)} arm(s)); "
                  f"`actbook select --profile {profile} --results {results} --write` records it")
            return 1
        if profile in rate_rule.CHOSEN_BEFORE_THE_EDGE_RULE and get_profile(profile, results=results).get(
                "chosen_rates"):
            print(f"note: the rates recorded for {profile!r} were chosen before the edge rule, over the grid's "
                  f"own rates (data/results/PROTOCOL.md), and are that choice; the choice above is the rule's "
                  f"with the edge rule's extension")
    pending = {a: float(r) for a, r in chosen["extend"].items() if not math.isnan(r)}
    if pending:
        print(f"the edge rule extends the grid of {source!r} before the choice is final: "
              + ", ".join(f"{a} at {r:g}" for a, r in pending.items()))
        if write:
            extended = dict(grid.get("extended") or {})
            for arm, rate in pending.items():
                extended[arm] = sorted({*extended.get(arm, []), rate})
            path = _write_record(P.grid_extended_path(results, source), source, {"extended": extended},
                                 {**grid_config, "grid": {**grid, "extended": extended}})
            print(f"grid.extended of {source!r} written to {path}; now run "
                  f"`actbook run --profile {source} --stage grid --results {results}`, "
                  f"then select again")
        else:
            print(json.dumps({"grid.extended": pending}))
        return 3
    rates = {a: float(r) for a, r in chosen["rate"].items()}
    if write:
        chosen_for = grid_config if source == profile else config  # with the grid's extension, which they may use
        path = _write_record(P.chosen_rates_path(results, profile), profile,
                             {"chosen_from": source, "chosen_rates": rates}, {**chosen_for, "chosen_rates": rates})
        print(f"chosen_rates of {profile!r} written to {path}")
    else:
        print(json.dumps({"chosen_rates": rates}))
    return 0


def _grid_choice(source: str, grid_config: dict, results: Path, arms, own_rates_only: bool = False):
    """``(chosen, [])``: the rule's choice (:func:`actbook.runner.rate_rule.choose_rates`)
    for ``arms`` from the grid of profile ``source`` in ``results``, its recorded
    extension included; or ``(None, problems)`` where that grid is not complete
    and consistent. ``own_rates_only``: over the grid's own rates, the extension
    left out, as the rates of :data:`~actbook.runner.rate_rule.CHOSEN_BEFORE_THE_EDGE_RULE` were chosen."""
    from actbook.runner import rate_rule
    grid = grid_config["grid"]
    cells = plan(source, stage="grid", results=results)
    if own_rates_only:
        own = {float(r) for r in grid["learning_rates"]}
        not_needed = {f"missing: {c.stem}" for c in cells if c.learning_rate not in own}
        cells = [c for c in cells if c.learning_rate in own]
    else:
        not_needed = set()
    problems = [p for p in _folder_problems(source, results, stage="grid") if p not in not_needed]
    if not problems and not own_rates_only:  # a complete grid at rates the edge rule never asked for
        problems = list(extension_problems(source, results).values())
    if problems:
        return None, problems
    try:
        frame = rate_rule.grid_frame(_grid_cells(source, results, cells))
        return rate_rule.choose_rates(frame, arms, grid["learning_rates"], grid["seeds"],
                                      None if own_rates_only else grid.get("extended")), []
    except rate_rule.GridError as e:  # what check let through but the choice cannot use
        raise UsageError(f"{e}; no rate is chosen") from None


def recorded_rate_problems(profile: str, results: Path, recorded: dict | None = None) -> dict[str, str]:
    """``{arm: problem}`` for each rate recorded for ``profile`` in ``results``
    (its chosen rates, or ``recorded``: ``{arm: rate}``, e.g. the rates its
    cells trained at) that is not the rule's choice from the grid it comes
    from (``rates_from``, else its own) with the grid's recorded extension;
    for :data:`~actbook.runner.rate_rule.CHOSEN_BEFORE_THE_EDGE_RULE`, the
    choice over the grid's own rates. Where that grid is not complete and
    consistent, every recorded rate is a problem: rates are recorded only from
    a complete grid (``select --write``), so a grid that lacks cells now was
    changed since, and a rate it cannot vouch for is not trained at or read
    (``check --stage grid`` says what it lacks). A chosen-rates file edited by
    hand is caught here, before a run trains at it or a reader takes it for the
    grid's choice."""
    from actbook.runner import rate_rule
    config = get_profile(profile, results=results)
    source = config.get("rates_from") or profile
    recorded = config.get("chosen_rates") if recorded is None else recorded
    grid_config = config if source == profile else get_profile(source, results=results)
    if not recorded or not grid_config.get("grid"):
        return {}
    fix = f"run `actbook select --profile {profile} --results {results} --write`"
    out = {a: f"recorded rate {r:g} for {a} is not the grid's choice: the grid of {source!r} has no cells for {a}"
           for a, r in recorded.items() if a not in grid_config["arms"]}
    arms = [a for a in recorded if a not in out]
    before_edge_rule = profile in rate_rule.CHOSEN_BEFORE_THE_EDGE_RULE
    chosen, problems = _grid_choice(source, grid_config, results, arms, own_rates_only=before_edge_rule)
    if chosen is None:
        for arm in arms:
            out[arm] = (f"recorded rate {float(recorded[arm]):g} for {arm} cannot be checked against the grid's "
                        f"choice: the grid of {source!r} is not complete and consistent ({len(problems)} "
                        f"problem(s), e.g. {problems[0]}); `actbook check --profile {source} --results {results} "
                        f"--stage grid` lists them")
    for arm in arms if chosen is not None else []:
        rate, best, extend = float(recorded[arm]), float(chosen.loc[arm, "rate"]), float(chosen.loc[arm, "extend"])
        if not before_edge_rule and not math.isnan(extend):
            out[arm] = (f"recorded rate {rate:g} for {arm} is not the grid's choice: the edge rule first extends "
                        f"the grid of {source!r} to {extend:g}; {fix}")
        elif rate != best:
            out[arm] = f"recorded rate {rate:g} for {arm} is not the grid's choice {best:g}; {fix}"
    return out


def extension_problems(profile: str, results: Path) -> dict[str, str]:
    """``{arm: problem}`` for each arm whose recorded grid extension
    (:func:`actbook.runner.profiles.grid_extended_path`) is not what the edge rule asks
    for on the grid's own cells, as ``select --write`` records it: step by step, the
    rule's choice over the grid and the extensions made so far, each needing those
    cells. A rate it never asked for (an arm chosen inside the grid, a rate on the
    other side) would otherwise be run, scored and chosen as the grid's. An extension
    whose deciding cells are missing cannot have been recorded by ``select``, and is a
    problem too."""
    from actbook.runner import rate_rule
    config = get_profile(profile, results=results)
    grid = config.get("grid") or {}
    if not grid.get("extended"):
        return {}
    path = P.grid_extended_path(results, profile)
    base, seeds = sorted(float(r) for r in grid["learning_rates"]), grid["seeds"]
    out = {}
    for arm, recorded in grid["extended"].items():
        recorded, asked, why = sorted(float(r) for r in recorded), [], None
        cells, lacking = [], []
        for rate in rate_rule.arm_rates(arm, base, {arm: recorded}):
            for seed in seeds:
                cell = Cell(profile, arm, seed, rate)
                data = _read_result(result_path(results, cell))
                if (isinstance(data, dict) and data.get("stage") == "grid" and data.get("activation") == arm
                        and data.get("seed") == seed and data["config"]["optimizer"]["learning_rate"] == rate):
                    cells.append({**data, "file": str(result_path(results, cell))})
                else:
                    lacking.append(cell.stem)
        try:  # each step decides one more extension, from the cells of the steps before
            asked = rate_rule.replay_extension(rate_rule.grid_frame(cells), arm, base, seeds, len(recorded))
        except rate_rule.GridError as e:
            why = (f"the grid cells that decide it are not all readable ({len(lacking)}, e.g. {lacking[0]}.json), "
                   f"and select records an extension only from them") if lacking else str(e)
        shown = ", ".join(f"{r:g}" for r in recorded)
        if why:
            out[arm] = (f"{path}: grid.extended.{arm} [{shown}] cannot be checked against the edge rule: {why}; "
                        f"move the file away and run `actbook select --profile {profile} --results {results} --write`")
        elif sorted(asked) != recorded:
            wanted = ", ".join(f"{r:g}" for r in sorted(asked)) or "no extension"
            out[arm] = (f"{path}: grid.extended.{arm} [{shown}] is not what the edge rule asks for on the grid's "
                        f"cells ({wanted}); move the file away and run `actbook select --profile {profile} "
                        f"--results {results} --write`")
    return out


def _grid_cells(profile: str, results: Path, cells: list[Cell] | None = None) -> list[dict]:
    """The cells of ``profile``'s grid (extension included), or ``cells`` of it, once ``check``
    found it complete and consistent."""
    out = []
    for cell in plan(profile, stage="grid", results=results) if cells is None else cells:
        path = result_path(results, cell)
        data = _read_result(path)
        if not isinstance(data, dict):  # changed since the check
            raise UsageError(f"{path}: not a readable result file any more; no rate is chosen")
        out.append({**data, "file": str(path)})
    return out


def _write_record(path: Path, profile: str, record: dict, config: dict) -> Path:
    """Record what ``select`` decided for ``profile`` beside the results, once
    ``config`` (the profile with it) is valid: ``{"profile": ..., **record}``."""
    from actbook.runner.files import write_bytes_atomic
    P.validate(profile, config)
    text = (json.dumps({"profile": profile, **record}, indent=2, allow_nan=False) + "\n").encode()
    try:
        write_bytes_atomic(path, lambda f: f.write(text))
    except OSError as e:
        raise UsageError(f"cannot write {path} ({e.strerror or e}); nothing was changed") from None
    return path


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------

def _first_repeat(items):
    seen = set()
    for v in items:
        if v in seen:
            return v
        seen.add(v)
    return None


def _csv(value: str | None, what: str) -> list[str] | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise UsageError(f"--{what} is empty; give a comma-separated list or leave it out")
    if len(items) != len(value.split(",")):  # "relu,,elu" or "0,,1": an item lost to a typo, not a shorter list
        raise UsageError(f"--{what} has an empty item ({value[:40]!r}); give a comma-separated list")
    twice = _first_repeat(items)
    if twice is not None:  # as a profile's own lists are refused with a repeat: a typo, not a wish
        raise UsageError(f"--{what} names {twice[:40]!r} twice; give each once")
    return items


def _seeds(value: str | None) -> list[int] | None:
    items = _csv(value, "seeds")
    if items is None:
        return None
    # int() also reads "1_0" and other scripts' digits ("٣"): a seed is ASCII digits, nothing else.
    if not all(v.isascii() and v.isdigit() for v in items):
        raise UsageError(f"--seeds must be comma-separated integers (ASCII digits 0-9), got {value[:40]!r}")
    seeds = [int(v) for v in items]
    twice = _first_repeat(seeds)
    if twice is not None:  # "0,00"
        raise UsageError(f"--seeds names seed {twice} twice; give each once")
    bad = [s for s in seeds if not 0 <= s <= P.MAX_SEED]
    if bad:
        raise UsageError(f"seeds must lie in [0, {P.MAX_SEED}], got {bad[:5]}{' ...' if len(bad) > 5 else ''}")
    if len(set(seeds)) > P.MAX_SEEDS:  # the cap a profile's seeds (and --set seeds) obey
        raise UsageError(f"--seeds names {len(set(seeds))} seeds; at most {P.MAX_SEEDS}, as in a profile")
    return seeds


def _out_of_memory(e: BaseException) -> bool:
    """Python's, TensorFlow's or XLA's out-of-memory error (named, so no framework is imported)."""
    return (isinstance(e, MemoryError) or type(e).__name__ == "ResourceExhaustedError"
            or "RESOURCE_EXHAUSTED" in str(e)[:200])


def _results_dir(value: str):
    # Path("") is ".": an empty --results (an unset shell variable) would write into the current folder.
    return Path(value) if value.strip() else _EMPTY_RESULTS


#: ``--results ''``, refused in :func:`main` as one error line (argparse would print its usage too).
_EMPTY_RESULTS = object()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="actbook", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="print the profiles and their configs")
    for name, helptext in [("run", "run (or resume) the cells of a profile"),
                           ("plan", "print the cells a run would train and what they cost"),
                           ("check", "check a (merged) results folder: exit 0 only if complete and consistent"),
                           ("select", "choose each activation's learning rate from a finished grid")]:
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--profile", required=True)
        if name == "select":
            p.add_argument("--results", required=True, type=_results_dir)
            p.add_argument("--write", action="store_true",
                           help="record the chosen rates (or the grid's extension) beside the results "
                                "(<results>/<profile>.chosen_rates.json, <profile>.grid_extended.json)")
            continue
        p.add_argument("--stage", choices=P.STAGES, default="final",
                       help="for a profile with a learning-rate grid: its grid cells, or the final cells (default)")
        p.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE", default=[],
                       help="override a setting (dotted keys, JSON values); results go to <profile>+<hash>/")
        if name == "check":
            p.add_argument("--results", required=True, type=_results_dir)
            p.add_argument("--runtime", default="", help="the folder's runtime tag, e.g. jax-cpu (default: none, "
                                                         "TensorFlow on one CPU)")
            continue
        p.add_argument("--activations", default=None, help="comma-separated arms (default: the profile's)")
        p.add_argument("--seeds", default=None, help="comma-separated seeds (default: the profile's)")
        p.add_argument("--shard", default=None, help="K/N: every N-th cell starting at the K-th")
        if name == "plan":
            p.add_argument("--results", default=None, type=_results_dir,
                           help="the results folder whose chosen rates and grid extension to use "
                                "(a profile with a grid)")
        if name == "run":
            p.add_argument("--results", required=True, type=_results_dir)
            p.add_argument("--no-progress", action="store_true", help="no progress bar (log lines only)")
            p.add_argument("--rerun-stale", action="store_true",
                           help="replace results made with another version of the profile or an older "
                                "runner, and redo finished cells whose predictions file is missing or "
                                "not their own; a file the runner cannot read (edited, or from a newer runner) "
                                "is never replaced: run stops with an error naming it, to be moved away")
    return parser


def main(argv=None) -> int:
    """The command line; its exit status."""
    if sys.stdout is None:  # started with stdout closed (`>&-`): what it prints would be lost unseen
        _error("standard output is closed; give it somewhere to go (a file, a pipe, /dev/null)")
        return 2
    status = None
    try:
        status = _main(argv)
        sys.stdout.flush()  # a reader gone shows here too, while it can still be handled
        return status
    except KeyboardInterrupt:  # Ctrl-C outside a run's cells (check, select, plan, loading the data)
        to_stderr("\ninterrupted")
        return 130
    except BrokenPipeError:
        # The reader of a pipe stopped early (`actbook list | head -1`): the Python
        # documentation's recipe (signal module, "Note on SIGPIPE"): stdout goes to
        # devnull, so the interpreter's last flush cannot fail again, and exit 1.
        _stdout_to_devnull()
        return 1
    except OSError as e:
        # Standard output on a full disk (ENOSPC) or a descriptor that takes no writes (EBADF):
        # the output is lost, so the command failed. Where it already said why, once is enough.
        _stdout_to_devnull()
        if status != 2:
            _error(f"cannot write to standard output ({e.strerror or e}); the output is incomplete")
        return 2


class _StdoutUnwritable(OSError):
    """A write to standard output failed (a full disk behind ``>``, a closed pipe)."""


class _StdoutWrites:
    """Standard output during ``run``, whose log lines (its own and the epochs', by tqdm)
    go there between writes of results: a write that fails raises
    :class:`_StdoutUnwritable`, so the error names standard output, not the results."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        try:
            return self._stream.write(text)
        except OSError as e:
            raise _StdoutUnwritable(e.errno, e.strerror) from e

    def flush(self):
        try:
            return self._stream.flush()
        except OSError as e:
            raise _StdoutUnwritable(e.errno, e.strerror) from e

    def __getattr__(self, name):  # fileno, isatty, encoding, ...: the stream's own
        return getattr(self._stream, name)


def _stdout_to_devnull() -> None:
    """Send what is left in stdout's buffer to devnull, so the interpreter's last flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no descriptor to replace: drop the buffered text instead
        sys.stdout = None
    finally:
        os.close(devnull)


def _error(message: str) -> None:
    """One ``error:`` line on stderr, where there is a stderr to write it to."""
    to_stderr(f"error: {message}")


def _main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        if getattr(args, "results", None) is _EMPTY_RESULTS:
            raise UsageError("--results is empty; name the results folder (e.g. --results data/results)")
        if args.command == "list":
            print(json.dumps(P.load_profiles(), indent=1))
            return 0
        if args.command in ("select", "check") and not args.results.is_dir():
            # a mistyped path is not a sweep with every cell missing
            raise UsageError(f"--results {printable(str(args.results))} is not a folder")
        if args.command == "select":  # takes no --set: a choice is made for the profile as it stands
            return select(args.profile, args.results, write=args.write)
        overrides = P.parse_set(args.overrides)
        if args.command in ("run", "plan"):
            args.activations, args.seeds = _csv(args.activations, "activations"), _seeds(args.seeds)
        if args.command == "plan":
            cells = plan(args.profile, args.activations, args.seeds, args.shard, overrides, stage=args.stage,
                         results=args.results)
            config = get_profile(args.profile, overrides, results=args.results)
            for c in cells:
                rate = ""
                if c.stage == "final" and config.get("grid"):
                    chosen = (config.get("chosen_rates") or {}).get(c.arm)
                    rate = f" (learning rate {chosen:g})" if chosen else " (learning rate not chosen yet)"
                print(f"{P.profile_folder(args.profile, overrides)}/{P.stage_folder(c.stage)}".rstrip("/")
                      + f" {c.stem}{rate}")
            est = cost(args.profile, cells, overrides)
            print(f"{len(cells)} cells; forward pass {est['forward_flops_per_image'] / 1e6:.0f} MFLOP per image; "
                  f"{est['pflop_per_cell']:.3g} PFLOP of training per cell, {est['pflop_total']:.3g} in all")
            config = get_profile(args.profile, overrides)
            for device, hours in est["hours"].items():
                print(f"  at {est['rates'][device] / 1e12:g} TFLOP/s sustained ({device}, {config['precision']}): "
                      f"{hours:.3g} hours")
            if est["cpu_minutes_per_cell"]:  # what a measured cell is compared with
                print("  a cell on the cpu (2 cores), by activation: " + ", ".join(
                    f"{arm} {minutes:.2g} min" for arm, minutes in est["cpu_minutes_per_cell"].items()))
            grid_set = any(k == "grid" or k.startswith("grid.") for k in overrides)  # its final cells are refused
            if (config.get("grid") and args.activations is None and args.seeds is None and args.shard is None
                    and not grid_set):
                whole = [c for stage in P.STAGES
                         for c in plan(args.profile, overrides=overrides, stage=stage, results=args.results)]
                both = cost(args.profile, whole, overrides)
                print(f"the whole design (grid and final cells, {len(whole)} cells): " + "; ".join(
                    f"{hours:.3g} hours at {both['rates'][d] / 1e12:g} TFLOP/s ({d})" for d, hours in both["hours"].items()))
            return 0
        if args.command == "check":
            problems = check(args.profile, args.results, overrides, args.runtime, stage=args.stage)
            for p in problems:
                print(printable(p))
            print("complete and consistent" if not problems else f"{len(problems)} problem(s)")
            return 0 if not problems else 1
        from actbook.runner.data import DataError
        stdout, sys.stdout = sys.stdout, _StdoutWrites(sys.stdout)
        try:
            run(args.profile, args.results, args.activations, args.seeds, args.shard,
                progress=not args.no_progress, overrides=overrides, rerun_stale=args.rerun_stale, stage=args.stage)
        except DataError as e:
            _error(str(e))
            return 2
        except _StdoutUnwritable as e:  # its log lines have nowhere to go: the run stops, as for a full disk
            sys.stdout = stdout
            _stdout_to_devnull()
            _error(f"cannot write to standard output ({e.strerror or e}); finished cells and the last "
                   f"checkpoint are kept: give standard output somewhere to go (a file with space, /dev/null) and "
                   f"rerun the same command")
            return 2
        except OSError as e:  # disk full, permissions changed mid-run: the finished epochs are kept
            _error(f"{e.strerror or e} ({e.filename or 'writing results'}); finished cells and the last "
                   f"checkpoint are kept: free space or fix the folder and rerun the same command")
            return 2
        except KeyboardInterrupt:
            to_stderr("\ninterrupted: finished epochs are kept in the cell's checkpoint; rerun the same command "
                      "to resume")
            return 130
        except Exception as e:
            if not _out_of_memory(e):
                raise
            _error(f"out of memory ({type(e).__name__}); finished cells and the last checkpoint are kept: "
                   f"a smaller model_kwargs.width or batch_size, or a machine with more memory, is needed")
            return 2
        finally:
            sys.stdout = stdout
    except UsageError as e:
        _error(str(e))
        return 2
    return 0

