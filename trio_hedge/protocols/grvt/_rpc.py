"""GRVT WebSocket JSON-RPC: feed notifications, RPC requests and responses, subscribe / unsubscribe,
stream selectors, and the private feeds' dispatch, both directions.

Sources and the citation names used below: the package docstring (:mod:`trio_hedge.protocols.grvt`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...domain import (
    BadValue,
    VenueError,
    VenueEvent,
)
from ._codec import (
    _F_FEED,
    _F_REST_ERROR,
    _F_RPC_ERROR,
    _F_RPC_REQUEST,
    _F_RPC_RESPONSE,
    _F_SUBSCRIBE_PARAMS,
    _F_SUBSCRIBE_RESULT,
    _MISSING,
    BOOK_DELTA_RATES_MS,
    BOOK_SNAPSHOT_DEPTHS,
    BOOK_SNAPSHOT_RATES_MS,
    MAX_ID_CHARS,
    STREAM_FILL,
    STREAM_ORDER,
    STREAM_POSITION,
    UINT64_MAX,
    VENUE,
    GrvtProtocolError,
    _Reader,
    _show,
    _uint,
    decode_json,
    encode_json,
)
from ._errors import _CODES
from ._fills import parse_fill
from ._orders import _is_uint64_str, parse_order
from ._positions import parse_position
from ._rest import _error_from_object


# ---------------------------------------------------------------------------------------------- WebSocket JSON-RPC
@dataclass(frozen=True, slots=True)
class GrvtFeedMessage:
    """A stream notification (GRVT WS docs: sequencing):
    ``{"stream","selector","sequence_number","feed","prev_sequence_number"}``.

    Attributes:
        stream (str): ``"v1.book.d"``…; selector (str): the subscribed selector, echoed verbatim.
        sequence_number (int), prev_sequence_number (int): uint64 (strings on the wire).
        feed (dict): the payload object, parsed further by the stream's parser.
    """

    stream: str
    selector: str
    sequence_number: int
    prev_sequence_number: int
    feed: dict[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True)
class GrvtRpcResponse:
    """A JSON-RPC response (GRVT WS docs: subscribe; GRVT WS docs: JSON-RPC), a legacy subscribe response or a legacy
    error.

    Attributes:
        request_id (int | None): ``id`` (legacy: ``request_id``); None when absent.
        method (str): ``"subscribe"``, ``"v1/create_order"``… (``""`` when absent).
        result (Any): the ``result`` value; for ``v1/<route>`` calls the whole REST body (use
            :func:`unwrap_rest`); None on error.
        error (VenueError | None): the mapped error (:func:`error_from_code`), not raised.
    """

    request_id: int | None
    method: str
    result: Any = field(repr=False)
    error: VenueError | None = None

    def raise_for_error(self) -> None:
        """Raise :attr:`error` if there is one."""
        if self.error is not None:
            raise self.error


GrvtWsMessage = GrvtFeedMessage | GrvtRpcResponse


def parse_ws_message(data: bytes | str | dict[str, Any], *, venue: str = VENUE) -> GrvtWsMessage:
    """Parse one WebSocket text frame (or its decoded object) from ``/ws/full``, ``/ws/lite`` or ``/ws``.

    * a frame with ``feed`` (lite ``f``) is a :class:`GrvtFeedMessage`;
    * ``{"jsonrpc", "result" | "error", "id", "method"}`` (lite ``j/r/e/i/m``; ``"jsonrpc"`` may be ``""``
      as in pysdk's captured trading response, GRVT WS docs: JSON-RPC) is a :class:`GrvtRpcResponse`;
    * legacy ``{"request_id","stream","subs",…}`` is a response with that ``result``; legacy
      ``{"code","message","status"}`` is a response with ``error``.

    Raises:
        GrvtProtocolError: not JSON, not an object, or none of the shapes above.
    """
    obj = decode_json(data, venue=venue) if isinstance(data, bytes | str) else data
    if not isinstance(obj, dict):
        raise GrvtProtocolError(f"ws frame: expected an object, got {type(obj).__name__}", venue=venue)
    if "feed" in obj or ("f" in obj and "sn" in obj):
        r = _Reader(obj, _F_FEED, "feed_message", venue)
        feed = r.need("feed")
        if not isinstance(feed, dict):
            raise r.err("feed", f"expected an object, got {type(feed).__name__}")
        seq = r.uint("sequence_number")
        prev = r.uint("prev_sequence_number")
        return GrvtFeedMessage(r.string("stream"), r.string("selector"), seq, prev, feed)
    if any(k in obj for k in ("jsonrpc", "result", "error", "j", "r", "e")):
        r = _Reader(obj, _F_RPC_RESPONSE, "rpc_response", venue)
        rid = r.opt_uint("id", maximum=2**32 - 1)
        method = r.get("method")
        method = method[:64] if isinstance(method, str) else ""
        err_obj = r.get("error")
        if err_obj is not _MISSING:
            if not isinstance(err_obj, dict):
                raise r.err("error", f"expected an object, got {type(err_obj).__name__}")
            error = _error_from_object(
                err_obj, _F_RPC_ERROR, "rpc_response.error", venue, http_status=None, retry_after_s=None
            )
            return GrvtRpcResponse(rid, method, None, error)
        return GrvtRpcResponse(rid, method, r.need("result"), None)
    if "request_id" in obj and "stream" in obj:  # legacy subscribe response (GRVT WS docs: subscribe)
        r = _Reader(obj, {"request_id": "request_id"}, "legacy_response", venue)
        return GrvtRpcResponse(r.uint("request_id", maximum=2**32 - 1), "subscribe", obj, None)
    if "code" in obj:  # legacy error
        error = _error_from_object(obj, _F_REST_ERROR, "legacy_error", venue, http_status=None, retry_after_s=None)
        return GrvtRpcResponse(None, "", None, error)
    raise GrvtProtocolError("ws frame: neither a feed message nor a JSON-RPC response", venue=venue)


@dataclass(frozen=True, slots=True)
class GrvtSubscribeResult:
    """A ``subscribe``/``unsubscribe`` result (GRVT WS docs: subscribe; apispec ``WSSubscribeResult``).

    Attributes:
        stream (str); subs, unsubs (tuple[str, ...]): selectors.
        num_snapshots (tuple[int, ...]): snapshots to expect per ``subs`` entry.
        first_sequence_numbers (tuple[int, ...]): first sequence number to expect per ``subs`` entry.
        latest_sequence_numbers (tuple[int, ...]): most recent sequence number per entry (real captures;
            absent in doc examples).
    """

    stream: str
    subs: tuple[str, ...]
    unsubs: tuple[str, ...]
    num_snapshots: tuple[int, ...] = ()
    first_sequence_numbers: tuple[int, ...] = ()
    latest_sequence_numbers: tuple[int, ...] = ()

    def snapshot_seq(self, selector: str) -> int | None:
        """The sequence number a ``v1.book.d`` snapshot for ``selector`` stands at: the first delta to
        expect is ``first_sequence_number``, so ``first_sequence_number - 1`` (equal to
        ``latest_sequence_number`` in the real capture, GRVT WS docs: subscribe); ``latest`` if only that is sent; None
        if ``selector`` is not in ``subs`` or neither is sent. (Inferred, not documented: from the
        WSSubscribeResult docstring and one capture.)"""
        try:
            i = self.subs.index(selector)
        except ValueError:
            return None
        if i < len(self.first_sequence_numbers) and self.first_sequence_numbers[i] > 0:
            return self.first_sequence_numbers[i] - 1
        if i < len(self.latest_sequence_numbers):
            return self.latest_sequence_numbers[i]
        return None


def parse_subscribe_result(result: Any, *, venue: str = VENUE) -> GrvtSubscribeResult:
    """Parse the ``result`` of a subscribe/unsubscribe response (full, lite or legacy). Sequence numbers
    may be strings (real) or ints (doc examples). An unsubscribe result has no ``subs``.

    Raises:
        GrvtProtocolError: missing ``stream``, non-array lists, non-string selectors, bad numbers.
    """
    r = _Reader(result, _F_SUBSCRIBE_RESULT, "subscribe_result", venue)

    def strings(name: str) -> tuple[str, ...]:
        items = r.array(name, required=False)
        if not all(isinstance(s, str) and 0 < len(s) <= MAX_ID_CHARS for s in items):
            raise r.err(name, "expected an array of selector strings")
        return tuple(items)

    def uints(name: str) -> tuple[int, ...]:
        return tuple(_uint(v, UINT64_MAX, r, name) for v in r.array(name, required=False))

    return GrvtSubscribeResult(
        stream=r.string("stream"),
        subs=strings("subs"),
        unsubs=strings("unsubs"),
        num_snapshots=uints("num_snapshots"),
        first_sequence_numbers=uints("first_sequence_number"),
        latest_sequence_numbers=uints("latest_sequence_number"),
    )


def build_rpc_request(method: str, params: Mapping[str, Any], request_id: int) -> bytes:
    """A full-name JSON-RPC 2.0 request: ``{"jsonrpc":"2.0","method":…,"params":…,"id":…}`` (GRVT WS docs: subscribe;
    GRVT WS docs: JSON-RPC).

    Args:
        method: ``"subscribe"``, ``"unsubscribe"`` or ``"v1/<route>"`` (trading over WS).
        params: the params object (for ``v1/<route>`` the REST body).
        request_id: uint32 id echoed in the response.

    Raises:
        BadValue: an empty method or an id outside uint32.
    """
    if not isinstance(method, str) or not method:
        raise BadValue("JSON-RPC method must be a non-empty string")
    if isinstance(request_id, bool) or not isinstance(request_id, int) or not 0 <= request_id <= 2**32 - 1:
        raise BadValue(f"JSON-RPC id must be a uint32, not {request_id!r}")
    return encode_json({"jsonrpc": "2.0", "method": method, "params": dict(params), "id": request_id})


def build_subscribe(
    stream: str, selectors: Sequence[str], request_id: int, *, use_global_sequence_number: bool = False
) -> bytes:
    """A JSON-RPC subscribe request (GRVT WS docs: subscribe):
    ``{"jsonrpc":"2.0","method":"subscribe","params":{"stream":
    "v1.book.d","selectors":["BTC_USDT_Perp@500"]},"id":3}``.

    Raises:
        BadValue: an empty stream or selector list, or a non-string selector.
    """
    return build_rpc_request("subscribe", _sub_params(stream, selectors, use_global_sequence_number), request_id)


def build_unsubscribe(stream: str, selectors: Sequence[str], request_id: int) -> bytes:
    """A JSON-RPC unsubscribe request (GRVT WS docs: subscribe). Raises BadValue like :func:`build_subscribe`."""
    return build_rpc_request("unsubscribe", _sub_params(stream, selectors, False), request_id)


def _sub_params(stream: str, selectors: Sequence[str], use_global: bool) -> dict[str, Any]:
    if not isinstance(stream, str) or not stream.startswith("v1."):
        raise BadValue(f"GRVT stream names are 'v1.<name>', not {stream!r}")
    if isinstance(selectors, str) or not selectors or not all(isinstance(s, str) and s for s in selectors):
        raise BadValue("selectors must be a non-empty list of non-empty strings")
    params: dict[str, Any] = {"stream": stream, "selectors": list(selectors)}
    if use_global:
        params["use_global_sequence_number"] = True
    return params


def book_snapshot_selector(symbol: str, *, rate_ms: int = 500, depth: int = 10) -> str:
    """``v1.book.s`` selector ``{instrument}@{rate}-{depth}`` (GRVT WS docs: selectors). Raises BadValue for a rate not
    in {500, 1000} or a depth not in {10, 50, 100, 500}."""
    if rate_ms not in BOOK_SNAPSHOT_RATES_MS or depth not in BOOK_SNAPSHOT_DEPTHS:
        raise BadValue(f"book.s rate {rate_ms} / depth {depth} not offered by GRVT")
    return f"{symbol}@{rate_ms}-{depth}"


def book_delta_selector(symbol: str, *, rate_ms: int = 500) -> str:
    """``v1.book.d`` selector ``{instrument}@{rate}`` (GRVT WS docs: selectors). Raises BadValue for a rate not in
    {50, 100, 500, 1000}."""
    if rate_ms not in BOOK_DELTA_RATES_MS:
        raise BadValue(f"book.d rate {rate_ms} not offered by GRVT")
    return f"{symbol}@{rate_ms}"


def account_selector(sub_account_id: str, symbol: str | None = None) -> str:
    """Private stream selector (``v1.order``, ``v1.state``, ``v1.fill``, ``v1.position``):
    ``{sub_account_id}`` or ``{sub_account_id}-{instrument}`` (GRVT WS docs: selectors). Raises BadValue for a
    sub-account id that is not a uint64 string."""
    if not _is_uint64_str(sub_account_id):
        raise BadValue("sub_account_id must be a uint64 decimal string")
    return sub_account_id if symbol is None else f"{sub_account_id}-{symbol}"


def selector_symbol(selector: str) -> str | None:
    """The instrument named by a selector: ``"BTC_USDT_Perp@500-10"`` -> ``BTC_USDT_Perp``;
    ``"2147050003876484-BTC_USDT_Perp"`` -> ``BTC_USDT_Perp``; ``"2147050003876484"`` -> None."""
    primary = selector.split("@", 1)[0]
    head, sep, tail = primary.partition("-")
    if sep and head.isdigit():
        return tail or None
    return None if primary.isdigit() or not primary else primary


def parse_private_event(msg: GrvtFeedMessage, *, venue: str = VENUE) -> VenueEvent:
    """The domain event in a private feed message (GRVT WS docs: trading streams): ``v1.order`` -> OrderUpdate,
    ``v1.fill`` -> Fill, ``v1.position`` -> PositionUpdate. ``v1.state`` has no instrument: use
    :func:`parse_order_state_feed`.

    Raises:
        GrvtProtocolError: another stream, or a malformed payload.
    """
    if msg.stream == STREAM_ORDER:
        return parse_order(msg.feed, venue=venue).to_update(venue=venue)
    if msg.stream == STREAM_FILL:
        return parse_fill(msg.feed, venue=venue)
    if msg.stream == STREAM_POSITION:
        return parse_position(msg.feed, venue=venue)
    raise GrvtProtocolError(f"not a private order/fill/position stream: {_show(msg.stream)}", venue=venue)


@dataclass(frozen=True, slots=True)
class GrvtRpcRequest:
    """A JSON-RPC request as a server receives it (full or lite names). ``params`` is the raw object."""

    request_id: int | None
    method: str
    params: dict[str, Any] = field(repr=False)


def parse_rpc_request(data: bytes | str | dict[str, Any], *, venue: str = VENUE) -> GrvtRpcRequest:
    """Parse a JSON-RPC request frame (server side; GRVT WS docs: subscribe; GRVT WS docs: JSON-RPC).

    Raises:
        GrvtProtocolError: not JSON, or no string ``method`` / object ``params``.
    """
    obj = decode_json(data, venue=venue) if isinstance(data, bytes | str) else data
    r = _Reader(obj, _F_RPC_REQUEST, "rpc_request", venue)
    params = r.need("params")
    if not isinstance(params, dict):
        raise r.err("params", f"expected an object, got {type(params).__name__}")
    method = r.string("method")
    return GrvtRpcRequest(r.opt_uint("id", maximum=2**32 - 1), method, params)


def parse_subscribe_params(params: Any, *, venue: str = VENUE) -> tuple[str, tuple[str, ...], bool]:
    """``(stream, selectors, use_global_sequence_number)`` from subscribe/unsubscribe ``params`` (server side).

    Raises:
        GrvtProtocolError: missing stream, selectors not a non-empty array of strings.
    """
    r = _Reader(params, _F_SUBSCRIBE_PARAMS, "params", venue)
    stream = r.string("stream")
    selectors = r.array("selectors")
    if not selectors or not all(isinstance(s, str) and 0 < len(s) <= MAX_ID_CHARS for s in selectors):
        raise r.err("selectors", "expected a non-empty array of selector strings")
    return stream, tuple(selectors), r.boolean("use_global_sequence_number", required=False)


def format_feed(
    stream: str, selector: str, sequence_number: int, prev_sequence_number: int, feed: Mapping[str, Any]
) -> dict[str, Any]:
    """A feed message (server side), sequence numbers as strings as the venue sends them (GRVT WS docs: sequencing)."""
    return {
        "stream": stream,
        "selector": selector,
        "sequence_number": str(sequence_number),
        "feed": dict(feed),
        "prev_sequence_number": str(prev_sequence_number),
    }


def format_rpc_result(request_id: int | None, method: str, result: Any) -> dict[str, Any]:
    """A JSON-RPC success response (server side; apispec ``JSONRPCResponse``)."""
    out: dict[str, Any] = {"jsonrpc": "2.0", "result": result}
    if request_id is not None:
        out["id"] = request_id
    out["method"] = method
    return out


def format_rpc_error(request_id: int | None, method: str, code: int, message: str | None = None) -> dict[str, Any]:
    """A JSON-RPC error response ``{"jsonrpc":"2.0","error":{"code","message"},"id","method"}`` (GRVT docs: error
    codes)."""
    known = _CODES.get(code)
    out: dict[str, Any] = {
        "jsonrpc": "2.0",
        "error": {"code": code, "message": message if message is not None else (known.message if known else "error")},
    }
    if request_id is not None:
        out["id"] = request_id
    out["method"] = method
    return out


def format_subscribe_result(
    stream: str,
    subs: Sequence[str],
    *,
    first_sequence_numbers: Sequence[int],
    latest_sequence_numbers: Sequence[int],
    num_snapshots: Sequence[int] | None = None,
    unsubs: Sequence[str] = (),
) -> dict[str, Any]:
    """A subscribe ``result`` as in the real capture (GRVT WS docs: subscribe): sequence numbers as strings."""
    return {
        "stream": stream,
        "subs": list(subs),
        "unsubs": list(unsubs),
        "num_snapshots": list(num_snapshots) if num_snapshots is not None else [1] * len(subs),
        "first_sequence_number": [str(n) for n in first_sequence_numbers],
        "latest_sequence_number": [str(n) for n in latest_sequence_numbers],
    }
