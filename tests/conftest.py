"""Shared test setup: quiet, synchronous-enough logging and the repo's paths."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _quiet_logs() -> None:
    from loguru import logger

    logger.remove()
    logger.configure(extra={"tag": "-"})
