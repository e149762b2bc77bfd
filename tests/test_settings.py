"""fracturelab.settings: the one options -> settings helper, its edge cases, and that tasks, models, training and
study specs all go through it (so they agree)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest

from fracturelab.errors import FracturelabError
from fracturelab.settings import bounded, check_options, from_options, key_values


@dataclass(frozen=True)
class Inner:
    k: int = 1
    """a nested setting"""


@dataclass(frozen=True)
class S:
    n: int = 3
    """an int"""
    x: float = 0.5
    """a float"""
    flag: bool = False
    """a bool"""
    name: str | None = None
    """a string whose default is None: still typed"""
    limit: float | None = None
    """a float or None"""
    seeds: tuple[int, ...] = (0,)
    """a variadic tuple"""
    pair: tuple[int, int] | None = None
    """a fixed-length tuple"""
    grid: tuple[tuple[int, int], ...] = ((1, 1),)
    """tuples of pairs"""
    table: dict = field(default_factory=dict)
    """a table"""
    frac: float = bounded(0.5, 0.0, 1.0)
    """a declared range"""
    inner: Inner = field(default_factory=Inner)
    """a nested settings dataclass"""


@pytest.mark.parametrize("options, expected", [
    ({"n": 4}, {"n": 4}),
    ({"x": 2}, {"x": 2.0}),                          # int widened to float
    ({"name": None}, {"name": None}),
    ({"name": "a"}, {"name": "a"}),
    ({"limit": 1}, {"limit": 1.0}),
    ({"seeds": 3}, {"seeds": (3,)}),                 # one value where a tuple is expected: the one-element tuple
    ({"seeds": [1, 2]}, {"seeds": (1, 2)}),
    ({"pair": [1, 2]}, {"pair": (1, 2)}),
    ({"grid": [[3, 3]]}, {"grid": ((3, 3),)}),
    ({"frac": 1}, {"frac": 1.0}),
    ({"inner": {"k": 2}}, {"inner": Inner(2)}),
])
def test_accepted(options, expected):
    s = from_options(S, options, "s")
    assert {k: getattr(s, k) for k in expected} == expected
    assert type(s.x) is float


@pytest.mark.parametrize("options, words", [
    ({"m": 1}, "s: unknown option 'm' (options: n, x,"),
    ({"n": 2.5}, "s.n=2.5: expected int"),
    ({"n": True}, "s.n=True: expected int"),        # bool is not an int here
    ({"n": None}, "s.n=None: expected int"),        # None only where the annotation allows it
    ({"x": "0.5"}, "expected float"),               # strings are literals only for command lines
    ({"x": math.nan}, "must be finite"),
    ({"x": -math.inf}, "must be finite"),
    ({"limit": math.inf}, "must be finite"),
    ({"seeds": [1, math.nan]}, "expected tuple[int, ...]"),
    ({"grid": [[3, math.inf]]}, "expected tuple[tuple[int, int], ...]"),
    ({"name": 3}, "s.name=3: expected str | None"),  # a None default does not mean "anything"
    ({"pair": [1, 2, 3]}, "expected tuple[int, int] | None"),
    ({"flag": 1}, "expected bool"),
    ({"table": [1]}, "expected dict"),
    ({"frac": 1.5}, "s.frac=1.5: must be in [0.0, 1.0]"),
    ({"inner": {"j": 1}}, "unknown option 'j'"),
])
def test_refused_one_line(options, words):
    with pytest.raises(FracturelabError) as e:
        from_options(S, options, "s")
    assert words in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("text, expected", [("3", 3), (" 3 ", 3), ("(1, 2)", (1, 2)), ("None", None)])
def test_command_line_strings(text, expected):
    key = {3: "n", (1, 2): "pair", None: "limit"}[expected]
    assert getattr(from_options(S, {key: text}, "s", strings=True), key) == expected
    assert from_options(S, {"name": "3"}, "s", strings=True).name == "3"  # a string field keeps its string


def test_command_line_strings_refused():
    for text, words in [("fifty", "not a valid value"), ("1e999", "must be finite"), ("[" * 500, "not a valid")]:
        with pytest.raises(FracturelabError, match=words):
            from_options(S, {"n" if text == "fifty" else "x": text}, "s", strings=True)


def test_fixed_fields_are_not_options():
    with pytest.raises(FracturelabError, match="unknown option 'n'"):
        check_options(S, {"n": 1}, "s", skip=("n",))
    assert from_options(S, {"x": 1}, "s", n=9).n == 9


def test_every_part_uses_it():
    """Tasks, models, training and specs give the same answer to the same bad option: one helper, one rule."""
    from fracturelab.models import make_model
    from fracturelab.models.data import DataSpec
    from fracturelab.study.spec import parse_spec
    from fracturelab.tasks import make_task
    from fracturelab.train.run import resolve

    data = make_task("lookup", seed=0, n_bits=3)
    spec = DataSpec.of(data.name, data.sets().values())
    for call, words in [
        (lambda: make_task("lookup", n_test=None), "task 'lookup'.n_test=None: expected int"),
        (lambda: make_model("mlp", spec, hidden=None), "model 'mlp'.hidden=None: expected int"),
        (lambda: resolve("lookup", None, None, "scratch", lr=math.inf), "training.lr=inf: must be finite"),
        (lambda: parse_spec('seeds = [0.5]\n[[tasks]]\nname = "lookup"\n'), "seeds=[0.5]: expected tuple[int, ...]"),
        (lambda: parse_spec('[[tasks]]\nname = "lookup"\noptions = { n_test = "x" }\n'), "n_test='x'"),
    ]:
        with pytest.raises(FracturelabError) as e:
            call()
        assert words in str(e.value)
    # scalars to tuples, everywhere
    assert parse_spec('seeds = 4\n[[tasks]]\nname = "lookup"\n').seeds == (4,)
    assert resolve("lookup", None, None, "scratch", checkpoints=500)["train"].checkpoints == (500,)


def test_nested_errors_name_the_path():
    """A nested table's errors name where it sits: the field, and the element of a tuple of tables."""
    @dataclass(frozen=True)
    class Outer:
        inners: tuple[Inner, ...] = ()
        """tables"""
        one: Inner | None = None
        """a table or None"""

    for options, words in [({"one": {"j": 1}}, "o.one: unknown option 'j'"),
                           ({"inners": [{"k": 1}, {"k": "x"}]}, "o.inners[1].k='x': expected int"),
                           ({"one": 3}, "o.one=3: expected Inner | None")]:
        with pytest.raises(FracturelabError) as e:
            from_options(Outer, options, "o")
        assert words in str(e.value), str(e.value)
    assert from_options(Outer, {"inners": {"k": 5}}, "o").inners == (Inner(5),)  # one table: the one-element tuple
    with pytest.raises(FracturelabError, match=r"o\.one: unknown key 'j' \(keys: k\)"):
        from_options(Outer, {"one": {"j": 1}}, "o", noun="key")  # a file's tables say key, all the way down


def test_own_check_runs():
    """from_options ends with the settings' own check(), so no caller can forget it."""
    @dataclass(frozen=True)
    class Checked:
        lo: int = 0
        """lower end"""
        hi: int = 1
        """upper end"""

        def check(self) -> None:
            if self.lo > self.hi:
                raise FracturelabError(f"lo > hi in {self}")

    assert from_options(Checked, {"hi": 5}, "c").hi == 5
    with pytest.raises(FracturelabError, match="lo > hi"):
        from_options(Checked, {"lo": 2}, "c")


def test_key_values():
    """A command line's "key=value,..." text: parts split on commas, spaces around them ignored, every part
    key=value; the values stay strings for from_options(strings=True)."""
    assert key_values(" n=4 , pair=(1 , ,", S, "s") == {"n": "4", "pair": "(1"}  # a comma always splits
    assert key_values("", S, "s") == {} and key_values(None, S, "s") == {}
    assert from_options(S, key_values("n=4,x=0.25,name=a", S, "s"), "s", strings=True) == S(n=4, x=0.25, name="a")
    with pytest.raises(FracturelabError, match=r"s setting 'n': expected key=value \(fields: n, x, flag,"):
        key_values("x=1,n", S, "s")


def test_spec_round_trip():
    """A stored spec (to_dict, as results.sqlite keeps it) reads back to the same spec, CPPN part and nested
    tables included, through the same from_options as a TOML file."""
    from fracturelab.study.spec import profile, spec_from_dict

    for name in ("quick", "full"):
        spec = profile(name)
        assert spec_from_dict(spec.to_dict()) == spec
    stored = profile("quick").to_dict()
    stored["tasks"][0]["modles"] = ["mlp"]
    with pytest.raises(FracturelabError, match=r"stored spec\.tasks\[0\]: unknown key 'modles'"):
        spec_from_dict(stored)
