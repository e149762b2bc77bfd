"""Every kind of bad genome: one error class naming the file and the problem; the CLI prints one line, exits 2,
shows no traceback and writes no output file."""
import subprocess
import sys
import zipfile

import pytest

from fracturelab.cli import main
from fracturelab.cppn import load_genome
from fracturelab.errors import GenomeError

SKULL = "cppnx/576_Skull.xml"


def _edit(text, old, new, count=1):
    assert old in text
    return text.replace(old, new, count)


def _cycle(t):  # ink (534/4) feeds back into 534/5, which feeds ink
    link = ('<link><marking branch="0" id="1"/><source branch="534" id="4"/><target branch="534" id="5"/>'
            '<weight>0.5</weight></link>')
    return _edit(t, "</links>", link + "</links>")


BAD = {  # name -> (make the file's text from the skull's, words the message must hold)
    "not_xml": (lambda t: "this is not a genome\n", "not XML"),
    "truncated": (lambda t: t[: len(t) // 2], "truncated XML"),
    "missing_input": (lambda t: _edit(t, 'label="d" type="in"', 'label="q" type="in"'), "missing input node(s): d"),
    "missing_output": (lambda t: _edit(t, 'label="ink" type="out"', 'label="pen" type="out"'), "missing output"),
    "cycle": (_cycle, "cycle"),
    "unknown_activation": (lambda t: _edit(t, "<activation>sin(x)</activation>", "<activation>wobble(x)</activation>"),
                           "unknown activation 'wobble(x)'"),
    "missing_node": (lambda t: _edit(t, '<target branch="576" id="30"/>', '<target branch="576" id="99999"/>'),
                     "node 576/99999 does not exist"),
    "nan_weight": (lambda t: _edit(t, "<weight>-0.44505396536597652</weight>", "<weight>NaN</weight>"),
                   "not finite"),
    "inf_weight": (lambda t: _edit(t, "<weight>-0.44505396536597652</weight>", "<weight>inf</weight>"),
                   "not finite"),
}


def make_bad(tmp_path, picbreeder_dir, kind):
    if kind == "empty_zip":
        path = tmp_path / "empty.zip"
        zipfile.ZipFile(path, "w").close()
        return path, "empty zip"
    if kind == "broken_zip":
        good = (picbreeder_dir / "fer" / "genomes" / "skull.zip").read_bytes()
        path = tmp_path / "broken.zip"
        path.write_bytes(good[: len(good) // 2])
        return path, "zip"
    make, words = BAD[kind]
    path = tmp_path / f"{kind}.xml"
    path.write_text(make((picbreeder_dir / SKULL).read_text()))
    return path, words


KINDS = list(BAD) + ["empty_zip", "broken_zip"]


@pytest.mark.parametrize("kind", KINDS)
def test_load_genome_names_file_and_problem(tmp_path, picbreeder_dir, kind):
    path, words = make_bad(tmp_path, picbreeder_dir, kind)
    with pytest.raises(GenomeError) as e:
        load_genome(path)
    assert str(path) in str(e.value) and words in str(e.value)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("command", ["render", "genome", "replicate"])
def test_cli_one_line_exit_2_nothing_written(tmp_path, picbreeder_dir, capsys, kind, command):
    path, words = make_bad(tmp_path, picbreeder_dir, kind)
    out = tmp_path / "out"
    argv = {"render": ["render", str(path), "-o", str(out) + ".png"],
            "genome": ["genome", str(path), "--json"],
            "replicate": ["replicate", str(path), "-o", str(out), "--steps", "5"]}[command]
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no output, no temporary left behind


def test_real_entry_point_exits_2_without_traceback(tmp_path, picbreeder_dir):
    path, _ = make_bad(tmp_path, picbreeder_dir, "cycle")
    r = subprocess.run([sys.executable, "-m", "fracturelab", "render", str(path), "-o", str(tmp_path / "x.png")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert not (tmp_path / "x.png").exists()


def cli(argv) -> int:
    """main() as the console script sees it: argparse's own errors arrive as SystemExit."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


@pytest.mark.parametrize("argv", [["render", "face", "-o", "x.txt"], ["render", "no_such_net", "-o", "x.png"],
                                  ["replicate", "face", "-o", "n", "--arch", "3;wobble:4"],
                                  ["replicate", "face", "-o", "n", "--steps", "0"], ["render", "face"],
                                  ["genome"], ["frobnicate"], ["render", "face", "-o", "x.png", "--res", "0"]])
def test_other_bad_arguments(tmp_path, monkeypatch, capsys, argv):
    monkeypatch.chdir(tmp_path)
    assert cli(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
