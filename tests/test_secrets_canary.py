"""Canary: configured secrets never reach log output, whatever the path (message, extras, stdlib logging,
exception messages, tracebacks with locals)."""

from __future__ import annotations

import io
import logging

import trio
from loguru import logger

from trio_hedge.app import register_secret, setup_logging
from trio_hedge.app._logging import flush_logs

CANARY_KEY = "CANARYapikey0123456789abcdef"
CANARY_PK = "f7934647276a6e1fa0af3f4467b4b8ddaf45d25a7368fa1a295eef49a446819d"
CANARY_COOKIE = "gravity=CANARYcookie9876543210"


def _boom(secret: str) -> None:
    local_copy = secret  # noqa: F841  (a local a diagnose=True traceback would print)
    raise RuntimeError(f"request failed with header Cookie: {secret}")


async def test_no_canary_in_any_log_path() -> None:
    buf = io.StringIO()
    setup_logging("DEBUG", stream=buf)
    for s in (CANARY_KEY, CANARY_PK, CANARY_COOKIE):
        register_secret(s)
    log = logger.bind(tag="TEST")
    log.info("login with {}", CANARY_KEY)
    log.bind(cookie=CANARY_COOKIE).warning("cookie in extras")
    log.debug(f"pk in an f-string {CANARY_PK}")
    logging.getLogger("pysdk").warning("sdk logs data={'api_key': '%s'}", CANARY_KEY)
    logging.getLogger("some.lib").error("header %s", CANARY_COOKIE)
    try:
        _boom(CANARY_PK)
    except RuntimeError:
        log.exception("an error with a traceback")
    try:
        _boom(CANARY_COOKIE)
    except RuntimeError as exc:
        log.opt(exception=exc).error("error via opt")
    await trio.to_thread.run_sync(lambda: logger.complete())
    await flush_logs()
    out = buf.getvalue()
    assert "an error with a traceback" in out and "RuntimeError" in out  # the paths really logged
    assert "sdk logs data" in out
    for s in (CANARY_KEY, CANARY_PK, CANARY_COOKIE, "CANARYcookie"):
        assert s not in out
    assert out.count("***") >= 6
