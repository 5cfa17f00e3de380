"""Issue 40, eighth probe: what was left after the seventh.

A predictions file whose array header asks for gigabyte-wide items (numpy
allocates shape times item size before it reads a byte), a ``--results`` path
that does not exist, and a learning rate that is 0 in float32: each ends in a
refusal or one error line, never a MemoryError, "every cell missing", or a
cell that records one rate and trains at another.

The cells are those of ``test_nothing_silently_wrong``'s template (trained
once per module), copied.
"""

import hashlib
import io
import zipfile

import numpy as np
import pytest

from actbook.analysis import results as R
from actbook.runner import experiment as E
from test_nothing_silently_wrong import folder, template  # noqa: F401  (the module's fixtures)
from test_probe4 import _read, _write


def _header_only(descr: str, images: int) -> bytes:
    """A .npy file that is only a header promising ``images`` items of dtype ``descr``."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": (images,)})
    return buffer.getvalue()  # magic string, version and header; no data


@pytest.mark.parametrize("descr", ["|S1000000000", "|V1000000000", ">f4"])
def test_a_predictions_header_with_another_dtype_is_refused_before_numpy_allocates(folder, descr):  # noqa: F811
    """The probe: ``|S1000000000`` made check and the loaders end in a MemoryError (93 GiB for 100 images)."""
    npz = folder / "tiny" / "relu-seed0.predictions.npz"
    path = folder / "tiny" / "relu-seed0.json"
    cell = _read(path)
    with np.load(npz) as z:
        predicted = z["predicted"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        with zf.open("predicted.npy", "w") as f:
            np.lib.format.write_array(f, predicted)
        zf.writestr("p_true.npy", _header_only(descr, len(predicted)))
    npz.write_bytes(buffer.getvalue())
    cell["predictions"]["sha256"] = hashlib.sha256(buffer.getvalue()).hexdigest()
    _write(path, cell)
    with pytest.raises(R.ResultsError, match="p_true must be float32 as the runner writes it"):
        R.load_sweep(folder, "tiny")
    assert any(p.startswith("predictions unreadable: relu-seed0.json") and "p_true must be float32" in p
               for p in E.check("tiny", folder))


@pytest.mark.parametrize("command", ["check", "select"])
@pytest.mark.parametrize("where", ["missing", "file"])
def test_a_results_path_that_is_not_a_folder_is_one_error_line(tmp_path, capsys, where, command):
    """The probes: ``check`` (eighth) and ``select`` (ninth) ``--results /nonexistent`` listed every
    cell as missing, as if the sweep had not run."""
    results = tmp_path / "results"
    if where == "file":
        results.write_text("")
    assert E.main([command, "--profile", "overfit", "--results", str(results)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "is not a folder" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("setting", ["optimizer.learning_rate=1e-320", "optimizer.learning_rate=1e-39",
                                     "optimizer.learning_rate=1e39", "grid.learning_rates=[0.01, 1e39]"])
def test_a_learning_rate_that_is_not_a_finite_normal_float32_is_refused(capsys, setting):
    """The probes: 1e-320 (eighth) and 1e39 (ninth) were accepted and recorded, but in float32, the
    optimiser's precision, they are 0 and inf."""
    rate = max(float(r) for r in setting.split("=")[1].strip("[]").split(","))
    assert rate > float(np.finfo(np.float32).max) or np.float32(rate) < np.finfo(np.float32).tiny  # inf, or 0/subnormal
    assert E.main(["plan", "--profile", "overfit", "--set", setting]) == 2
    err = capsys.readouterr().err
    assert "learning_rate" in err and ("less than the minimum" in err or "greater than the maximum" in err), err
    assert E.main(["plan", "--profile", "smoke", "--set", "optimizer.learning_rate=1e-30"]) == 0


def test_an_extension_for_an_arm_the_profile_does_not_have_is_refused():
    """The ninth probe: a grid_extended entry for an arm outside the profile was ignored silently."""
    import copy

    from actbook.runner import profiles as P
    config = copy.deepcopy(P.get_profile("overfit"))
    config["arms"] = [a for a in config["arms"] if a != "elu"]
    config.pop("chosen_rates", None)
    config["grid"]["extended"] = {"elu": [max(config["grid"]["learning_rates"]) * 2]}
    assert "grid.extended.elu: 'elu' is not one of the profile's arms" in P._rules(config)
    config["grid"]["extended"] = {"relu": [max(config["grid"]["learning_rates"]) * 2]}
    assert not any(p.startswith("grid.extended") for p in P._rules(config))
