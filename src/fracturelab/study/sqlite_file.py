"""The SQLite file under the results store: read-only and immutable opens, every SQLite error as one
FracturelabError line naming the file, transactions, and the owners of cell claims (which process, and whether it
still runs)."""
from __future__ import annotations

import os
import socket
import sqlite3
from pathlib import Path

from ..errors import FracturelabError


def side_files(p: Path) -> list[Path]:
    return [p.with_name(p.name + x) for x in ("-wal", "-shm", "-journal")]


def connect_ro(p: Path, immutable: bool) -> sqlite3.Connection:
    return sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro{'&immutable=1' if immutable else ''}", uri=True,
                           timeout=30, isolation_level=None)


def this_owner() -> str:
    """This process as a claim owner: host, pid and the process's start time (so a reused pid is not mistaken)."""
    return f"{socket.gethostname()}:{os.getpid()}:{_start_time(os.getpid())}"


def _start_time(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def owner_alive(owner: str | None) -> bool:
    """Whether the process that claimed a cell still runs. A claim from another host cannot be checked and counts as
    alive: one SQLite file is not shared by studies on different machines (SQLite over a network file system is
    unsafe anyway)."""
    if not owner:
        return False  # claims from before owners were recorded: their process is gone
    host, _, rest = owner.partition(":")
    pid, _, started = rest.partition(":")
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    except ValueError:
        return False
    return _start_time(int(pid)) == started


class Connection:
    """The connection, with every SQLite error turned into one FracturelabError line naming the file, and results
    fetched at once (so an error in a corrupt page surfaces here, not in a caller's loop)."""

    def __init__(self, con: sqlite3.Connection, path: Path):
        self.con, self.path = con, path

    def _error(self, e: sqlite3.Error) -> FracturelabError:
        msg = str(e)
        if "readonly" in msg:
            return FracturelabError(f"{self.path}: read-only; `fracturelab report` can read it, a study cannot add "
                                    "to it (copy the folder to resume)")
        if "full" in msg:
            return FracturelabError(f"{self.path}: cannot write ({msg}); the store keeps every cell finished before")
        if isinstance(e, sqlite3.OperationalError) and "locked" in msg:
            return FracturelabError(f"{self.path}: busy ({msg}): another process holds it; try again")
        return FracturelabError(f"{self.path}: corrupt or unreadable results store ({msg}); move it away or choose "
                                "another output folder")

    def execute(self, sql, params=()):
        try:
            cur = self.con.execute(sql, params)
            return Rows(cur.fetchall(), cur.lastrowid)
        except sqlite3.Error as e:
            raise self._error(e) from None

    def executemany(self, sql, rows):
        try:
            self.con.executemany(sql, rows)
        except sqlite3.Error as e:
            raise self._error(e) from None

    def close(self):
        self.con.close()


class Rows(list):
    def __init__(self, rows, lastrowid):
        super().__init__(rows)
        self.lastrowid = lastrowid

    def fetchone(self):
        return self[0] if self else None

    def fetchall(self):
        return list(self)


class Tx:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (the connection's errors are FracturelabError lines)."""

    def __init__(self, con):
        self.con = con

    def __enter__(self):
        self.con.execute("BEGIN IMMEDIATE")
        return self.con

    def __exit__(self, exc_type, *_):
        if exc_type is None:
            self.con.execute("COMMIT")
        else:
            try:
                self.con.execute("ROLLBACK")
            except FracturelabError:
                pass  # the error that brought us here is the one to report
        return False
