"""The package's shape: no import circle, no private name imported across modules, short modules and functions.

Run alone with `.venv/bin/python -m pytest -q tests/unit/test_structure.py`. The import graph is built with `ast`
from every import statement (module level, inside functions and under `if TYPE_CHECKING:` alike), so a circle
that only type checkers or a late import would close is still found.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("driftline", "bench")
TOP_LEVEL = ("worker.py", "config.py")
WORKER_MAX_LINES = 250
MODULE_MAX_LINES = 450
FUNCTION_MAX_LINES = 60


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for the packages and the top-level modules."""
    files = {p.stem: ROOT / p for p in map(Path, TOP_LEVEL)}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join(parts)] = path
    return files


def imports(tree: ast.AST, here: str, is_package: bool) -> Iterator[tuple[str, list[str]]]:
    """(module, names) for every import statement; relative imports resolved against `here`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base, [a.name for a in node.names]


def import_graph(files: dict[str, Path]) -> tuple[dict[str, set[str]], list[str]]:
    """Edges between our modules, and every import of another module's private name."""
    graph: dict[str, set[str]] = {name: set() for name in files}
    private: list[str] = []
    for name, path in files.items():
        tree = ast.parse(path.read_text(), str(path))
        for target, names in imports(tree, name, path.name == "__init__.py"):
            for imported in names or [None]:
                full = f"{target}.{imported}" if imported else target
                if full in files:  # `from package import module`
                    dest = full
                elif target in files:
                    dest = target
                    if imported and imported.startswith("_") and not imported.startswith("__"):
                        private.append(f"{name} imports {target}.{imported}")
                else:
                    continue
                if dest != name:
                    graph[name].add(dest)
    return graph, private


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def long_functions(files: dict[str, Path]) -> list[str]:
    out = []
    for name, path in files.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > FUNCTION_MAX_LINES:
                    out.append(f"{name}.{node.name} ({length} lines)")
    return out


def test_the_cycle_finder_finds_a_circle_and_accepts_a_chain():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_the_graph_counts_type_only_and_function_level_imports(tmp_path):
    (tmp_path / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from b import X\n")
    (tmp_path / "b.py").write_text("def f():\n    from a import _hidden\n")
    graph, private = import_graph({"a": tmp_path / "a.py", "b": tmp_path / "b.py"})
    assert graph == {"a": {"b"}, "b": {"a"}}
    assert private == ["b imports a._hidden"]


def test_no_import_circle_in_driftline_or_bench():
    graph, _ = import_graph(module_files())
    assert cycles(graph) == []


def test_no_module_imports_a_private_name_of_another():
    _, private = import_graph(module_files())
    assert private == []


def test_worker_is_the_supervisor_loop_only():
    lines = len((ROOT / "worker.py").read_text().splitlines())
    assert lines <= WORKER_MAX_LINES, f"worker.py has {lines} lines"


def test_every_driftline_module_is_at_most_450_lines():
    files = module_files()
    too_long = {n: len(p.read_text().splitlines()) for n, p in files.items() if n.startswith("driftline")}
    assert {n: k for n, k in too_long.items() if k > MODULE_MAX_LINES} == {}


def test_no_function_is_longer_than_60_lines():
    assert long_functions(module_files()) == []
