"""Profiles and the cell plan, as plain data (no TensorFlow).

A *profile* is one nested dict of settings (``actbook/profiles.json``, plus
a JSON file of your own named by ``ACTBOOK_PROFILES``); a *cell* is one
(profile, activation, seed) training run. A profile with a ``grid`` runs in
two stages: the *grid* (each activation at each of the grid's peak learning
rates, scored on the validation images only) and the *final* cells (each
activation at the rate the grid chose for it, its ``chosen_rates``, at the
profile's seeds). What ``select --write`` decides, the chosen rates and the
edge rule's extension of the grid (``grid.extended``), is recorded beside
the results, not in the profile (:func:`chosen_rates_path`,
:func:`grid_extended_path`): the profiles describe the design fixed before
any run; :func:`get_profile` with ``results`` (and :func:`recorded_selection`)
reads the choices made for it. Every profile is validated against
:data:`SCHEMA` and the rules of :func:`validate` before anything runs, so a
typo or a bad value is one clear message per problem, never a silently
different experiment.

Two configs train a cell to the same numbers when their
:func:`experiment_identity` is equal: that, not the whole config, says
whether a result on disk is stale. Results live in one folder per profile,
overrides and runtime (:func:`profile_folder`)::

    <profile>[+<tag>][@<runtime>]      e.g.  paper   paper+3f2a9c1d   paper+3f2a9c1d@jax

and a grid's cells in its ``grid/`` subfolder (``overfit/grid/relu-lr0.05-seed100.json``);
the rates chosen from the grid and the grid's extension sit beside the folder
(``overfit.chosen_rates.json``, ``overfit.grid_extended.json``).

``<tag>`` hashes what ``--set`` changed in the profile
(:func:`effective_overrides`), ``<runtime>`` names a Keras backend or device
layout other than the default; :func:`split_folder` reads a name back.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import jsonschema

from actbook import arms
from actbook.runner.architectures import MODEL_KWARGS, SEEDINGS, SETTINGS_SCHEMA  # what each model takes
from actbook.runner.data import CLASSES, PER_CLASS
from actbook.runner.errors import UsageError
from actbook.runner.files import Unreadable, read_regular_file

__all__ = ["grid_rates", "UsageError", "SCHEMA", "MODEL_KWARGS", "DEFAULTS", "STAGES", "SCHEDULES", "load_profiles",
           "shipped_profiles", "with_defaults", "chosen_rates_path", "grid_extended_path", "recorded_selection",
           "non_finite", "is_finite_number", "shown_number",
           "get_profile", "validate", "apply_overrides", "parse_set", "experiment_identity", "effective_overrides",
           "overrides_tag", "Cell", "plan", "cell_config", "parse_shard", "result_path", "stage_folder",
           "profile_folder", "split_folder", "training_images"]

#: Names used as file and folder names: letters, digits, ``_ . -``, no path separators.
SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\Z")  # \Z, not $: "$" also matches before a final newline
MAX_SEED = 2 ** 31 - 1  # Keras seeds are 32-bit signed
#: A profiles file larger than this is refused unread (a profile is a few hundred bytes).
MAX_PROFILES_BYTES = 1_000_000
TRAIN_IMAGES = PER_CLASS["train"] * len(CLASSES)  # CIFAR-10: 50,000
TEST_IMAGES = PER_CLASS["test"] * len(CLASSES)    # 10,000

#: The learning-rate schedules (a profile's ``optimizer.schedule``; :mod:`actbook.runner.schedules`).
SCHEDULES = ("constant", "cosine", "step")

#: Settings that choose which cells a profile has, not what any cell computes
#: (a cell's own learning rate is in its config's ``optimizer.learning_rate``).
PLAN_KEYS = ("arms", "seeds", "extra_seeds", "later_arms", "grid", "chosen_rates", "rates_from")

#: The stages of a profile with a ``grid``: the learning-rate grid, then the final cells.
STAGES = ("grid", "final")


_POS_INT = {"type": "integer", "minimum": 1}
#: Bounds far beyond any profile's (the paper's 120 epochs), so a typo is an
#: error line instead of a run that overflows or never ends; and low enough that
#: the result and checkpoint state of a cell that measures every epoch stay
#: readable: a history row takes about 510 bytes of JSON (634 at most), so 5,000
#: rows take at most 3.2 MB of the 4 MiB a result file may hold
#: (:data:`actbook.runner.files.MAX_RESULT_BYTES`; tests/test_probe7.py builds them).
MAX_EPOCHS = 5_000
_EPOCHS = {**_POS_INT, "maximum": MAX_EPOCHS}
_SEED = {"type": "integer", "minimum": 0, "maximum": MAX_SEED}
#: float32's smallest normal number and its largest finite one.
FLOAT32_TINY, FLOAT32_MAX = 1.1754943508222875e-38, 3.4028234663852886e38
#: The learning rates a profile may give: float32's range. The optimiser runs in
#: float32, where a smaller rate is subnormal or 0 and a larger one is inf, so the
#: cell would record one rate and train at another (or not at all).
MIN_LEARNING_RATE, MAX_LEARNING_RATE = FLOAT32_TINY, FLOAT32_MAX
_RATE = {"type": "number", "minimum": MIN_LEARNING_RATE, "maximum": MAX_LEARNING_RATE}
#: Seeds a profile may list (per list). Every cell's config holds the whole
#: profile, so a run and ``check`` hold seeds x cells numbers: bounded here.
MAX_SEEDS = 1000


def _size(maximum: int) -> dict:
    """A number of images: null (all of them) or a multiple of 10 (class-balanced)."""
    return {"type": ["null", "integer"], "minimum": 10, "maximum": maximum, "multipleOf": 10}


def _seeds_by_arm() -> dict:
    return {"type": "object", "propertyNames": {"enum": arms.train_arms()},
            "additionalProperties": {"type": "array", "minItems": 1, "maxItems": MAX_SEEDS, "uniqueItems": True,
                                     "items": _SEED}}


SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["description", "model", "model_kwargs", "train_size", "test_size", "data_seed", "epochs",
                 "batch_size", "augment", "precision", "threads", "optimizer", "arms", "seeds"],
    "properties": {
        "description": {"type": "string"},
        "model": {"enum": list(MODEL_KWARGS)},
        "model_kwargs": {"type": "object", "additionalProperties": False, "properties": SETTINGS_SCHEMA},
        "init": {"enum": ["he", "per_activation"], "default": "he"},
        # How a cell's seed becomes the seeds of its layers. "offset" (the
        # earlier sweeps): layer k gets seed + k, so seed s + 1's layer k starts
        # from seed s's layer k + 1 numbers. "independent": every layer, dropout
        # and RReLU generator gets its own seed from SeedSequence([seed, kind, k]).
        "seeding": {"enum": list(SEEDINGS), "default": "offset"},
        # True: each seed trains on its own class-balanced subset of train_size
        # images, drawn from the images left after the validation hold-out
        # (which, like the test images, stays the same for every seed).
        "subset_per_seed": {"type": "boolean", "default": False},
        "train_size": _size(TRAIN_IMAGES),
        "test_size": _size(TEST_IMAGES),
        "data_seed": _SEED,
        "epochs": _EPOCHS,
        "eval_every": {**_EPOCHS, "default": 1},
        # Inference-mode training error on a fixed class-balanced subset of
        # this many training images (all of them when absent or null).
        "train_eval_size": {**_size(TRAIN_IMAGES), "default": None},
        # Class-balanced training images held out for choosing hyper-parameters
        # (never trained on, never the test set); drawn before the training subset.
        "validation_size": {**_size(TRAIN_IMAGES), "default": None},
        # False for the grid's cells: they are scored on the validation images only.
        "evaluate_test": {"type": "boolean", "default": True},
        "batch_size": {**_POS_INT, "maximum": TRAIN_IMAGES},
        "augment": {"type": "boolean"},
        "precision": {"enum": ["float32", "mixed_bfloat16"]},
        # CPU threads of the backend's pools: float sums are ordered by how
        # work is split, so a cell's numbers depend on it.
        "threads": {"type": "integer", "minimum": 1, "maximum": 256},
        "optimizer": {
            "type": "object", "additionalProperties": False,
            "required": ["name", "learning_rate", "momentum", "nesterov", "schedule"],
            "properties": {
                "name": {"enum": ["sgd"]},
                "learning_rate": _RATE,
                "momentum": {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
                "nesterov": {"type": "boolean"},
                "warmup_epochs": {"type": "number", "minimum": 0, "default": 0.0},
                "schedule": {"enum": list(SCHEDULES)},
                "step_epochs": {"type": "array", "items": {"type": "number", "exclusiveMinimum": 0,
                                                           "maximum": MAX_EPOCHS}},
                "step_factor": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            },
        },
        "arms": {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"enum": arms.train_arms()}},
        "seeds": {"type": "array", "minItems": 1, "maxItems": MAX_SEEDS, "uniqueItems": True, "items": _SEED},
        # More seeds for the arms of a key contrast: {"rrelu": [3, 4], ...}
        "extra_seeds": _seeds_by_arm(),
        # Arms added to the study after its main sweep, with their seeds:
        # {"tanh": [0, 1, 2], ...}; planned after the main cells.
        "later_arms": _seeds_by_arm(),
        # The learning-rate grid: every arm at every peak rate, at these seeds
        # (kept apart from the final seeds, so the final cells are fresh draws).
        "grid": {
            "type": "object", "additionalProperties": False, "required": ["learning_rates", "seeds"],
            "properties": {
                "learning_rates": {"type": "array", "minItems": 2, "uniqueItems": True, "items": _RATE},
                "seeds": {"type": "array", "minItems": 1, "maxItems": MAX_SEEDS, "uniqueItems": True, "items": _SEED},
                # The edge rule's extension: an arm whose rate was chosen at an end
                # of the grid gets one more rate a factor of 2 beyond it, once
                # (recorded by ``select --write`` beside the results,
                # grid_extended_path; a grid cell's config carries it). Never typed in.
                "extended": {"type": "object", "propertyNames": {"enum": arms.train_arms()},
                             "additionalProperties": {"type": "array", "minItems": 1, "maxItems": 2,
                                                      "uniqueItems": True, "items": _RATE}},
            },
        },
        # A profile whose final cells take their rates from another profile's
        # grid (its validation images): that profile's name.
        "rates_from": {"type": "string"},
        # Each arm's peak learning rate for the final cells, as chosen from the
        # grid by ``actbook select --write``, which records it beside the
        # results (chosen_rates_path); a cell's config carries it. Never typed in.
        "chosen_rates": {"type": "object", "propertyNames": {"enum": arms.train_arms()},
                         "additionalProperties": _RATE},
    },
}


def _defaults(schema: dict, prefix: str = "") -> dict:
    """``{"eval_every": 1, "optimizer.warmup_epochs": 0.0, ...}``: the schema's ``default`` annotations."""
    out = {}
    for key, sub in schema.get("properties", {}).items():
        if "default" in sub:
            out[prefix + key] = sub["default"]
        out.update(_defaults(sub, f"{prefix}{key}."))
    return out


#: What the runner uses for an optional setting a profile leaves out (the schema's defaults).
DEFAULTS = _defaults(SCHEMA)

# JSON Schema 2020-12 counts 1.0 as an integer; a float in an integer field
# (epochs=2.0) would pass and then fail inside range() or a Keras layer.
_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, x: isinstance(x, int) and not isinstance(x, bool)))


def is_finite_number(value) -> bool:
    """True for an int or float that is a finite float: an integer too large for a
    float (``1`` and 400 zeros, which JSON allows) is no more finite than infinity."""
    if isinstance(value, float):
        return math.isfinite(value)
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def shown_number(value) -> str:
    """``value`` as JSON, cut short: a 400-digit integer is named, not printed whole."""
    text = json.dumps(value)
    return text if len(text) <= 40 else f"{text[:20]}... ({len(text)} digits)"


#: Integers this small are exactly floats; only larger ones need :func:`is_finite_number`.
_SAFE_INT = 2 ** 53


def _not_finite(v) -> bool:
    """A number that is NaN, infinite or an integer too large for a float (bools are no numbers)."""
    if type(v) is float:
        return not math.isfinite(v)
    if type(v) is int and -_SAFE_INT <= v <= _SAFE_INT:
        return False
    return isinstance(v, (int, float)) and not isinstance(v, bool) and not is_finite_number(v)


def _items(container):
    return iter(container.items()) if isinstance(container, dict) else enumerate(container)


def non_finite_fields(value, path=()):
    """(path, a tuple of keys and indices; value) of every NaN, infinity or integer too
    large for a float in a JSON-like value (profiles here, result files in
    :mod:`actbook.runner.result_files`), in document order.

    One pass with a stack of the containers being read, and a path built only for
    what is found: a file padded with a list of millions of numbers costs time in
    proportion to its length, not to its length times its depth."""
    if _not_finite(value):
        yield path, value
    if not isinstance(value, (dict, list)):
        return
    stack = [(path, _items(value))]
    while stack:
        where, items = stack[-1]
        for k, v in items:
            if isinstance(v, (dict, list)):
                stack.append(((*where, k), _items(v)))
                break
            if _not_finite(v):
                yield (*where, k), v
        else:
            stack.pop()


def non_finite(value):
    """(dotted path, value) of every NaN, infinity or integer too large for a float in a profile."""
    for path, v in non_finite_fields(value):
        yield ".".join(map(str, path)) or "(profile)", v


def _rules(config: dict) -> list[str]:
    """Problems JSON Schema cannot express, for a config that passed the schema."""
    problems = []
    model, kwargs = config["model"], config["model_kwargs"]
    for key in kwargs:
        if key not in MODEL_KWARGS[model]:
            problems.append(f"model_kwargs.{key}: model {model!r} does not take it "
                            f"(it takes {', '.join(MODEL_KWARGS[model])})")
    epochs, opt = config["epochs"], config["optimizer"]
    # Settings that act through float32 arithmetic, as the learning rate does: a non-zero value
    # below float32's smallest normal number trains as 0 under the value recorded.
    for key, value in [*((f"model_kwargs.{k}", kwargs.get(k)) for k in ("weight_decay", "dropout")),
                       ("optimizer.momentum", opt.get("momentum"))]:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        if 0 < value < FLOAT32_TINY:
            problems.append(f"{key}: {value!r} is below float32's smallest normal number "
                            f"({FLOAT32_TINY:.4g}), where it would train as 0; give 0 or a larger value")
        elif value > FLOAT32_MAX:
            problems.append(f"{key}: {value!r} is above float32's largest number ({FLOAT32_MAX:.4g}), "
                            f"where it would train as infinity")
    warmup = opt.get("warmup_epochs", 0)
    if warmup and warmup > epochs:  # the peak would never be reached
        problems.append(f"optimizer.warmup_epochs: {warmup} is more than the {epochs} epochs")
    if opt["schedule"] == "constant" and warmup:
        problems.append(f"optimizer.warmup_epochs: {warmup} with schedule 'constant', which has no warm-up "
                        f"(use 'cosine' or 'step', or set it to 0)")
    if opt["schedule"] == "step":
        steps = opt.get("step_epochs")
        if not steps or "step_factor" not in opt:
            problems.append("optimizer: schedule 'step' needs step_epochs (non-empty) and step_factor")
        if steps and any(b <= a for a, b in zip(steps, steps[1:])):
            problems.append(f"optimizer.step_epochs: {steps} is not strictly increasing")
        # Decays at or after the last epoch are allowed: a shortened run of a
        # long schedule (``paper --set epochs=1``) simply does not reach them.
    held_out = config.get("validation_size") or 0
    if config["train_size"] is not None and config["train_size"] + held_out > TRAIN_IMAGES:
        problems.append(f"train_size + validation_size: {config['train_size']} + {held_out} is more than the "
                        f"{TRAIN_IMAGES:,} training images")
    elif config["train_size"] is None and held_out >= TRAIN_IMAGES:
        problems.append(f"validation_size: {held_out} holds out every one of the {TRAIN_IMAGES:,} training images, "
                        f"leaving none to train on")
    measured, trained = config.get("train_eval_size"), training_images(config)
    if measured is not None and measured > trained:
        problems.append(f"train_eval_size: {measured} is more than the {trained} training images")
    if config.get("subset_per_seed") and config["train_size"] is None:
        problems.append("subset_per_seed: a subset per seed needs a train_size (with none, every seed trains on "
                        "all the images)")
    grid = config.get("grid")
    if grid:
        if not config.get("validation_size"):
            problems.append("grid: a learning-rate grid is scored on validation images; set validation_size")
        clash = sorted(set(grid["seeds"]) & set(config["seeds"]))
        if clash:
            problems.append(f"grid.seeds: {clash} are also final seeds; keep them apart so the final cells are "
                            f"not the cells their rates were chosen on")
        for key in ("extra_seeds", "later_arms"):
            if config.get(key):
                problems.append(f"{key}: a profile with a grid gives every arm the same seeds")
    chosen = config.get("chosen_rates") or {}
    if grid and config.get("rates_from"):
        problems.append("rates_from: a profile with a grid of its own chooses its rates from it")
    if chosen and not grid and not config.get("rates_from"):
        problems.append("chosen_rates: without a grid (or rates_from) there is nothing they were chosen from")
    if grid:
        for arm, extra in (grid.get("extended") or {}).items():
            base = sorted(grid["learning_rates"])
            allowed = {base[0] / 2, base[-1] * 2}
            if not set(extra) <= allowed:
                problems.append(f"grid.extended.{arm}: {extra}; the edge rule adds only {base[0] / 2:g} or "
                                f"{base[-1] * 2:g} (a factor of 2 beyond an end of the grid)")
            if arm not in config.get("arms", []):  # no cell would run it: an extension of another profile's arms
                problems.append(f"grid.extended.{arm}: {arm!r} is not one of the profile's arms")
        # A grid cell's file is named by its rate as printed (Cell.stem, "{rate:g}"): two rates that
        # print alike would be one file, each run overwriting the other's cell.
        for arm in dict.fromkeys([*config.get("arms", []), *(grid.get("extended") or {})]):
            printed = {}
            for rate in grid_rates(config, arm):
                printed.setdefault(f"{rate:g}", []).append(rate)
            same = [rates for rates in printed.values() if len(rates) > 1]
            if same:
                problems.append(f"grid: the rates {same[0]} of {arm} would share the cell name lr{same[0][0]:g} "
                                f"(rates are named to 6 significant digits); make them differ there")
                break
        off = {a: r for a, r in chosen.items() if r not in grid_rates(config, a)}
        if off:
            problems.append(f"chosen_rates: {off} not among grid.learning_rates {grid['learning_rates']} "
                            f"or the arm's grid.extended")
    return problems


def grid_rates(config: dict, arm: str) -> list[float]:
    """The rates of ``arm`` in a profile's grid: the grid's own and its edge-rule extension, ascending."""
    grid = config.get("grid") or {}
    return sorted({*grid.get("learning_rates", []), *(grid.get("extended") or {}).get(arm, [])})


def training_images(config: dict) -> int:
    """How many images a profile trains on: its ``train_size``, or every
    training image not held out for validation."""
    return config["train_size"] or TRAIN_IMAGES - (config.get("validation_size") or 0)


def validate(name: str, config) -> dict:
    """``config`` if it is a valid profile, else :class:`UsageError` listing every problem.

    Beyond :data:`SCHEMA`: no NaN or infinity anywhere; ``model_kwargs`` only
    the model takes; warm-up at most the epochs and only for a schedule that
    has one; ``step_epochs`` non-empty and strictly increasing;
    ``train_eval_size`` at most the training images.
    """
    if not SAFE_NAME.match(str(name)):
        raise UsageError(f"profile name {name!r} is not a safe file name (letters, digits, _ . -)")
    bad = dict(non_finite(config))
    problems = [f"{where}: {shown_number(v)} is not a finite number" for where, v in bad.items()]
    errors = sorted(_Validator(SCHEMA).iter_errors(config), key=lambda e: list(map(str, e.path)))
    for e in errors:
        where = ".".join(map(str, e.path)) or "(profile)"
        if where not in bad:  # one message per problem: "NaN is not finite" says it
            message = (f"{len(e.instance)} items, more than the {e.validator_value} allowed"
                       if e.validator == "maxItems" else e.message)
            problems.append(f"{where}: {message if len(message) <= 300 else message[:300] + ' ...'}")
    if not problems:
        problems = _rules(config)
    if problems:
        raise UsageError(f"profile {name!r} is invalid:\n  " + "\n  ".join(problems))
    return config


def _read_profiles_file(path: str) -> str:
    """The text of ``ACTBOOK_PROFILES``: a regular file of at most :data:`MAX_PROFILES_BYTES`
    (:func:`actbook.runner.files.read_regular_file`: a FIFO does not hang and
    ``/dev/zero`` is not read into memory)."""
    what = f"ACTBOOK_PROFILES={path}"
    try:
        data = read_regular_file(path, MAX_PROFILES_BYTES)
    except OSError as e:
        raise UsageError(f"{what}: cannot open ({e.strerror})") from None
    except Unreadable as e:
        if str(e) == "not a regular file":
            raise UsageError(f"{what}: not a regular file; name a JSON file of profiles") from None
        raise UsageError(f"{what}: more than the {MAX_PROFILES_BYTES:,} bytes a profiles file may have "
                         f"({e})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"{what}: not UTF-8 text ({e.reason} at byte {e.start})") from None


@functools.cache
def _shipped() -> dict:
    profiles = json.loads(resources.files("actbook.runner").joinpath("profiles.json").read_text())
    for name, config in profiles.items():
        validate(name, config)
    return profiles


def shipped_profiles() -> dict:
    """The profiles that come with the package (``actbook/profiles.json``), validated;
    ``ACTBOOK_PROFILES`` does not change them."""
    return copy.deepcopy(_shipped())


def load_profiles() -> dict:
    """Every profile, validated: the shipped ones, then ``ACTBOOK_PROFILES`` (adds or replaces by name)."""
    profiles = shipped_profiles()
    extra = os.environ.get("ACTBOOK_PROFILES")
    if extra:
        from actbook.runner.files import parse_json
        try:
            more = parse_json(_read_profiles_file(extra), allow_nan=True)  # validate names the setting
        except ValueError as e:
            if isinstance(e, UsageError):
                raise
            raise UsageError(f"ACTBOOK_PROFILES={extra}: cannot read profiles ({e})") from None
        if not isinstance(more, dict):
            raise UsageError(f"ACTBOOK_PROFILES={extra}: expected a JSON object of profiles by name, "
                             f"got {type(more).__name__}")
        for name, config in more.items():
            validate(name, config)
        profiles.update(more)
        _check_rates_from(profiles, extra)
    return profiles


def _check_rates_from(profiles: dict, where: str) -> None:
    """A ``rates_from`` must name another profile that has a grid: one naming an unknown
    profile, itself, or a profile without a grid (the chain of a cycle) has no grid to
    choose from, and would fail only when a final cell first asked for its rate."""
    for name, config in profiles.items():
        source = config.get("rates_from") if isinstance(config, dict) else None
        if source is None:
            continue
        if source == name:
            problem = "names the profile itself"
        elif source not in profiles:
            problem = f"names no profile (there are {', '.join(sorted(profiles))})"
        elif not profiles[source].get("grid"):
            problem = f"names {source!r}, which has no learning-rate grid to choose from"
        else:
            continue
        raise UsageError(f"ACTBOOK_PROFILES={where}: profile {name!r}: rates_from {source!r} {problem}")


class _NotFinite(Exception):
    pass


def _refuse_constant(name):
    raise _NotFinite(name)  # json.loads would turn NaN, Infinity and -Infinity into floats


class _DuplicateKey(Exception):  # not a ValueError: parse_set reads a ValueError as "a bare word"
    pass


def _refuse_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    repeated = next((k for k in keys if keys.count(k) > 1), None)
    if repeated is not None:  # json.loads would keep the last unseen
        raise _DuplicateKey(repeated)
    return dict(pairs)


def parse_set(items) -> dict:
    """``["optimizer.learning_rate=0.05", "epochs=1"]`` -> ``{"optimizer.learning_rate": 0.05, "epochs": 1}``.

    Values are JSON (``true``, ``null``, ``[1, 2]``, ``"text"``); a bare word
    is a string. ``NaN``, ``Infinity`` and numbers too large for a float are refused.
    """
    out = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--set needs KEY=VALUE, got {item!r}")
        if key in out:  # the last would win unseen: which one was meant is the user's to say
            raise UsageError(f"--set {key} is given twice; give each setting once")
        shown = raw.strip() if len(raw.strip()) <= 40 else f"{raw.strip()[:20]}... ({len(raw.strip())} characters)"
        refused = UsageError(f"--set {key}={shown}: not a finite number (NaN, infinities and numbers too large "
                             f"for a float are refused)")
        try:
            value = json.loads(raw, parse_constant=_refuse_constant, object_pairs_hook=_refuse_duplicate_keys)
        except _NotFinite:
            raise refused from None
        except _DuplicateKey as e:
            raise UsageError(f"--set {key}: the value gives {e.args[0]!r} twice; give each setting once") from None
        except RecursionError:
            raise UsageError(f"--set {key}: the value is nested too deeply") from None
        except ValueError:
            value = raw
        from actbook.runner.files import MAX_JSON_DEPTH, json_depth
        if json_depth(value) > MAX_JSON_DEPTH:
            raise UsageError(f"--set {key}: the value is nested more than {MAX_JSON_DEPTH} levels deep")
        if any(non_finite(value)):  # 1e999 parses as infinity
            raise refused
        recorded = _recorded_by_select(key, value)
        if recorded:
            raise UsageError(f"--set {key}: {recorded} is recorded by `actbook select --write` beside the results "
                             f"(<results>/<profile>.{recorded.replace('.', '_')}.json), never set by hand: the record "
                             f"would be used instead, while the folder's name and the cells' overrides said otherwise")
        out[key] = value
    return out


#: The settings ``select --write`` records beside the results (:func:`chosen_rates_path`,
#: :func:`grid_extended_path`), which replace a profile's own: never given by ``--set``.
RECORDED_BY_SELECT = ("chosen_rates", "grid.extended")


def _recorded_by_select(key: str, value) -> str | None:
    """The setting of :data:`RECORDED_BY_SELECT` that ``--set key=value`` would give, or None
    (``grid={..., "extended": ...}`` gives one inside its value)."""
    for setting in RECORDED_BY_SELECT:
        if key == setting or key.startswith(f"{setting}."):
            return setting
        group, _, inner = setting.partition(".")
        if key == group and isinstance(value, dict) and inner in value:
            return setting
    return None


def _schema_at(parts) -> dict:
    """The schema of the setting at a dotted path ({} where there is none)."""
    schema = SCHEMA
    for part in parts:
        if not isinstance(schema, dict):
            return {}
        if part in schema.get("properties", {}):
            schema = schema["properties"][part]
        elif isinstance(schema.get("additionalProperties"), dict):
            schema = schema["additionalProperties"]
        else:
            return {}
    return schema


def apply_overrides(config: dict, overrides: dict) -> dict:
    """A copy of ``config`` with dotted keys replaced; unknown keys list the valid ones.
    Two keys of which one lies inside the other (``optimizer`` and
    ``optimizer.learning_rate``) are refused: which value was meant would
    depend on their order."""
    config = copy.deepcopy(config)
    overlapping = sorted((a, b) for a in overrides for b in overrides if b.startswith(f"{a}."))
    if overlapping:
        a, b = overlapping[0]
        raise UsageError(f"--set {a} and --set {b} overlap ({b} lies inside {a}); give each setting once")
    for key, value in overrides.items():
        node, parts = config, key.split(".")
        schema = SCHEMA
        for part in parts[:-1]:
            schema = schema.get("properties", {}).get(part, {})
            if part not in node and schema.get("type") == "object":  # e.g. later_arms.tanh on a profile without
                node[part] = {}
            if not isinstance(node.get(part), dict):
                raise UsageError(f"--set {key}: {part!r} is not a group of settings; valid keys: "
                                 f"{', '.join(sorted(SCHEMA['properties']))}")
            node = node[part]
        valid = set(schema.get("properties", {})) | set(schema.get("propertyNames", {}).get("enum", []))
        if parts[-1] not in valid:
            where = ".".join(parts[:-1]) or "the profile"
            raise UsageError(f"--set {key}: unknown setting; valid keys in {where}: {', '.join(sorted(valid))}")
        node[parts[-1]] = copy.deepcopy(value)  # the caller's overrides stay as given
    return config


def _canonical(value, schema: dict):
    """``value`` with every whole number in a number-typed field as a float (``1`` -> ``1.0``)."""
    if isinstance(value, dict):
        inner = schema.get("additionalProperties")
        return {k: _canonical(v, schema.get("properties", {}).get(k, inner if isinstance(inner, dict) else {}))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v, schema.get("items", {})) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and schema.get("type") == "number":
        return float(value) if is_finite_number(value) else value  # too large a one is refused as not finite
    return value


def with_defaults(config: dict) -> dict:
    """A copy of ``config`` with :data:`DEFAULTS` filled in for the optional
    settings it leaves out: what the runner reads (a result records the
    config as it was given). Safe on any stored config (no validation)."""
    out = copy.deepcopy(config)
    for key, default in DEFAULTS.items():
        *group, leaf = key.split(".")
        node = out
        for part in group:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.setdefault(leaf, default)
    return out


def _canonical_config(config):
    """The config as it acts: no ``description`` (prose), :data:`DEFAULTS`
    filled in, no ``step_epochs``/``step_factor`` under a schedule other than
    ``step`` (they do nothing there), whole numbers in number-typed fields as
    floats. Safe on any stored config (no validation)."""
    if not isinstance(config, dict):
        return config
    out = with_defaults({k: v for k, v in config.items() if k != "description"})
    opt = out.get("optimizer")
    if isinstance(opt, dict) and opt.get("schedule") != "step":
        opt.pop("step_epochs", None)
        opt.pop("step_factor", None)
    return _canonical(out, SCHEMA)


def experiment_identity(config: dict) -> dict:
    """What a cell's numbers depend on, in canonical form: compare these, not configs.

    The config without its ``description`` and without the settings that
    only choose which cells there are (:data:`PLAN_KEYS`: arms, seeds, extra
    seeds, later arms), with :data:`DEFAULTS` filled in for optional settings
    left out, without ``step_epochs``/``step_factor`` under a schedule other
    than ``step``, and with whole numbers in number-typed fields as floats.
    Two configs with equal identities train a cell (an arm at a seed) to the
    same numbers, given the code and the runtime; a stored result whose
    config has another identity than the profile's is stale. Safe on any
    stored config (no validation); ``json.dumps(..., sort_keys=True)`` of it
    is a stable fingerprint.
    """
    out = _canonical_config(config)
    return {k: v for k, v in out.items() if k not in PLAN_KEYS} if isinstance(out, dict) else out


def _leaves(value: dict, prefix: str = "") -> dict:
    """A nested dict as ``{"optimizer.learning_rate": 0.05, ...}`` (lists are leaves)."""
    out = {}
    for k, v in value.items():
        if isinstance(v, dict):
            out.update(_leaves(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _same(a, b) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)  # 1 != True, unlike ==


def effective_overrides(profile: str, overrides: dict | None = None) -> dict:
    """What ``overrides`` change in ``profile``: the changed settings of the
    resulting config against the profile's, canonical, ready to apply again.

    Dotted keys of the changed leaves (``{"optimizer.learning_rate": 1.0}``),
    compared as the configs act (description left out, defaults filled in,
    numbers in number-typed fields as floats); a group that lost a setting
    (``model_kwargs`` without ``weight_decay``) is given whole. ``{"epochs":
    50}`` on a 50-epoch profile -> ``{}``. Equal resulting configs give equal
    dicts, whatever keys were used to get there, and
    ``effective_overrides(p, effective_overrides(p, o)) == effective_overrides(p, o)``.
    """
    base = get_profile(profile)
    if not overrides:
        return {}
    before = _canonical_config(base)
    after = _canonical_config(validate(profile, apply_overrides(base, overrides)))
    old, new = _leaves(before), _leaves(after)
    changed = {k: v for k, v in new.items() if k not in old or not _same(v, old[k])}
    for group in {k.split(".")[0] for k in old if k not in new}:
        changed = {k: v for k, v in changed.items() if k.split(".")[0] != group}
        changed[group] = after.get(group, {})
    return dict(sorted(changed.items()))


def overrides_tag(overrides: dict, profile: str | None = None) -> str:
    """Short stable hash of overrides: ``{"epochs": 1}`` -> ``"3f2a9c1d"``.

    With ``profile``, the tag of :func:`effective_overrides` (what
    :func:`profile_folder` uses: no-ops dropped, ``1`` and ``1.0`` alike in a
    number field). Without, of ``overrides`` as given, with numbers made
    canonical and the description left out: the same tag whenever they are
    already effective overrides.
    """
    if profile is not None:
        changed = effective_overrides(profile, overrides)
    else:
        changed = {k: _canonical(v, _schema_at(k.split("."))) for k, v in (overrides or {}).items()
                   if k != "description"}
    for where, v in non_finite(changed):
        raise UsageError(f"--set {where}: {shown_number(v)} is not a finite number")
    return hashlib.sha256(json.dumps(changed, sort_keys=True, allow_nan=False).encode()).hexdigest()[:8]


def get_profile(name: str, overrides: dict | None = None, results: str | Path | None = None) -> dict:
    """The profile ``name`` (a deep copy), with ``overrides`` applied and validated.

    With ``results``, also what ``select --write`` recorded for it there: the
    rates chosen for it (:func:`chosen_rates_path`) and its grid's edge-rule
    extension (:func:`grid_extended_path`). These replace any copies the
    profile carries, so a results folder without them means nothing chosen
    and nothing extended yet."""
    profiles = load_profiles()
    if name not in profiles:
        raise UsageError(f"unknown profile {name!r}; valid profiles: {', '.join(profiles)}")
    config = copy.deepcopy(profiles[name])
    if overrides:
        config = validate(name, apply_overrides(config, overrides))
    if results is not None:
        config = _with_recorded_selection(name, config, results)
    return config


def _record_path(results: str | Path, profile: str, what: str) -> Path:
    if not SAFE_NAME.match(str(profile)):
        raise UsageError(f"profile name {profile!r} is not a safe file name (letters, digits, _ . -)")
    return Path(results) / f"{profile}.{what}.json"


def chosen_rates_path(results: str | Path, profile: str) -> Path:
    """Where ``select --write`` records the learning rates chosen for ``profile``:
    ``<results>/<profile>.chosen_rates.json``, ``{"profile": ..., "chosen_from":
    <the profile whose grid they come from>, "chosen_rates": {arm: rate}}``,
    beside the profile's results folder (and outside it, so no reader of its
    cells meets it). The same rates serve the profile's runs with overrides and
    on other backends."""
    return _record_path(results, profile, "chosen_rates")


def grid_extended_path(results: str | Path, profile: str) -> Path:
    """Where ``select --write`` records the edge rule's extension of ``profile``'s
    grid: ``<results>/<profile>.grid_extended.json``, ``{"profile": ...,
    "extended": {arm: [rate]}}`` (the profile's ``grid.extended``), beside the
    grid's results like the chosen rates. A file of its own, for it is written
    at another step (before the extension's cells run, the chosen rates after
    them) and belongs to the grid's profile, while chosen rates belong to the
    profile that runs them (which may take them from another's grid, ``rates_from``)."""
    return _record_path(results, profile, "grid_extended")


def _read_record(path: Path, profile: str, key: str, what: str) -> dict | None:
    """The ``key`` mapping of the record at ``path``, None when there is none."""
    from actbook.runner.files import parse_json
    if not path.exists():
        return None
    try:
        recorded = parse_json(read_regular_file(path, MAX_PROFILES_BYTES).decode("utf-8"))
    except (OSError, ValueError) as e:  # Unreadable and UnicodeDecodeError are ValueErrors
        raise UsageError(f"{path}: cannot read the {what} ({e})") from None
    if not (isinstance(recorded, dict) and recorded.get("profile") == profile and isinstance(recorded.get(key), dict)):
        raise UsageError(f"{path}: expected {{\"profile\": {profile!r}, \"{key}\": {{...}}}}")
    return recorded[key]


def _set_or_drop(node: dict, key: str, value) -> None:
    """``node[key] = value`` (in the key's place, if it has one), or no ``key`` for None."""
    if value is None:
        node.pop(key, None)
    else:
        node[key] = value


def _with_recorded_selection(name: str, config: dict, results: str | Path) -> dict:
    """``config`` with its grid's extension and its chosen rates as recorded in
    ``results`` (none where nothing is recorded there), validated."""
    extended_path, chosen_path = grid_extended_path(results, name), chosen_rates_path(results, name)
    extended = _read_record(extended_path, name, "extended", "grid's extension")
    chosen = _read_record(chosen_path, name, "chosen_rates", "chosen rates")
    if extended is not None and not config.get("grid"):
        raise UsageError(f"{extended_path}: profile {name!r} has no learning-rate grid to extend")
    out = copy.deepcopy(config)
    if out.get("grid"):
        _set_or_drop(out["grid"], "extended", extended)
    _set_or_drop(out, "chosen_rates", chosen)
    try:
        return validate(name, out)
    except UsageError as e:
        read = [str(p) for p, v in ((extended_path, extended), (chosen_path, chosen)) if v is not None]
        raise UsageError(f"{' and '.join(read) or results}: {e}") from None


def recorded_selection(profile: str, results: str | Path) -> dict:
    """What ``select --write`` recorded for ``profile`` in ``results``, checked
    against the profile: ``{"chosen_from": <the profile whose grid the rates
    come from>, "chosen_rates": {arm: rate}, "extended": {arm: [rate]}}``, the
    last the edge rule's extension of that grid. ``{}`` for what is not recorded
    yet. The one place the loaders and the pages read these from."""
    config = get_profile(profile, results=results)
    source = config.get("rates_from") or profile
    grid_config = config if source == profile else get_profile(source, results=results)
    return {"chosen_from": source, "chosen_rates": dict(config.get("chosen_rates") or {}),
            "extended": dict((grid_config.get("grid") or {}).get("extended") or {})}


_TAG = re.compile(r"^[0-9a-f]{8}\Z")


def profile_folder(profile: str, overrides: dict | None = None, runtime: str | None = "") -> str:
    """Where a profile's results live under the results folder: ``paper``;
    ``paper+3f2a9c1d`` when overrides change the profile
    (:func:`effective_overrides`; no-op overrides keep ``paper``);
    ``paper@jax`` or ``paper+3f2a9c1d@jax`` for another ``runtime`` (a Keras
    backend, a device layout: any safe name), so different experiments never mix."""
    if not SAFE_NAME.match(str(profile)):
        raise UsageError(f"profile name {profile!r} is not a safe file name (letters, digits, _ . -)")
    runtime = runtime or ""
    if runtime and not (isinstance(runtime, str) and SAFE_NAME.match(runtime)):
        raise UsageError(f"runtime {runtime!r} is not a safe name (letters, digits, _ . -, at most 64)")
    changed = effective_overrides(profile, overrides) if overrides else {}
    name = f"{profile}+{overrides_tag(changed)}" if changed else profile
    return f"{name}@{runtime}" if runtime else name


def split_folder(name: str) -> tuple[str, str | None, str | None]:
    """A results folder's name back into its parts: ``"paper+3f2a9c1d@jax"`` ->
    ``("paper", "3f2a9c1d", "jax")``, ``"paper"`` -> ``("paper", None, None)``."""
    head, at, runtime = str(name).partition("@")
    profile, plus, tag = head.partition("+")
    if not SAFE_NAME.match(profile) or (plus and not _TAG.match(tag)) or (at and not SAFE_NAME.match(runtime)):
        raise UsageError(f"{name!r} is not a results folder name (<profile>[+<8 hex digits>][@<runtime>])")
    return profile, tag if plus else None, runtime if at else None


@dataclass(frozen=True, order=True)
class Cell:
    """One training run. A grid cell carries its learning rate; a final cell
    takes its rate from the profile (``chosen_rates``, else ``optimizer.learning_rate``)."""

    profile: str
    arm: str
    seed: int
    learning_rate: float | None = None  #: set for the cells of a learning-rate grid only

    @property
    def stage(self) -> str:
        return "final" if self.learning_rate is None else "grid"

    @property
    def stem(self) -> str:
        rate = "" if self.learning_rate is None else f"-lr{self.learning_rate:g}"
        return f"{arms.slug(self.arm)}{rate}-seed{self.seed}"


def stage_folder(stage: str) -> str:
    """The subfolder of a profile's folder that holds a stage's cells ("" for the final ones)."""
    if stage not in STAGES:
        raise UsageError(f"unknown stage {stage!r}; valid: {', '.join(STAGES)}")
    return "grid" if stage == "grid" else ""


def result_path(results: Path, cell: Cell, overrides: dict | None = None, runtime: str | None = "") -> Path:
    folder = Path(results) / profile_folder(cell.profile, overrides, runtime) / stage_folder(cell.stage)
    return folder / f"{cell.stem}.json"


def cell_config(config: dict, cell: Cell) -> dict:
    """The config one cell trains with: the profile's, with the cell's own
    peak learning rate, and, for a grid cell, no test-set evaluation.

    A final cell of a profile with a grid needs the arm's chosen rate; until
    ``select`` has written it there is no final cell to run.
    """
    out = copy.deepcopy(config)
    if cell.stage == "grid":
        if cell.learning_rate not in grid_rates(config, cell.arm):
            raise UsageError(f"{cell.stem}: learning rate {cell.learning_rate} is not in the profile's grid")
        out["optimizer"]["learning_rate"] = float(cell.learning_rate)
        out["evaluate_test"] = False
    elif config.get("grid") or config.get("rates_from"):
        chosen = config.get("chosen_rates") or {}
        if cell.arm not in chosen:
            source = config.get("rates_from") or cell.profile
            raise UsageError(f"no learning rate chosen for {cell.arm!r} in profile {cell.profile!r} yet: run the "
                             f"grid of {source!r} (--stage grid), then `actbook select "
                             f"--profile {cell.profile} --results DIR --write`")
        out["optimizer"]["learning_rate"] = float(chosen[cell.arm])
    return out


def parse_shard(shard: str | None) -> tuple[int, int]:
    if shard is None:
        return 1, 1
    try:
        parts = shard.split("/")
        if not all(v.isascii() and v.isdigit() for v in parts):  # int() also reads "1_0" and other scripts' digits
            raise ValueError(shard)
        k, n = (int(v) for v in parts)
    except ValueError:
        raise UsageError(f"--shard must look like K/N (e.g. 2/4), got {shard!r}") from None
    if not (n >= 1 and 1 <= k <= n):
        raise UsageError(f"--shard K/N needs 1 <= K <= N, got {shard!r}")
    return k, n


def _by_seed(profile: str, seeds_by_arm: dict, arm_order, skip=()) -> list[Cell]:
    """Cells of ``{arm: [seed, ...]}``, seed-major, arms in ``arm_order``."""
    every = sorted({s for a in arm_order for s in seeds_by_arm.get(a, [])})
    return [Cell(profile, a, s) for s in every for a in arm_order
            if s in seeds_by_arm.get(a, []) and (a, s) not in skip]


def _refuse_grid_overrides(profile: str, config: dict, overrides: dict | None, stage: str) -> None:
    """A grid changed by ``--set`` is a grid of its own: its cells may run (``--stage grid``,
    in the folder of the overrides), but the rates chosen for ``profile`` come from the profile's
    grid, so final cells (or grid cells beside recorded chosen rates) would record a grid that
    never chose their rates."""
    changed = sorted(k for k in overrides or {} if k == "grid" or k.startswith("grid."))
    if not changed:
        return
    if stage == "final":
        raise UsageError(f"--set {changed[0]}: the final cells train at the rates chosen from the grid of "
                         f"{config.get('rates_from') or profile!r} as it ran, and would record a grid that never ran; "
                         f"a changed grid is for --stage grid only")
    if config.get("chosen_rates"):
        raise UsageError(f"--set {changed[0]}: profile {profile!r} records learning rates chosen from its own grid, "
                         f"which these grid cells would record beside a grid that did not choose them; run a changed "
                         f"grid into another --results folder")


def plan(profile: str, arms_=None, seeds=None, shard: str | None = None, overrides: dict | None = None,
         stage: str = "final", results: str | Path | None = None) -> list[Cell]:
    """The cells to run, in a fixed order (seed-major, so a partial sweep has
    every arm at the first seeds); ``shard="K/N"`` keeps every N-th from the K-th.

    The profile's own plan (no arms and no seeds given) is its arms at its
    seeds, then its ``extra_seeds``, then its ``later_arms``. ``stage="grid"``:
    its arms at every rate of its ``grid`` and the grid's seeds (seed-major,
    then rate), for a profile that has one, then the edge rule's extension
    recorded in ``results`` (without ``results``, the profile's own, if any).
    """
    stage_folder(stage)
    config = get_profile(profile, overrides, results=results)
    _refuse_grid_overrides(profile, config, overrides, stage)
    if (overrides and config.get("grid")
            and config["optimizer"]["learning_rate"] != get_profile(profile)["optimizer"]["learning_rate"]):
        raise UsageError(f"profile {profile!r} sets each arm's learning rate from its grid (grid.learning_rates, "
                         f"chosen_rates); --set optimizer.learning_rate would be ignored")
    if stage == "grid" and not config.get("grid"):
        raise UsageError(f"profile {profile!r} has no learning-rate grid; its cells are all final (--stage final)")
    chosen = list(config["arms"]) if arms_ is None else list(arms_)
    if not chosen:
        raise UsageError("no activations given (--activations is empty)")
    unknown = [a for a in chosen if a not in arms.train_arms()]
    if unknown:
        raise UsageError(f"unknown activation(s) {', '.join(map(repr, unknown))}; valid: {', '.join(arms.train_arms())}")
    seeds_given = seeds
    own_seeds = config["grid"]["seeds"] if stage == "grid" else config["seeds"]
    seeds = list(own_seeds) if seeds is None else list(seeds)
    if not seeds:
        raise UsageError("no seeds given (--seeds is empty)")
    bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= MAX_SEED]
    if bad:
        raise UsageError(f"seeds must be integers in [0, {MAX_SEED}], got {bad}")
    chosen, seeds = list(dict.fromkeys(chosen)), list(dict.fromkeys(seeds))  # duplicates run once
    if stage == "grid":
        # The grid's own rates, then the edge rule's extensions (so a sweep's
        # earlier cells keep their place in the order).
        cells = [Cell(profile, a, s, float(r)) for s in seeds for r in config["grid"]["learning_rates"]
                 for a in chosen]
        cells += [Cell(profile, a, s, float(r)) for s in seeds for a in chosen
                  for r in (config["grid"].get("extended") or {}).get(a, [])]
    else:
        cells = [Cell(profile, a, s) for s in seeds for a in chosen]
    if stage == "final" and arms_ is None and seeds_given is None:  # the profile's own plan: its extra seeds and later arms too
        have = {(c.arm, c.seed) for c in cells}
        cells += _by_seed(profile, config.get("extra_seeds", {}), chosen, skip=have)
        have |= {(c.arm, c.seed) for c in cells}
        later = config.get("later_arms", {})
        cells += _by_seed(profile, later, list(later), skip=have)
    k, n = parse_shard(shard)
    return cells[k - 1::n]
