"""The one way options become settings: a mapping (a spec's table, a command line's KEY=VALUE pairs, a caller's
keyword arguments) checked against a settings dataclass and turned into an instance of it.

    s = from_options(MLPSettings, {"hidden": 64, "scale": "2"}, "model 'mlp'", strings=True)

Rules, the same for every part of fracturelab (tasks, models, training, evolution, study specs):
- every key must be a field; an unknown one is named with the fields there are;
- the type comes from the field's annotation (never from its default, so a field whose default is None still has a
  type): bool, int (not bool), float (an int is widened; NaN and infinities are refused), str, dict, tuple[T, ...]
  (a list or tuple of T; a single T means the one-element tuple), tuple[T1, T2] (exactly that many), dict[K, V],
  X | None, and nested settings dataclasses (a table);
- strings=True (command lines): a string given for a field that does not take strings is read as a Python literal,
  so "3", "0.5", "(3, 3)" and "None" work; never a Typed string: strings=False (a file's typed values, a spec's
  TOML) marks the strings inside its free-form tables (a spec task's `options`) Typed, so "8" read there stays a
  string when those options are later checked with strings=True, and an int field refuses it;
- a field may declare a range in its metadata, bounded(default, lo, hi) below; values outside it are refused;
- the built settings' own check() runs where the class defines one;
- key_values reads a command line's "key=value,..." text into such a mapping.
Every problem is a FracturelabError with one line naming the setting (`what.key`) and what was expected.
"""
from __future__ import annotations

import ast
import dataclasses
import datetime
import math
import types
import typing
from typing import Any, Mapping

from .errors import FracturelabError


def bounded(default, lo=None, hi=None, **kw):
    """A dataclass field with a declared range [lo, hi] (either end may be None), checked by from_options."""
    return dataclasses.field(default=default, metadata={"range": (lo, hi)}, **kw)


class Typed(str):
    """A string a typed source (a TOML or JSON file) gave: from_options never reads it as a literal (equal to, hashed
    and printed as the plain string)."""


def _typed(value, where: str):
    """value with every plain string inside its dicts, lists and tuples a Typed one (settings dataclasses are left
    as they are: from_options marked their own); a TOML date or time there is refused (no setting takes one, and
    JSON, where cells' options go, has none)."""
    if type(value) is str:
        return Typed(value)
    if isinstance(value, (datetime.date, datetime.time)):
        raise FracturelabError(f"{where}: {value} is a date or time; no setting takes one")
    if isinstance(value, dict):
        return {k: _typed(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_typed(v, f"{where}[{i}]") for i, v in enumerate(value))
    return value


class _Mismatch(Exception):
    """A value is not of the type asked for; _coerce_value turns it into the one-line error naming the setting."""


def _name(tp) -> str:
    """A type as a user reads it: int, tuple[int, ...], Inner | None (classes without their module)."""
    if tp is type(None):
        return "None"
    if tp is Ellipsis:
        return "..."
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return " | ".join(map(_name, args))
    if args:
        return f"{_name(typing.get_origin(tp))}[{', '.join(map(_name, args))}]"
    return tp.__name__ if isinstance(tp, type) else str(tp).replace("typing.", "")


def _coerce(value, tp, where: str, noun: str):
    """value as type tp, or _Mismatch; where names the value in the errors of nested settings, noun what their keys
    are called there."""
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return _union(value, typing.get_args(tp), where, noun)
    if dataclasses.is_dataclass(tp):
        return _table(value, tp, where, noun)
    if origin is tuple:
        return _tuple(value, typing.get_args(tp), where, noun)
    if origin is dict:
        return _dict(value, typing.get_args(tp) or (Any, Any), where, noun)
    return _scalar(value, tp)


def _union(value, args, where, noun):
    """The first of args that takes value (None only where None is one of them)."""
    if value is None and type(None) in args:
        return None
    for a in args:
        if a is type(None):
            continue
        try:
            return _coerce(value, a, where, noun)
        except _Mismatch:
            continue
    raise _Mismatch


def _table(value, tp, where, noun):
    """A nested settings dataclass: an instance of it, or a table read with from_options."""
    if isinstance(value, tp):
        return value
    if isinstance(value, Mapping):
        return from_options(tp, value, where, noun=noun)
    raise _Mismatch


def _tuple(value, args, where, noun):
    """tuple[T, ...] (a single T: the one-element tuple) or tuple[T1, T2, ...] (exactly that many)."""
    variadic = len(args) == 2 and args[1] is Ellipsis
    if not isinstance(value, (list, tuple)):
        if not variadic:
            raise _Mismatch
        value = (value,)  # one value where a tuple of them is expected: the one-element tuple
    if variadic:
        args = (args[0],) * len(value)
    if len(value) != len(args):
        raise _Mismatch
    return tuple(_coerce(v, a, f"{where}[{i}]", noun) for i, (v, a) in enumerate(zip(value, args)))


def _dict(value, kv, where, noun):
    """dict[K, V]: every key a K, every value a V."""
    if not isinstance(value, Mapping):
        raise _Mismatch
    kt, vt = kv
    return {_coerce(k, kt, where, noun): _coerce(v, vt, f"{where}.{k}", noun) for k, v in value.items()}


def _scalar(value, tp):
    """bool, int (not bool), float (an int is widened), str, dict or another class: value if it is one."""
    if not isinstance(tp, type) or not isinstance(value, (int, float) if tp is float else tp):
        raise _Mismatch
    if isinstance(value, bool) and tp in (int, float):
        raise _Mismatch
    return float(value) if tp is float else value


def _takes_str(tp) -> bool:
    if tp is str or tp is Any:
        return True
    return typing.get_origin(tp) in (typing.Union, types.UnionType) and str in typing.get_args(tp)


def _items_take_str(tp) -> bool:
    """tp is tuple[T, ...] whose T takes a string: one bare word (no literal) is then its one-element tuple."""
    args = typing.get_args(tp)
    return typing.get_origin(tp) is tuple and len(args) == 2 and args[1] is Ellipsis and _takes_str(args[0])


def _finite(v) -> bool:
    if isinstance(v, float):
        return math.isfinite(v)
    if isinstance(v, tuple):
        return all(map(_finite, v))
    if isinstance(v, dict):
        return all(map(_finite, v.values()))
    return True


def _coerce_value(value, field: dataclasses.Field, tp, where: str, strings: bool, noun: str):
    """One value of field (resolved annotation tp) checked and converted (see the module docstring); where names it
    in errors, noun what the keys of a nested table are called there."""
    if strings and isinstance(value, str) and not isinstance(value, Typed) and not _takes_str(tp):
        try:
            value = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            if not _items_take_str(tp):
                raise FracturelabError(f"{where}={value!r}: not a valid value (expected {_name(tp)})") from None
            # a bare word where a tuple of strings goes (--set given=colour): the one-element tuple, as in a file
    try:
        out = _coerce(value, tp, where, noun)
    except _Mismatch:
        raise FracturelabError(f"{where}={value!r}: expected {_name(tp)}") from None
    except RecursionError:
        raise FracturelabError(f"{where}: nested too deeply") from None
    if not _finite(out):
        raise FracturelabError(f"{where}={value!r}: must be finite")
    _check_range(value, out, field.metadata.get("range", (None, None)), where)
    if not strings and isinstance(out, (dict, list)):  # free-form tables keep their types wherever they go next
        out = _typed(out, where)
    return out


def _check_range(value, out, span: tuple, where: str) -> None:
    """out within a field's declared range (lo, hi), either end None for open; value is what the user gave."""
    lo, hi = span
    if out is not None and ((lo is not None and out < lo) or (hi is not None and out > hi)):
        words = f"at least {lo}" if hi is None else f"at most {hi}" if lo is None else f"in [{lo}, {hi}]"
        raise FracturelabError(f"{where}={value!r}: must be {words}")


def _field_types(cls) -> dict[str, Any]:
    """{field name: resolved annotation} of a settings dataclass."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def check_options(cls, options: Mapping, what: str, strings: bool = False, skip=(), noun: str = "option") -> dict:
    """options checked against cls's fields (names, types, finiteness, declared ranges) -> {name: typed value},
    without building cls (so a caller can add fields it sets itself). Names in skip are treated as unknown. noun is
    what a key is called in errors: "option" (settings) or "key" (a file's tables, as in a study spec)."""
    if not isinstance(options, Mapping):
        raise FracturelabError(f"{what}: expected a table of {noun}s, got {type(options).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in skip}
    types_ = _field_types(cls)
    out = {}
    for k, v in options.items():
        if k not in fields:
            raise FracturelabError(f"{what}: unknown {noun} {k!r} ({noun}s: {', '.join(fields)})")
        out[k] = _coerce_value(v, fields[k], types_[k], f"{what}.{k}", strings, noun)
    return out


def from_options(cls, options: Mapping, what: str, strings: bool = False, noun: str = "option", **fixed):
    """cls(**fixed, **checked options), then its own check() where cls defines one; see check_options. fixed are set
    by the caller, not the user."""
    kw = check_options(cls, options, what, strings, skip=fixed, noun=noun)
    try:
        settings = cls(**fixed, **kw)
    except (TypeError, ValueError) as e:  # a settings class's own __post_init__ check
        raise FracturelabError(f"{what}: {e}".splitlines()[0]) from None
    if callable(getattr(settings, "check", None)):
        settings.check()
    return settings


def key_values(text: str, cls, what: str) -> dict[str, str]:
    """A command line's "key=value,..." text -> {key: value string}, for from_options(cls, ..., strings=True); cls
    only names its fields when a part is not key=value. Empty text: no options."""
    out = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        k, eq, v = part.partition("=")
        if not eq:
            raise FracturelabError(f"{what} setting {part!r}: expected key=value (fields: "
                                   f"{', '.join(f.name for f in dataclasses.fields(cls))})")
        if k.strip() in out:  # "strength=1,strength=2": the last would win unseen
            raise FracturelabError(f"{what} setting {k.strip()!r} given twice in {text!r}")
        out[k.strip()] = v.strip()
    return out
