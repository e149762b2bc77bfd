"""The command line: parses arguments and calls the library. Bad input -> one line on stderr, exit code 2.

Each module here registers the commands of one part of the library (register(sub) adds its subparsers); COMMANDS
lists them in the order `fracturelab --help` shows.
"""
from __future__ import annotations

import argparse
import os
import sys

from ..errors import FracturelabError
from . import cppn, evolve, model, probe, study, tasks

COMMANDS = (cppn, tasks, evolve, probe, model, study)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, as for every other bad input
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="fracturelab", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module in COMMANDS:
        module.register(sub)
    return p


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())  # messages quote user text, which may hold newlines: keep the promise of one line


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        args.fn(args)
    except FracturelabError as e:
        print(f"fracturelab: error: {_one_line(e)}", file=sys.stderr)
        return 2
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
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 0
