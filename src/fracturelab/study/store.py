"""The results store: one SQLite file (standard library, WAL mode) per output folder.

Tables: meta (app, schema version), studies (each run of a spec: the spec, and options that include the run's
provenance: provenance.collect), cells (one row per cell key: status pending / running / done / failed, timings,
error, notes that name the source identity that computed it: provenance.NOTE), metrics (long format: cell_key,
name, value), examples (one row per test example of a task cell, for the per-example regressions), blobs (small
files such as a CPPN's render). A store written before provenance was recorded reads as provenance.UNKNOWN.

A cell's rows and its status 'done' are written in ONE transaction, after deleting whatever rows the key had: a
SIGKILL at any moment leaves either the whole cell or none of it, and never duplicates. Only the parent process
writes; workers return rows. A file that is not SQLite, or SQLite without this schema, is refused with one line
before anything is written to it or created beside it (it is first read as an immutable file: no -wal or -shm).

Creation is atomic: a new store is built under a temporary name and linked into place complete, so a crash or a full
disk never leaves a half-made store; an empty file (0 bytes, or SQLite with no tables: what older versions left when
killed at creation) counts as new. Two studies on one folder share it safely: a process claims the cells it will
compute (status 'running', owner = host:pid:start time) in one transaction, so no cell is claimed twice; a claim whose
process is gone is taken over. Store(path, create=False) opens read-only (immutable when even the -shm file cannot
be made, e.g. an archived study in a read-only folder). Every SQLite error (corrupt pages, a full disk, a read-only
file) becomes one FracturelabError line naming the file. Rows are checked as they are read: a row no writer here
produces (a metric that is not a number, a spec or params that are not a JSON object, an unknown status, correct
not 0/1, a studies row whose name is not its spec's) was edited by hand, and is refused in one line naming the
table and row, before a report writes anything.
"""
from __future__ import annotations

import errno
import json
import math
import os
import sqlite3
import stat
import time
from pathlib import Path
from typing import NoReturn

from ..errors import FracturelabError
from .cell import EXAMPLE_COLUMNS
from .records import DONE, FAILED, PENDING, RUNNING, STATUSES, Outcome, StoredCell
from .sqlite_file import Connection, Tx, connect_ro, owner_alive, side_files, this_owner

STORE = "results.sqlite"
"""The store's file name in an output folder."""
APP, VERSION = "fracturelab-study", "1"
SCHEMA = f"""
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE studies(id INTEGER PRIMARY KEY, name TEXT NOT NULL, digest TEXT NOT NULL, spec_json TEXT NOT NULL,
                     options_json TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE cells(key TEXT PRIMARY KEY, study_id INTEGER NOT NULL, kind TEXT NOT NULL, params_json TEXT NOT NULL,
                   status TEXT NOT NULL, started REAL, finished REAL, seconds REAL, error TEXT, notes_json TEXT,
                   owner TEXT);
CREATE TABLE metrics(cell_key TEXT NOT NULL, name TEXT NOT NULL, value REAL NOT NULL, PRIMARY KEY(cell_key, name));
CREATE TABLE examples(cell_key TEXT NOT NULL, split TEXT NOT NULL, idx INTEGER NOT NULL, correct INTEGER NOT NULL,
                      {", ".join(f"{c} REAL" for c in EXAMPLE_COLUMNS)}, meta_json TEXT,
                      PRIMARY KEY(cell_key, split, idx));
CREATE TABLE blobs(cell_key TEXT NOT NULL, name TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY(cell_key, name));
"""
TABLES = {"meta", "studies", "cells", "metrics", "examples", "blobs"}


def check_store(path) -> str:
    """Raise FracturelabError (one line) unless `path` is a fracturelab results store ("ok") or empty: 0 bytes or an
    SQLite file with no tables ("empty"). Never writes to it and never creates a file beside it."""
    p = Path(path)
    try:
        st = os.stat(p)
        if not stat.S_ISREG(st.st_mode):
            raise FracturelabError(f"{p}: not a regular file; move it away or choose another output folder")
        with open(p, "rb") as f:
            head = f.read(16)
    except OSError as e:
        raise FracturelabError(f"{p}: cannot read ({e.strerror})") from None
    if st.st_size == 0 and not p.with_name(p.name + "-wal").exists():
        return "empty"  # a creation killed before anything was written (or a full disk): nothing in it to lose
    if head != b"SQLite format 3\x00":
        raise FracturelabError(f"{p}: not a SQLite file; move it away or choose another output folder")
    has_wal = p.with_name(p.name + "-wal").exists()
    try:
        # immutable: no locks, no -wal/-shm created, nothing written. Where a -wal already exists (a study in
        # flight, or one killed), its pages may hold the schema: read through it then, creating nothing new.
        con = connect_ro(p, immutable=not has_wal)
        try:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            meta = dict(con.execute("SELECT key, value FROM meta")) if "meta" in tables else {}
        finally:
            con.close()
    except sqlite3.DatabaseError as e:
        raise FracturelabError(f"{p}: corrupt SQLite file ({e}); move it away or choose another output folder") from None
    if not tables:
        return "empty"  # e.g. a first run killed before its schema was committed: nothing in it to lose
    if meta.get("app") != APP or not TABLES <= tables:
        raise FracturelabError(f"{p}: a SQLite file that is not a fracturelab results store; move it away or choose "
                               "another output folder")
    if meta.get("version") != VERSION:
        raise FracturelabError(f"{p}: results store version {meta.get('version')!r}, this fracturelab reads {VERSION}")
    return "ok"


def _schema(con) -> None:
    for stmt in SCHEMA.strip().split(";"):
        if stmt.strip():
            con.execute(stmt)
    con.executemany("INSERT INTO meta VALUES (?, ?)", [("app", APP), ("version", VERSION)])


def _create(path: Path) -> None:
    """Build a complete empty store under a temporary name and link it into place; if another process got there
    first, keep theirs. A failure (a full disk) leaves nothing behind."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.new")
    try:
        con = sqlite3.connect(tmp, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("BEGIN IMMEDIATE")
            _schema(con)
            con.execute("COMMIT")
        finally:
            con.close()  # the last connection checkpoints the WAL into the file and removes it
        try:
            os.link(tmp, path)  # atomic, and never replaces: a store another process made meanwhile wins
        except FileExistsError:
            pass
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise
            if not path.exists():  # a file system without hard links: a rename, still never half a store
                os.rename(tmp, path)
    except (OSError, sqlite3.Error) as e:
        raise FracturelabError(f"{path}: cannot create the results store ({getattr(e, 'strerror', None) or e}); "
                               "nothing was written") from None
    finally:
        for f in (tmp, *side_files(tmp)):
            f.unlink(missing_ok=True)


class Store:
    """The results store of one output folder. Use as a context manager. create=False: open an existing store
    read-only (never written, nothing created beside it where the folder is read-only)."""

    def __init__(self, path, create: bool = True):
        self.path = Path(path)
        self.owner = this_owner()
        exists = self.path.exists()
        if not exists and not create:
            raise FracturelabError(f"{self.path}: no results store here")
        kind = check_store(self.path) if exists else "new"
        if not create:
            if kind == "empty":
                raise FracturelabError(f"{self.path}: an empty results store (a study was stopped before it began)")
            self.con = self._open_ro()
            return
        if exists and not (os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK | os.X_OK)):
            raise FracturelabError(f"{self.path}: read-only; `fracturelab report` can read it, a study cannot add "
                                   "to it (copy the folder to resume)")
        if kind == "new":
            _create(self.path)
        else:
            self._check_pages()
        try:
            raw = sqlite3.connect(self.path, timeout=60, isolation_level=None)  # explicit transactions only
        except sqlite3.Error as e:
            raise FracturelabError(f"{self.path}: cannot open the results store ({e})") from None
        self.con = Connection(raw, self.path)
        self.con.execute("PRAGMA journal_mode=WAL")
        self.con.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at each commit's checkpoint
        with self.tx():  # an empty file (0 bytes, or no tables) gets its schema here, once, under the write lock
            if not self.con.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='meta'").fetchone():
                _schema(self.con)
            cols = {r[1] for r in self.con.execute("PRAGMA table_info(cells)")}
            if "owner" not in cols:  # a store written before claims had owners
                self.con.execute("ALTER TABLE cells ADD COLUMN owner TEXT")

    def _check_pages(self) -> None:
        """Refuse a store with corrupt pages before writing to it (PRAGMA quick_check reads every page once)."""
        con = self._open_ro()
        try:
            verdict = con.execute("PRAGMA quick_check(1)").fetchone()
        finally:
            con.close()
        if not verdict or verdict[0] != "ok":
            raise FracturelabError(f"{self.path}: corrupt results store ({verdict[0] if verdict else 'unreadable'}); "
                                   "move it away or choose another output folder")

    def _open_ro(self) -> Connection:
        # no -wal beside it: no study is writing, so read it as an immutable file (no locks, nothing created beside
        # it, works in a read-only folder); with one, read through it like any reader, immutable as the last resort
        first = not self.path.with_name(self.path.name + "-wal").exists()
        for immutable in (first, True):
            try:
                raw = connect_ro(self.path, immutable)
                raw.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
                return Connection(raw, self.path)
            except sqlite3.OperationalError:
                if immutable:
                    raise FracturelabError(f"{self.path}: cannot open read-only") from None
            except sqlite3.DatabaseError as e:
                raise FracturelabError(f"{self.path}: corrupt results store ({e})") from None
        raise AssertionError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.con.close()

    def tx(self):
        return Tx(self.con)

    # -- studies and cells ------------------------------------------------------------------------------------
    def add_study(self, name: str, digest: str, spec: dict, options: dict) -> int:
        with self.tx():
            cur = self.con.execute("INSERT INTO studies(name, digest, spec_json, options_json, created) "
                                   "VALUES (?, ?, ?, ?, ?)", (name, digest, json.dumps(spec, default=list),
                                                             json.dumps(options), time.strftime("%Y-%m-%d %H:%M:%S")))
            return cur.lastrowid

    def latest_study(self) -> dict | None:
        r = self.con.execute("SELECT id, name, digest, spec_json, options_json, created FROM studies "
                             "ORDER BY id DESC LIMIT 1").fetchone()
        if r is None:
            return None
        where = f"studies row {r[0]}"
        spec, options = self._object(r[3], f"{where} spec_json"), self._object(r[4], f"{where} options_json")
        if spec.get("name") != r[1]:  # add_study writes the spec's own name beside it: a mismatch is an edit
            self._tampered(f"{where}: name {r[1]!r} is not its spec's name {spec.get('name')!r}")
        keys = options.get("keys")
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            self._tampered(f"{where} options_json: 'keys' is not a list of cell keys")
        if not isinstance(options.get("provenance", {}), dict):  # provenance.collect's object, or absent (older)
            self._tampered(f"{where} options_json: 'provenance' is not an object")
        return {"id": r[0], "name": r[1], "digest": r[2], "spec": spec, "options": options, "created": r[5]}

    def register_cells(self, study_id: int, cells: list[dict]) -> None:
        """Insert the cells not yet known (status pending); known cells keep their status and rows."""
        with self.tx():
            self.con.executemany(
                "INSERT OR IGNORE INTO cells(key, study_id, kind, params_json, status) VALUES (?, ?, ?, ?, ?)",
                [(c["key"], study_id, c["kind"], json.dumps(c, sort_keys=True), PENDING) for c in cells])

    def status(self, keys=None) -> dict[str, str]:
        rows = self.con.execute("SELECT key, status FROM cells").fetchall()
        out = dict(rows)
        return out if keys is None else {k: out.get(k, "missing") for k in keys}

    def claim(self, keys: list[str], retry_failed: bool = True) -> list[str]:
        """Atomically claim, for this process, the cells among keys that are pending (or failed, if retry_failed),
        or running under a claim whose process is gone; they become 'running' with this process as owner. Returns
        the keys claimed, in the order given. Two processes never claim the same cell."""
        wanted = set(keys)
        with self.tx():
            rows = self.con.execute("SELECT key, status, owner FROM cells").fetchall()
            free = {k for k, st, owner in rows if k in wanted and (
                st == PENDING or (st == FAILED and retry_failed) or (st == RUNNING and owner != self.owner
                                                                     and not owner_alive(owner)))}
            now = time.time()
            self.con.executemany("UPDATE cells SET status=?, started=?, error=NULL, owner=? WHERE key=?",
                                 [(RUNNING, now, self.owner, k) for k in free])
        return [k for k in keys if k in free]

    def claimed_elsewhere(self, keys: list[str]) -> dict[str, str]:
        """{key: owner} of the cells among keys running under another live process's claim."""
        wanted = set(keys)
        rows = self.con.execute("SELECT key, owner FROM cells WHERE status=?", (RUNNING,)).fetchall()
        return {k: o for k, o in rows if k in wanted and o != self.owner and owner_alive(o)}

    def finish(self, outcome: Outcome) -> None:
        """Record one cell's outcome (from cell.execute): all its rows and its status in one transaction."""
        key = outcome.key
        with self.tx():
            for table in ("metrics", "examples", "blobs"):
                self.con.execute(f"DELETE FROM {table} WHERE cell_key=?", (key,))
            if not outcome.ok:
                self.con.execute("UPDATE cells SET status=?, finished=?, seconds=?, error=?, owner=NULL WHERE key=?",
                                 (FAILED, time.time(), outcome.seconds, outcome.error, key))
                return
            res = outcome.result
            self.con.executemany("INSERT INTO metrics VALUES (?, ?, ?)",  # a value not finite measured nothing
                                 [(key, n, float(v)) for n, v in sorted(res.metrics.items())
                                  if math.isfinite(float(v))])
            cols = ("split", "idx", "correct", *EXAMPLE_COLUMNS, "meta_json")
            self.con.executemany(f"INSERT INTO examples(cell_key, {', '.join(cols)}) VALUES "
                                 f"(?, {', '.join('?' * len(cols))})",
                                 [(key, *(e.get(c) for c in cols)) for e in res.examples])
            self.con.executemany("INSERT INTO blobs VALUES (?, ?, ?)",
                                 [(key, n, b) for n, b in sorted(res.blobs.items())])
            self.con.execute("UPDATE cells SET status=?, finished=?, seconds=?, error=NULL, owner=NULL, notes_json=? "
                             "WHERE key=?", (DONE, time.time(), outcome.seconds, json.dumps(res.notes, default=str),
                                             key))

    # -- reading ----------------------------------------------------------------------------------------------
    def cells(self, keys=None) -> list[StoredCell]:
        """The stored cells, in `keys`' order and only those when given (else every cell, in the table's order)."""
        rows = self.con.execute("SELECT key, kind, params_json, status, seconds, error, notes_json FROM cells")
        out = [self._cell(*r) for r in rows.fetchall()]
        if keys is not None:
            order = {k: i for i, k in enumerate(keys)}
            out = sorted((c for c in out if c.key in order), key=lambda c: order[c.key])
        return out

    def metrics(self, keys=None) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for k, n, v in self.con.execute("SELECT cell_key, name, value FROM metrics ORDER BY cell_key, name"):
            if not isinstance(v, (int, float)):  # REAL affinity keeps text and blobs that are not numbers as they are
                self._tampered(f"metrics row ({k!r}, {n!r}): value {v!r:.40} is not a number")
            if not math.isfinite(v):  # finish leaves out what is not finite
                self._tampered(f"metrics row ({k!r}, {n!r}): value {v!r} is not finite")
            out.setdefault(k, {})[n] = float(v)
        return out if keys is None else {k: out[k] for k in keys if k in out}

    def examples(self, keys) -> list[dict]:
        cols = ("cell_key", "split", "idx", "correct", *EXAMPLE_COLUMNS, "meta_json")
        keys = list(keys)
        out = []
        for i in range(0, len(keys), 500):
            part = keys[i:i + 500]
            q = (f"SELECT {', '.join(cols)} FROM examples WHERE cell_key IN ({', '.join('?' * len(part))}) "
                 "ORDER BY cell_key, split, idx")
            out += [self._example(dict(zip(cols, r))) for r in self.con.execute(q, part)]
        return out

    def blob(self, key: str, name: str) -> bytes | None:
        r = self.con.execute("SELECT data FROM blobs WHERE cell_key=? AND name=?", (key, name)).fetchone()
        return r[0] if r else None

    def counts(self) -> dict[str, int]:
        return {t: self.con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("cells", "metrics", "examples", "blobs")}

    # -- rows as written by finish/register_cells, or one line naming the row a hand edit broke --------------------
    def _tampered(self, what: str) -> NoReturn:
        """Refuse the store: `what` names the table, the row and what in it no fracturelab writer produces."""
        raise FracturelabError(f"{self.path}: {what}; the store was changed outside fracturelab (rerun the study "
                               "into a new folder)")

    def _object(self, text, where: str) -> dict:
        """A JSON column that must hold an object (spec, options, params, notes, an example's meta)."""
        try:
            v = json.loads(text)
        except (TypeError, ValueError, RecursionError):  # not text, not JSON, or nested past the parser's depth
            v = None
        if not isinstance(v, dict):
            self._tampered(f"{where} is not a JSON object")
        return v

    def _cell(self, key, kind, params_json, status, seconds, error, notes_json) -> StoredCell:
        """One cells row, checked: params a JSON object of kind task or cppn (the row's kind column too), a known
        status, seconds a number."""
        where = f"cells row {key!r}"
        params = self._object(params_json, f"{where} params_json")
        if params.get("kind") not in ("task", "cppn"):
            self._tampered(f"{where} params_json: kind {params.get('kind')!r} is neither 'task' nor 'cppn'")
        if kind != params["kind"]:  # register_cells writes both from one cell
            self._tampered(f"{where}: kind {kind!r:.40} is not its params' kind {params['kind']!r}")
        if status not in STATUSES:
            self._tampered(f"{where}: status {status!r:.40} is not one of {', '.join(STATUSES)}")
        if seconds is not None and not isinstance(seconds, (int, float)):
            self._tampered(f"{where}: seconds {seconds!r:.40} is not a number")
        notes = self._object(notes_json, f"{where} notes_json") if notes_json else {}
        return StoredCell(key, params, status, seconds, None if error is None else str(error), notes)

    def _example(self, e: dict) -> dict:
        """One examples row, checked: correct 0 or 1, an integer idx, numeric (or NULL) columns, meta a JSON object."""
        where = f"examples row ({e['cell_key']!r}, {e['split']!r}, {e['idx']!r})"
        if type(e["correct"]) is not int or e["correct"] not in (0, 1):  # INTEGER affinity stores True as 1
            self._tampered(f"{where}: correct {e['correct']!r:.40} is neither 0 nor 1")
        if type(e["idx"]) is not int or not isinstance(e["split"], str):
            self._tampered(f"{where}: idx is not an integer or split not text")
        for c in EXAMPLE_COLUMNS:
            if e[c] is not None and not isinstance(e[c], (int, float)):
                self._tampered(f"{where}: {c} {e[c]!r:.40} is not a number")
        if e["meta_json"]:
            self._object(e["meta_json"], f"{where} meta_json")
        return e
