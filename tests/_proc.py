"""Helpers for tests that run a real process: read its output under a deadline, never forever."""

from __future__ import annotations

import selectors
import subprocess
from typing import IO, Any


def readline_within(proc: subprocess.Popen[Any], stream: IO[Any], timeout_s: float) -> Any:
    """The next line of ``stream`` (a pipe of ``proc``), waiting at most ``timeout_s`` for it to start.

    Raises:
        AssertionError: nothing arrived in time (the process's exit code, if it exited, is in the message).
    """
    with selectors.DefaultSelector() as sel:
        sel.register(stream, selectors.EVENT_READ)
        ready = sel.select(timeout=timeout_s)
    assert ready, f"no output line within {timeout_s} s (exit code {proc.poll()})"
    return stream.readline()  # the processes under test write whole lines and flush them
