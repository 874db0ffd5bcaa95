"""Logging with loguru: non-blocking, tagged, and secret-free.

- ``enqueue=True``: records go through a queue to a writer thread, so log I/O never blocks the event loop.
- ``diagnose=False, backtrace=False``: tracebacks never print local variable values (loguru's default
  ``diagnose=True`` leaked an EIP-712 private key through a traceback in the reliability notes' test).
- Every line carries a ``[TAG]`` (venue and symbol, or component: ``[BACKPACK_BTC_USDC_PERP]``,
  ``[BTC_HEDGER]``), from ``logger.bind(tag=...)``.
- A patcher replaces every registered secret (API keys, private keys, cookies) in the message and in
  string extras with ``***``; stdlib ``logging`` (httpx, grvt-pysdk) is routed through loguru so the same
  redaction applies, and grvt-pysdk's own logger, which logs keys and cookies at INFO, is held at WARNING.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from loguru import logger

from .._redact import redact as redact
from .._redact import register_secret as register_secret

if TYPE_CHECKING:
    from loguru import Record

FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <7} | [{extra[tag]}] {message}"

def _patch(record: Record) -> None:
    record["message"] = redact(record["message"])
    extra: dict[str, Any] = record["extra"]
    for k, v in extra.items():
        if isinstance(v, str):
            extra[k] = redact(v)


class _InterceptHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.bind(tag=record.name).opt(exception=None).log(level, "{}", record.getMessage())


class _RedactingSink:
    """Writes each fully rendered line (message, extras and any traceback) with secrets replaced.

    The patcher cleans the message before formatting, but a traceback's text is rendered later by loguru;
    redacting at the sink covers it too (an exception message can carry a URL or a header)."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream  # None: whatever sys.stderr is at the time (the live view redirects it)

    def write(self, text: str) -> None:
        stream = self._stream or sys.stderr
        stream.write(redact(text))
        stream.flush()


def setup_logging(level: str = "INFO", *, file: Path | None = None, stream: TextIO | None = None) -> None:
    """(Re)configure the global loguru logger. Safe to call more than once (tests do).

    Args:
        level: minimum level (``"DEBUG"``, ``"INFO"``...).
        file: also append to this file (rotate it externally: supervisord's stdout_logfile rotation or
            logrotate; a built-in rotating sink would bypass the redaction).
        stream: where console lines go (default ``sys.stderr``).
    """
    logger.remove()
    logger.configure(patcher=_patch, extra={"tag": "-"})
    common: dict[str, Any] = {"level": level, "format": FORMAT, "enqueue": True, "diagnose": False,
                              "backtrace": False, "colorize": False}
    logger.add(_RedactingSink(stream).write, **common)
    if file is not None:
        handle = file.open("a", encoding="utf-8")
        logger.add(_RedactingSink(handle).write, **common)
    logging.basicConfig(handlers=[_InterceptHandler()], level=logging.WARNING, force=True)
    for name in ("pysdk", "httpx", "httpcore", "hpack", "hypercorn", "websockets", "trio-websocket"):
        logging.getLogger(name).setLevel(logging.WARNING)


async def flush_logs() -> None:
    """Wait until every enqueued record is written (call before exit)."""
    await logger.complete()
