"""The command line starts light: building its parser and printing any `--help` imports no numerical library (those
cost seconds of CPU: a command imports them when it runs), and every command's `--help` exits 0. Not timed here:
benchmarks/bench_cli.py times it."""
import argparse
import json
import subprocess
import sys

import pytest

from fracturelab.cli import _parser, command_paths, main

HEAVY = ("torch", "numpy", "scipy", "sklearn", "matplotlib", "pandas")

# Run in a fresh interpreter (this test process has imported the library already): build the parser, run `--help`
# of the top level and of every command in-process, and report the exit codes and the heavy modules loaded.
_PROBE = """
import json, sys
from fracturelab import cli
heavy = set(json.loads(sys.argv[1]))
loaded = lambda: sorted(heavy & {m.split(".")[0] for m in sys.modules})
out = {"after_parser": None, "codes": {}}
paths = cli.command_paths()
out["after_parser"] = loaded()
for path in paths:
    try:
        code = cli.main([*path, "--help"])
    except SystemExit as e:
        code = e.code
    out["codes"][" ".join(path)] = code
out["after_help"] = loaded()
print(json.dumps(out))
"""


def _fresh_run() -> dict:
    r = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(HEAVY)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def fresh():
    return _fresh_run()


def test_parser_imports_no_numerical_library(fresh):
    assert fresh["after_parser"] == []


def test_every_help_exits_0_without_numerical_libraries(fresh):
    codes = fresh["codes"]
    assert {"", "run", "study", "report", "train", "tasks list", "prompts export", "evolve", "fer"} <= set(codes)
    assert codes == {path: 0 for path in codes}
    assert fresh["after_help"] == []


def test_declared_values_match_their_modules():
    """The oracle for cli.args.declared: the literal read from a module's source equals the imported value."""
    from fracturelab.cli.args import declared
    from fracturelab.study.spec import PROFILES
    from fracturelab.train.evolve.settings import CPPN_ARCH

    assert declared("study.spec", "PROFILES") == PROFILES
    assert declared("train.evolve.settings", "CPPN_ARCH") == CPPN_ARCH


def test_help_shows_the_declared_values(capsys):
    from fracturelab.study.spec import PROFILES
    from fracturelab.train.evolve.settings import CPPN_ARCH

    for argv, shown in ((["run", "--help"], "{" + ",".join(PROFILES) + "}"), (["evolve", "--help"], CPPN_ARCH)):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 0 and shown in " ".join(capsys.readouterr().out.split())


def test_unknown_profile_is_argparse_one_line_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["run", "--profile", "huge", "-o", "never"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and "invalid choice: 'huge'" in err


def test_top_level_help_says_what_the_tool_is_for():
    help_text = " ".join(_parser().format_help().split())
    assert "fractured" in help_text and "novel combinations" in help_text


def test_every_command_has_a_help_line_its_own_help_opens_with():
    def walk(parser):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                lines = {a.dest: a.help for a in action._choices_actions}
                for name, sub in action.choices.items():
                    yield name, lines.get(name), sub.description
                    yield from walk(sub)

    rows = list(walk(_parser()))
    assert len(rows) == len(command_paths()) - 1
    assert all(line and line == description for _, line, description in rows), rows
