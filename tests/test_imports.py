"""The package's imports run one way: the core imports nothing above it, and no module of ``actbook`` imports,
directly or through others, a module that imports it back, counting imports
inside functions too; and no two modules share a final name."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"


def modules(src: Path = SRC) -> dict[str, tuple[Path, bool]]:
    """``{"actbook.runner.train": (path, is_package), ...}`` for every module under ``src/actbook``."""
    out = {}
    for path in sorted((src / "actbook").rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if package else parts)] = (path, package)
    return out


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    """Module -> the actbook modules it imports, anywhere in its source (lazy imports included)."""
    found = modules(src)
    graph = {}
    for name, (path, package) in found.items():
        here = name if package else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here.split(".")[:len(here.split(".")) - node.level + 1]
                    origin = ".".join(base + ([node.module] if node.module else []))
                else:
                    origin = node.module or ""
                # "from actbook.runner import train" imports the module actbook.runner.train
                targets |= {f"{origin}.{a.name}" if f"{origin}.{a.name}" in found else origin for a in node.names}
        graph[name] = {t for t in targets if t in found and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_sees_lazy_and_relative_imports(tmp_path):
    package = tmp_path / "actbook"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from actbook.sub import b\n")
    (package / "sub" / "b.py").write_text("from .. import a\n")
    graph = import_graph(tmp_path)
    assert graph["actbook.a"] == {"actbook.sub.b"} and graph["actbook.sub.b"] == {"actbook.a"}
    assert cycles(graph) == [["actbook.a", "actbook.sub.b"]]


def test_no_import_cycles():
    assert cycles(import_graph()) == []


#: The core: what every other layer may import, importing nothing above it.
CORE = {"actbook", "actbook.activations", "actbook.arms", "actbook.layers", "actbook.kernel_policy",
        "actbook.tf_runtime"}


def test_the_core_imports_only_the_core():
    graph = import_graph()
    assert {m: sorted(graph[m] - CORE) for m in CORE if graph[m] - CORE} == {}


def _clashes(names) -> list[tuple[str, ...]]:
    by_final = {}
    for name in names:
        by_final.setdefault(name.rpartition(".")[2], []).append(name)
    return sorted(tuple(sorted(group)) for final, group in by_final.items() if len(group) > 1)


def test_every_module_name_is_unique():
    assert _clashes(modules()) == []


#: The layers, lowest first: each may import the layers below it, never one above. The core and the book's
#: own modules (plotting, prose, dead units, the NumPy and Keras experiments of the chapters) come first;
#: the runner trains the CIFAR-10 cells with them; the analysis reads the cells; the command line drives both.
def layer(module: str) -> int:
    if module.startswith("actbook.runner"):
        return 1
    if module.startswith("actbook.analysis"):
        return 2
    return 3 if module == "actbook.__main__" else 0


#: Imports that still run upward, each with what removes it (delete the entry with the import).
UPWARD_TODO: dict[tuple[str, str], str] = {}


def upward(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    return {(m, t) for m, targets in graph.items() for t in targets if layer(t) > layer(m)}


def test_the_layer_rule_flags_an_import_of_the_runner_from_below(tmp_path):
    package = tmp_path / "actbook"
    (package / "runner").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "runner" / "__init__.py").write_text("")
    (package / "runner" / "backend.py").write_text("from actbook import plots\n")
    (package / "plots.py").write_text("def f():\n    from actbook.runner.backend import x\n")
    assert upward(import_graph(tmp_path)) == {("actbook.plots", "actbook.runner.backend")}


def test_imports_run_from_the_core_up_to_the_runner_and_the_analysis_only():
    assert upward(import_graph()) - set(UPWARD_TODO) == set()
