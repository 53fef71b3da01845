"""Every public name of the three packages is documented for a user.

A public name is one a package exports in ``__all__``, and the public methods and
properties its exported classes define themselves. Classes and functions carry a
docstring; a type alias or a constant carries the string literal right after its
assignment in the module that defines it (the attribute docstring that Sphinx and
editors show), since an alias object has no ``__doc__`` of its own.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import itertools
import sys
import types
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

PACKAGES = ("tidewire.protocol", "tidewire.server", "tidewire.client")


@cache
def attribute_docstrings(module_name: str) -> dict[str, str]:
    """``NAME = value`` followed by a string literal, at a module's top level."""
    module = sys.modules[module_name]
    tree = ast.parse(Path(inspect.getfile(module)).read_text())
    found: dict[str, str] = {}
    body = tree.body
    for node, after in itertools.pairwise(body):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        if (
            isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            for target in targets:
                if isinstance(target, ast.Name):
                    found[target.id] = after.value.value
    return found


def alias_documented(module_name: str, name: str) -> bool:
    """Where the module says it, or the module it imports the name from, followed
    through re-exports (``tidewire.server`` takes ``WSMessage`` from
    ``tidewire.protocol``, which takes it from ``tidewire.protocol.messages``)."""
    module = importlib.import_module(module_name)
    if attribute_docstrings(module_name).get(name, "").strip():
        return True
    tree = ast.parse(Path(inspect.getfile(module)).read_text())
    is_package = Path(inspect.getfile(module)).stem == "__init__"
    package = module_name if is_package else module_name.rpartition(".")[0]
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and any(a.name == name for a in node.names):
            source = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                source = f"{parent}.{node.module}" if node.module else parent
            if source.startswith("tidewire.") and alias_documented(source, name):
                return True
    return False


def is_class(obj: object) -> bool:
    """A class, but not ``Callable[[str], bool]`` and such, which pass for classes on
    Python 3.10."""
    return inspect.isclass(obj) and not isinstance(obj, types.GenericAlias)


def own_doc(obj: object) -> str:
    if is_class(obj):
        return (obj.__dict__.get("__doc__") or "").strip()
    return (getattr(obj, "__doc__", None) or "").strip()


def public_members(cls: type) -> Iterator[tuple[str, object]]:
    """What the class itself defines for users, dunders and private names aside, and
    overrides of a method that a base class from outside tidewire documents (an
    ``asyncio.Protocol`` callback means what asyncio says it means)."""
    foreign = [base for base in cls.__mro__[1:] if not base.__module__.startswith("tidewire.")]
    for name, member in vars(cls).items():
        if name.startswith("_") or any(name in vars(base) for base in foreign):
            continue
        if isinstance(member, (staticmethod, classmethod)):
            yield name, member.__func__
        elif isinstance(member, property) or inspect.isfunction(member):
            yield name, member


def undocumented(package: str) -> list[str]:
    module = importlib.import_module(package)
    missing: list[str] = []
    for name in module.__all__:
        obj = getattr(module, name)
        if is_class(obj) or inspect.isfunction(obj):
            if not own_doc(obj):
                missing.append(f"{package}.{name}")
            if is_class(obj) and obj.__module__.startswith("tidewire."):
                for member_name, member in public_members(obj):
                    doc = (member.__doc__ or "").strip()  # type: ignore[attr-defined]
                    if not doc:
                        missing.append(f"{package}.{name}.{member_name}")
        elif not alias_documented(package, name):
            missing.append(f"{package}.{name} (alias or constant)")
    return missing


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_has_a_docstring(package: str) -> None:
    missing = undocumented(package)
    assert not missing, f"{len(missing)} public names without a docstring:\n" + "\n".join(missing)


def test_the_walk_sees_what_is_missing() -> None:
    """The checker itself: an undocumented alias or member is reported."""
    assert alias_documented("tidewire.server", "WSMessage")  # followed to its definition
    assert not alias_documented("tidewire.server", "StreamReader")  # a class, not an alias

    class Shown:
        def documented(self) -> None:
            """Said."""

        def bare(self) -> None:
            pass

    assert [name for name, member in public_members(Shown) if not member.__doc__] == ["bare"]


if __name__ == "__main__":  # python tests/design/test_public_api.py [package]: the list
    for package in sys.argv[1:] or PACKAGES:
        print("\n".join(undocumented(package)))
