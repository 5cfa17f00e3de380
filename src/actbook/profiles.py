"""Profiles and the cell plan, as plain data (no TensorFlow).

A *profile* is one nested dict of settings (``actbook/profiles.json``, plus
a JSON file of your own named by ``ACTBOOK_PROFILES``); a *cell* is one
(profile, activation, seed) training run. Every profile is validated against
:data:`SCHEMA` before anything runs, so a typo or a bad value is one clear
message per problem, never a silently different experiment.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import jsonschema

from actbook import arms

__all__ = ["UsageError", "SCHEMA", "load_profiles", "get_profile", "validate", "apply_overrides",
           "parse_set", "Cell", "plan", "parse_shard", "result_path", "profile_folder"]

#: Names used as file and folder names: letters, digits, ``_ . -``, no path separators.
SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
MAX_SEED = 2 ** 31 - 1  # Keras seeds are 32-bit signed


class UsageError(ValueError):
    """Bad user input (command line, profile); the CLI prints it and exits with status 2."""


_NUM = {"type": "number"}
_POS_INT = {"type": "integer", "minimum": 1}
_SIZE = {"anyOf": [{"type": "null"}, {"type": "integer", "minimum": 10, "multipleOf": 10}]}

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["description", "model", "model_kwargs", "train_size", "test_size", "data_seed", "epochs",
                 "batch_size", "augment", "precision", "optimizer", "arms", "seeds"],
    "properties": {
        "description": {"type": "string"},
        "model": {"enum": ["small_cnn", "nin"]},
        "model_kwargs": {
            "type": "object", "additionalProperties": False,
            "properties": {"width": _POS_INT, "dropout": {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
                           "weight_decay": {"type": "number", "minimum": 0}},
        },
        "init": {"enum": ["he", "per_activation"]},
        "train_size": _SIZE,
        "test_size": _SIZE,
        "data_seed": {"type": "integer", "minimum": 0, "maximum": MAX_SEED},
        "epochs": _POS_INT,
        "eval_every": _POS_INT,
        # Inference-mode training error on a fixed class-balanced subset of
        # this many training images (all of them when absent or null).
        "train_eval_size": _SIZE,
        "batch_size": _POS_INT,
        "augment": {"type": "boolean"},
        "precision": {"enum": ["float32", "mixed_bfloat16"]},
        "optimizer": {
            "type": "object", "additionalProperties": False,
            "required": ["name", "learning_rate", "momentum", "nesterov", "schedule"],
            "properties": {
                "name": {"enum": ["sgd"]},
                "learning_rate": {"type": "number", "exclusiveMinimum": 0},
                "momentum": {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
                "nesterov": {"type": "boolean"},
                "warmup_epochs": {"type": "number", "minimum": 0},
                "schedule": {"enum": ["constant", "cosine", "step"]},
                "step_epochs": {"type": "array", "items": {"type": "number", "exclusiveMinimum": 0}},
                "step_factor": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            },
        },
        "arms": {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"enum": arms.train_arms()}},
        "seeds": {"type": "array", "minItems": 1, "uniqueItems": True,
                  "items": {"type": "integer", "minimum": 0, "maximum": MAX_SEED}},
        # More seeds for the arms of a key contrast: {"rrelu": [3, 4], ...}
        "extra_seeds": {"type": "object", "propertyNames": {"enum": arms.train_arms()},
                        "additionalProperties": {"type": "array", "uniqueItems": True,
                                                 "items": {"type": "integer", "minimum": 0, "maximum": MAX_SEED}}},
    },
}


def validate(name: str, config) -> dict:
    """``config`` if it is a valid profile, else :class:`UsageError` listing every problem."""
    if not SAFE_NAME.match(str(name)):
        raise UsageError(f"profile name {name!r} is not a safe file name (letters, digits, _ . -)")
    errors = sorted(jsonschema.Draft202012Validator(SCHEMA).iter_errors(config), key=lambda e: list(e.path))
    problems = [f"{'.'.join(map(str, e.path)) or '(profile)'}: {e.message}" for e in errors]
    if not errors:
        opt = config["optimizer"]
        if opt["schedule"] == "step" and not ("step_epochs" in opt and "step_factor" in opt):
            problems.append("optimizer: schedule 'step' needs step_epochs and step_factor")
        measured, trained = config.get("train_eval_size"), config["train_size"]
        if measured is not None and trained is not None and measured > trained:
            problems.append(f"train_eval_size: {measured} is more than the {trained} training images")
    if problems:
        raise UsageError(f"profile {name!r} is invalid:\n  " + "\n  ".join(problems))
    return config


def load_profiles() -> dict:
    """Every profile, validated: the shipped ones, then ``ACTBOOK_PROFILES`` (adds or replaces by name)."""
    profiles = json.loads(resources.files("actbook").joinpath("profiles.json").read_text())
    extra = os.environ.get("ACTBOOK_PROFILES")
    if extra:
        try:
            more = json.loads(Path(extra).read_text())
        except (OSError, ValueError) as e:
            raise UsageError(f"ACTBOOK_PROFILES={extra}: cannot read profiles ({e})") from None
        if not isinstance(more, dict):
            raise UsageError(f"ACTBOOK_PROFILES={extra}: expected a JSON object of profiles by name, "
                             f"got {type(more).__name__}")
        profiles.update(more)
    for name, config in profiles.items():
        validate(name, config)
    return profiles


def parse_set(items) -> dict:
    """``["optimizer.learning_rate=0.05", "epochs=1"]`` -> ``{"optimizer.learning_rate": 0.05, "epochs": 1}``.

    Values are JSON (``true``, ``null``, ``[1, 2]``, ``"text"``); a bare word is a string.
    """
    out = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--set needs KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = json.loads(raw)
        except ValueError:
            out[key.strip()] = raw
    return out


def apply_overrides(config: dict, overrides: dict) -> dict:
    """A copy of ``config`` with dotted keys replaced; unknown keys list the valid ones."""
    config = copy.deepcopy(config)
    for key, value in overrides.items():
        node, parts = config, key.split(".")
        schema = SCHEMA
        for part in parts[:-1]:
            schema = schema["properties"].get(part, {})
            if not isinstance(node.get(part), dict):
                raise UsageError(f"--set {key}: {part!r} is not a group of settings; valid keys: "
                                 f"{', '.join(sorted(SCHEMA['properties']))}")
            node = node[part]
        valid = set(schema.get("properties", {}))
        if parts[-1] not in valid:
            where = ".".join(parts[:-1]) or "the profile"
            raise UsageError(f"--set {key}: unknown setting; valid keys in {where}: {', '.join(sorted(valid))}")
        node[parts[-1]] = value
    return config


def overrides_tag(overrides: dict) -> str:
    """Short stable hash of the overrides: ``{"epochs": 1}`` -> ``"3f2a9c1d"``."""
    return hashlib.sha256(json.dumps(overrides, sort_keys=True).encode()).hexdigest()[:8]


def get_profile(name: str, overrides: dict | None = None) -> dict:
    """The profile ``name`` (a deep copy), with ``overrides`` applied and validated."""
    profiles = load_profiles()
    if name not in profiles:
        raise UsageError(f"unknown profile {name!r}; valid profiles: {', '.join(profiles)}")
    config = copy.deepcopy(profiles[name])
    if overrides:
        config = validate(name, apply_overrides(config, overrides))
    return config


def profile_folder(profile: str, overrides: dict | None = None) -> str:
    """Where a profile's results live under the results folder: ``paper``, or
    ``paper+3f2a9c1d`` for a run with overrides, so the two never mix."""
    return f"{profile}+{overrides_tag(overrides)}" if overrides else profile


@dataclass(frozen=True, order=True)
class Cell:
    profile: str
    arm: str
    seed: int

    @property
    def stem(self) -> str:
        return f"{arms.slug(self.arm)}-seed{self.seed}"


def result_path(results: Path, cell: Cell, overrides: dict | None = None) -> Path:
    return Path(results) / profile_folder(cell.profile, overrides) / f"{cell.stem}.json"


def parse_shard(shard: str | None) -> tuple[int, int]:
    if shard is None:
        return 1, 1
    try:
        k, n = (int(v) for v in shard.split("/"))
    except ValueError:
        raise UsageError(f"--shard must look like K/N (e.g. 2/4), got {shard!r}") from None
    if not (n >= 1 and 1 <= k <= n):
        raise UsageError(f"--shard K/N needs 1 <= K <= N, got {shard!r}")
    return k, n


def plan(profile: str, arms_=None, seeds=None, shard: str | None = None, overrides: dict | None = None) -> list[Cell]:
    """The cells to run, in a fixed order (seed-major, so a partial sweep has
    every arm at the first seeds); ``shard="K/N"`` keeps every N-th from the K-th."""
    config = get_profile(profile, overrides)
    chosen = list(config["arms"]) if arms_ is None else list(arms_)
    if not chosen:
        raise UsageError("no activations given (--activations is empty)")
    unknown = [a for a in chosen if a not in arms.train_arms()]
    if unknown:
        raise UsageError(f"unknown activation(s) {', '.join(map(repr, unknown))}; valid: {', '.join(arms.train_arms())}")
    seeds_given = seeds
    seeds = list(config["seeds"]) if seeds is None else list(seeds)
    if not seeds:
        raise UsageError("no seeds given (--seeds is empty)")
    bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= MAX_SEED]
    if bad:
        raise UsageError(f"seeds must be integers in [0, {MAX_SEED}], got {bad}")
    chosen, seeds = list(dict.fromkeys(chosen)), list(dict.fromkeys(seeds))  # duplicates run once
    cells = [Cell(profile, a, s) for s in seeds for a in chosen]
    if arms_ is None and seeds_given is None:  # the profile's own plan: its extra seeds too
        extra = config.get("extra_seeds", {})
        more = sorted({s for a in chosen for s in extra.get(a, [])} - set(seeds))
        cells += [Cell(profile, a, s) for s in more for a in chosen if s in extra.get(a, [])]
    k, n = parse_shard(shard)
    return cells[k - 1::n]
