"""The package's import graph: no cycles, every module importable on its own, torch only where allowed.

Cycles are found statically, from every `import` statement in nnshape/ (those inside functions
too: a lazy import only hides a cycle until the day someone moves it to the top). Imports under
`if TYPE_CHECKING:` are annotations and do not count. FACADES lists the few lazy imports that may
point back up (a convenience method of a data class calling a renderer); each says why.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import nnshape

PACKAGE = Path(nnshape.__file__).parent
ROOT = PACKAGE.parent

# (importer, imported): lazy imports, inside a function, that are allowed to close a cycle.
FACADES = {
    ("nnshape.summary", "nnshape.pictures"): "Summary.draw() / to_html(): the data class offers the pictures as methods",
    ("nnshape.summary", "nnshape.pictures.report"): "Summary.to_html(): as above",
    ("nnshape.summary", "nnshape.render"): "print(summary) / rich.print(summary): the data class renders its table (issue 17)",
    ("nnshape.summary", "nnshape.render.html"): "Summary._repr_html_(): the table in a notebook",
    ("nnshape.api", "nnshape.verifier"): "nnshape.export(): the verifier's analyze_spec (which reads specs with api.load_source)",
}


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    return skip


def imports_of(name: str, path: Path, known: set[str]) -> dict[str, bool]:
    """The package modules ``name`` imports (``from . import x`` counts x when x is a module),
    each with True when every import of it is lazy (inside a function)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_nodes(tree)
    lazy_nodes = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) for n in ast.walk(f)}
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: dict[str, bool] = {}

    def add(target: str, node: ast.AST) -> None:
        if target in known and target != name:
            found[target] = found.get(target, True) and id(node) in lazy_nodes

    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{target}.{alias.name}" if target else alias.name
                add(sub if sub in known else target, node)
    return found


def graph(facades: bool = False) -> dict[str, set[str]]:
    """Module -> the modules it imports; the FACADES edges left out unless ``facades``."""
    mods = modules()
    out = {}
    for name, path in mods.items():
        edges = imports_of(name, path, set(mods))
        out[name] = {m for m in edges if facades or (name, m) not in FACADES}
    return out


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_finder_sees_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_graph_sees_lazy_and_relative_imports():
    edges = graph(facades=True)
    assert "nnshape.registry" in edges["nnshape.kinds.conv"]  # from ..registry import ...
    assert "nnshape.twins" in edges["nnshape.twinspec"]  # `from . import twins` inside Twin.build
    assert "nnshape.source" not in edges["nnshape.errors"]  # only under TYPE_CHECKING


def test_no_import_cycles():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_facades_are_lazy_and_current():
    """An allowed back edge must stay inside a function, and must still exist."""
    mods = modules()
    for (importer, imported), why in FACADES.items():
        edges = imports_of(importer, mods[importer], set(mods))
        assert imported in edges, f"{importer} no longer imports {imported}: drop it from FACADES"
        assert edges[imported], f"{importer} imports {imported} at the top level ({why})"


def test_every_module_imports_in_a_fresh_interpreter_without_torch():
    """Each module imports (in a new interpreter, in sorted order); none but nnshape.twins loads torch."""
    names = [n for n in modules() if n.split(".")[:2] != ["nnshape", "twins"] and not n.endswith("__main__")]
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "    assert 'torch' not in sys.modules, name + ' imported torch'\n"
        "print('ok', len(sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0 and result.stdout.startswith("ok"), result.stderr[-2000:]
