"""Backpack requests read on the server side: a signed route's JSON body or query parameters, with typed access
to each parameter and the venue's plain-text 400 for what it cannot parse.

The venue answers a payload or parameter it cannot parse with a plain-text 400 (``parse request payload error:
...`` for a JSON body, ``failed to parse parameter `x`: ...`` for a query; captured in bpx-api-client issue #49
and in ccxt 4.5.90 ``backpack.py`` comments), not with its ``{"code", "message"}`` JSON error.
:class:`RequestParseError` carries that text. Parameter types and limits are the OpenAPI document's (Backpack
REST docs: ``OrderExecutePayload``, ``MarketType``, ``SortDirection``, ``uint32``/``uint64``...).

Sources and the citation names used below: the package docstring (:mod:`trio_hedge.protocols.backpack`).
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from decimal import Decimal, DecimalException
from typing import Final, NoReturn

import orjson

from ._codec import _MAX_EXPONENT, VENUE, BackpackProtocolError

MAX_BODY_BYTES: Final = 65_536
"""Largest request body read; a bigger one is a parse error (our limit [I]: no order body comes near it)."""

MARKET_TYPES: Final = ("SPOT", "PERP", "IPERP", "DATED", "PREDICTION", "RFQ")
"""OpenAPI ``MarketType`` (the ``marketType`` query parameter of markets, orders, positions and history)."""

HISTORY_LIMIT_DEFAULT: Final = 100
"""History routes' ``limit`` when none is given (Backpack REST docs: fill and order history)."""

HISTORY_LIMIT_MAX: Final = 1_000
"""Largest ``limit`` the history routes honour (Backpack REST docs: fill and order history)."""

_INT64_MAX: Final = 2**63 - 1


class RequestParseError(BackpackProtocolError):
    """A request the venue answers with its plain-text 400: ``text`` is that answer, whole (``message`` is
    :class:`~trio_hedge.domain.VenueError`'s truncated copy)."""

    def __init__(self, text: str, *, venue: str = VENUE) -> None:
        super().__init__(venue, text, code="PARSE")
        self.text = text


class RequestParams:
    """Typed access to one request's parameters: the JSON body object (``payload`` names its OpenAPI type, for
    the error text, e.g. ``"OrderExecutePayload"``) or the query parameters (strings; ``payload`` None). Build a
    body's with :func:`parse_request_body`. Every failure raises :class:`RequestParseError` with the venue's text
    (the body form or the query form)."""

    __slots__ = ("_data", "_payload")

    def __init__(self, data: Mapping[str, object], *, payload: str | None) -> None:
        self._data = data
        self._payload = payload

    @property
    def data(self) -> Mapping[str, object]:
        """The parameters as received (the body object, or the query's values: a string, or a list of strings
        for a repeated key)."""
        return self._data

    def fail(self, key: str, detail: str) -> NoReturn:
        """Raise the venue's parse error for ``key``."""
        if self._payload is not None:
            raise RequestParseError(
                f'parse request payload error: {detail} (occurred while parsing "{self._payload}")'
            )
        raise RequestParseError(f"failed to parse parameter `{key}`: {detail}")

    def has(self, key: str) -> bool:
        """True when ``key`` is present and not null."""
        return self._data.get(key) is not None

    def text(self, key: str, *, required: bool = False) -> str | None:
        """A non-empty string of at most 200 characters, or None when absent (unless ``required``)."""
        v = self._data.get(key)
        if v is None:
            if required:
                self.fail(key, f'Type "String" expects an input value for `{key}`.')
            return None
        if not isinstance(v, str) or not v or len(v) > 200:
            self.fail(key, f'failed to parse "String" for `{key}`: expected a non-empty string.')
        return v

    def enum(self, key: str, allowed: Iterable[str], type_name: str, *, required: bool = False) -> str | None:
        """One of ``allowed`` (``type_name`` is the OpenAPI enum's name, for the error text), or None."""
        v = self.text(key, required=required)
        if v is not None and v not in allowed:
            self.fail(key, f'failed to parse "{type_name}": Expect a valid enumeration value.')
        return v

    def decimal(self, key: str) -> Decimal | None:
        """A finite decimal (a string, or an integer in a body; never a float), or None when absent."""
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
        """A non-negative integer <= ``limit``: a JSON number in a body, decimal digits in a query; or None."""
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
        """A boolean (``"true"``/``"false"`` in a query); False when absent."""
        v = self._data.get(key)
        if v is None:
            return False
        if self._payload is None and v in ("true", "false"):
            return v == "true"
        if not isinstance(v, bool):
            self.fail(key, f'failed to parse "Boolean" for `{key}`.')
        return v

    def order_id(self, key: str) -> str | None:
        """An order id: a string of digits, or a number (ccxt sends ``"orderId": 8284661092``, Backpack REST
        docs); None when absent."""
        v = self._data.get(key)
        if v is None:
            return None
        if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
            return str(v)
        if isinstance(v, str) and 0 < len(v) <= 40 and v.isascii() and v.isdigit():
            return v
        self.fail(key, f'failed to parse "String" for `{key}`: not an order id.')

    def client_id(self, key: str = "clientId") -> int | None:
        """A ``clientId`` (uint32), or None."""
        return self.integer(key, limit=2**32 - 1, type_name="uint32")

    def symbol(self, markets: Container[str], *, required: bool) -> str | None:
        """The ``symbol``: one of ``markets`` (the venue's parse error ``"MarketSymbol"`` otherwise), or None."""
        symbol = self.text("symbol", required=required)
        if symbol is not None and symbol not in markets:
            self.fail("symbol", 'failed to parse "MarketSymbol": Invalid market symbol')
        return symbol

    def market_types(self) -> list[str] | None:
        """The ``marketType`` values (one, or a repeated query key), each one of :data:`MARKET_TYPES`; None when
        absent."""
        raw = self._data.get("marketType")
        if raw is None:
            return None
        values = raw if isinstance(raw, list) else [raw]
        for v in values:
            if v not in MARKET_TYPES:
                self.fail("marketType", 'failed to parse "MarketType": Expect a valid enumeration value.')
        return [str(v) for v in values]

    def page(self) -> tuple[int, int, bool]:
        """A history route's paging: ``(limit, offset, descending)`` from ``limit`` (default
        :data:`HISTORY_LIMIT_DEFAULT`, at most :data:`HISTORY_LIMIT_MAX`), ``offset`` (default 0) and
        ``sortDirection`` (``Asc``/``Desc``, default ``Desc``)."""
        limit = self.integer("limit", limit=_INT64_MAX, type_name="uint64")
        offset = self.integer("offset", limit=_INT64_MAX, type_name="uint64") or 0
        direction = self.enum("sortDirection", ("Asc", "Desc"), "SortDirection") or "Desc"
        limit = HISTORY_LIMIT_DEFAULT if limit is None else min(limit, HISTORY_LIMIT_MAX)
        return limit, offset, direction == "Desc"


def parse_request_body(raw: bytes, payload: str) -> RequestParams:
    """A signed route's JSON body -> :class:`RequestParams` (``payload`` the OpenAPI type the route reads).

    The body must be one JSON object of scalars (strings, integers, booleans): a float, a null, a nested object
    or an array is refused (the payloads the routes read have none).

    Raises:
        RequestParseError: larger than :data:`MAX_BODY_BYTES`, not JSON, not an object, or a refused value; the
            text is the venue's plain-text 400.
    """
    if len(raw) > MAX_BODY_BYTES:
        raise RequestParseError(f'parse request payload error: payload too large (occurred while parsing "{payload}")')
    try:
        value = orjson.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError:
        raise RequestParseError(
            f'parse request payload error: invalid JSON (occurred while parsing "{payload}")'
        ) from None
    if not isinstance(value, dict):
        shown = raw[:200].decode("utf-8", "replace")
        raise RequestParseError(f'parse request payload error: Expected input type "{payload}", found {shown}')
    for key, v in value.items():
        if v is None or isinstance(v, (float, dict, list)):
            raise RequestParseError(
                f"parse request payload error: unexpected {type(v).__name__} for `{key[:40]}` "
                f'(occurred while parsing "{payload}")'
            )
    return RequestParams(value, payload=payload)
