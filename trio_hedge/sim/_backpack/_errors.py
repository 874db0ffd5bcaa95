"""Backpack errors of the wire simulator: the venue's JSON error answer (its body is
:func:`~trio_hedge.protocols.backpack.format_error_body`), the plain-text 400 for a request it cannot parse
(:class:`~trio_hedge.protocols.backpack.RequestParseError`), and the answer to an order refused on arrival."""

from __future__ import annotations

from typing import Final

import orjson
from starlette.responses import Response

from ...protocols.backpack import format_error_body
from .._matching import REASON_BOOK_UNAVAILABLE, REASON_POST_ONLY_WOULD_CROSS, REASON_REDUCE_ONLY_WOULD_INCREASE
from .._wire import SimApiError

_JSON_TYPE: Final = "application/json; charset=utf-8"
_TEXT_TYPE: Final = "text/plain; charset=utf-8"


def _json_response(status: int, body: object) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=_JSON_TYPE)


def _text_response(status: int, text: str) -> Response:
    return Response(text, status_code=status, media_type=_TEXT_TYPE)


class _ApiError(SimApiError):
    """Answered as HTTP ``status`` with ``{"code", "message"}`` (the venue's error format, Backpack REST docs)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> Response:
        return _json_response(self.status, format_error_body(self.code, self.message))


def _not_found() -> _ApiError:
    return _ApiError(400, "INVALID_CLIENT_REQUEST", "Order not found")


def _rejection(reason: str) -> _ApiError:
    """The HTTP answer for an order the engine refused on arrival (``sim/_backpack_server.py``'s module
    docstring)."""
    if reason == REASON_POST_ONLY_WOULD_CROSS:
        return _ApiError(400, "INVALID_ORDER", "Order would immediately match and take")
    if reason == REASON_REDUCE_ONLY_WOULD_INCREASE:
        return _ApiError(400, "INVALID_ORDER", "Reduce only order not reduced")
    if reason == REASON_BOOK_UNAVAILABLE:
        return _ApiError(400, "TRADING_PAUSED", "Order book unavailable")
    return _ApiError(400, "INVALID_ORDER", "Invalid order")
