"""Imports point one way between the layers (docs/architecture.md, "Layers"):

    app -> engine -> venues -> protocols -> domain
    app -> sim -> protocols -> domain

Every module under ``trio_hedge/`` is parsed (``ast``, no import) and each of its imports of ours, relative or
absolute, at module level or inside a function, is resolved to a layer. A layer may import itself and the layers
below it in its chain. The package root's own modules (``trio_hedge/_redact.py``, ``trio_hedge/_streams.py``,
``trio_hedge/_hotpath.py``: shared plumbing) sit just above the domain: they import only the domain (and each
other), and every layer but the domain may import them. One venue's package never imports another's
(``venues/grvt`` and ``venues/backpack``; ``protocols/grvt`` and ``protocols/backpack``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import trio_hedge

ROOT = Path(trio_hedge.__file__).parent
PACKAGE = "trio_hedge"
BASE = "base"
"""The package root's own modules (``__init__``, ``_redact``, ``_streams``, ``_hotpath``)."""

ALLOWED: dict[str, frozenset[str]] = {
    "domain": frozenset(),
    BASE: frozenset({"domain"}),
    "protocols": frozenset({BASE, "domain"}),
    "venues": frozenset({BASE, "domain", "protocols"}),
    "sim": frozenset({BASE, "domain", "protocols"}),
    "engine": frozenset({BASE, "domain", "protocols", "venues"}),
    "app": frozenset({BASE, "domain", "protocols", "venues", "sim", "engine"}),
}
"""What each layer may import besides itself."""

VENUE_PACKAGES = frozenset({"venues", "protocols"})
"""Layers whose sub-packages are per venue and must not import each other."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str:
    """``trio_hedge.<layer>...`` -> layer; ``trio_hedge.__main__`` (the CLI entry) is app; any other module at
    the package root is base."""
    parts = module.split(".")
    if module == f"{PACKAGE}.__main__":
        return "app"
    return parts[1] if len(parts) > 1 and parts[1] in ALLOWED else BASE


def imports_of(module: str, source: str, *, is_package: bool) -> list[tuple[int, str]]:
    """Every ``trio_hedge...`` module that ``source`` (the text of ``module``) imports, with its line."""
    out: list[tuple[int, str]] = []
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == PACKAGE]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != PACKAGE:
                continue
            if node.module is None or target.count(".") == 0:  # "from . import x": x may be a module
                out += [(node.lineno, f"{target}.{a.name}") for a in node.names]
            else:
                out.append((node.lineno, target))
    return out


def violations(module: str, source: str, *, is_package: bool = False) -> list[str]:
    """The imports of ``module`` that cross a layer the wrong way, as readable lines."""
    src_layer = layer_of(module)
    parts = module.split(".")
    bad: list[str] = []
    for line, target in imports_of(module, source, is_package=is_package):
        dst_layer = layer_of(target)
        if dst_layer != src_layer and dst_layer not in ALLOWED[src_layer]:
            bad.append(f"{module}:{line}: {src_layer} imports {target} ({dst_layer})")
            continue
        tparts = target.split(".")
        if (
            src_layer == dst_layer in VENUE_PACKAGES
            and len(parts) > 2
            and len(tparts) > 2
            and not parts[2].startswith("_")
            and not tparts[2].startswith("_")
            and parts[2] != tparts[2]
        ):
            bad.append(f"{module}:{line}: {parts[1]}.{parts[2]} imports another venue's {target}")
    return bad


def all_modules() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if "data" not in p.relative_to(ROOT).parts)


def test_every_layer_imports_only_downwards() -> None:
    paths = all_modules()
    assert len(paths) > 50  # the walk found the package
    bad: list[str] = []
    for path in paths:
        bad += violations(module_name(path), path.read_text(encoding="utf-8"), is_package=path.name == "__init__.py")
    assert bad == []


def test_every_module_belongs_to_a_known_layer() -> None:
    for path in all_modules():
        name = module_name(path)
        assert layer_of(name) in ALLOWED, name


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("trio_hedge.domain._book", "from ..venues import Venue\n"),
        ("trio_hedge.domain._book", "from trio_hedge.protocols.grvt import parse_book\n"),
        ("trio_hedge.protocols.grvt._book", "from ...venues._errors import VenueError\n"),
        ("trio_hedge.protocols.grvt._book", "from ...sim import SimExchange\n"),
        ("trio_hedge.venues.grvt._adapter", "from ...sim._grvt_server import serve_grvt\n"),
        ("trio_hedge.venues.grvt._adapter", "def f():\n    from trio_hedge.engine import Hedger\n"),
        ("trio_hedge.sim._grvt_server", "from ..venues.grvt import GrvtVenue\n"),
        ("trio_hedge.sim._venue", "import trio_hedge.venues._base\n"),
        ("trio_hedge.engine._hedger", "from ..app import _journal\n"),
        ("trio_hedge.engine._hedger", "from ..sim import SimExchange\n"),
        ("trio_hedge.venues.grvt._adapter", "from ..backpack._adapter import _Resync\n"),
        ("trio_hedge.protocols.backpack._book", "from ..grvt import format_decimal\n"),
        ("trio_hedge._redact", "from .venues import Venue\n"),
        ("trio_hedge.domain._book", "from .._redact import register_secret\n"),
        ("trio_hedge.venues", "from .. import sim\n"),
    ],
)
def test_the_checker_finds_a_wrong_way_import(module: str, source: str) -> None:
    is_package = module == "trio_hedge.venues"
    assert len(violations(module, source, is_package=is_package)) == 1


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("trio_hedge.protocols.grvt._book", "from ...domain import OrderBook\nfrom ._codec import VENUE\n"),
        ("trio_hedge.venues.grvt._adapter", "from ...protocols.grvt import GrvtSigner\nfrom .._ws import open_ws\n"),
        ("trio_hedge.sim._grvt_server", "from ..protocols.grvt import format_book\nfrom .._streams import x\n"),
        ("trio_hedge.engine._hedger", "from ..venues import Venue\nfrom ..domain import ZERO\n"),
        ("trio_hedge.app._wire", "from ..sim import open_sim_venue\nfrom ..venues.grvt import open_grvt_venue\n"),
        ("trio_hedge.app.cli", "import trio\nimport trio_hedge.engine\n"),
    ],
)
def test_the_checker_accepts_downward_imports(module: str, source: str) -> None:
    assert violations(module, source) == []


def asyncio_importers() -> list[str]:
    """Modules under ``trio_hedge/`` that import asyncio (at any depth)."""
    out: list[str] = []
    for path in all_modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            if any(n.split(".")[0] == "asyncio" for n in names):
                out.append(module_name(path))
                break
    return out


def test_only_the_bridge_imports_asyncio() -> None:
    """trio_hedge's loop is pure Trio; ccxt's asyncio runs behind one bridge module (venues/ccxt/_bridge.py)."""
    assert asyncio_importers() == ["trio_hedge.venues.ccxt._bridge"]


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_no_module_is_longer_than_1000_lines() -> None:
    """Issue 11's bound: a module a maintainer can read (split by concern, as the adapters and servers are)."""
    long = {str(p.relative_to(ROOT)): n for p in ROOT.rglob("*.py") if (n := _lines(p)) > 1000}
    assert long == {}


def test_each_venue_adapter_module_is_under_600_lines() -> None:
    """A venue is a small module on the shared kernel: each part of an adapter (settings, session, auth, routes,
    subscriptions, the class) stays under 600 lines."""
    parts = [p for p in (ROOT / "venues").glob("*/*.py") if p.parent.name != "_kernel"]
    assert len({p.parent.name for p in parts}) >= 3  # backpack, grvt, ccxt
    long = {str(p.relative_to(ROOT)): n for p in parts if (n := _lines(p)) >= 600}
    assert long == {}
