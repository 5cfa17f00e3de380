"""A cell's checkpoint: what it must match to be resumed, and its files.

A checkpoint lives in ``<results folder>/.checkpoints/<cell>/``: the Keras
model (``model.keras``) and ``state.json`` (the history so far, the layers'
random-number generator states, the optimizer's step count and the cell's
identity, :func:`cell_identity`). It is resumed only when the identity
matches and the model and state agree, so a resumed cell ends bit-identical
to an uninterrupted one; anything else is discarded and the cell redone.

``state.json`` records the sha256 of the ``model.keras`` written with it and a
``checksum`` over the model's bytes and the state's own content (its canonical
JSON without the checksum, :func:`_checksum`), and a resume reads no other
file: a model replaced or damaged, or a state whose history or generator
states were edited, behind the runner's back is found before it is used, and
the cell is redone. The two files are bound to each other, not to the runner:
whoever edits ``state.json`` (or the model) can write the new checksum there
too, and without a key kept outside the results folder no check can tell (a
known limit; a checkpoint is a convenience of the machine that wrote it, and a
result's numbers are checked by what reads the result).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

from actbook.runner.backend import keras_module

keras = keras_module()
import numpy as np  # noqa: E402

from actbook.runner import precision  # noqa: E402
from actbook.runner.errors import UsageError  # noqa: E402
from actbook.runner.files import json_safe, read_json_file, write_bytes_atomic, write_json_atomic  # noqa: E402
from actbook.runner.profiles import STAGES, Cell, stage_folder  # noqa: E402

__all__ = ["CheckpointMismatch", "cell_identity", "checkpoint_dir", "save_checkpoint", "load_checkpoint",
           "refuse_links", "remove_checkpoint"]


class CheckpointMismatch(RuntimeError):
    """A checkpoint made for another cell, data set, kernels or backend, or whose model and
    state disagree; it is discarded and the cell redone."""


def cell_identity(cell: Cell, config: dict, overrides: dict | None, dataset: dict, runtime: dict) -> dict:
    """What a checkpoint must match to be resumed: the cell, its config, the
    data set's checksum, the kernels and the backend with its devices and threads."""
    kernels = precision.describe(runtime["name"])
    return {"profile": cell.profile, "activation": cell.arm, "seed": cell.seed, "overrides": overrides or None,
            "config": config, "dataset_sha256": dataset.get("sha256"),
            "kernels": {k: kernels.get(k) for k in ("effective_isa", "TF_ENABLE_ONEDNN_OPTS", "onednn")},
            "backend": {k: runtime.get(k) for k in ("name", "devices", "strategy", "threads", "matmul_precision")}}


def _differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    keys = sorted(set(a) | set(b))
    out = []
    for k in keys:
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _differences(va, vb, f"{prefix}{k}.")
        elif va != vb:
            out.append(f"{prefix}{k} ({va!r} in the checkpoint, {vb!r} now)")
    return out


def _seed_generators(model) -> dict:
    """The random-number generators of the model's layers (dropout, RReLU), by layer name.

    ``model.save`` does not store their states, so a checkpoint records them
    itself: without them a resumed cell would draw other dropout masks and slopes.
    """
    return {layer.name: layer.seed_generator for layer in model.layers
            if isinstance(getattr(layer, "seed_generator", None), keras.random.SeedGenerator)}


def _remove_partial(path: Path) -> None:
    """A half-written ``model.keras`` (and the empty ``assets`` folder Keras may leave)."""
    Path(path).unlink(missing_ok=True)
    for leftover in Path(path).parent.glob("assets"):
        shutil.rmtree(leftover, ignore_errors=True)


def checkpoint_dir(out: Path, stem: str) -> Path:
    """``<folder of out>/.checkpoints/<stem>``, refused where either is a
    symbolic link or not a folder: the runner writes there and deletes the
    cell's folder when the cell is done, so a link would let it write and
    delete outside the results folder."""
    base = Path(out).parent / ".checkpoints"
    refuse_links(base / stem)
    return base / stem


def _between(ckpt_dir: Path) -> list[Path]:
    """The folders from the one holding the results (``<profile>/``, or its stage folder
    ``<profile>/grid/``) down to ``ckpt_dir``, outermost first."""
    ckpt_dir = Path(ckpt_dir)
    cell_folder = ckpt_dir.parent.parent
    outer = [cell_folder.parent] if cell_folder.name in {stage_folder(s) for s in STAGES} - {""} else []
    return [*outer, cell_folder, ckpt_dir.parent, ckpt_dir]


def refuse_links(ckpt_dir: Path) -> None:
    """Raise :class:`UsageError` where any folder between the results folder and
    ``ckpt_dir`` (``.checkpoints`` and the cell's folder included) is a symbolic link or
    not a folder. Checked when the cell starts and again right before every write and the
    final deletion: a ``.checkpoints`` swapped for a link during a run would send them
    outside ``--results``; the runner never follows one."""
    for path in _between(ckpt_dir):
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            raise UsageError(f"{path} is {'a symbolic link' if path.is_symlink() else 'not a folder'}; the runner "
                             f"keeps checkpoints only in a real folder inside the results folder: move it away")


def save_checkpoint(ckpt_dir: Path, model, state: dict) -> None:
    """Model, then state. The state records the optimizer's step count, so a
    kill between the two writes is detected on resume (:func:`load_checkpoint`)."""
    refuse_links(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    tmp = ckpt_dir / f"model.{time.monotonic_ns()}.tmp.keras"
    try:
        model.save(tmp)
        data = tmp.read_bytes()
    finally:
        _remove_partial(tmp)
    refuse_links(ckpt_dir)
    write_bytes_atomic(ckpt_dir / "model.keras", lambda f: f.write(data))
    rng = {name: keras.ops.convert_to_numpy(g.state).tolist() for name, g in _seed_generators(model).items()}
    steps = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    state = json_safe({**state, "optimizer_steps": steps, "seed_generators": rng,
                       "model_sha256": hashlib.sha256(data).hexdigest()})
    refuse_links(ckpt_dir)
    write_json_atomic(ckpt_dir / "state.json", {**state, "checksum": _checksum(hashlib.sha256(data), state)})


def _checksum(model_digest, state: dict) -> str:
    """The sha256 of the model's bytes (``model_digest``, a sha256 fed with them) followed by the
    state's canonical JSON (sorted keys, no spaces), ``checksum`` itself left out: what
    :func:`load_checkpoint` recomputes from the two files."""
    digest = model_digest.copy()
    content = {k: v for k, v in state.items() if k != "checksum"}
    digest.update(json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=False).encode())
    return digest.hexdigest()


def _sha256(path: Path):
    """The sha256 of a regular file, read in pieces (a model may be large), as a hashlib object."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest


def remove_checkpoint(ckpt_dir: Path) -> None:
    """Delete a finished cell's checkpoint, once :func:`refuse_links` finds nothing
    between the results folder and it that would send the deletion elsewhere."""
    refuse_links(ckpt_dir)
    shutil.rmtree(ckpt_dir, ignore_errors=True)


def load_checkpoint(ckpt_dir: Path, identity: dict, steps_per_epoch: int):
    """``(model, state)`` from a checkpoint made for this very cell (``identity``,
    see :func:`cell_identity`) whose model has exactly the recorded number of
    optimizer steps; else ``None``, with the reason on stderr."""
    state_file, model_file = ckpt_dir / "state.json", ckpt_dir / "model.keras"
    if not (state_file.exists() and model_file.exists()):
        return None
    try:
        state = read_json_file(state_file)  # a regular file, never a FIFO that would hang the run
        if model_file.is_symlink() or not model_file.is_file():
            raise CheckpointMismatch("model.keras is not a regular file")
        if not isinstance(state, dict) or not isinstance(state.get("identity"), dict):
            raise CheckpointMismatch("it names no cell (made by an older runner)")
        differences = _differences(state["identity"], identity)
        if differences:
            raise CheckpointMismatch("made for another cell or setting: " + "; ".join(differences[:4]))
        recorded = state.get("model_sha256")
        if not isinstance(recorded, str):  # safe: the cell is redone from scratch, to the same numbers
            raise CheckpointMismatch("its state records no sha256 of model.keras (made by an older runner), so the "
                                     "model cannot be verified")
        model_digest = _sha256(model_file)
        if model_digest.hexdigest() != recorded:
            raise CheckpointMismatch("model.keras is not the model its state was saved with (sha256 differs)")
        if not isinstance(state.get("checksum"), str):
            raise CheckpointMismatch("its state records no checksum of its own content (made by an older "
                                     "runner), so the state cannot be verified")
        if _checksum(model_digest, state) != state["checksum"]:
            raise CheckpointMismatch("state.json is not the state saved with model.keras (checksum differs)")
        model = keras.models.load_model(model_file)
        steps = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
        expected = len(state["history"]) * steps_per_epoch
        if steps != expected or state.get("optimizer_steps") != steps:
            raise CheckpointMismatch(f"model has {steps} optimizer steps, its state records "
                                     f"{len(state['history'])} epochs ({expected} steps)")
        generators = _seed_generators(model)
        if set(generators) != set(state["seed_generators"]):
            raise CheckpointMismatch("random-number generator states do not match the model's layers")
        for name, g in generators.items():
            g.state.assign(np.asarray(state["seed_generators"][name], dtype=g.state.dtype))
        return model, state
    except Exception as e:  # a checkpoint we cannot trust is redone, never used
        print(f"[{ckpt_dir.name}] discarding checkpoint ({type(e).__name__}: {e}); the cell restarts",
              file=sys.stderr)
        return None
