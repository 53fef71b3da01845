"""The layers of DESIGN.md, checked on the source: no module of the library imports
itself back through others, and client/ has no circle even through imports made only
for type checking (a circle there is a sign that two modules are one concern split in
two, or that one reaches into the other's internals).

``protocol/`` imports nothing of ``server/`` or ``client/``, and those two never import
each other, except the test utilities of ``server/`` (``testing.py`` and the pytest
plugin), which drive the server with the client.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "protocol": "tidewire.protocol",
    "server": "tidewire.server",
    "client": "tidewire.client",
}
SERVER_TEST_UTILITIES = {"tidewire.server.testing", "tidewire.server.pytest_plugin"}


def modules() -> dict[str, Path]:
    found = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            found[name] = path
    return found


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(name: str, path: Path, with_type_checking: bool) -> set[str]:
    """The library modules ``name`` imports, wherever in its body (a function's lazy
    import is a dependency too); ``if TYPE_CHECKING:`` blocks only when asked."""
    known = modules()
    package = name if path.stem == "__init__" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and is_type_checking(node.test) and not with_type_checking:
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{node.module}" if node.module else parent
            for alias in node.names:
                if f"{base}.{alias.name}" in known:  # from package import module
                    found.add(f"{base}.{alias.name}")
                elif base in known:
                    found.add(base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    found.discard(name)
    return found


def graph(with_type_checking: bool) -> dict[str, set[str]]:
    return {name: imports(name, path, with_type_checking) for name, path in modules().items()}


def cycles(edges: dict[str, set[str]], within: str = "") -> list[list[str]]:
    """Each circle once, as the path that closes it (depth-first, Tarjan-free: the
    graph has forty nodes)."""
    nodes = {n for n in edges if n.startswith(within)}
    found: list[list[str]] = []
    seen: set[frozenset[str]] = set()

    def walk(path: list[str]) -> None:
        for nxt in sorted(edges[path[-1]] & nodes):
            if nxt == path[0]:
                key = frozenset(path)
                if key not in seen:
                    seen.add(key)
                    found.append([*path, nxt])
            elif nxt not in path and nxt > path[0]:  # each circle from its least node
                walk([*path, nxt])

    for start in sorted(nodes):
        walk([start])
    return found


def test_no_import_circle_at_run_time() -> None:
    found = cycles(graph(with_type_checking=False))
    assert not found, "\n".join(" -> ".join(cycle) for cycle in found)


def test_no_import_circle_within_client_even_for_type_checking() -> None:
    found = cycles(graph(with_type_checking=True), within="tidewire.client")
    assert not found, "\n".join(" -> ".join(cycle) for cycle in found)


@pytest.mark.parametrize("with_type_checking", [False, True])
def test_layers(with_type_checking: bool) -> None:
    wrong = []
    for name, targets in graph(with_type_checking).items():
        for target in targets:
            layer, target_layer = name.split(".")[1], target.split(".")[1]
            allowed = {
                "protocol": {"protocol"},
                "server": {"protocol", "server"},
                "client": {"protocol", "client"},
            }[layer]
            if name in SERVER_TEST_UTILITIES:
                allowed = allowed | {"client"}
            if target_layer not in allowed:
                wrong.append(f"{name} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_the_walk_sees_a_circle() -> None:
    """The checker itself: a circle it is shown is a circle it reports."""
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == [["a", "b", "c", "a"]]
