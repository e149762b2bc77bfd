"""The command line: parses arguments and calls the library. Bad input -> one line on stderr, exit code 2. An
unexpected exception (a bug, or bad input not yet caught where it enters) is one line too, naming the command and the
error's kind, exit code 2; `fracturelab --debug COMMAND ...` (or FRACTURELAB_DEBUG=1) lets its traceback through.

Each module here registers the commands of one part of the library (register(sub) adds its subparsers); COMMANDS
lists them in the order `fracturelab --help` shows, the main job first. Building the parser imports no numerical
library, so `--help` costs ~0.05 s of CPU, not ~2 s: a command imports the library inside the function that runs it,
and a library constant shown in `--help` is read by args.declared (tests/test_cli_start.py, benchmarks/bench_cli.py).
"""
from __future__ import annotations

import argparse
import os
import re
import sys

from ..errors import FracturelabError
from . import cppn, evolve, model, planted, probe, study, tasks

COMMANDS = (study, tasks, probe, model, cppn, evolve, planted)
DESCRIPTION = ("Measure whether neural networks' internal representations are fractured and entangled, and whether "
               "that explains their failures on novel combinations of familiar parts.")
EPILOG = "Start with `fracturelab run` (the default study and its report); `fracturelab COMMAND --help` says more."
DEBUG_ENV = "FRACTURELAB_DEBUG"
"""Set to 1 (as --debug does): an unexpected exception shows its traceback instead of one line."""


class _Commands(argparse._SubParsersAction):
    """Subcommands whose own `--help` opens with the line the list of commands shows for them."""

    def add_parser(self, name, **kwargs):
        kwargs.setdefault("description", kwargs.get("help"))
        parser = super().add_parser(name, **kwargs)
        parser.set_defaults(command_words=parser.prog)  # the innermost command's wins: "fracturelab prompts export"
        return parser


class _Formatter(argparse.HelpFormatter):
    """Help without the lone `COMMAND` line argparse prints above the list of commands."""

    def _format_action(self, action):
        text = super()._format_action(action)
        return text.split("\n", 1)[1] if isinstance(action, argparse._SubParsersAction) else text


NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-inf(inity)?$", re.IGNORECASE)
"""What argparse reads as a negative number, not a flag: its own pattern (-3, -.5) misses -1e30 and -inf, which
then end an option's values with "expected 4 arguments" (`render --window -1e30 ...`)."""


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, formatter_class=_Formatter, **kwargs)
        self.register("action", "parsers", _Commands)
        self._negative_number_matcher = NEGATIVE_NUMBER

    def error(self, message):  # one line, exit 2, as for every other bad input
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="fracturelab", description=DESCRIPTION, epilog=EPILOG)
    p.add_argument("--debug", action="store_true",
                   help=f"show the traceback of an unexpected error (also: {DEBUG_ENV}=1)")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser, title="commands", metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return p


def command_paths(parser: argparse.ArgumentParser | None = None, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command of the command line as the words that name it: () (the top level), ("run",), ...,
    ("tasks", "list"); parents before their subcommands, in the order `--help` lists them."""
    parser = parser or _parser()
    out = [path]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += command_paths(sub, path + (name,))
    return out


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())  # messages quote user text, which may hold newlines: keep the promise of one line


def _debug(args) -> bool:
    return args.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        from ..limits import limits

        limits()  # a FRACTURELAB_MAX_* that is not an integer >= 1 is refused by every command, not only those it bounds
        args.fn(args)
    except FracturelabError as e:
        print(f"fracturelab: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as e:  # the last net under every read and write: a full disk, a permission, a vanished file
        where = f"{e.filename}: " if e.filename else ""
        print(f"fracturelab: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except MemoryError:
        print("fracturelab: error: out of memory (ask for less: see the FRACTURELAB_MAX_* limits)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fracturelab: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the last net: a user sees one line, never a traceback, unless asked
        if _debug(args):
            raise
        kind = ": ".join(filter(None, (e.__class__.__name__, _one_line(e)[:200])))
        print(f"{args.command_words}: internal error ({kind}); rerun with --debug for the traceback", file=sys.stderr)
        return 2
    return 0
