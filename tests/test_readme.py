"""The README is the front door and docs/*.md hold the rest: the README stays under MAX_README_BYTES, every relative
link and #anchor in README.md and docs/*.md resolves, every `fracturelab ...` line in their code blocks is one the
CLI's parser accepts (the README's subcommands' `--help` runs too), and the README's test command is the line .ci/run
runs.

Anchors follow GitHub's rule for headings (`slug`): lowercase, punctuation other than '-' and '_' dropped, each space
a '-', and a repeated heading gets -1, -2, ... Links and headings inside code (fenced blocks, `inline code`) are not
links or headings.
"""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from fracturelab.cli import _parser

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
CI = ROOT / ".ci" / "run"
MAX_README_BYTES = 15_000
PROGRAM = "fracturelab"

LINK = re.compile(r"\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
INLINE_CODE = re.compile(r"`[^`]*`")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//")  # http:, mailto:, //host: not files of this repository
SHELL_SEPARATORS = {"&&", "||", ";", "|"}


def split_fences(text: str) -> tuple[str, list[str]]:
    """(the prose with every fenced code block blanked, the code blocks' contents)."""
    prose, blocks, block = [], [], None
    for line in text.split("\n"):
        if line.lstrip().startswith("```"):
            if block is None:
                block = []
            else:
                blocks.append("\n".join(block))
                block = None
            prose.append("")
        elif block is not None:
            block.append(line)
            prose.append("")
        else:
            prose.append(line)
    assert block is None, "a code fence is never closed"
    return "\n".join(prose), blocks


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text: links read as their text, lowercase, only word characters, '-' and
    spaces kept, each space a '-'."""
    text = LINK.sub(lambda m: m.group(0)[1:m.group(0).index("](")], heading)
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading anchor of a markdown page, repeats numbered as GitHub numbers them."""
    seen: dict[str, int] = {}
    out = set()
    for line in split_fences(page.read_text())[0].split("\n"):
        m = HEADING.match(line)
        if m:
            s = slug(m.group(1))
            n = seen.get(s, 0)
            seen[s] = n + 1
            out.add(s if n == 0 else f"{s}-{n}")
    return out


def relative_links(page: Path) -> list[str]:
    """The targets of the page's links and images that point into this repository (not into code)."""
    prose = INLINE_CODE.sub("", split_fences(page.read_text())[0])
    return [t for t in LINK.findall(prose) if not SCHEME.match(t)]


def link_problem(page: Path, target: str) -> str | None:
    """What is wrong with one relative link of a page, or None."""
    path, _, anchor = target.partition("#")
    dest = (page.parent / path).resolve() if path else page
    if not dest.exists():
        return f"{page}: {target}: no file {dest}"
    if anchor and anchor not in anchors(dest):
        return f"{page}: {target}: no heading #{anchor} in {dest}"
    return None


def commands(page: Path) -> list[list[str]]:
    """Each `fracturelab ...` invocation in the page's code blocks as its arguments (continued lines joined, comments,
    other commands chained with && ; | and VAR=value prefixes left out)."""
    out = []
    for block in split_fences(page.read_text())[1]:
        for line in block.replace("\\\n", " ").split("\n"):
            words = shlex.split(line, comments=True)
            start = 0
            for i, word in enumerate([*words, ";"]):
                if word not in SHELL_SEPARATORS:
                    continue
                segment = words[start:i]
                start = i + 1
                while segment and re.match(r"^\w+=", segment[0]):
                    segment = segment[1:]
                if segment and Path(segment[0]).name == PROGRAM:
                    out.append(segment[1:])
    return out


README_COMMANDS = commands(README)
ALL_COMMANDS = [(page, argv) for page in PAGES for argv in commands(page)]


def test_readme_is_small():
    size = README.stat().st_size
    assert size <= MAX_README_BYTES, f"README.md is {size} bytes, over {MAX_README_BYTES}: move detail to docs/"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    problems = [p for t in relative_links(page) if (p := link_problem(page, t))]
    assert not problems, "\n".join(problems)


def test_link_checker_catches_dead_links(tmp_path):
    """The oracle for the checker itself: a dead file, a dead anchor and a live one, on a page made here."""
    (tmp_path / "other.md").write_text("# A title: with `code`, punctuation!\n\n## A title: with code punctuation\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](other.md#a-title-with-code-punctuation-1) [gone](missing.md) [bad](other.md#nope)\n"
                    "`[in code](missing.md)`\n```\n[in a block](missing.md)\n```\n[web](https://example.org/x)\n")
    problems = [link_problem(page, t) for t in relative_links(page)]
    assert [p is None for p in problems] == [True, False, False]


def test_readme_shows_commands():
    assert README_COMMANDS, f"no `{PROGRAM} ...` line in README.md's code blocks"


@pytest.mark.parametrize("page, argv", ALL_COMMANDS, ids=[f"{p.name}: {' '.join(a)}" for p, a in ALL_COMMANDS])
def test_command_parses(page, argv, capsys):
    """The README's commands, and the docs' too: the parser alone, so no command runs."""
    try:
        _parser().parse_args(argv)
    except SystemExit as e:
        why = capsys.readouterr().err.strip()
        pytest.fail(f"`{PROGRAM} {shlex.join(argv)}` ({page.name}) is refused (exit {e.code}): {why}")


@pytest.mark.parametrize("command", sorted({argv[0] for argv in README_COMMANDS if argv}))
def test_readme_subcommand_help(command):
    done = subprocess.run([sys.executable, "-m", PROGRAM, command, "--help"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage:"), done.stdout


def test_test_command_is_what_ci_runs():
    """The README's test command, and any page's install-and-test line, is the last command of .ci/run."""
    ci = [line.strip() for line in CI.read_text().split("\n") if line.strip() and not line.lstrip().startswith("#")]
    readme = [line for block in split_fences(README.read_text())[1] for line in block.split("\n") if "pytest" in line]
    assert len(readme) == 1, f"README.md should show one test command, shows {readme}"
    for page in PAGES:
        for block in split_fences(page.read_text())[1]:
            for line in block.split("\n"):
                if "pip install" in line and "pytest" in line:
                    assert line.strip() == ci[-1], f"{page.name}'s test command {line!r} is not .ci/run's {ci[-1]!r}"


EXAMPLE = re.compile(r"^python (examples/\S+\.py)\s+(\S+)")


def test_readme_example_commands_run(tmp_path):
    """Every `python examples/X.py OUT` line in the README runs on a finished study (a synthetic store with planted
    effects, then `fracturelab report`), and prints a verdict table with one row per claim."""
    from study_helpers import cli, synthetic_store

    from fracturelab.study.claims import CLAIMS

    lines = [m.groups() for block in split_fences(README.read_text())[1] for line in block.split("\n")
             if (m := EXAMPLE.match(line.strip()))]
    assert lines, "README.md shows no `python examples/...` command"
    out = tmp_path / "standard-out"
    synthetic_store(out, effect={2: 0.3})
    assert cli("report", out).returncode == 0
    for script, _ in lines:
        done = subprocess.run([sys.executable, str(ROOT / script), str(out)], capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, f"{script}: {done.stderr}"
        rows = [r for r in done.stdout.split("\n") if re.match(r"^\| \d+ \|", r)]
        assert [int(r.split("|")[1]) for r in rows] == sorted(CLAIMS), done.stdout
