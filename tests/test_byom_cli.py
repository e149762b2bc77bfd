"""Bring your own model, the command: `probe-model --help` shows the JSONL format with an example line kept whole,
and a run prints the summary with intervals and a direction word per measure under names that do not collide
(sparsity.eff_rank, a fraction, beside geometry.eff_rank, a count)."""
import json

import pytest

from fracturelab.cli import _Parser
from fracturelab.cli.probe import add_probe_model

transformers = pytest.importorskip("transformers")
from test_probe_model import _prompt_lines, _save
from test_probe_model import tokenizer_dir as _tokenizer_dir

tokenizer_dir = _tokenizer_dir


def _parser():
    p = _Parser(prog="fracturelab")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    add_probe_model(sub)
    return p


def test_help_shows_a_jsonl_example(capsys):
    with pytest.raises(SystemExit):
        _parser().parse_args(["probe-model", "--help"])
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.strip().startswith('{"prompt"'))
    json.loads(line.strip().rstrip(",") + "}")  # the example's first line is JSON as written, not re-wrapped
    for flag in ("--group-by", "--max-prompts", "--checkpoint", "difficulty"):
        assert flag in out


def test_run_prints_intervals_and_directions(tmp_path, tokenizer_dir, tmp_path_factory, capsys):
    gpt2 = _save("gpt2", tmp_path_factory, tokenizer_dir)
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("".join(json.dumps(r | {"difficulty": "easy"}) + "\n" for r in _prompt_lines()))
    a = _parser().parse_args(["probe-model", str(gpt2), "--prompts", str(prompts), "-o", str(tmp_path / "out"),
                              "--quiet", "--probes", "sparsity,geometry", "--group-by", "difficulty",
                              "--max-prompts", "6"])
    a.fn(a)
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.strip().startswith("sparsity.")]
    assert len(lines) == 14 and any(ln.strip().startswith("sparsity.eff_rank:") for ln in lines)
    assert all(ln.rstrip().endswith(("sparser on OOD", "denser on OOD", "no difference", "larger on OOD",
                                     "smaller on OOD")) for ln in lines)
    assert all("n=6" in ln for ln in lines)  # the cap, applied once
    assert "geometry.eff_rank " in out and "sparsity.eff_rank " not in out.split("sparsity at")[0]
