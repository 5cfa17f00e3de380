"""Issue 40, seventh probe: what was left silently wrong after the sixth.

A p_true of 0 that left the test cross-entropy bounded on one side only, a
recorded test-labels hash edited to turn check's comparison into a warning,
a format-5 cell rewritten as format 4 beside format-5 cells, a profile whose
epochs make a result too large to read back, run's standard output full, and
a name no terminal can print in a loader's message: each ends in a refusal or
a message that says what happened, never in a number silently accepted.

The cells are those of ``test_nothing_silently_wrong``'s template (trained
once per module), copied.
"""

import hashlib
import io
import re
import types

import numpy as np
import pytest

from actbook.analysis import results as R
from actbook.runner import experiment as E
from actbook.runner import label_check as L
from synthetic import synthetic_cifar
from test_nothing_silently_wrong import folder, template  # noqa: F401  (the module's fixtures)
from test_probe4 import _read, _write
from test_probe5 import _actbook, _one_error_line

# --------------------------------------------------------------------------
# A p_true of 0: the cross-entropy of those images is recorded
# --------------------------------------------------------------------------


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def _zero_one_p_true(folder, **fields):  # noqa: F811
    """The rrelu cell's predictions with its least likely image's p_true set to 0 (its sha256
    recomputed), the result's ``predictions`` updated with ``fields``; ``(path, cell, p_true)``."""
    npz = folder / "tiny" / "rrelu-seed0.predictions.npz"
    with np.load(npz) as z:
        predicted, p_true = z["predicted"], z["p_true"].copy()
    p_true[p_true.argmin()] = 0  # wrong before (far below the largest of ten) and after: the error holds
    data = _npz(predicted=predicted, p_true=p_true)
    npz.write_bytes(data)
    path = folder / "tiny" / "rrelu-seed0.json"
    cell = _read(path)
    cell["predictions"].update(sha256=hashlib.sha256(data).hexdigest(), **fields)
    _write(path, cell)
    return path, cell, p_true


def _refused(folder, path, message):  # noqa: F811
    with pytest.raises(R.ResultsError, match=message):
        R.load_sweep(folder, "tiny")
    assert any(p.startswith(f"predictions unreadable: {path.name}") and message in p for p in E.check("tiny", folder))


def test_a_p_true_of_0_without_its_recorded_cross_entropy_cannot_be_checked(folder):  # noqa: F811
    """The probe: one p_true set to 0 let any larger test_xent pass."""
    path, cell, _ = _zero_one_p_true(folder)
    cell["history"][-1]["test_xent"] = 7.0
    _write(path, cell)
    _refused(folder, path, "its test_xent cannot be checked")


def _consistent_zero(folder, xent_sum=100.0):  # noqa: F811
    """A p_true of 0 whose recorded cross-entropy, with the rest of the file, is the cell's test_xent."""
    path, cell, p_true = _zero_one_p_true(folder, images_with_p_true_0=1, xent_sum_where_p_true_is_0=xent_sum)
    rest = -np.log(p_true[p_true > 0].astype(np.float64)).sum()
    cell["history"][-1]["test_xent"] = float((rest + xent_sum) / len(p_true))
    _write(path, cell)
    return path, cell


def test_a_p_true_of_0_with_its_recorded_cross_entropy_is_checked_both_ways(folder):  # noqa: F811
    path, cell = _consistent_zero(folder)
    assert len(R.load_sweep(folder, "tiny").cells) == 2 and E.check("tiny", folder) == []
    cell["history"][-1]["test_xent"] = 7.0
    _write(path, cell)
    _refused(folder, path, "is not the last epoch's test_xent 7.0")


def test_a_recorded_cross_entropy_below_what_a_p_true_of_0_gives_is_refused(folder):  # noqa: F811
    path, _ = _consistent_zero(folder, xent_sum=20.0)  # -log p of a p flushed to 0 is above 87
    _refused(folder, path, "predictions.xent_sum_where_p_true_is_0 is 20.0, below")


def test_a_recorded_count_of_zeros_that_is_not_the_files_is_refused(folder):  # noqa: F811
    path, cell = _consistent_zero(folder)
    cell["predictions"]["images_with_p_true_0"] = 2
    _write(path, cell)
    _refused(folder, path, "but predictions.images_with_p_true_0 is 2")


def _softmax_model():
    from actbook.runner.backend import keras_module
    keras = keras_module()
    x = keras.Input((3,))
    # As the runner's models end: a float32 softmax named "probabilities" after the logits.
    y = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(keras.layers.Identity()(x))
    model = keras.Model(x, y)
    model.compile(loss="sparse_categorical_crossentropy",
                  metrics=[keras.metrics.SparseCategoricalCrossentropy(name="xent")])
    return model


def test_the_runner_records_the_cross_entropy_of_images_whose_p_true_is_0(tmp_path):
    """Its sum agrees with Keras's test cross-entropy (computed from the logits), so the check holds; the
    first image's p_true (about 2e-39) is flushed to 0 by TensorFlow, not rounded: -log p is 89, not 104."""
    from actbook.runner.predictions import predictions_and_calibration
    model = _softmax_model()
    logits = np.array([[0, -88, 1], [2, 0, -1], [0, 1, -120], [1, 0, 0]], np.float32)
    labels = np.array([1, 0, 2, 2])
    prepared = types.SimpleNamespace(x_test=logits, y_test=labels, y_val=None, x_val=None)
    out = tmp_path / "x-seed0.json"
    pred, _ = predictions_and_calibration(model, prepared, 4, out)
    z = logits.astype(np.float64)
    expected = sum(np.log(np.exp(z[i]).sum()) - z[i, labels[i]] for i in (0, 2))
    assert pred["images_with_p_true_0"] == 2 and pred["xent_sum_where_p_true_is_0"] == pytest.approx(expected, 1e-12)
    test_xent = model.evaluate(logits, labels, verbose=0, return_dict=True)["xent"]
    cell = {"file": str(out), "predictions": pred, "history": [{"test_error": pred["error"], "test_xent": test_xent}]}
    assert R.load_predictions(cell)["p_true"].shape == (4,)
    pred, _ = predictions_and_calibration(model, types.SimpleNamespace(
        x_test=logits[[1, 3]], y_test=labels[[1, 3]], y_val=None, x_val=None), 4, out)
    assert list(pred) == ["file", "sha256", "images", "test_labels_sha256", "error"]  # no p_true of 0: as before


# --------------------------------------------------------------------------
# A recorded test-labels hash against the data set the cell records
# --------------------------------------------------------------------------

def _edit_labels_hash(folder):  # noqa: F811
    path = folder / "tiny" / "rrelu-seed0.json"
    cell = _read(path)
    cell["predictions"]["test_labels_sha256"] = "0" * 64
    _write(path, cell)


def test_an_edited_labels_hash_is_a_problem_where_the_data_set_is_the_cells(folder, monkeypatch, capsys):  # noqa: F811
    """The probe: the edited hash turned the comparison into a warning, and check passed."""
    monkeypatch.setattr(L, "load_test_source", lambda: (synthetic_cifar(), None))
    assert _read(folder / "tiny" / "rrelu-seed0.json")["provenance"]["dataset"]["sha256"] == synthetic_cifar().sha256
    _edit_labels_hash(folder)
    problems = E.check("tiny", folder)
    assert problems == [p for p in problems if p.startswith("predictions wrong: rrelu-seed0.json: its predictions "
                                                            "record test labels that are not this data set's")]
    assert len(problems) == 1 and capsys.readouterr().err == ""


def test_an_edited_labels_hash_is_skipped_with_a_warning_where_the_data_set_differs(
        folder, monkeypatch, capsys):  # noqa: F811
    import dataclasses
    other = dataclasses.replace(synthetic_cifar(seed=1, n_test=200), sha256="6" * 64)
    monkeypatch.setattr(L, "load_test_source", lambda: (other, None))
    _edit_labels_hash(folder)
    assert E.check("tiny", folder) == []
    assert "the test labels of ACTBOOK_CIFAR10 are not the ones they record" in capsys.readouterr().err


# --------------------------------------------------------------------------
# A format-5 cell rewritten as format 4
# --------------------------------------------------------------------------

XENT = ("train_xent", "train_eval_xent", "test_xent", "val_xent")


def _independent_seeds(folder, monkeypatch):  # noqa: F811
    """The template's cells as a profile with independent seeds (a format-5 setting) records them."""
    from synthetic import write_profiles
    from test_nothing_silently_wrong import FINAL
    profiles = folder.parent / "profiles.json"
    monkeypatch.setenv("ACTBOOK_PROFILES", write_profiles(profiles, tiny={**FINAL, "seeding": "independent"}))
    for arm in ("relu", "rrelu"):
        path = folder / "tiny" / f"{arm}-seed0.json"
        cell = _read(path)
        cell["config"]["seeding"] = "independent"
        _write(path, cell)
    assert E.check("tiny", folder) == []


def _as_format_4(folder, arm):  # noqa: F811
    """What format 5 added removed, the predictions file deleted, the test error edited."""
    path = folder / "tiny" / f"{arm}-seed0.json"
    cell = _read(path)
    cell["schema"] = 4
    for key in ("predictions", "calibration"):
        del cell[key]
    del cell["provenance"]["train_subset"]
    cell["history"] = [{k: v for k, v in row.items() if k not in XENT} for row in cell["history"]]
    cell["history"][-1]["test_error"] = 0.05
    _write(path, cell)
    (folder / "tiny" / f"{arm}-seed0.predictions.npz").unlink()


def test_a_format_5_cell_rewritten_as_format_4_is_malformed_by_its_format_5_setting(folder, monkeypatch):  # noqa: F811
    """The probe: the rewritten cell passed check and the loaders, a folder may mix 4 and 5."""
    _independent_seeds(folder, monkeypatch)
    _as_format_4(folder, "rrelu")
    message = "config: seeding 'independent', settings of result format 5 that a format-4 cell cannot have"
    problems = E.check("tiny", folder)
    assert any(p.startswith("not a well-formed result file: rrelu-seed0.json") and message in p
               for p in problems), problems
    with pytest.raises(R.ResultsError, match=message):
        R.load_sweep(folder, "tiny")


def test_format_4_cells_beside_format_5_cells_with_a_setting_format_4_lacks_are_refused(
        folder, monkeypatch):  # noqa: F811
    """The rewritten cell's setting removed too: the folder's mix of formats is refused, by one rule."""
    _independent_seeds(folder, monkeypatch)
    _as_format_4(folder, "rrelu")
    path = folder / "tiny" / "rrelu-seed0.json"
    cell = _read(path)
    del cell["config"]["seeding"]
    _write(path, cell)
    mixed = ("final cells of result formats 4 (1 file(s), e.g. rrelu-seed0.json) and 5 together, though "
             "relu-seed0.json uses settings that format 4 did not have (seeding 'independent')")
    assert f"mixed result formats: {mixed}: a format-4 cell cannot be its sibling (a format-5 cell rewritten as " \
           f"format 4?)" in E.check("tiny", folder)
    with pytest.raises(R.ResultsError, match=re.escape(mixed)):
        R.load_sweep(folder, "tiny")


def test_a_folder_of_format_4_cells_with_a_setting_only_format_5_has_is_malformed(folder, monkeypatch):  # noqa: F811
    """Every cell rewritten: no mix of formats, but each contradicts its own."""
    _independent_seeds(folder, monkeypatch)
    for arm in ("relu", "rrelu"):
        _as_format_4(folder, arm)
    message = "config: seeding 'independent', settings of result format 5 that a format-4 cell cannot have"
    problems = E.check("tiny", folder)
    assert sum(p.startswith("not a well-formed result file") and message in p for p in problems) == 2, problems
    with pytest.raises(R.ResultsError, match=message):
        R.load_sweep(folder, "tiny")


def test_final_cells_of_formats_4_and_5_without_such_settings_may_share_a_folder(folder):  # noqa: F811
    """As the runner repeats format-4 cells bit for bit (CURRENT_SCHEMAS), a folder may gain format-5 cells."""
    _as_format_4(folder, "rrelu")
    path = folder / "tiny" / "rrelu-seed0.json"
    cell = _read(path)
    cell["history"][-1]["test_error"] = _read(folder / "tiny" / "relu-seed0.json")["history"][-1]["test_error"]
    _write(path, cell)
    assert E.check("tiny", folder) == [] and len(R.load_sweep(folder, "tiny").cells) == 2


# --------------------------------------------------------------------------
# The longest history a profile allows, under the result size cap
# --------------------------------------------------------------------------

def test_a_profile_may_not_ask_for_more_epochs_than_a_result_can_hold(capsys):
    from actbook.runner import profiles as P
    assert E.main(["plan", "--profile", "smoke", "--set", f"epochs={P.MAX_EPOCHS + 1}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and f"epochs: {P.MAX_EPOCHS + 1} is greater than the maximum of {P.MAX_EPOCHS}" in err
    assert E.main(["plan", "--profile", "smoke", "--set", f"epochs={P.MAX_EPOCHS}"]) == 0


def test_the_longest_history_allowed_fits_under_the_result_size_cap(folder, tmp_path):  # noqa: F811
    """Every epoch measured (eval_every 1), every metric at the longest a float prints; as the
    runner writes the result and its checkpoint state (built here, not trained)."""
    from actbook.runner import profiles as P
    from actbook.runner.files import MAX_RESULT_BYTES, read_json_file, write_json_atomic
    from actbook.runner.result_files import METRICS
    longest = 2.2250738585072014e-308  # 23 characters, the most a float's repr takes
    rows = [{"epoch": i + 1, **dict.fromkeys(METRICS, longest)} for i in range(P.MAX_EPOCHS)]
    cell = _read(folder / "tiny" / "rrelu-seed0.json")
    cell["config"].update(epochs=P.MAX_EPOCHS, eval_every=1)
    cell["history"] = rows
    state = {"identity": cell["config"], "history": rows, "started": cell["provenance"]["started"],
             "segments": [{"started": cell["provenance"]["started"], "epochs": P.MAX_EPOCHS}],
             "optimizer_steps": 10 ** 12, "seed_generators": {"rrelu": [2 ** 63, 2 ** 63]},
             "model_sha256": "0" * 64, "checksum": "0" * 64}
    margin = 512 * 1024  # for a config with long lists of seeds and arms
    for name, content in (("result.json", cell), ("state.json", state)):
        write_json_atomic(tmp_path / name, content)
        assert (tmp_path / name).stat().st_size < MAX_RESULT_BYTES - margin
        assert len(read_json_file(tmp_path / name)["history"]) == P.MAX_EPOCHS


# --------------------------------------------------------------------------
# run's standard output full
# --------------------------------------------------------------------------

@pytest.mark.skipif(not __import__("os").path.exists("/dev/full"), reason="needs /dev/full")
def test_run_into_a_full_standard_output_says_it_is_standard_output(folder):  # noqa: F811
    """The probe: "No space left on device (writing results)", though the results were written fine."""
    proc = _actbook(">/dev/full", "run", "--profile", "tiny", "--results", folder, "--no-progress")
    _one_error_line(proc, "error: cannot write to standard output (No space left on device)")
    assert "writing results" not in proc.stderr


# --------------------------------------------------------------------------
# What a loader's message quotes, printable
# --------------------------------------------------------------------------

def test_a_loaders_message_quoting_a_lone_surrogate_can_be_printed(folder, capsys):  # noqa: F811
    """The probe: an activation "\\ud800" made print(e) raise UnicodeEncodeError."""
    path = folder / "tiny" / "rrelu-seed0.json"
    cell = _read(path)
    cell["activation"] = "\ud800"
    _write(path, cell)  # json.dumps writes it as the escape \ud800, which json.loads reads back as the surrogate
    with pytest.raises(R.ResultsError) as caught:
        R.load_sweep(folder, "tiny")
    message = str(caught.value)
    assert "\\ud800" in message and message.encode("utf-8") and message.isprintable()
    print(caught.value)
    assert "\\ud800" in capsys.readouterr().out


def test_a_results_error_keeps_a_printable_message_as_it_is():
    message = "tiny/relu-seed0.json: ReLU — a message with non-ASCII text"
    assert str(R.ResultsError(message)) == message
