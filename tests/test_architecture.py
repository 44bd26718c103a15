"""The package's import graph: no import cycle, and only the commands layer knows the command line.

Every module under ``src/contlaws`` is parsed with :mod:`ast` (nothing is imported or executed). Each
``import`` and ``from ... import`` counts, at any depth (inside functions, ``if TYPE_CHECKING:``,
``try:``), absolute or relative; ``from package import name`` points at ``package.name`` when that is a
module of the tree, else at ``package``. The checks:

(a) the graph of local imports has no cycle (a cycle means the import order decides what works,
    and the two modules cannot be understood apart);
(b) no module outside ``contlaws.commands`` imports ``contlaws.commands`` or ``argparse``: the
    library takes explicit arguments and raises :mod:`contlaws.errors`; parsing arguments, printing
    and exit statuses live in the commands layer. ``contlaws.__main__`` is the ``python -m
    contlaws`` entry point and may import it.

The same functions run on small fixture trees below, so a cycle or a library module importing
argparse is shown to fail the check.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

SRC = REPO / "src"
COMMANDS = "contlaws.commands"
ENTRY_POINTS = {"contlaws.__main__"}  # `python -m contlaws`: calls contlaws.commands.main


def module_names(root: Path, package: str) -> dict[str, Path]:
    """{dotted module name: file} of every .py under ``root / package`` (packages by their __init__)."""
    names = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def imported_names(path: Path, module: str, is_package: bool) -> set[str]:
    """Dotted names a module imports, at any depth; relative imports resolved against ``module``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            found.add(origin)
            found.update(f"{origin}.{alias.name}" for alias in node.names if alias.name != "*")
    return found


def local_targets(name: str, modules) -> set[str]:
    """The local module a dotted name points at (its longest prefix that is a module) and the packages
    above it, whose ``__init__`` runs first."""
    parts = name.split(".")
    for k in range(len(parts), 0, -1):
        if ".".join(parts[:k]) in modules:
            return {".".join(parts[:j]) for j in range(1, k + 1)} & set(modules)
    return set()


def import_graph(root: Path, package: str) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(local graph {module: local modules it imports}, {module: every name it imports})."""
    modules = module_names(root, package)
    graph, raw = {}, {}
    for name, path in modules.items():
        raw[name] = imported_names(path, name, path.name == "__init__.py")
        # a module's own packages are initialized before it, so importing a sibling is no edge back to them
        own = {".".join(name.split(".")[:k]) for k in range(1, name.count(".") + 1)}
        graph[name] = set().union(*(local_targets(n, modules) for n in raw[name])) - {name} - own
    return graph, raw


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a closed path of modules) per strongly connected component with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm (the graph is small: recursion is fine)
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_cycle_in(graph, set(c)) for c in components]


def _cycle_in(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A closed path start -> ... -> start inside one strongly connected component."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:  # breadth first: the shortest way back to start
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & component):
                if w == start:
                    return paths[v] + [start]
                if w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    raise AssertionError("a strongly connected component always holds a cycle")


def command_line_leaks(raw: dict[str, set[str]], commands: str = COMMANDS,
                       allowed: set[str] = frozenset()) -> list[str]:  # fmt: skip
    """'module imports X' for each module outside ``commands`` that imports it or argparse."""
    leaks = []
    for module, names in sorted(raw.items()):
        if module == commands or module.startswith(commands + ".") or module in allowed:
            continue
        for name in sorted(names):
            if name in ("argparse", commands) or name.startswith(("argparse.", commands + ".")):
                leaks.append(f"{module} imports {name}")
    return leaks


# ---------------------------------------------------------------------------------------------
# The package itself
# ---------------------------------------------------------------------------------------------
def test_the_package_has_no_import_cycle():
    graph, _ = import_graph(SRC, "contlaws")
    assert len(graph) > 40, sorted(graph)  # the walk found the package
    assert "contlaws.commands" in graph and "contlaws.errors" in graph
    cycles = find_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_only_the_commands_layer_knows_the_command_line():
    _, raw = import_graph(SRC, "contlaws")
    leaks = command_line_leaks(raw, allowed=ENTRY_POINTS)
    assert not leaks, "library modules reaching for the command line:\n" + "\n".join(leaks)
    # the commands layer does use argparse, so the check looks where it should
    assert "argparse" in raw["contlaws.commands"]


# ---------------------------------------------------------------------------------------------
# The checker on fixture trees: it finds what it is meant to find
# ---------------------------------------------------------------------------------------------
def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_checker_reports_a_cycle_hidden_in_a_function_and_a_relative_import(tmp_path):
    root = _tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/data.py": "def load():\n    from pkg.plots import draw  # inside a function\n    return draw\n",
        "pkg/plots/__init__.py": "",
        "pkg/plots/draw.py": "from ..data import load\n",  # relative, two levels up
        "pkg/tables.py": "import pkg.data\n",  # leads into the cycle, not on it
    })  # fmt: skip
    graph, _ = import_graph(root, "pkg")
    assert graph["pkg.plots.draw"] == {"pkg.data"}  # its own packages pkg, pkg.plots are no edges
    assert graph["pkg.data"] == {"pkg.plots", "pkg.plots.draw"}
    assert graph["pkg.tables"] == {"pkg.data"}
    assert find_cycles(graph) == [["pkg.data", "pkg.plots.draw", "pkg.data"]]

    (root / "pkg/data.py").write_text("def load():\n    return 1\n")  # the other way only: no cycle
    assert find_cycles(import_graph(root, "pkg")[0]) == []


def test_checker_finds_a_cycle_through_a_package_init(tmp_path):
    root = _tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/plots/__init__.py": "from pkg.plots import fig\n",
        "pkg/plots/fig.py": "from pkg.tables import read\n",
        "pkg/tables.py": "from pkg.plots.style import COLORS\n",  # runs pkg/plots/__init__ first
        "pkg/plots/style.py": "COLORS = 1\n",
    })  # fmt: skip
    assert find_cycles(import_graph(root, "pkg")[0]) == [["pkg.plots", "pkg.plots.fig", "pkg.tables", "pkg.plots"]]


def test_checker_reports_a_two_module_cycle_by_name(tmp_path):
    root = _tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/experiments/__init__.py": "",
        "pkg/experiments/sub.py": "from pkg.plots.fig import main\n",
        "pkg/plots/__init__.py": "",
        "pkg/plots/fig.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.experiments.sub import x\n",
    })  # fmt: skip
    cycles = find_cycles(import_graph(root, "pkg")[0])
    assert cycles == [["pkg.experiments.sub", "pkg.plots.fig", "pkg.experiments.sub"]]
    message = "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)
    assert "pkg.experiments.sub -> pkg.plots.fig -> pkg.experiments.sub" in message


def test_checker_reports_argparse_and_the_commands_package_outside_commands(tmp_path):
    root = _tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/__main__.py": "from pkg.commands import main\n",
        "pkg/commands/__init__.py": "import argparse\n",
        "pkg/commands/train.py": "import argparse\nfrom pkg import lib\n",
        "pkg/lib.py": "def f():\n    import argparse.foo\n",
        "pkg/errors.py": "from .commands import train\n",
    })  # fmt: skip
    _, raw = import_graph(root, "pkg")
    leaks = command_line_leaks(raw, commands="pkg.commands", allowed={"pkg.__main__"})
    assert leaks == ["pkg.errors imports pkg.commands", "pkg.errors imports pkg.commands.train",
                     "pkg.lib imports argparse.foo"]  # fmt: skip
