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
  so "3", "0.5", "(3, 3)" and "None" work;
- a field may declare a range in its metadata, range(lo, hi) below; values outside it are refused.
Every problem is a FracturelabError with one line naming the setting (`what.key`) and what was expected.
"""
from __future__ import annotations

import ast
import dataclasses
import math
import types
import typing
from typing import Any, Mapping

from .errors import FracturelabError


def bounded(default, lo=None, hi=None, **kw):
    """A dataclass field with a declared range [lo, hi] (either end may be None), checked by from_options."""
    return dataclasses.field(default=default, metadata={"range": (lo, hi)}, **kw)


class _Mismatch(Exception):
    pass


def _name(tp) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _coerce(value, tp):
    """value as type tp, or _Mismatch."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a)
            except _Mismatch:
                continue
        raise _Mismatch
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if isinstance(value, Mapping):
            return from_options(tp, value, tp.__name__)
        raise _Mismatch
    if origin is tuple:
        args = typing.get_args(tp)
        variadic = len(args) == 2 and args[1] is Ellipsis
        if not isinstance(value, (list, tuple)):
            if not variadic:
                raise _Mismatch
            value = (value,)  # one value where a tuple of them is expected: the one-element tuple
        if variadic:
            return tuple(_coerce(v, args[0]) for v in value)
        if len(value) != len(args):
            raise _Mismatch
        return tuple(_coerce(v, a) for v, a in zip(value, args))
    if origin is dict:
        if not isinstance(value, Mapping):
            raise _Mismatch
        kt, vt = typing.get_args(tp) or (Any, Any)
        return {_coerce(k, kt): _coerce(v, vt) for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _Mismatch
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _Mismatch
    if tp is str or tp is dict:
        if isinstance(value, tp):
            return value
        raise _Mismatch
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise _Mismatch


def _takes_str(tp) -> bool:
    if tp is str or tp is Any:
        return True
    return typing.get_origin(tp) in (typing.Union, types.UnionType) and str in typing.get_args(tp)


def _finite(v) -> bool:
    if isinstance(v, float):
        return math.isfinite(v)
    if isinstance(v, tuple):
        return all(map(_finite, v))
    if isinstance(v, dict):
        return all(map(_finite, v.values()))
    return True


def coerce_value(value, tp, where: str, strings: bool = False, field: dataclasses.Field | None = None):
    """One value checked and converted to type tp (see the module docstring); where names it in errors."""
    if strings and isinstance(value, str) and not _takes_str(tp):
        try:
            value = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise FracturelabError(f"{where}={value!r}: not a valid value (expected {_name(tp)})") from None
    try:
        out = _coerce(value, tp)
    except _Mismatch:
        raise FracturelabError(f"{where}={value!r}: expected {_name(tp)}") from None
    except RecursionError:
        raise FracturelabError(f"{where}: nested too deeply") from None
    if not _finite(out):
        raise FracturelabError(f"{where}={value!r}: must be finite")
    lo, hi = (field.metadata.get("range", (None, None)) if field is not None else (None, None))
    if out is not None and ((lo is not None and out < lo) or (hi is not None and out > hi)):
        span = f"at least {lo}" if hi is None else f"at most {hi}" if lo is None else f"in [{lo}, {hi}]"
        raise FracturelabError(f"{where}={value!r}: must be {span}")
    return out


def field_types(cls) -> dict[str, Any]:
    """{field name: resolved annotation} of a settings dataclass."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def check_options(cls, options: Mapping, what: str, strings: bool = False, skip=()) -> dict:
    """options checked against cls's fields (names, types, finiteness, declared ranges) -> {name: typed value},
    without building cls (so a caller can add fields it sets itself). Names in skip are treated as unknown."""
    if not isinstance(options, Mapping):
        raise FracturelabError(f"{what}: expected a table of options, got {type(options).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in skip}
    types_ = field_types(cls)
    out = {}
    for k, v in options.items():
        if k not in fields:
            raise FracturelabError(f"{what}: unknown option {k!r} (options: {', '.join(fields)})")
        out[k] = coerce_value(v, types_[k], f"{what}.{k}", strings, fields[k])
    return out


def from_options(cls, options: Mapping, what: str, strings: bool = False, **fixed):
    """cls(**fixed, **checked options); see check_options. fixed are set by the caller, not the user."""
    kw = check_options(cls, options, what, strings, skip=fixed)
    try:
        return cls(**fixed, **kw)
    except (TypeError, ValueError) as e:  # a settings class's own __post_init__ check
        raise FracturelabError(f"{what}: {e}".splitlines()[0]) from None
