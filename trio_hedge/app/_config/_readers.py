"""Typed readers of the raw tree: each returns the value or raises :class:`ConfigError` naming the key and the
fix."""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Any

from ._types import ConfigError


def _int(tree: dict[str, Any], key: str, path: str, *, lo: int = 0, hi: int | None = None) -> int:
    v = tree.get(key)
    if isinstance(v, str) and v.strip().lstrip("-").isdecimal():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigError(f"{path}.{key}", f"{v!r} is not an integer", f"write an integer like {key} = 10")
    if v < lo or (hi is not None and v > hi):
        rng = f">= {lo}" if hi is None else f"between {lo} and {hi}"
        raise ConfigError(f"{path}.{key}", f"{v} is out of range", f"use a value {rng}")
    return v


def _float(tree: dict[str, Any], key: str, path: str, *, lo: float = 0.0, allow_lo: bool = True) -> float:
    v = tree.get(key)
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            pass
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ConfigError(f"{path}.{key}", f"{v!r} is not a finite number", f"write a number like {key} = 1.5")
    if v < lo or (v == lo and not allow_lo):
        raise ConfigError(f"{path}.{key}", f"{v} is out of range", f"use a value {'>=' if allow_lo else '>'} {lo}")
    return float(v)


def _ms(tree: dict[str, Any], key: str, path: str) -> float:
    return _float(tree, key, path, lo=0.0, allow_lo=False) / 1000.0


_DEC_MIN, _DEC_MAX = Decimal("1e-12"), Decimal("1e12")


def _dec(tree: dict[str, Any], key: str, path: str, *, positive: bool = False, nonneg: bool = False) -> Decimal:
    v = tree.get(key)
    fix = f'write it as a decimal string, e.g. {key} = "0.002"'
    if isinstance(v, bool) or isinstance(v, float):
        raise ConfigError(f"{path}.{key}", f"{v!r} is a {type(v).__name__}, which loses decimal precision", fix)
    if not isinstance(v, (str, int)):
        raise ConfigError(f"{path}.{key}", f"{v!r} is not a decimal number", fix)
    try:
        d = Decimal(str(v).strip())
    except InvalidOperation:
        raise ConfigError(f"{path}.{key}", f"{v!r} is not a decimal number", fix) from None
    if not d.is_finite():
        raise ConfigError(f"{path}.{key}", f"{v!r} is not finite", fix)
    if d and not _DEC_MIN <= abs(d) < _DEC_MAX:  # beyond any price, size or limit; Decimal arithmetic on it
        raise ConfigError(f"{path}.{key}", f"{v!r} is out of range",  # would overflow the 28-digit context
                          f"use a value between {_DEC_MIN} and {_DEC_MAX} in magnitude (or 0)")
    if positive and d <= 0:
        raise ConfigError(f"{path}.{key}", f"{d} must be > 0", "use a positive value")
    if nonneg and d < 0:
        raise ConfigError(f"{path}.{key}", f"{d} must be >= 0", "use a value >= 0")
    return d


def _bool(tree: dict[str, Any], key: str, path: str) -> bool:
    v = tree.get(key)
    if not isinstance(v, bool):
        raise ConfigError(f"{path}.{key}", f"{v!r} is not a boolean", f"write {key} = true or {key} = false")
    return v


def _str(tree: dict[str, Any], key: str, path: str, choices: tuple[str, ...] | None = None, *,
         allow_empty: bool = False) -> str:
    v = tree.get(key)
    if isinstance(v, int) and not isinstance(v, bool) and allow_empty:
        v = str(v)
    if not isinstance(v, str) or (not v and choices is None and not allow_empty
                                  and key not in ("file", "account_lock_dir")):
        raise ConfigError(f"{path}.{key}", f"{v!r} is not a non-empty string", f'write {key} = "..."')
    if choices is not None and v not in choices:
        raise ConfigError(f"{path}.{key}", f"{v!r} is not one of {', '.join(choices)}", f"use one of {choices}")
    return v


def _opt_str(tree: dict[str, Any], key: str, path: str) -> str:
    v = tree.get(key)
    if isinstance(v, int) and not isinstance(v, bool) and key.endswith("_id"):
        return str(v)  # a chat id is often written as a TOML integer
    if not isinstance(v, str):
        raise ConfigError(f"{path}.{key}", "is not a string", f'write {key} = "..." ("" = not set)')
    return v


def _http_url(tree: dict[str, Any], key: str, path: str) -> str:
    url = _opt_str(tree, key, path)
    if url and not url.startswith(("http://", "https://")):
        raise ConfigError(f"{path}.{key}", "is not an http(s) URL (the value is not shown: it may hold a token)",
                          "use an https://... URL, or \"\" to turn it off")
    return url
