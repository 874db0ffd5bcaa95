"""Backpack Exchange protocol, sans-IO and both directions: pure, synchronous parsers and builders between
Backpack's JSON (REST and WebSocket) and domain types, plus ED25519 request signing.

The Backpack adapter (client side) and the Backpack wire simulator (server side) both use this package; nothing
here does I/O, and it imports only the domain. One module per message family: ``_codec`` (constants, JSON, field
readers, enums), ``_markets`` (markets, tickers, market terms), ``_book`` (depth and bookTicker), ``_orders``
(order reports, order events, request bodies, client ids), ``_fills``, ``_positions``, ``_streams`` (WebSocket
frames, stream names and subscriptions), ``_errors``, ``_requests`` (a request's parameters as the venue reads
them), ``_signing`` (ED25519). Each family holds both directions: ``parse_*`` what the client reads and
``format_*`` what the venue sends, and the request builders the client sends beside the server's ``parse_*`` of
them (the wire simulator, ``trio_hedge/sim/_backpack/``, formats every reply with these).

Sources (cite these when changing anything here): the Backpack Exchange API docs
(https://docs.backpack.exchange/; their OpenAPI 1.0 document, whose ``Streams`` tag is the WebSocket
documentation); the official client backpack-exchange/bpx-api-client @dc5d8b1
(https://github.com/backpack-exchange/bpx-api-client); ccxt 4.5.90 ``backpack.py`` / ``pro/backpack.py``; real
captured payloads (ccxt's static test fixtures and comment examples, bpx-api-client's order-update tests) in
``tests/fixtures/backpack/``, whose origins ``tests/fixtures/SOURCES.md`` lists.

Citations in this package: "Backpack REST docs" are the REST routes of the Backpack API docs
(https://docs.backpack.exchange/: one section per route, with schemas and error codes); "Backpack WS docs" their
Streams section (subscriptions, stream names, payloads); "Backpack docs: signing" their "Signing requests"
section; "OpenAPI" the OpenAPI 1.0 document behind those docs.

Rules every parser follows:
    * Input is raw JSON (``bytes``/``str``, decoded here with orjson, which refuses NaN/Infinity literals) or an
      already-decoded value. Decimals are parsed from their strings with the domain's strict parsers (a float
      is refused), so a bad number raises :class:`~trio_hedge.domain.BadValue`.
    * A missing key, a wrong JSON type, or an unknown enum raises :class:`BackpackProtocolError` (a
      :class:`~trio_hedge.domain.VenueError`). Nothing else escapes: no KeyError, TypeError or IndexError.
    * Integers that Backpack sends sometimes as numbers and sometimes as strings (``E``/``T`` timestamps,
      ``lastUpdateId``, ``clientId``, ``tradeId``, ids) are accepted in both forms (the captured payloads in
      ``tests/fixtures/backpack/captured.json`` show both).
    * Unknown extra keys are ignored (the venue adds fields over time).

Timestamps: WebSocket ``E`` (event) and ``T`` (engine) and REST depth ``timestamp`` are microseconds; REST order
``createdAt`` is ms (string) in ``/api/v1/order(s)`` and a naive UTC ISO string in history; fill history
``timestamp`` is a naive UTC ISO string (the OpenAPI document's schemas and the captured payloads). Every domain
``ts_ns`` is ns since the Unix epoch.
"""

from ._book import DEPTH_LIMIT_DEFAULT as DEPTH_LIMIT_DEFAULT
from ._book import DEPTH_LIMITS as DEPTH_LIMITS
from ._book import BookTicker as BookTicker
from ._book import DepthSnapshot as DepthSnapshot
from ._book import RawDepthDelta as RawDepthDelta
from ._book import apply_delta_raw as apply_delta_raw
from ._book import apply_snapshot as apply_snapshot
from ._book import check_depth_levels as check_depth_levels
from ._book import format_book_ticker as format_book_ticker
from ._book import format_depth_snapshot as format_depth_snapshot
from ._book import format_depth_update as format_depth_update
from ._book import parse_book_ticker as parse_book_ticker
from ._book import parse_depth_delta_raw as parse_depth_delta_raw
from ._book import parse_depth_snapshot as parse_depth_snapshot
from ._codec import ORDER_EVENT_TYPES as ORDER_EVENT_TYPES
from ._codec import ORDER_STATUS as ORDER_STATUS
from ._codec import POSITION_EVENT_TYPES as POSITION_EVENT_TYPES
from ._codec import POST_ONLY_WOULD_CROSS as POST_ONLY_WOULD_CROSS
from ._codec import SELF_TRADE_PREVENTION as SELF_TRADE_PREVENTION
from ._codec import UINT32_MAX as UINT32_MAX
from ._codec import BackpackProtocolError as BackpackProtocolError
from ._codec import decimal_places as decimal_places
from ._codec import decimal_text as decimal_text
from ._codec import decode_json as decode_json
from ._codec import encode_json as encode_json
from ._codec import fixed_text as fixed_text
from ._codec import iso_ms_text as iso_ms_text
from ._codec import iso_to_ns as iso_to_ns
from ._codec import normalize_reason as normalize_reason
from ._codec import split_symbol as split_symbol
from ._codec import us_text as us_text
from ._errors import error_from_response as error_from_response
from ._errors import format_error_body as format_error_body
from ._errors import parse_error_body as parse_error_body
from ._fills import FILL_TYPES as FILL_TYPES
from ._fills import fee_in_quote as fee_in_quote
from ._fills import format_history_fill as format_history_fill
from ._fills import parse_fill_history as parse_fill_history
from ._fills import parse_history_fill as parse_history_fill
from ._markets import DEFAULT_MARKET_TERMS as DEFAULT_MARKET_TERMS
from ._markets import MarketTerms as MarketTerms
from ._markets import format_market as format_market
from ._markets import format_ticker as format_ticker
from ._markets import parse_market as parse_market
from ._markets import parse_markets as parse_markets
from ._orders import TIME_IN_FORCE as TIME_IN_FORCE
from ._orders import TRIGGER_ORDER_KEYS as TRIGGER_ORDER_KEYS
from ._orders import BackpackOrder as BackpackOrder
from ._orders import ClientIdAllocator as ClientIdAllocator
from ._orders import OrderExecute as OrderExecute
from ._orders import client_id_from_str as client_id_from_str
from ._orders import error_from_order_report as error_from_order_report
from ._orders import format_order as format_order
from ._orders import format_order_history as format_order_history
from ._orders import format_order_update as format_order_update
from ._orders import order_cancel_all_body as order_cancel_all_body
from ._orders import order_cancel_body as order_cancel_body
from ._orders import order_execute_body as order_execute_body
from ._orders import order_query_params as order_query_params
from ._orders import parse_order as parse_order
from ._orders import parse_order_events as parse_order_events
from ._orders import parse_order_execute as parse_order_execute
from ._orders import parse_order_fill as parse_order_fill
from ._orders import parse_order_update as parse_order_update
from ._orders import parse_orders as parse_orders
from ._positions import format_position as format_position
from ._positions import format_position_update as format_position_update
from ._positions import is_position_snapshot as is_position_snapshot
from ._positions import parse_position as parse_position
from ._positions import parse_position_update as parse_position_update
from ._positions import parse_position_updates as parse_position_updates
from ._positions import parse_positions as parse_positions
from ._requests import HISTORY_LIMIT_DEFAULT as HISTORY_LIMIT_DEFAULT
from ._requests import HISTORY_LIMIT_MAX as HISTORY_LIMIT_MAX
from ._requests import MARKET_TYPES as MARKET_TYPES
from ._requests import MAX_BODY_BYTES as MAX_BODY_BYTES
from ._requests import RequestParams as RequestParams
from ._requests import RequestParseError as RequestParseError
from ._requests import parse_request_body as parse_request_body
from ._signing import DEFAULT_WINDOW_MS as DEFAULT_WINDOW_MS
from ._signing import MAX_WINDOW_MS as MAX_WINDOW_MS
from ._signing import ROUTE_INSTRUCTIONS as ROUTE_INSTRUCTIONS
from ._signing import SUBSCRIBE_INSTRUCTION as SUBSCRIBE_INSTRUCTION
from ._signing import BackpackSigner as BackpackSigner
from ._signing import batch_signing_string as batch_signing_string
from ._signing import instruction_for as instruction_for
from ._signing import key_fingerprint as key_fingerprint
from ._signing import render_value as render_value
from ._signing import signing_string as signing_string
from ._signing import verify_request as verify_request
from ._signing import verify_ws_subscribe as verify_ws_subscribe
from ._signing import ws_subscribe_signing_string as ws_subscribe_signing_string
from ._streams import ORDER_UPDATE as ORDER_UPDATE
from ._streams import POSITION_UPDATE as POSITION_UPDATE
from ._streams import WS_ERROR_INVALID_REQUEST as WS_ERROR_INVALID_REQUEST
from ._streams import WS_ERROR_INVALID_STREAM as WS_ERROR_INVALID_STREAM
from ._streams import WS_ERROR_UNAUTHORIZED as WS_ERROR_UNAUTHORIZED
from ._streams import SubscribeRequest as SubscribeRequest
from ._streams import WsError as WsError
from ._streams import WsFrame as WsFrame
from ._streams import book_ticker_stream as book_ticker_stream
from ._streams import depth_stream as depth_stream
from ._streams import format_ws_error as format_ws_error
from ._streams import format_ws_frame as format_ws_frame
from ._streams import is_private_stream as is_private_stream
from ._streams import order_update_stream as order_update_stream
from ._streams import parse_stream_name as parse_stream_name
from ._streams import parse_subscribe_message as parse_subscribe_message
from ._streams import parse_ws_frame as parse_ws_frame
from ._streams import position_update_stream as position_update_stream
from ._streams import private_subscribe_message as private_subscribe_message
from ._streams import stream_kind as stream_kind
from ._streams import subscribe_message as subscribe_message
from ._streams import unsubscribe_message as unsubscribe_message

__all__ = [
    "BackpackOrder",
    "BackpackProtocolError",
    "BackpackSigner",
    "BookTicker",
    "ClientIdAllocator",
    "DEFAULT_MARKET_TERMS",
    "DEFAULT_WINDOW_MS",
    "DEPTH_LIMITS",
    "DEPTH_LIMIT_DEFAULT",
    "DepthSnapshot",
    "FILL_TYPES",
    "HISTORY_LIMIT_DEFAULT",
    "HISTORY_LIMIT_MAX",
    "MARKET_TYPES",
    "MAX_BODY_BYTES",
    "MAX_WINDOW_MS",
    "MarketTerms",
    "ORDER_EVENT_TYPES",
    "ORDER_STATUS",
    "ORDER_UPDATE",
    "OrderExecute",
    "POSITION_EVENT_TYPES",
    "POSITION_UPDATE",
    "POST_ONLY_WOULD_CROSS",
    "ROUTE_INSTRUCTIONS",
    "RawDepthDelta",
    "RequestParams",
    "RequestParseError",
    "SELF_TRADE_PREVENTION",
    "SUBSCRIBE_INSTRUCTION",
    "SubscribeRequest",
    "TIME_IN_FORCE",
    "TRIGGER_ORDER_KEYS",
    "UINT32_MAX",
    "WS_ERROR_INVALID_REQUEST",
    "WS_ERROR_INVALID_STREAM",
    "WS_ERROR_UNAUTHORIZED",
    "WsError",
    "WsFrame",
    "apply_delta_raw",
    "apply_snapshot",
    "batch_signing_string",
    "book_ticker_stream",
    "check_depth_levels",
    "client_id_from_str",
    "decimal_places",
    "decimal_text",
    "decode_json",
    "depth_stream",
    "encode_json",
    "error_from_order_report",
    "error_from_response",
    "fee_in_quote",
    "fixed_text",
    "format_book_ticker",
    "format_depth_snapshot",
    "format_depth_update",
    "format_error_body",
    "format_history_fill",
    "format_market",
    "format_order",
    "format_order_history",
    "format_order_update",
    "format_position",
    "format_position_update",
    "format_ticker",
    "format_ws_error",
    "format_ws_frame",
    "instruction_for",
    "is_position_snapshot",
    "is_private_stream",
    "iso_ms_text",
    "iso_to_ns",
    "key_fingerprint",
    "normalize_reason",
    "order_cancel_all_body",
    "order_cancel_body",
    "order_execute_body",
    "order_query_params",
    "order_update_stream",
    "parse_book_ticker",
    "parse_depth_delta_raw",
    "parse_depth_snapshot",
    "parse_error_body",
    "parse_fill_history",
    "parse_history_fill",
    "parse_market",
    "parse_markets",
    "parse_order",
    "parse_order_events",
    "parse_order_execute",
    "parse_order_fill",
    "parse_order_update",
    "parse_orders",
    "parse_position",
    "parse_position_update",
    "parse_position_updates",
    "parse_positions",
    "parse_request_body",
    "parse_stream_name",
    "parse_subscribe_message",
    "parse_ws_frame",
    "position_update_stream",
    "private_subscribe_message",
    "render_value",
    "signing_string",
    "split_symbol",
    "stream_kind",
    "subscribe_message",
    "unsubscribe_message",
    "us_text",
    "verify_request",
    "verify_ws_subscribe",
    "ws_subscribe_signing_string",
]
