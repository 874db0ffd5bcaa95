"""pyproject.toml's runtime dependencies are what trio_hedge/ imports: every third-party module a module under
``trio_hedge/`` imports (parsed with ``ast``, at any depth) belongs to a declared runtime dependency, and every
declared runtime dependency is imported by ``trio_hedge/``. What only tests and scripts use belongs in the
``test`` extra.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import trio_hedge

ROOT = Path(trio_hedge.__file__).parent
PYPROJECT = ROOT.parent / "pyproject.toml"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_requirements() -> set[str]:
    deps = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["dependencies"]
    return {_norm(re.split(r"[\[<>=!~; ]", d, maxsplit=1)[0]) for d in deps}


def imported_top_level_modules() -> dict[str, str]:
    """Top-level module -> first ``path:line`` importing it, for every non-stdlib, non-relative import."""
    seen: dict[str, str] = {}
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "trio_hedge" and top not in sys.stdlib_module_names:
                    seen.setdefault(top, f"{path.relative_to(ROOT.parent)}:{node.lineno}")
    return seen


def test_every_runtime_import_is_a_declared_runtime_dependency() -> None:
    declared = runtime_requirements()
    dists = packages_distributions()
    undeclared = {
        module: where
        for module, where in imported_top_level_modules().items()
        if not {_norm(d) for d in dists.get(module, [module])} & declared
    }
    assert undeclared == {}


def test_every_declared_runtime_dependency_is_imported() -> None:
    dists = packages_distributions()
    imported = {_norm(d) for module in imported_top_level_modules() for d in dists.get(module, [module])}
    assert runtime_requirements() - imported == set()
