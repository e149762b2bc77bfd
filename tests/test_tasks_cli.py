"""`fracturelab tasks list|show` and `fracturelab train`: output, and one-line errors with exit code 2 that leave
nothing behind."""
import json

import pytest

from fracturelab.cli import main
from fracturelab.tasks import TASKS


def test_tasks_list_json(capsys):
    assert main(["tasks", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == list(TASKS)
    assert all(r["default_split"] in r["splits"] for r in rows)


def test_tasks_show_sizes_and_examples(capsys):
    assert main(["tasks", "show", "scan", "--split", "length", "--json", "--examples", "2"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["sizes"]["test_ood"] == 3920 and d["sizes"]["train"] + d["sizes"]["test_id"] == 16990
    assert [len(v) for v in d["examples"].values()] == [2, 2, 2]
    assert main(["tasks", "show", "leave_square_out", "--set", "p=13", "--set", "side=3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("leave_square_out (split square): ") and "test_ood 9" in out


def test_train_writes_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--task", "leave_square_out", "--seed", "1", "-o", str(out), "--set", "max_steps=30",
            "--set", "eval_every=10", "--set", "p=13", "--set", "side=3", "--set", "checkpoints=20"]
    assert main(argv) == 0
    assert (out / "ckpt_20.pt").is_file()
    m = json.loads((out / "metrics.json").read_text())
    assert m["steps"] <= 30 and m["seed"] == 1 and m["model"] == "mlp"
    assert f"test_id {m['id_acc']:.3f}" in capsys.readouterr().out
    assert main(argv) == 2  # the folder exists now: refused, left as it was
    assert json.loads((out / "metrics.json").read_text()) == m


@pytest.mark.parametrize("argv, words", [
    (["tasks", "show", "nope"], "unknown task 'nope'"),
    (["tasks", "show", "scan", "--split", "nope"], "unknown split 'nope'"),
    (["tasks", "show", "leave_square_out", "--set", "colour=3"], "unknown option 'colour'"),
    (["tasks", "show", "leave_square_out", "--set", "p"], "KEY=VALUE"),
    (["tasks", "show", "leave_square_out", "--set", "side=0"], "side"),
    (["train", "--task", "nope"], "unknown task 'nope'"),
    (["train", "--task", "scan", "--split", "nope"], "unknown split 'nope'"),
    (["train", "--task", "scan", "--model", "nope"], "unknown model 'nope'"),
    (["train", "--task", "scan", "--regime", "nope"], "unknown regime 'nope'"),
    (["train", "--task", "scan", "--model", "cppn"], "does not apply"),
    (["train", "--task", "leave_square_out", "--set", "max_steps=0"], "bad train settings"),
    (["train", "--task", "factors", "--set", "id_frac=0.0"], "id_frac"),
])
def test_bad_input_one_line_exit_2(tmp_path, capsys, argv, words):
    if argv[0] == "train":
        argv = argv + ["-o", str(tmp_path / "run")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
