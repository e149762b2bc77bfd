"""Prompt sets: the JSONL files `fracturelab probe-model` reads, and the export of the testbed's text tasks to them.

One JSON object per line:

    {"prompt": "e74 r3 r2", "answer": " e85", "split": "test_id", "level": 1,
     "novelty": {"nn_dist": 0.33, "seen_frac": 0.67}, "depth": 2, "factors": {"colour": "red"}}

- prompt (string, required): the text the model reads; activations are read at its last token;
- answer (string, optional): the text that follows the prompt (with the leading space a tokenizer expects); used to
  score correctness under teacher forcing (the coverage probe);
- split (string) and/or level (number): at least one. split: "train", "test_id" (alias "id"), "test_ood" (alias
  "ood") or any other name (a further test set). level: familiarity, lowest = most familiar (as trained), higher =
  further from training. A line with a level and no split is test_id at the lowest level of the file and test_ood
  above it;
- novelty (object of numbers, optional): nn_dist (distance to the nearest training input), seen_frac (share of the
  input's sub-computations seen in training) or any other number the probes read from an example's metadata;
- depth (number, optional): the computation's depth (complexity);
- factors (object, optional): known ground-truth factors (ints or strings; strings are coded 0, 1, ... in sorted
  order per factor); every line must then name the same factors;
- id (string or number, optional): the prompt's name in probe-model's per-prompt table (default: its line number);
- any other field (a string, number, boolean or null, e.g. "difficulty": "hard"): metadata, kept in the example's
  meta["fields"], written as a column of probe-model's prompts.csv and usable by --group-by. A name within a typo of
  a known field (e.g. "promt") or one of RESERVED is an error, as is a nested value.
A line that is not a JSON object, a wrong type, an empty file, or a file without test_id and test_ood prompts is an
error naming the file and the line.

The testbed's text tasks (fracturelab.tasks.text_tasks(): the entries with TaskSpec.text) export to this format
(export_rows): each set of a task (train, test_id, test_ood, extras) becomes a split, its position in that order
the level (train 0, test_id 1, test_ood 2, extras 3, ...), the prompt its input tokens joined by spaces, the answer a
space and its output tokens joined by spaces, and nn_dist, seen_frac, depth and factors its metadata. A task
without a text form may write its own prompt set in English (own_exports: binding's sentences, tasks.binding.
prompt_rows, with the metadata probe-model's binding table reads); every other task is refused.
"""
from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import FracturelabError
from ..io import read_text
from ..tasks.base import Example

SPLIT_ALIASES = {"id": "test_id", "ood": "test_ood"}
FIELDS = {"prompt", "answer", "split", "level", "novelty", "depth", "factors", "id"}
RESERVED = {"line", "correct", "loss", "level_name", "fields", "target", "error"}
"""Names an extra field may not take: columns of the per-prompt table and keys of an example's meta."""
EXPORTED_META = ("nn_dist", "seen_frac")


@dataclass
class PromptData:
    """A prompt set read from JSONL, shaped like a task's data (train, test_id, test_ood, extra) so every probe reads
    it the same way. Each example's meta holds "prompt" and "answer" (the raw text), its novelty numbers, depth,
    factors, "split" and "level"."""

    name: str
    """The file's stem."""
    train: list[Example] = field(default_factory=list)
    """Split "train"."""
    test_id: list[Example] = field(default_factory=list)
    """Split "test_id" / "id"."""
    test_ood: list[Example] = field(default_factory=list)
    """Split "test_ood" / "ood"."""
    extra: dict[str, list[Example]] = field(default_factory=dict)
    """Every other split, in file order."""
    level_values: dict[str, float] = field(default_factory=dict)
    """Familiarity level name -> its number (empty when the file has no levels)."""

    def sets(self) -> dict[str, list[Example]]:
        return {"train": self.train, "test_id": self.test_id, "test_ood": self.test_ood, **self.extra}

    def levels(self) -> dict[str, list[Example]]:
        """Examples by familiarity level, most familiar first: by `level` where the file gives levels, else by split
        (the split lists themselves)."""
        if not self.level_values:
            return {k: v for k, v in self.sets().items() if v}
        by = {lv: [] for lv in self.level_values}
        for e in (e for s in self.sets().values() for e in s):
            by[e.meta["level_name"]].append(e)
        return by

    def sizes(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.sets().items()}


def _fail(path, line: int, msg: str):
    raise FracturelabError(f"{path}: line {line}: {msg}")


def _number(v) -> bool:
    """A JSON number that is finite as a float (an integer too large for a float, a 400-digit one, is not)."""
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def _check_fields(path, n: int, obj) -> None:
    """The line is an object of known fields with a non-empty prompt, a string answer if any, and a split or a
    level."""
    if not isinstance(obj, dict):
        _fail(path, n, "not a JSON object")
    for name in sorted(set(obj) - FIELDS):
        if name in RESERVED or difflib.get_close_matches(name, FIELDS, n=1, cutoff=0.8):  # a typo of a known field
            _fail(path, n, f"unknown field {name!r} (fields: {', '.join(sorted(FIELDS))}; any other name is kept as "
                  f"metadata, except {', '.join(sorted(RESERVED))})")
        if not (obj[name] is None or isinstance(obj[name], (str, bool)) or _number(obj[name])):
            _fail(path, n, f"metadata field {name!r} must be a string, a finite number, a boolean or null")
    if not isinstance(obj.get("prompt"), str) or not obj["prompt"].strip():
        _fail(path, n, "missing field 'prompt' (a non-empty string)" if "prompt" not in obj
              else "'prompt' must be a non-empty string")
    if "answer" in obj and not isinstance(obj["answer"], str):
        _fail(path, n, "'answer' must be a string")
    if "split" not in obj and "level" not in obj:
        _fail(path, n, "missing field 'split' or 'level'")


def _check_values(path, n: int, obj: dict) -> None:
    """The optional fields have their types: split a non-empty string without '@', level and depth finite
    numbers, novelty an object of finite numbers, factors an object of ints or strings."""
    if "id" in obj and not (isinstance(obj["id"], str) or _number(obj["id"])):
        _fail(path, n, "'id' must be a string or a number")
    if "split" in obj and (not isinstance(obj["split"], str) or not obj["split"].strip() or "@" in obj["split"]):
        _fail(path, n, "'split' must be a non-empty string without '@'")
    if "level" in obj and not _number(obj["level"]):
        _fail(path, n, "'level' must be a finite number")
    if "depth" in obj and not _number(obj["depth"]):
        _fail(path, n, "'depth' must be a finite number")
    nov = obj.get("novelty", {})
    if not isinstance(nov, dict) or not all(isinstance(k, str) and _number(v) for k, v in nov.items()):
        _fail(path, n, "'novelty' must be an object of finite numbers")
    fac = obj.get("factors", {})
    if not isinstance(fac, dict) or not all(isinstance(v, (int, str)) and not isinstance(v, bool)
                                            for v in fac.values()):
        _fail(path, n, "'factors' must be an object of ints or strings")


def _level_name(v: float) -> str:
    """A level's name (the keys of PromptData.level_values): "2" for 2 or 2.0, "2.5" for 2.5."""
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _read_rows(path: Path) -> list[tuple[int, dict]]:
    """The file's non-blank lines as (line number, checked object); at least one."""
    if not path.is_file():
        raise FracturelabError(f"{path}: no such prompt file")
    lines = read_text(path, "prompt file").splitlines()  # held to max_file_bytes, UTF-8 checked
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            _fail(path, n, f"not JSON ({e.msg})")
        except RecursionError:
            _fail(path, n, "not JSON (nested too deeply)")
        _check_fields(path, n, obj)
        _check_values(path, n, obj)
        rows.append((n, obj))
    if not rows:
        raise FracturelabError(f"{path}: empty prompt set (no JSON lines)")
    return rows


def _levels(path, rows) -> list[float]:
    """The file's levels, sorted (empty when no line has one), after checking that every line names the first
    line's factors and that either every line or none has a level."""
    names = [set(o.get("factors", {})) for _, o in rows]
    for (n, _), got in zip(rows, names):
        if got != names[0]:
            _fail(path, n, f"factors {sorted(got)} differ from the first line's {sorted(names[0])}")
    levels = sorted({float(o["level"]) for _, o in rows if "level" in o})
    if levels and any("level" not in o for _, o in rows):
        _fail(path, next(n for n, o in rows if "level" not in o), "missing 'level' (other lines have one)")
    return levels


def _factor_codes(rows) -> dict[str, dict]:
    """Factor name -> value -> its code: 0, 1, ... over the file's values in sorted order (as strings)."""
    names = list(rows[0][1].get("factors", {}))  # the first line's order: a set's order would follow the hash seed
    return {k: {v: i for i, v in enumerate(sorted({o["factors"][k] for _, o in rows}, key=str))} for k in names}


def _example(n: int, o: dict, levels: list[float], codes: dict[str, dict]) -> Example:
    """Line n's example: src the prompt's words, tgt the answer's, meta as PromptData describes; meta["split"] is
    the split (aliases resolved; without one, test_id at the lowest level and test_ood above it)."""
    split = SPLIT_ALIASES.get(o.get("split"), o.get("split"))
    if split is None:
        split = "test_id" if float(o["level"]) == levels[0] else "test_ood"
    answer = o.get("answer", "")
    meta = {**o.get("novelty", {}), "prompt": o["prompt"], "answer": answer, "split": split, "line": n,
            "id": o.get("id", n), "fields": {k: v for k, v in o.items() if k not in FIELDS}}
    if "depth" in o:
        meta["depth"] = o["depth"]
    if codes:
        meta["factors"] = {k: codes[k][o["factors"][k]] for k in codes}
    if "level" in o:
        meta["level_name"] = _level_name(o["level"])
    return Example(tuple(o["prompt"].split()), tuple(answer.split()), meta)


def read_prompts(path) -> PromptData:
    """Read and check a JSONL prompt set (see the module docstring); FracturelabError on any problem."""
    path = Path(path)
    rows = _read_rows(path)
    levels = _levels(path, rows)
    codes = _factor_codes(rows)
    data = PromptData(path.stem, level_values={_level_name(v): v for v in levels})
    for n, o in rows:
        ex = _example(n, o, levels, codes)
        split = ex.meta["split"]
        target = {"train": data.train, "test_id": data.test_id, "test_ood": data.test_ood}.get(split)
        (target if target is not None else data.extra.setdefault(split, [])).append(ex)
    for need in ("test_id", "test_ood"):
        if not getattr(data, need):
            raise FracturelabError(f"{path}: no {need} prompts (split {need!r} or "
                                   f"{'id' if need == 'test_id' else 'ood'!r}, or levels)")
    return data


def own_exports() -> dict:
    """Tasks without a text form that write their own prompt set: name -> prompt_rows(data, sets) -> lines."""
    from ..tasks import binding

    return {"binding": binding.prompt_rows}


def example_row(e: Example, split: str, level: int) -> dict:
    """One exported line of a task example."""
    row = {"prompt": " ".join(e.src), "answer": " " + " ".join(e.tgt), "split": split, "level": level}
    nov = {k: e.meta[k] for k in EXPORTED_META if _number(e.meta.get(k))}
    if nov:
        row["novelty"] = nov
    if _number(e.meta.get("depth")):
        row["depth"] = e.meta["depth"]
    if isinstance(e.meta.get("factors"), dict):
        row["factors"] = e.meta["factors"]
    return row


def export_rows(data, sets=None) -> list[dict]:
    """Lines of a task's data (all sets, or the named ones), levels by set order (train 0, test_id 1, ...)."""
    all_sets = data.sets()
    if sets is not None and not sets:
        raise FracturelabError(f"no set named (sets of task {data.name!r}: {', '.join(all_sets)})")
    bad = [s for s in (sets or []) if s not in all_sets]
    if bad:
        raise FracturelabError(f"task {data.name!r} has no set {bad[0]!r} (sets: {', '.join(all_sets)})")
    return [example_row(e, name, lv) for lv, (name, exs) in enumerate(all_sets.items())
            if sets is None or name in sets for e in exs]


def write_jsonl(rows: list[dict], path) -> Path:
    """Write the lines atomically (the file appears whole or not at all)."""
    from ..io import atomic_file

    path = Path(path)
    if path.exists() and path.is_dir():
        raise FracturelabError(f"{path}: is a folder")
    if not path.parent.is_dir():
        raise FracturelabError(f"{path.parent}: no such folder")
    with atomic_file(path) as tmp:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path
