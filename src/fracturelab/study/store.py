"""The results store: one SQLite file (standard library, WAL mode) per output folder.

Tables: meta (app, schema version), studies (each run of a spec), cells (one row per cell key: status pending /
running / done / failed, timings, error), metrics (long format: cell_key, name, value), examples (one row per test
example of a task cell, for the per-example regressions), blobs (small files such as a CPPN's render).

A cell's rows and its status 'done' are written in ONE transaction, after deleting whatever rows the key had: a
SIGKILL at any moment leaves either the whole cell or none of it, and never duplicates. Only the parent process
writes; workers return rows. A file that is not SQLite, or SQLite without this schema, is refused with one line
before anything is written to it (it is first opened read-only).
"""
from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from ..errors import FracturelabError
from .cell import EXAMPLE_COLUMNS

APP, VERSION = "fracturelab-study", "1"
SCHEMA = f"""
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE studies(id INTEGER PRIMARY KEY, name TEXT NOT NULL, digest TEXT NOT NULL, spec_json TEXT NOT NULL,
                     options_json TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE cells(key TEXT PRIMARY KEY, study_id INTEGER NOT NULL, kind TEXT NOT NULL, params_json TEXT NOT NULL,
                   status TEXT NOT NULL, started REAL, finished REAL, seconds REAL, error TEXT, notes_json TEXT);
CREATE TABLE metrics(cell_key TEXT NOT NULL, name TEXT NOT NULL, value REAL NOT NULL, PRIMARY KEY(cell_key, name));
CREATE TABLE examples(cell_key TEXT NOT NULL, split TEXT NOT NULL, idx INTEGER NOT NULL, correct INTEGER NOT NULL,
                      {", ".join(f"{c} REAL" for c in EXAMPLE_COLUMNS)}, meta_json TEXT,
                      PRIMARY KEY(cell_key, split, idx));
CREATE TABLE blobs(cell_key TEXT NOT NULL, name TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY(cell_key, name));
"""
TABLES = {"meta", "studies", "cells", "metrics", "examples", "blobs"}


def check_store(path) -> str:
    """Raise FracturelabError (one line) unless `path` is a fracturelab results store ("ok") or an SQLite file with
    no tables at all ("empty"); never writes to it."""
    p = Path(path)
    try:
        with open(p, "rb") as f:
            head = f.read(16)
    except OSError as e:
        raise FracturelabError(f"{p}: cannot read ({e.strerror})") from None
    if head != b"SQLite format 3\x00":
        raise FracturelabError(f"{p}: not a SQLite file; move it away or choose another output folder")
    try:
        con = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True)
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


class Store:
    """The results store of one output folder. Use as a context manager."""

    def __init__(self, path, create: bool = True):
        self.path = Path(path)
        fresh = not self.path.exists()
        if not fresh:
            fresh = check_store(self.path) == "empty"
        elif not create:
            raise FracturelabError(f"{self.path}: no results store here")
        try:
            self.con = sqlite3.connect(self.path, timeout=30, isolation_level=None)  # explicit transactions only
            self.con.execute("PRAGMA journal_mode=WAL")
            self.con.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at each commit's checkpoint
            if fresh:
                with self.tx():
                    for stmt in SCHEMA.strip().split(";"):
                        if stmt.strip():
                            self.con.execute(stmt)
                    self.con.executemany("INSERT INTO meta VALUES (?, ?)", [("app", APP), ("version", VERSION)])
        except sqlite3.Error as e:
            raise FracturelabError(f"{self.path}: cannot write the results store ({e})") from None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.con.close()

    def tx(self):
        return _Tx(self.con)

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
        return {"id": r[0], "name": r[1], "digest": r[2], "spec": json.loads(r[3]), "options": json.loads(r[4]),
                "created": r[5]}

    def register_cells(self, study_id: int, cells: list[dict]) -> None:
        """Insert the cells not yet known (status pending); known cells keep their status and rows."""
        with self.tx():
            self.con.executemany(
                "INSERT OR IGNORE INTO cells(key, study_id, kind, params_json, status) VALUES (?, ?, ?, ?, 'pending')",
                [(c["key"], study_id, c["kind"], json.dumps(c, sort_keys=True)) for c in cells])

    def status(self, keys=None) -> dict[str, str]:
        rows = self.con.execute("SELECT key, status FROM cells").fetchall()
        out = dict(rows)
        return out if keys is None else {k: out.get(k, "missing") for k in keys}

    def mark_running(self, keys: list[str]) -> None:
        with self.tx():
            self.con.executemany("UPDATE cells SET status='running', started=?, error=NULL WHERE key=?",
                                 [(time.time(), key) for key in keys])

    def finish(self, key: str, outcome: dict) -> None:
        """Record one cell's outcome (from cell.execute): all its rows and its status in one transaction."""
        with self.tx():
            for table in ("metrics", "examples", "blobs"):
                self.con.execute(f"DELETE FROM {table} WHERE cell_key=?", (key,))
            if not outcome["ok"]:
                self.con.execute("UPDATE cells SET status='failed', finished=?, seconds=?, error=? WHERE key=?",
                                 (time.time(), outcome["seconds"], outcome["error"], key))
                return
            res = outcome["result"]
            self.con.executemany("INSERT INTO metrics VALUES (?, ?, ?)",
                                 [(key, n, float(v)) for n, v in sorted(res["metrics"].items())])
            cols = ("split", "idx", "correct", *EXAMPLE_COLUMNS, "meta_json")
            self.con.executemany(f"INSERT INTO examples(cell_key, {', '.join(cols)}) VALUES "
                                 f"(?, {', '.join('?' * len(cols))})",
                                 [(key, *(e.get(c) for c in cols)) for e in res["examples"]])
            self.con.executemany("INSERT INTO blobs VALUES (?, ?, ?)",
                                 [(key, n, b) for n, b in sorted(res.get("blobs", {}).items())])
            self.con.execute("UPDATE cells SET status='done', finished=?, seconds=?, error=NULL, notes_json=? "
                             "WHERE key=?", (time.time(), outcome["seconds"], json.dumps(res.get("notes", {}),
                                                                                         default=str), key))

    # -- reading ----------------------------------------------------------------------------------------------
    def cells(self, keys=None) -> list[dict]:
        rows = self.con.execute("SELECT key, params_json, status, seconds, error, notes_json FROM cells").fetchall()
        out = [{"key": r[0], "params": json.loads(r[1]), "status": r[2], "seconds": r[3], "error": r[4],
                "notes": json.loads(r[5]) if r[5] else {}} for r in rows]
        if keys is not None:
            order = {k: i for i, k in enumerate(keys)}
            out = sorted((c for c in out if c["key"] in order), key=lambda c: order[c["key"]])
        return out

    def metrics(self, keys=None) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for k, n, v in self.con.execute("SELECT cell_key, name, value FROM metrics ORDER BY cell_key, name"):
            out.setdefault(k, {})[n] = v
        return out if keys is None else {k: out[k] for k in keys if k in out}

    def examples(self, keys) -> list[dict]:
        cols = ("cell_key", "split", "idx", "correct", *EXAMPLE_COLUMNS, "meta_json")
        keys = list(keys)
        out = []
        for i in range(0, len(keys), 500):
            part = keys[i:i + 500]
            q = (f"SELECT {', '.join(cols)} FROM examples WHERE cell_key IN ({', '.join('?' * len(part))}) "
                 "ORDER BY cell_key, split, idx")
            out += [dict(zip(cols, r)) for r in self.con.execute(q, part)]
        return out

    def blob(self, key: str, name: str) -> bytes | None:
        r = self.con.execute("SELECT data FROM blobs WHERE cell_key=? AND name=?", (key, name)).fetchone()
        return r[0] if r else None

    def counts(self) -> dict[str, int]:
        return {t: self.con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("cells", "metrics", "examples", "blobs")}


class _Tx:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error."""

    def __init__(self, con):
        self.con = con

    def __enter__(self):
        self.con.execute("BEGIN IMMEDIATE")
        return self.con

    def __exit__(self, exc_type, *_):
        self.con.execute("ROLLBACK" if exc_type else "COMMIT")
        return False
