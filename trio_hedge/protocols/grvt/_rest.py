"""GRVT REST envelope: ``{"result": ..., "next": ...}`` bodies and error bodies unwrapped (client side) and
built (server side).

Sources and the citation names used below: the package docstring (:mod:`trio_hedge.protocols.grvt`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...domain import (
    VenueError,
)
from ._codec import (
    _F_ACK,
    _F_REST_ENVELOPE,
    _F_REST_ERROR,
    _MISSING,
    VENUE,
    GrvtProtocolError,
    _Reader,
    _show,
    decode_json,
)
from ._errors import _CODES, error_from_code, error_from_http_status


def _error_from_object(
    obj: dict[str, Any],
    names: Mapping[str, str],
    path: str,
    venue: str,
    *,
    http_status: int | None,
    retry_after_s: float | None,
) -> VenueError:
    r = _Reader(obj, names, path, venue)
    code = r.uint("code", maximum=2**32)
    message = r.get("message")
    text = message[:400] if isinstance(message, str) else ""
    status = r.get("status") if "status" in names else _MISSING
    if isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599:
        http_status = status
    return error_from_code(code, text, http_status=http_status, venue=venue, retry_after_s=retry_after_s)


def _is_error_body(obj: dict[str, Any]) -> bool:
    """A REST error body: ``{"code": …}`` (pysdk: ``if resp.get("code")``) or lite ``{"c": …}``."""
    if "result" in obj or "r" in obj:
        return False
    return bool(obj.get("code")) or ("code" not in obj and bool(obj.get("c")))


def unwrap_rest(
    obj: Any, *, http_status: int = 200, venue: str = VENUE, retry_after_s: float | None = None
) -> tuple[Any, str]:
    """Unwrap a decoded REST body (or the ``result`` of a JSON-RPC ``v1/<route>`` call, GRVT WS docs: JSON-RPC).

    Shapes (GRVT REST docs; GRVT docs: error codes): success ``{"result": <payload>}`` (+ ``"next": "<cursor>"`` for
    history routes); error ``{"code": 2080, "message": "…", "status": 400}`` (docs add ``request_id``; lite
    ``c/m/s/ri``).

    Args:
        obj: the decoded body.
        http_status: the HTTP status (200 for JSON-RPC results).
        venue: configured venue name.
        retry_after_s: ``Retry-After`` seconds, passed to RateLimited.

    Returns:
        (payload, next_cursor): ``next_cursor`` is ``""`` when absent.

    Raises:
        VenueError subclass: an error body (mapped by :func:`error_from_code`) or a non-2xx status
            without one (:func:`error_from_http_status`).
        GrvtProtocolError: a 2xx body that is neither.
    """
    if isinstance(obj, dict) and _is_error_body(obj):
        raise _error_from_object(
            obj, _F_REST_ERROR, "error", venue, http_status=http_status, retry_after_s=retry_after_s
        )
    if not 200 <= http_status < 300:
        raise error_from_http_status(http_status, venue=venue, retry_after_s=retry_after_s)
    r = _Reader(obj, _F_REST_ENVELOPE, "response", venue)
    payload = r.need("result")
    cursor = r.get("next")
    if cursor is _MISSING:
        cursor = ""
    elif not isinstance(cursor, str) or len(cursor) > 1024:
        raise r.err("next", f"expected a string cursor, got {_show(cursor)}")
    return payload, cursor


def parse_rest_response(
    body: bytes | str, *, http_status: int = 200, venue: str = VENUE, retry_after_s: float | None = None
) -> Any:
    """Decode a REST body and return its ``result`` payload (see :func:`unwrap_rest`).

    A 5xx whose body is not JSON, or is JSON but not the venue's error shape, raises UnknownOutcome
    (``code "HTTP 5xx"``); any other such non-2xx body raises the status class of
    :func:`error_from_http_status`.

    Raises:
        VenueError subclass, GrvtProtocolError: as :func:`unwrap_rest`.
    """
    return parse_rest_page(body, http_status=http_status, venue=venue, retry_after_s=retry_after_s)[0]


def parse_rest_page(
    body: bytes | str, *, http_status: int = 200, venue: str = VENUE, retry_after_s: float | None = None
) -> tuple[Any, str]:
    """Like :func:`parse_rest_response` but also returns the ``next`` cursor (``""`` when absent) of the
    paginated history routes (``fill_history``, ``order_history``, GRVT docs: fill_history)."""
    try:
        obj = decode_json(body, venue=venue)
    except GrvtProtocolError:
        if not 200 <= http_status < 300:
            raise error_from_http_status(http_status, venue=venue, retry_after_s=retry_after_s) from None
        raise
    try:
        return unwrap_rest(obj, http_status=http_status, venue=venue, retry_after_s=retry_after_s)
    except GrvtProtocolError:
        # A non-2xx answer whose JSON is not the venue's error shape (a proxy or gateway in between): the
        # HTTP status is the only reliable signal; a 5xx stays an unknown outcome, never a protocol error.
        if not 200 <= http_status < 300:
            raise error_from_http_status(http_status, venue=venue, retry_after_s=retry_after_s) from None
        raise


def parse_ack(result: Any, *, venue: str = VENUE) -> bool:
    """Parse an ``Ack`` result (``cancel_order``, ``cancel_all_orders``, GRVT docs: cancel_order): ``{"ack": true}``;
    the doc examples send ``"true"``. ``True`` only means "received": the outcome arrives on the order streams.

    Raises:
        GrvtProtocolError: no boolean ``ack``.
    """
    return _Reader(result, _F_ACK, "ack", venue).boolean("ack")


def format_rest_result(payload: Any, *, next_cursor: str | None = None) -> dict[str, Any]:
    """``{"result": payload}`` (+ ``"next"``) as the venue answers a successful REST call (server side)."""
    out: dict[str, Any] = {"result": payload}
    if next_cursor is not None:
        out["next"] = next_cursor
    return out


def format_error_body(
    code: int, message: str | None = None, *, http_status: int | None = None
) -> tuple[int, dict[str, Any]]:
    """The venue's error answer for ``code`` (server side): ``(http_status, {"code","message","status"})``.

    Status and message default to the code table (unknown codes: 400, "error"). No ``request_id``:
    grvt-pysdk's ``GrvtError(**resp)`` would raise TypeError on it (GRVT docs: error codes).
    """
    known = _CODES.get(code)
    status = http_status if http_status is not None else (known.http_status if known else 400)
    text = message if message is not None else (known.message if known else "error")
    return status, {"code": code, "message": text, "status": status}
