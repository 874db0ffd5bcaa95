"""Backpack WebSocket: frames (``{"stream", "data"}`` and errors), stream names, and the public / signed
``SUBSCRIBE`` / ``UNSUBSCRIBE`` messages, both directions.

Sources and the citation names used below: the package docstring (:mod:`trio_hedge.protocols.backpack`).
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import orjson

from ...domain import (
    AuthError,
    BadValue,
    VenueError,
)
from ._codec import VENUE, BackpackProtocolError, _dict, _get, _json, _list, _Malformed, _protocol, _str, encode_json
from ._signing import DEFAULT_WINDOW_MS, BackpackSigner

# ============================================================================================== WebSocket

ORDER_UPDATE: Final = "account.orderUpdate"
"""Kind of the private order stream (``account.orderUpdate[.<symbol>]``; Backpack WS docs)."""

POSITION_UPDATE: Final = "account.positionUpdate"
"""Kind of the private position stream (``account.positionUpdate[.<symbol>]``; Backpack WS docs)."""

WS_ERROR_INVALID_REQUEST: Final = 4000
"""Error frame code for a message that is not a valid SUBSCRIBE/UNSUBSCRIBE [I: no code list is published]."""

WS_ERROR_UNAUTHORIZED: Final = 4001
"""Error frame code for a refused private-stream signature [I]."""

WS_ERROR_INVALID_STREAM: Final = 4006
"""Error frame code for an unknown stream (captured: ``{"id":null,"error":{"code":4006,"message":"Invalid
stream"}}``, ``tests/fixtures/backpack/captured.json`` ``error``)."""


@dataclass(frozen=True, slots=True)
class WsFrame:
    """A data frame ``{"stream": "<name>", "data": {...}}`` (Backpack WS docs). ``data`` is the decoded payload."""

    stream: str
    data: object

    @property
    def kind(self) -> str:
        """The stream kind: ``"depth"``, ``"bookTicker"``, ``"account.orderUpdate"``, ... (see :func:`stream_kind`)."""
        return stream_kind(self.stream)


@dataclass(frozen=True, slots=True)
class WsError:
    """An error frame ``{"id": null, "error": {"code": 4006, "message": "Invalid stream"}}`` (Backpack WS docs,
    ccxt.pro)."""

    code: str
    message: str

    def to_exception(self, *, venue: str = VENUE) -> VenueError:
        """AuthError if the message is about the signature/authorisation (inferred from its text: no code list
        is documented), else
        :class:`BackpackProtocolError`; the code is kept."""
        text = self.message.lower()
        if "signature" in text or "auth" in text or "expired" in text:
            return AuthError(venue, self.message, code=self.code)
        return BackpackProtocolError(venue, self.message, code=self.code)


def stream_kind(stream: str) -> str:
    """``"depth.200ms.SOL_USDC_PERP"`` -> ``"depth"``; ``"account.orderUpdate.X"`` -> ``"account.orderUpdate"``."""
    parts = stream.split(".")
    if parts[0] == "account" and len(parts) > 1:
        return f"account.{parts[1]}"
    return parts[0]


def parse_ws_frame(raw: object, *, venue: str = VENUE) -> WsFrame | WsError:
    """Parse one WebSocket text frame into a :class:`WsFrame` or a :class:`WsError`.

    Raises:
        BackpackProtocolError: not JSON, not an object, or neither ``stream``+``data`` nor ``error``.
    """
    with _protocol(venue, "ws frame"):
        d = _dict(_json(raw, venue), "ws frame")
        err = d.get("error")
        if err is not None:
            e = _dict(err, "ws error")
            code = e.get("code")
            message = e.get("message")
            code_text = str(code)[:40] if isinstance(code, (int, str)) and not isinstance(code, bool) else ""
            return WsError(code_text, message[:400] if isinstance(message, str) else "")
        stream = _str(_get(d, "stream", "ws frame"), "ws frame.stream")
        data = _get(d, "data", stream)
        if not isinstance(data, (Mapping, list)):
            raise _Malformed(f"{stream}: data must be an object or array, got {type(data).__name__}")
    return WsFrame(stream, data)


def _symbol_ok(symbol: str) -> str:
    if (
        not isinstance(symbol, str)
        or not symbol
        or not symbol.isascii()
        or not all(c.isalnum() or c in "_-" for c in symbol)
    ):
        raise BadValue(f"backpack symbol {str(symbol)[:40]!r} is not a valid stream symbol")
    return symbol


def depth_stream(symbol: str, *, aggregate_ms: int | None = None) -> str:
    """``depth.<symbol>`` (realtime) or ``depth.<200|600|1000>ms.<symbol>`` (aggregated) (Backpack WS docs). Raises
    BadValue."""
    if aggregate_ms is None:
        return f"depth.{_symbol_ok(symbol)}"
    if aggregate_ms not in (200, 600, 1000):
        raise BadValue(f"depth aggregation {aggregate_ms!r} ms is not one of 200, 600, 1000")
    return f"depth.{aggregate_ms}ms.{_symbol_ok(symbol)}"


def book_ticker_stream(symbol: str) -> str:
    """``bookTicker.<symbol>`` (Backpack WS docs)."""
    return f"bookTicker.{_symbol_ok(symbol)}"


def order_update_stream(symbol: str | None = None) -> str:
    """``account.orderUpdate`` (all markets) or ``account.orderUpdate.<symbol>`` (private; Backpack WS docs)."""
    return "account.orderUpdate" if symbol is None else f"account.orderUpdate.{_symbol_ok(symbol)}"


def position_update_stream(symbol: str | None = None) -> str:
    """``account.positionUpdate`` or ``account.positionUpdate.<symbol>`` (private; Backpack WS docs)."""
    return "account.positionUpdate" if symbol is None else f"account.positionUpdate.{_symbol_ok(symbol)}"


def is_private_stream(stream: str) -> bool:
    """Private streams start with ``account.`` and need a signed subscription (Backpack WS docs; bpx-api-client
    ws/mod.rs)."""
    return stream.startswith("account.")


def _streams(streams: Sequence[str]) -> list[str]:
    if isinstance(streams, str) or not isinstance(streams, Sequence) or not streams:
        raise BadValue("streams must be a non-empty list of stream names")
    out = []
    for s in streams:
        if not isinstance(s, str) or not s or not s.isprintable() or " " in s:
            raise BadValue(f"stream name {str(s)[:60]!r} is not valid")
        out.append(s)
    return out


def subscribe_message(streams: Sequence[str]) -> str:
    """``{"method":"SUBSCRIBE","params":[...]}`` for public streams (Backpack WS docs).

    Raises:
        BadValue: empty or invalid names, or a private (``account.``) stream: use :func:`private_subscribe_message`.
    """
    names = _streams(streams)
    if any(is_private_stream(s) for s in names):
        raise BadValue("private streams need private_subscribe_message (a signed SUBSCRIBE)")
    return encode_json({"method": "SUBSCRIBE", "params": names}).decode("utf-8")


def unsubscribe_message(streams: Sequence[str]) -> str:
    """``{"method":"UNSUBSCRIBE","params":[...]}`` (Backpack WS docs; no signature needed). Raises BadValue for bad
    names."""
    return encode_json({"method": "UNSUBSCRIBE", "params": _streams(streams)}).decode("utf-8")


def private_subscribe_message(
    streams: Sequence[str], signer: BackpackSigner, *, timestamp_ms: int, window_ms: int = DEFAULT_WINDOW_MS
) -> str:
    """A signed SUBSCRIBE: ``{"method":"SUBSCRIBE","params":[...],"signature":[key, sig, "<ts>", "<window>"]}``
    signing ``instruction=subscribe&timestamp=<ts>&window=<window>`` (Backpack WS docs; vectors
    ``backpack_signing_vectors.json`` ``ws_private_subscribe_message``).

    Raises:
        BadValue: bad stream names, timestamp or window.
    """
    names = _streams(streams)
    signature = signer.ws_subscribe_signature(timestamp_ms=timestamp_ms, window_ms=window_ms)
    return encode_json({"method": "SUBSCRIBE", "params": names, "signature": signature}).decode("utf-8")


@dataclass(frozen=True, slots=True)
class SubscribeRequest:
    """A client's SUBSCRIBE/UNSUBSCRIBE frame, parsed (server side, for the simulator).

    Attributes:
        method (str): ``"SUBSCRIBE"`` or ``"UNSUBSCRIBE"``. streams (tuple[str, ...]): the ``params``.
        signature (list[str] | None): the raw ``signature`` value, to check with
            :func:`verify_ws_subscribe`; None if absent.
    """

    method: str
    streams: tuple[str, ...]
    signature: object | None


def parse_subscribe_message(raw: object, *, venue: str = VENUE) -> SubscribeRequest:
    """Parse a client's ``{"method","params"[,"signature"]}`` frame (Backpack WS docs).

    Raises:
        BackpackProtocolError: unknown method, ``params`` not a non-empty list of strings.
    """
    with _protocol(venue, "subscribe"):
        d = _dict(_json(raw, venue), "subscribe")
        method = d.get("method")
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE"):
            raise _Malformed(f"unknown method {str(method)[:20]!r}")
        params = _list(_get(d, "params", str(method)), "params")
        if not params or not all(isinstance(s, str) and s for s in params):
            raise _Malformed("params must be a non-empty list of stream names")
        return SubscribeRequest(str(method), tuple(str(s) for s in params), d.get("signature"))


# ============================================================================================== server side


def format_ws_frame(stream: str, data_json: str) -> str:
    """A data frame ``{"stream": <name as subscribed>, "data": ...}`` (server side; Backpack WS docs) with ``data``
    already JSON text (encoded once, sent to many subscribers). Read back by :func:`parse_ws_frame`."""
    return '{"stream":' + orjson.dumps(stream).decode("utf-8") + ',"data":' + data_json + "}"


def format_ws_error(msg_id: object, code: int, message: str) -> str:
    """An error frame ``{"id": <the message's id or null>, "error": {"code", "message"}}`` (server side; Backpack
    WS docs, captured in ``tests/fixtures/backpack/captured.json`` ``error``). Read back by
    :func:`parse_ws_frame` as a :class:`WsError`."""
    return orjson.dumps({"id": msg_id, "error": {"code": code, "message": message}}).decode("utf-8")


_DEPTH_AGGREGATES: Final = ("200ms", "600ms", "1000ms")
_PRIVATE_KINDS: Final = ("orderUpdate", "positionUpdate", "rfqUpdate")


def parse_stream_name(name: str, markets: Container[str]) -> tuple[str, str | None] | None:
    """A stream name a client subscribes to -> ``(kind, symbol)`` (server side; the inverse of
    :func:`depth_stream`, :func:`book_ticker_stream`, :func:`order_update_stream`, :func:`position_update_stream`;
    Backpack WS docs stream names), or None for a name not served or a symbol not in ``markets``.

    Kinds: ``"depth"`` (``depth.<S>``, and the aggregated ``depth.<200|600|1000>ms.<S>``), ``"bookTicker"``,
    ``"account.orderUpdate"``, ``"account.positionUpdate"``, ``"account.rfqUpdate"`` (the venue's RFQ order
    stream, which ccxt.pro subscribes to beside orderUpdate); a private stream's symbol is None for all markets.
    """
    parts = name.split(".")
    if parts[0] == "account" and len(parts) in (2, 3) and parts[1] in _PRIVATE_KINDS:
        if len(parts) == 2:
            return f"account.{parts[1]}", None
        return (f"account.{parts[1]}", parts[2]) if parts[2] in markets else None
    if parts[0] == "depth":
        if len(parts) == 2 and parts[1] in markets:
            return "depth", parts[1]
        if len(parts) == 3 and parts[1] in _DEPTH_AGGREGATES and parts[2] in markets:
            return "depth", parts[2]
    if parts[0] == "bookTicker" and len(parts) == 2 and parts[1] in markets:
        return "bookTicker", parts[1]
    return None
