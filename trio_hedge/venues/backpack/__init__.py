"""Backpack venue: ED25519 request signing, wire codec, the Trio adapter.

:mod:`._adapter` (the venue session), :mod:`._signing` (signing strings, headers, the secret-holding signer, server-side
verification for the simulator) and :mod:`._wire` (JSON <-> domain types, request builders, WS frames, error
mapping, clientId allocation). Wire formats: ``/work/shared/docs/wire-formats.md`` part B.
"""

from ._adapter import BackpackSettings as BackpackSettings
from ._adapter import BackpackVenue as BackpackVenue
from ._adapter import open_backpack_venue as open_backpack_venue
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
from ._wire import ORDER_EVENT_TYPES as ORDER_EVENT_TYPES
from ._wire import ORDER_STATUS as ORDER_STATUS
from ._wire import POSITION_EVENT_TYPES as POSITION_EVENT_TYPES
from ._wire import POST_ONLY_WOULD_CROSS as POST_ONLY_WOULD_CROSS
from ._wire import SELF_TRADE_PREVENTION as SELF_TRADE_PREVENTION
from ._wire import UINT32_MAX as UINT32_MAX
from ._wire import BackpackProtocolError as BackpackProtocolError
from ._wire import BookTicker as BookTicker
from ._wire import ClientIdAllocator as ClientIdAllocator
from ._wire import DepthDelta as DepthDelta
from ._wire import DepthSnapshot as DepthSnapshot
from ._wire import RawDepthDelta as RawDepthDelta
from ._wire import SubscribeRequest as SubscribeRequest
from ._wire import WsError as WsError
from ._wire import WsFrame as WsFrame
from ._wire import apply_delta as apply_delta
from ._wire import apply_delta_raw as apply_delta_raw
from ._wire import apply_snapshot as apply_snapshot
from ._wire import book_ticker_stream as book_ticker_stream
from ._wire import check_depth_levels as check_depth_levels
from ._wire import client_id_from_str as client_id_from_str
from ._wire import decimal_text as decimal_text
from ._wire import decode_json as decode_json
from ._wire import depth_stream as depth_stream
from ._wire import encode_json as encode_json
from ._wire import error_from_order_report as error_from_order_report
from ._wire import error_from_response as error_from_response
from ._wire import fee_in_quote as fee_in_quote
from ._wire import is_position_snapshot as is_position_snapshot
from ._wire import is_private_stream as is_private_stream
from ._wire import iso_to_ns as iso_to_ns
from ._wire import normalize_reason as normalize_reason
from ._wire import order_cancel_all_body as order_cancel_all_body
from ._wire import order_cancel_body as order_cancel_body
from ._wire import order_execute_body as order_execute_body
from ._wire import order_query_params as order_query_params
from ._wire import order_update_stream as order_update_stream
from ._wire import parse_book_ticker as parse_book_ticker
from ._wire import parse_depth_delta as parse_depth_delta
from ._wire import parse_depth_delta_raw as parse_depth_delta_raw
from ._wire import parse_depth_snapshot as parse_depth_snapshot
from ._wire import parse_error_body as parse_error_body
from ._wire import parse_fill_history as parse_fill_history
from ._wire import parse_history_fill as parse_history_fill
from ._wire import parse_market as parse_market
from ._wire import parse_markets as parse_markets
from ._wire import parse_order as parse_order
from ._wire import parse_order_events as parse_order_events
from ._wire import parse_order_fill as parse_order_fill
from ._wire import parse_order_update as parse_order_update
from ._wire import parse_orders as parse_orders
from ._wire import parse_position as parse_position
from ._wire import parse_position_update as parse_position_update
from ._wire import parse_position_updates as parse_position_updates
from ._wire import parse_positions as parse_positions
from ._wire import parse_subscribe_message as parse_subscribe_message
from ._wire import parse_ws_frame as parse_ws_frame
from ._wire import position_update_stream as position_update_stream
from ._wire import private_subscribe_message as private_subscribe_message
from ._wire import split_symbol as split_symbol
from ._wire import stream_kind as stream_kind
from ._wire import subscribe_message as subscribe_message
from ._wire import unsubscribe_message as unsubscribe_message

__all__ = [
    "BackpackProtocolError",
    "BackpackSettings",
    "BackpackSigner",
    "BackpackVenue",
    "BookTicker",
    "ClientIdAllocator",
    "DEFAULT_WINDOW_MS",
    "DepthDelta",
    "DepthSnapshot",
    "MAX_WINDOW_MS",
    "ORDER_EVENT_TYPES",
    "ORDER_STATUS",
    "POSITION_EVENT_TYPES",
    "POST_ONLY_WOULD_CROSS",
    "ROUTE_INSTRUCTIONS",
    "RawDepthDelta",
    "SELF_TRADE_PREVENTION",
    "SUBSCRIBE_INSTRUCTION",
    "SubscribeRequest",
    "UINT32_MAX",
    "WsError",
    "WsFrame",
    "apply_delta",
    "apply_delta_raw",
    "apply_snapshot",
    "batch_signing_string",
    "book_ticker_stream",
    "check_depth_levels",
    "client_id_from_str",
    "decimal_text",
    "decode_json",
    "depth_stream",
    "encode_json",
    "error_from_order_report",
    "error_from_response",
    "fee_in_quote",
    "instruction_for",
    "is_position_snapshot",
    "is_private_stream",
    "iso_to_ns",
    "key_fingerprint",
    "normalize_reason",
    "open_backpack_venue",
    "order_cancel_all_body",
    "order_cancel_body",
    "order_execute_body",
    "order_query_params",
    "order_update_stream",
    "parse_book_ticker",
    "parse_depth_delta",
    "parse_depth_delta_raw",
    "parse_depth_snapshot",
    "parse_error_body",
    "parse_fill_history",
    "parse_history_fill",
    "parse_market",
    "parse_markets",
    "parse_order",
    "parse_order_events",
    "parse_order_fill",
    "parse_order_update",
    "parse_orders",
    "parse_position",
    "parse_position_update",
    "parse_position_updates",
    "parse_positions",
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
    "verify_request",
    "verify_ws_subscribe",
    "ws_subscribe_signing_string",
]
