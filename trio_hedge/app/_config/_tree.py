"""The raw tree: merging a TOML file over the defaults and applying ``--set key.path=value`` overrides."""

from __future__ import annotations

import tomllib
from typing import Any

from ._types import ConfigError


def _merge(base: Any, over: Any, path: str) -> Any:
    if isinstance(base, dict):
        if not isinstance(over, dict):
            raise ConfigError(path or "<root>", f"expected a table, got {type(over).__name__}", "write a [table]")
        out = dict(base)
        for k, v in over.items():
            key = f"{path}.{k}" if path else k
            if k not in base:
                if path == "venues" or (path.startswith("venues.") and path.endswith(".symbols")):
                    out[k] = v  # a new venue: validated later
                    continue
                known = ", ".join(sorted(base)) or "none"
                raise ConfigError(key, "unknown key", f"remove it or use one of: {known}")
            out[k] = _merge(base[k], v, key)
        return out
    if isinstance(base, list) and base and isinstance(base[0], dict):
        if not isinstance(over, list):
            raise ConfigError(path, f"expected an array of tables, got {type(over).__name__}", f"write [[{path}]]")
        return [_merge(base[0], item, f"{path}.{i}") for i, item in enumerate(over)]
    return over


def _parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ConfigError(text, "an override must be key.path=value", "write for example --set engine.cycles=5")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(text, "empty key", "write for example --set engine.cycles=5")
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word: a string
    if isinstance(value, float):
        value = raw  # keep the decimal text exact; float keys accept numeric strings
    return key.split("."), value


_VENUE_TABLES = ("timeouts", "ccxt_options", "symbols")
"""Tables inside ``[venues.<name>]`` that ``--set`` may create (and ``symbols.<SYMBOL>`` inside ``symbols``)."""


def _may_create(path: list[str], i: int) -> bool:
    """``path[i]`` may be created by ``--set``: a venue, one of its :data:`_VENUE_TABLES`, or a symbol table."""
    if path[0] != "venues":
        return False
    return i == 1 or (i == 2 and path[2] in _VENUE_TABLES) or (i == 3 and path[2] == "symbols")


def _set_path(tree: dict[str, Any], path: list[str], value: Any) -> None:
    node: Any = tree
    dotted = ".".join(path)
    for i, part in enumerate(path[:-1]):
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(dotted, f"index {part!r} is not in the list (0..{len(node) - 1})", "use an index")
            node = node[int(part)]
        elif isinstance(node, dict):
            if part not in node:
                if _may_create(path, i):
                    node[part] = {}
                else:
                    raise ConfigError(dotted, f"unknown key {part!r}", f"use one of: {', '.join(sorted(node))}")
            node = node[part]
        else:
            raise ConfigError(dotted, f"{'.'.join(path[: i + 1])} is not a table", "check the key path")
    last = path[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise ConfigError(dotted, "bad list index", "use an index in range")
        node[int(last)] = value
    elif isinstance(node, dict):
        new_venue_key = path[0] == "venues" and (len(path) == 3 or (len(path) == 4 and path[2] in _VENUE_TABLES)
                                                 or (len(path) == 5 and path[2] == "symbols"))
        if last not in node and not new_venue_key:
            raise ConfigError(dotted, "unknown key", f"use one of: {', '.join(sorted(node))}")
        node[last] = value
    else:
        raise ConfigError(dotted, "not a table", "check the key path")
