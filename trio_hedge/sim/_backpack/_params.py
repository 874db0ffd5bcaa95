"""Backpack request parsing and errors of the wire simulator: the venue's JSON error answer, its plain-text 400
for what it cannot parse, typed access to a request's parameters, and the answer to an order refused on arrival."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal, DecimalException
from typing import NoReturn

from starlette.responses import Response

from .._matching import REASON_BOOK_UNAVAILABLE, REASON_POST_ONLY_WOULD_CROSS, REASON_REDUCE_ONLY_WOULD_INCREASE
from .._wire import SimApiError
from ._format import _JSON_TYPE, _MAX_EXPONENT, _json_bytes


def _json_response(status: int, body: object) -> Response:
    return Response(_json_bytes(body), status_code=status, media_type=_JSON_TYPE)


# ---------------------------------------------------------------------------------------------- request errors


class _ApiError(SimApiError):
    """Answered as HTTP ``status`` with ``{"code", "message"}`` (the venue's error format, Backpack REST docs)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> Response:
        return _json_response(self.status, {"code": self.code, "message": self.message})


class _ParseError(Exception):
    """Answered as the venue's plain-text 400 for a payload or parameter it cannot parse."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def _not_found() -> _ApiError:
    return _ApiError(400, "INVALID_CLIENT_REQUEST", "Order not found")


class _Params:
    """Typed access to a request's parameters: the JSON body object (``payload`` names its OpenAPI type, for the
    error text) or the query parameters (strings). Every failure raises :class:`_ParseError`."""

    __slots__ = ("_data", "_payload")

    def __init__(self, data: Mapping[str, object], *, payload: str | None) -> None:
        self._data = data
        self._payload = payload

    @property
    def data(self) -> Mapping[str, object]:
        return self._data

    def fail(self, key: str, detail: str) -> NoReturn:
        if self._payload is not None:
            raise _ParseError(f'parse request payload error: {detail} (occurred while parsing "{self._payload}")')
        raise _ParseError(f"failed to parse parameter `{key}`: {detail}")

    def has(self, key: str) -> bool:
        return self._data.get(key) is not None

    def text(self, key: str, *, required: bool = False) -> str | None:
        v = self._data.get(key)
        if v is None:
            if required:
                self.fail(key, f'Type "String" expects an input value for `{key}`.')
            return None
        if not isinstance(v, str) or not v or len(v) > 200:
            self.fail(key, f'failed to parse "String" for `{key}`: expected a non-empty string.')
        return v

    def enum(self, key: str, allowed: Iterable[str], type_name: str, *, required: bool = False) -> str | None:
        v = self.text(key, required=required)
        if v is not None and v not in allowed:
            self.fail(key, f'failed to parse "{type_name}": Expect a valid enumeration value.')
        return v

    def decimal(self, key: str) -> Decimal | None:
        v = self._data.get(key)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (str, int)):
            self.fail(key, f'failed to parse "Decimal" for `{key}`: expected a decimal string.')
        try:
            d = Decimal(v.strip() if isinstance(v, str) else v)
        except (DecimalException, ValueError):
            self.fail(key, f'failed to parse "Decimal" for `{key}`: invalid decimal.')
        if not d.is_finite() or (d and not -_MAX_EXPONENT <= d.adjusted() <= _MAX_EXPONENT):
            self.fail(key, f'failed to parse "Decimal" for `{key}`: invalid decimal.')
        return d

    def integer(self, key: str, *, limit: int, type_name: str) -> int | None:
        """A non-negative integer <= ``limit``: a JSON number in a body, decimal digits in a query."""
        v = self._data.get(key)
        if v is None:
            return None
        n = -1
        if self._payload is not None:
            if isinstance(v, int) and not isinstance(v, bool):
                n = v
        elif isinstance(v, str) and 0 < len(v) <= 20 and v.isascii() and v.isdigit():
            n = int(v)
        if not 0 <= n <= limit:
            self.fail(key, f'failed to parse "{type_name}" for `{key}`.')
        return n

    def flag(self, key: str) -> bool:
        v = self._data.get(key)
        if v is None:
            return False
        if self._payload is None and v in ("true", "false"):
            return v == "true"
        if not isinstance(v, bool):
            self.fail(key, f'failed to parse "Boolean" for `{key}`.')
        return v

    def order_id(self, key: str) -> str | None:
        """An order id: a string, or a number (ccxt sends ``"orderId": 8284661092``, Backpack REST docs)."""
        v = self._data.get(key)
        if v is None:
            return None
        if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
            return str(v)
        if isinstance(v, str) and 0 < len(v) <= 40 and v.isascii() and v.isdigit():
            return v
        self.fail(key, f'failed to parse "String" for `{key}`: not an order id.')


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
