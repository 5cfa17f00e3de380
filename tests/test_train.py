"""actbook.runner.train: the precision policy of a cell, and Ctrl-C during a run."""

from actbook.runner import experiment as E
from actbook.runner import train as T


def test_ctrl_c_is_one_line_and_status_130(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(E, "run", interrupted)
    assert E.main(["run", "--profile", "smoke", "--results", str(tmp_path)]) == 130
    err = capsys.readouterr().err
    assert "checkpoint" in err and "rerun the same command to resume" in err


def test_precision_policy_does_not_leak_out_of_a_cell():
    import keras
    before = keras.mixed_precision.global_policy().name
    with T.precision_policy("mixed_bfloat16"):
        assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == before
