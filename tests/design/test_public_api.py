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


def alias_documented(package: str, name: str) -> bool:
    """Where the package's ``__init__`` or a module it imports the name from says it."""
    candidates = [package]
    init = sys.modules[package]
    tree = ast.parse(Path(inspect.getfile(init)).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and any(a.name == name for a in node.names):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            candidates.append(base)
    for module_name in candidates:
        importlib.import_module(module_name)
        if attribute_docstrings(module_name).get(name, "").strip():
            return True
    return False


def own_doc(obj: object) -> str:
    if inspect.isclass(obj):
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
        if inspect.isclass(obj) or inspect.isfunction(obj):
            if not own_doc(obj):
                missing.append(f"{package}.{name}")
            if inspect.isclass(obj) and obj.__module__.startswith("tidewire."):
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


if __name__ == "__main__":  # python tests/design/test_public_api.py [package]: the list
    for package in sys.argv[1:] or PACKAGES:
        print("\n".join(undocumented(package)))
