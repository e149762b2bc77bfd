"""The layering rule, checked on the source: no two modules of one package of fracturelab import each other (directly
or through a longer circle inside the package)."""
import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "fracturelab"


def _imports(path: Path, package: str) -> set[str]:
    """Sibling modules of `package` that the module at path imports (at any depth of the file, late imports too)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                out.add(node.module.split(".")[0])
            else:
                out |= {a.name for a in node.names}
    return out


def _cycle(graph: dict[str, set[str]]):
    state: dict[str, int] = {}

    def visit(n, path):
        state[n] = 1
        for m in graph.get(n, ()):
            if state.get(m) == 1:
                return path + [m]
            if m not in state and (c := visit(m, path + [m])):
                return c
        state[n] = 2
        return None

    for n in graph:
        if n not in state and (c := visit(n, [n])):
            return c
    return None


def test_no_import_circle_within_a_package():
    for pkg in [p for p in SRC.rglob("*") if p.is_dir() and (p / "__init__.py").exists()]:
        mods = {f.stem: f for f in pkg.glob("*.py") if f.stem != "__init__"}
        graph = {m: _imports(f, pkg.name) & set(mods) for m, f in mods.items()}
        assert _cycle(graph) is None, f"{pkg.relative_to(SRC)}: import circle {' -> '.join(_cycle(graph))}"


def test_circle_finder_finds_one():  # the check above could fail
    assert _cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
