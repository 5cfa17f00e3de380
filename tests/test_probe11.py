"""Issue 40: what the tenth probe's report left open.

The book's reading of a grid (``selection.grid_report``) replays the edge rule on
the grid's own cells, as ``check`` does, before it scores an extension; a
``rates_from`` that names no grid is refused when the profiles are loaded, not
when a final cell first asks for its rate.

The cells are those of ``test_nothing_silently_wrong``'s template (trained once
per module), copied.
"""

import json

import pytest

from actbook.analysis import selection as S
from actbook.analysis.results import ResultsError
from actbook.runner import experiment as E
from actbook.runner import profiles as P
from actbook.runner.errors import UsageError
from test_nothing_silently_wrong import _extend, folder, template  # noqa: F401  (the module's fixtures)


def test_the_book_refuses_an_extension_the_edge_rule_never_asked_for(folder):  # noqa: F811
    """ReLU's grid chose 0.05, its upper end: the rule asks for 0.1. A cell at 0.005 with an
    extension recorded for it was scored and could be chosen as the grid's."""
    _extend(folder / "g" / "grid" / "relu-lr0.05-seed100.json", {"relu": [0.005]}, rate=0.005)
    with pytest.raises(ResultsError, match=r"the extension relu \[0\.005\] is not what the edge rule asks for "
                                           r"on the grid's cells \(\[0\.1\]\)"):
        S.grid_report(folder, "g", extended={"relu": [0.005]})


def test_the_book_refuses_an_extension_whose_deciding_cells_are_missing(folder):  # noqa: F811
    (folder / "g" / "grid" / "relu-lr0.01-seed100.json").unlink()
    with pytest.raises(ResultsError, match=r"cannot have been made by the edge rule: the grid is not complete"):
        S.grid_report(folder, "g", extended={"relu": [0.1]})


def test_the_book_reads_the_extension_the_edge_rule_asks_for(folder):  # noqa: F811
    _extend(folder / "g" / "grid" / "relu-lr0.05-seed100.json", {"relu": [0.1]}, rate=0.1)
    report = S.grid_report(folder, "g", extended={"relu": [0.1]})
    assert report.chosen.loc["relu", "rate"] == 0.1
    assert E.extension_problems("g", folder) == {}  # the runner's replay agrees (no file recorded)


def _profiles_with(tmp_path, monkeypatch, **rates_from):
    shipped = P.shipped_profiles()
    base = {k: v for k, v in shipped["smoke"].items() if k not in ("grid", "chosen_rates")}
    path = tmp_path / "profiles.json"
    path.write_text(json.dumps({name: {**base, "rates_from": source} for name, source in rates_from.items()}))
    monkeypatch.setenv("ACTBOOK_PROFILES", str(path))


@pytest.mark.parametrize("rates_from, why", [
    ({"x": "nope"}, "names no profile"),
    ({"x": "x"}, "names the profile itself"),
    ({"x": "y", "y": "x"}, "which has no learning-rate grid"),
    ({"x": "smoke"}, "which has no learning-rate grid"),
])
def test_a_rates_from_without_a_grid_behind_it_is_refused(tmp_path, monkeypatch, capsys, rates_from, why):
    _profiles_with(tmp_path, monkeypatch, **rates_from)
    with pytest.raises(UsageError, match=why):
        P.load_profiles()
    assert E.main(["plan", "--profile", "x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and why in err and len(err.strip().splitlines()) == 1, err


def test_a_rates_from_naming_a_grid_loads(tmp_path, monkeypatch):
    _profiles_with(tmp_path, monkeypatch, x="overfit")
    assert P.load_profiles()["x"]["rates_from"] == "overfit"


# --------------------------------------------------------------------------
# The eleventh probe: memory that a small data file could ask for
# --------------------------------------------------------------------------

import io  # noqa: E402
import tarfile  # noqa: E402
import zipfile  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from actbook.runner import data as D  # noqa: E402
from actbook.runner.npz import npz_problem  # noqa: E402


def _npz_with_headers(headers: dict) -> bytes:
    """An .npz whose members carry these (shape, dtype) headers and no data: what a bomb's
    headers say, without the gigabytes a deflated one would take to write."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, (shape, dtype) in headers.items():
            member = io.BytesIO()
            np.lib.format.write_array_header_1_0(member, {"descr": np.dtype(dtype).str, "fortran_order": False,
                                                          "shape": shape})
            z.writestr(f"{name}.npy", member.getvalue())
    return buf.getvalue()


def test_a_cache_whose_header_asks_for_a_million_images_is_refused_from_its_header():
    """A 3 MB deflated cache declaring x_train of (1,000,000, 32, 32, 3) made check and run
    allocate 6 GB before its digest was compared."""
    headers = {**D.cache_layout(), "x_train": ((1_000_000, 32, 32, 3), "uint8")}
    problem = npz_problem(_npz_with_headers(headers), D.cache_layout(), D.MAX_CACHE_BYTES, "a decode cache")
    assert problem == "x_train is an array of shape (1000000, 32, 32, 3), expected (50000, 32, 32, 3)"
    assert npz_problem(_npz_with_headers(D.cache_layout()), D.cache_layout(), D.MAX_CACHE_BYTES, "x") is None


def test_a_cache_of_another_layout_is_never_loaded(tmp_path, monkeypatch):
    path = tmp_path / "cache.npz"
    path.write_bytes(_npz_with_headers({**D.cache_layout(), "y_test": ((10_000,), "float64")}))

    def no_load(*a, **k):
        raise AssertionError("np.load reached")
    monkeypatch.setattr(np, "load", no_load)
    assert D._load_cache(path) is None   # decoded again from the source


def _padded_png(size: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32)).save(buf, format="PNG")
    return buf.getvalue() + bytes(size - len(buf.getvalue()))


def _tar_of_members(members) -> bytes:
    """A .tar.gz of ``(name, bytes)`` members."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _tar_of(n: int, size: int) -> bytes:
    """``n`` PNGs of ``size`` bytes each under train/cat/."""
    return _tar_of_members((f"train/cat/{i:05d}.png", _padded_png(size)) for i in range(n))


def test_an_archive_of_padded_images_is_refused_as_it_is_read(tmp_path, monkeypatch):
    """2,000 PNGs padded to 1 MiB each (2.3 MB gzipped) were held in memory whole (2.1 GB)
    before the counts were checked."""
    monkeypatch.setattr(D, "MAX_SOURCE_IMAGE_BYTES", 40_000)
    read = []
    images = D._tar_images(tmp_path / "a.tar.gz", _tar_of(12, 10_000))
    with pytest.raises(D.DataError, match=r"a\.tar\.gz: its files add up to more than 40,000 bytes \(at "
                                          r"train/cat/00004\.png\)"):
        for item in images:
            read.append(item)
    assert len(read) == 4   # the fifth crossed the bound before it was read


def test_a_source_with_more_images_than_cifar10_is_refused_as_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(D, "PER_CLASS", {"train": 1, "test": 0})   # 10 images in all: 20 at most
    with pytest.raises(D.DataError, match=r"more than 20 files, twice CIFAR-10's images \(at train/cat/00020\.png\)"):
        list(D._tar_images(tmp_path / "a.tar.gz", _tar_of(22, 200)))
    folder = tmp_path / "f" / "train" / "cat"
    folder.mkdir(parents=True)
    for i in range(22):
        (folder / f"{i:05d}.png").write_bytes(_padded_png(200))
    with pytest.raises(D.DataError, match=r"more than 20 files, twice CIFAR-10's images \(at train/cat/00020\.png\)"):
        D._folder_images(tmp_path / "f")


def test_load_cifar10_of_a_padded_archive_is_one_data_error(tmp_path, monkeypatch):
    monkeypatch.setattr(D, "MAX_SOURCE_IMAGE_BYTES", 40_000)
    monkeypatch.setenv("ACTBOOK_CACHE", str(tmp_path / "cache"))
    archive = tmp_path / "padded.tar.gz"
    archive.write_bytes(_tar_of(12, 10_000))
    with pytest.raises(D.DataError, match="add up to more than"):
        D.load_cifar10(archive)


def test_check_of_a_set_folder_does_not_replay_the_default_grids_extension(folder, capsys):  # noqa: F811
    """The recorded extension belongs to the profile's own grid (the default folder); a folder made
    with --set was reported as 'cannot be checked against the edge rule' when the default had no cells."""
    (folder / "g.grid_extended.json").write_text(json.dumps({"profile": "g", "extended": {"relu": [0.1]}}))
    for f in (folder / "g" / "grid").glob("*.json"):
        f.unlink()
    problems = E.check("g", folder, overrides={"epochs": 2}, stage="grid")
    assert problems and not any("grid.extended" in p for p in problems), problems
    assert any("cannot be checked against the edge rule" in p for p in E.check("g", folder, stage="grid"))


# --------------------------------------------------------------------------
# The twelfth probe
# --------------------------------------------------------------------------

def test_calibration_blocks_swapped_between_cells_are_refused():
    """Two cells' calibration blocks swapped: check and the loaders read each arm's temperature
    and calibrated cross-entropy as the other's."""
    from actbook.runner import result_files as RF
    from actbook.data_folder import committed
    a = json.loads(committed("results", "fit1k", "relu-seed0.json").read_text())
    b = json.loads(committed("results", "fit1k", "rrelu-seed0.json").read_text())
    assert RF._calibration_problems(a) == [] and RF._calibration_problems(b) == []
    a["calibration"], b["calibration"] = b["calibration"], a["calibration"]
    assert "calibration.test_xent" in RF._calibration_problems(a)[0]
    assert "another cell's calibration" in RF._calibration_problems(b)[0]


@pytest.mark.parametrize("edit, field", [
    (lambda c: c.update(test_xent=c["test_xent"] + 0.5), "calibration.test_xent"),
    (lambda c: c.update(val_xent_calibrated=c["val_xent"] + 1), "calibration.val_xent_calibrated"),
    (lambda c: c.update(temperature=1000.0), "calibration.temperature"),
])
def test_an_edited_calibration_block_is_refused(edit, field):
    from actbook.runner import result_files as RF
    from actbook.data_folder import committed
    cell = json.loads(committed("results", "fit1k", "elu-seed3.json").read_text())
    edit(cell["calibration"])
    problems = RF._calibration_problems(cell)
    assert problems and problems[0].startswith(field), problems


def test_the_lock_is_not_made_in_a_profile_folder_swapped_for_a_link(folder, tmp_path):  # noqa: F811
    """The profile folder swapped for a link between two cells: the next cell's lock file was
    created outside --results before the link was refused."""
    outside = tmp_path / "outside"
    outside.mkdir()
    cell = E.plan("g", stage="grid", results=folder)[0]
    out = E.result_path(folder, cell)
    moved = folder / "g_moved"
    (folder / "g").rename(moved)
    (folder / "g").symlink_to(outside, target_is_directory=True)
    from actbook.runner.checkpoints import checkpoint_dir
    with pytest.raises(UsageError, match="is a symbolic link"):
        checkpoint_dir(out, cell.stem)
    assert not any(outside.rglob("*"))


def test_the_predictions_and_the_result_are_not_written_through_a_folder_swapped_for_a_link(
        folder, tmp_path, monkeypatch):  # noqa: F811
    """The profile folder swapped for a link after the last checkpoint (here: while the
    cell's diagnostics are taken): the predictions file and the result went through it."""
    from actbook.runner import train
    from synthetic import synthetic_cifar
    outside = tmp_path / "outside"
    outside.mkdir()
    stem = "relu-seed0"
    for f in (folder / "tiny").glob(f"{stem}.*"):
        f.unlink()
    diagnostics = train._layer_diagnostics

    def swap_then_measure(model, x):
        (folder / "tiny").rename(folder / "tiny_moved")
        (folder / "tiny").symlink_to(outside, target_is_directory=True)
        return diagnostics(model, x)
    monkeypatch.setattr(train, "_layer_diagnostics", swap_then_measure)
    with pytest.raises(UsageError, match="is a symbolic link"):
        E.run("tiny", folder, arms=["relu"], seeds=[0], data=synthetic_cifar(), progress=False)
    assert not any(outside.rglob("*")), list(outside.rglob("*"))


def test_ctrl_c_outside_a_run_is_one_line(monkeypatch, capsys):
    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(E, "_main", interrupted)
    assert E.main(["check", "--profile", "smoke", "--results", "."]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "interrupted", err


# --------------------------------------------------------------------------
# The thirteenth probe
# --------------------------------------------------------------------------

def test_an_archive_of_many_members_that_are_not_images_is_refused_as_it_is_read(tmp_path, monkeypatch):
    """300,000 empty .txt members (1.4 MB gzipped) took 170 MB and 39 s before 'no images found':
    tarfile keeps every member's header, so every member counts."""
    monkeypatch.setattr(D, "PER_CLASS", {"train": 1, "test": 0})   # 20 files at most
    junk = _tar_of_members((f"train/cat/junk{i:03d}.txt", b"") for i in range(25))
    with pytest.raises(D.DataError, match=r"more than 20 files, twice CIFAR-10's images \(at train/cat/junk020\.txt\)"):
        list(D._tar_images(tmp_path / "junk.tar.gz", junk))


def test_a_long_member_that_is_not_an_image_is_refused_before_it_is_inflated(tmp_path, monkeypatch):
    """One 1 GiB member of zeros (1 MB gzipped) cost 4.5 s of CPU per MB: tarfile inflates through
    it to reach the next header. Its declared size counts against the budget first."""
    monkeypatch.setattr(D, "MAX_SOURCE_IMAGE_BYTES", 40_000)
    archive = _tar_of_members([("notes.txt", bytes(50_000)), ("train/cat/00000.png", _padded_png(200))])
    with pytest.raises(D.DataError, match=r"its files add up to more than 40,000 bytes \(at notes\.txt\)"):
        list(D._tar_images(tmp_path / "big.tar.gz", archive))


@pytest.mark.parametrize("setting", ["model_kwargs.weight_decay=1e-46", "model_kwargs.weight_decay=1e39",
                                     "optimizer.momentum=1e-46", "model_kwargs.dropout=1e-46"])
def test_a_setting_float32_cannot_hold_is_refused(setting, capsys):
    """weight_decay 1e-46 trained exactly as 0 under the value recorded, in a folder of its own."""
    assert E.main(["plan", "--profile", "smoke", "--set", setting]) == 2
    err = capsys.readouterr().err
    key = setting.split("=")[0]
    assert err.startswith("error: ") and f"{key}: " in err and "float32" in err, err


def test_zero_and_ordinary_values_of_those_settings_still_plan(capsys):
    for setting in ("model_kwargs.weight_decay=0", "optimizer.momentum=0", "model_kwargs.dropout=0",
                    "model_kwargs.weight_decay=1e-4"):
        assert E.main(["plan", "--profile", "smoke", "--set", setting]) == 0, setting
