"""The package's import rules, read from the source with ``ast`` (nothing is imported):

* no module imports a private name (``from x import _name``) or reads a private attribute of an
  imported babybias module (``models._x``); the projection's model attribute (``_babybias_projection``)
  is named only in ``babybias/models/projection.py``;
* modules import downward only: the floors below, a package importing nothing from a higher floor,
  and the packages of the middle floor (train, debias, analysis) not importing one another.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "babybias"

#: floor of each top-level package or module of babybias; a module may import its own floor and those below
FLOORS = {
    "helpers": 0,  # imports no other babybias module
    "evaluate": 1, "corpus": 1, "models": 1, "testing": 1, "__init__": 1,  # the bottom floor
    "train": 2, "debias": 2, "analysis": 2,  # above it; they should not import one another
    "downstream": 3, "experiment": 3, "cli": 3, "__main__": 3,  # on top
}
MIDDLE = 2

#: (importer, imported) across the middle floor that exist today, each with why; keep this list short
ALLOWED_SAME_FLOOR = {
    # analysis/sweeps.py reads training runs: train.config.TrainConfig (tokens seen) and train.checkpoint
    # (list_checkpoints, is_valid); moving the run-folder reader below train is another issue's work
    ("analysis", "train"),
}

#: (module path under babybias/, private name) imports that exist today and are not this test's files to fix
ALLOWED_PRIVATE: set[tuple[str, str]] = set()

#: private attributes babybias sets on objects it does not own, and the one module allowed to name them
OWNED_ATTRIBUTES = {"_babybias_projection": "models/projection.py"}


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _modules() -> list[tuple[str, ast.Module]]:
    return [(p.relative_to(SRC).as_posix(), ast.parse(p.read_text(encoding="utf-8"))) for p in sorted(SRC.rglob("*.py"))]


def _package(rel: str) -> str:
    """The top-level package (or module) of babybias a path under ``babybias/`` belongs to."""
    return rel.split("/")[0].removesuffix(".py")


def _imported(rel: str, node: ast.ImportFrom | ast.Import) -> list[list[str]]:
    """The babybias modules an import statement names, as dotted parts under ``babybias`` (``from . import x``: x)."""
    if isinstance(node, ast.Import):
        return [a.name.split(".")[1:] for a in node.names if a.name.split(".")[0] == "babybias"]
    if node.level == 0:
        if (node.module or "").split(".")[0] != "babybias":
            return []
        base = node.module.split(".")[1:]
    else:
        here = rel.removesuffix(".py").split("/")
        here = here[:-1]  # the package holding the module (a package's __init__ included)
        base = here[: len(here) - (node.level - 1)] + (node.module.split(".") if node.module else [])
    return [base + [a.name] for a in node.names] if not node.module or not base else [base]


def _import_edges() -> list[tuple[str, str, str, int]]:
    """``(importer package, imported package, file, line)`` of every import of another babybias package."""
    edges = []
    for rel, tree in _modules():
        me = _package(rel)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for parts in _imported(rel, node):
                    if parts and parts[0] != me:
                        edges.append((me, parts[0], rel, node.lineno))
    return edges


def _module_aliases(rel: str, tree: ast.Module) -> set[str]:
    """Names bound to babybias modules in a file (``from .. import models``, ``import babybias.x as y``)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("babybias")):
            if node.module is None or node.module == "babybias":  # from . import x / from babybias import x
                names |= {a.asname or a.name for a in node.names}
        elif isinstance(node, ast.Import):
            names |= {a.asname for a in node.names if a.name.startswith("babybias.") and a.asname}
    return names


def test_every_package_has_a_floor():
    unknown = sorted({_package(rel) for rel, _ in _modules()} - set(FLOORS))
    assert not unknown, f"give {unknown} a floor in FLOORS"


def test_no_private_name_is_imported():
    found = []
    for rel, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if _is_private(alias.name) and (rel, alias.name) not in ALLOWED_PRIVATE:
                        found.append(f"{rel}:{node.lineno} imports {alias.name} from {'.' * node.level}{node.module or ''}")
    assert not found, "make these names public (an alias may keep the old one inside its module):\n" + "\n".join(found)


def test_no_private_attribute_of_another_module_is_read():
    found = []
    for rel, tree in _modules():
        modules = _module_aliases(rel, tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _is_private(node.attr) and isinstance(node.value, ast.Name) \
                    and node.value.id in modules:
                found.append(f"{rel}:{node.lineno} reads {node.value.id}.{node.attr}")
            name = node.attr if isinstance(node, ast.Attribute) else node.value if isinstance(node, ast.Constant) else None
            if isinstance(name, str) and name in OWNED_ATTRIBUTES and rel != OWNED_ATTRIBUTES[name]:
                found.append(f"{rel}:{node.lineno} names {name} (only {OWNED_ATTRIBUTES[name]} may; use its public functions)")
    assert not found, "\n".join(found)


def test_modules_import_downward_only():
    up, across = [], []
    for me, other, rel, line in _import_edges():
        if other not in FLOORS:
            continue  # a module of babybias's top level not in FLOORS fails test_every_package_has_a_floor
        if FLOORS[other] > FLOORS[me]:
            up.append(f"{rel}:{line}: {me} (floor {FLOORS[me]}) imports {other} (floor {FLOORS[other]})")
        elif FLOORS[other] == FLOORS[me] == MIDDLE and (me, other) not in ALLOWED_SAME_FLOOR:
            across.append(f"{rel}:{line}: {me} imports {other}, on the same floor")
    assert not up, "a module imports a higher floor:\n" + "\n".join(up)
    assert not across, "train, debias and analysis should not import one another:\n" + "\n".join(across)


@pytest.mark.parametrize("source, expected", [
    ("from .. import models", [["models"]]),
    ("from ..models.loading import load_lm", [["models", "loading"]]),
    ("from . import cda", [["corpus", "cda"]]),
    ("from .cda import map_with_stats", [["corpus", "cda"]]),
    ("import babybias.debias", [["debias"]]),
    ("from babybias import train", [["train"]]),
])
def test_imports_are_resolved(source, expected):
    node = ast.parse(source).body[0]
    assert _imported("corpus/perturb.py", node) == expected
