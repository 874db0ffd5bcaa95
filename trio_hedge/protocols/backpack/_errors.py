"""Backpack errors, both directions: ``{"code", "message"}`` bodies and HTTP statuses mapped onto the domain's
venue error tree (client side), and the body formatted (server side).

Sources and the citation names used below: the package docstring (:mod:`trio_hedge.protocols.backpack`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

import orjson

from ...domain import (
    AuthError,
    InsufficientMargin,
    InvalidOrder,
    OrderNotFound,
    OrderRejected,
    PostOnlyWouldCross,
    RateLimited,
    UnknownOutcome,
    VenueError,
    VenueUnavailable,
)
from ._codec import VENUE, BackpackProtocolError

# ============================================================================================== errors

_AUTH_CODES: Final = frozenset({"UNAUTHORIZED", "INVALID_SIGNATURE", "FORBIDDEN", "ACCOUNT_DEACTIVATED"})
_MARGIN_CODES: Final = frozenset({"INSUFFICIENT_MARGIN", "INSUFFICIENT_FUNDS", "MAX_LEVERAGE_REACHED"})
_UNAVAILABLE_CODES: Final = frozenset({"MAINTENANCE", "TRADING_PAUSED"})
_UNKNOWN_OUTCOME_CODES: Final = frozenset({"SERVER_ERROR", "TIMEOUT"})
_POST_ONLY_RE: Final = re.compile(r"immediately match|would (?:take|cross)|post[ _-]?only[ _-]?taker", re.IGNORECASE)


def format_error_body(code: str, message: str) -> dict[str, str]:
    """The venue's JSON error body ``{"code": <ApiErrorCode>, "message": ...}`` (server side; Backpack REST docs
    "Error format", captured in ``tests/fixtures/backpack/captured.json`` ``errors``). Read back by
    :func:`parse_error_body` and :func:`error_from_response`."""
    return {"code": code, "message": message}


def parse_error_body(body: object) -> tuple[str, str] | None:
    """``{"code": "<ApiErrorCode>", "message": "..."}`` -> ``(code, message)``; None if the body is not that
    (plain-text errors exist, e.g. ``parse request payload error: ...``; Backpack REST docs). Never raises."""
    if isinstance(body, (bytes, bytearray, memoryview, str)):
        try:
            body = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
    if not isinstance(body, Mapping):
        return None
    code, message = body.get("code"), body.get("message")
    if not isinstance(code, str) or not code:
        return None
    return code[:64], message if isinstance(message, str) else ""


def error_from_response(
    status: int, body: object, *, venue: str = VENUE, retry_after_s: float | None = None
) -> VenueError:
    """Map an HTTP error response to the typed :class:`VenueError` tree; the venue's code is kept in ``code``.

    Mapping (Backpack REST docs "Error format", OpenAPI ``ApiErrorCode``, ccxt 4.5.90 ``backpack.exceptions``), first
    match wins:

    ====================================================================  ========================
    HTTP 429 or ``TOO_MANY_REQUESTS``                                     RateLimited
    HTTP 5xx, ``SERVER_ERROR``, ``TIMEOUT``                               UnknownOutcome
    ``UNAUTHORIZED``, ``INVALID_SIGNATURE``, ``FORBIDDEN``,
    ``ACCOUNT_DEACTIVATED``, HTTP 401/403                                 AuthError
    ``RESOURCE_NOT_FOUND`` (order query / cancel of an unknown order)     OrderNotFound
    message or code says a post-only order would take [I, no capture]    PostOnlyWouldCross
    ``INSUFFICIENT_MARGIN``, ``INSUFFICIENT_FUNDS``, ``MAX_LEVERAGE_...``  InsufficientMargin
    ``MAINTENANCE``, ``TRADING_PAUSED``                                   VenueUnavailable
    ``INVALID_ORDER`` and every other ``INVALID_*``                       InvalidOrder
    any other code on a 4xx                                               OrderRejected
    a non-JSON 400 body (payload parse error)                             InvalidOrder
    anything else                                                         BackpackProtocolError
    ====================================================================  ========================

    Args:
        status: the HTTP status code.
        body: the response body (bytes/str, or decoded).
        venue: configured venue name.
        retry_after_s: the ``Retry-After`` header in seconds, if any (kept on RateLimited).

    Returns:
        VenueError: the error to raise (this function never raises).
    """
    parsed = parse_error_body(body)
    if parsed is None:
        code, message = f"HTTP {status}", _body_text(body)
    else:
        code, message = parsed
    known = parsed is not None
    if status == 429 or code == "TOO_MANY_REQUESTS":
        return RateLimited(venue, message, code=code, retry_after_s=retry_after_s)
    if status >= 500 or code in _UNKNOWN_OUTCOME_CODES:
        return UnknownOutcome(venue, message, code=code)
    if code in _AUTH_CODES or status in (401, 403):
        return AuthError(venue, message, code=code)
    if code == "RESOURCE_NOT_FOUND":
        return OrderNotFound(venue, message, code=code)
    if known and (_POST_ONLY_RE.search(message) or "POST_ONLY" in code):
        return PostOnlyWouldCross(venue, message, code=code)
    if code in _MARGIN_CODES:
        return InsufficientMargin(venue, message, code=code)
    if code in _UNAVAILABLE_CODES:
        return VenueUnavailable(venue, message, code=code)
    if known and code.startswith("INVALID_"):
        return InvalidOrder(venue, message, code=code)
    if known and 400 <= status < 500:
        return OrderRejected(venue, message, code=code)
    if status == 400:
        return InvalidOrder(venue, message, code=code)
    return BackpackProtocolError(venue, f"unexpected HTTP {status}: {message}", code=code)


def _body_text(body: object) -> str:
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)[:300].decode("utf-8", "replace")
    if isinstance(body, str):
        return body[:300]
    return f"<{type(body).__name__} body>"
