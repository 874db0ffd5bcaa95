"""The process-wide registry of secrets to keep out of every log line.

It lives at the package root, importing nothing, so every layer can use it: the app registers configured
credentials, and an adapter registers secrets it only learns at run time (a venue session cookie after a
login or refresh). :mod:`trio_hedge.app._logging` applies :func:`redact` to every rendered line.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()

MIN_SECRET_LEN = 6
"""Shorter values are not registered: redacting them would mangle ordinary text and they are no real secret."""


def register_secret(value: str) -> None:
    """Redact ``value`` from every log line from now on. Thread-safe (the log writer runs in a thread)."""
    global _secrets
    if not value or len(value) < MIN_SECRET_LEN:
        return
    with _lock:
        if value not in _secrets:
            _secrets = tuple(sorted((*_secrets, value), key=len, reverse=True))


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***`` (longest first)."""
    for s in _secrets:
        if s in text:
            text = text.replace(s, "***")
    return text
