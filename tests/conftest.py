"""Shared test setup: quiet, synchronous-enough logging and the repo's paths."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _quiet_logs() -> None:
    from loguru import logger

    logger.remove()
    logger.configure(extra={"tag": "-"})


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """Every loguru line at DEBUG and above, unredacted (the app's redaction is NOT installed here)."""
    from loguru import logger

    lines: list[str] = []
    sink_id = logger.add(lambda m: lines.append(str(m)), level="DEBUG", format="{level} {extra} {message}")
    yield lines
    logger.remove(sink_id)
