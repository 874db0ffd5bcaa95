"""GRVT protocol, sans-IO and both directions: pure, synchronous translation between GRVT's JSON (REST, WebSocket
JSON-RPC, login cookie) and trio_hedge domain types, plus EIP-712 order signing.

The GRVT adapter (client side: decode responses and feeds, build requests) and the GRVT wire simulator
(server side: decode requests, build responses and feeds) both use this package; nothing here does I/O, and it
imports only the domain. One module per message family: ``_codec`` (constants, enums, lite names, JSON, the
field reader), ``_instruments``, ``_book``, ``_orders``, ``_fills``, ``_positions``, ``_errors``, ``_rest``
(REST envelope), ``_rpc`` (WebSocket JSON-RPC and feeds), ``_auth`` (login cookie), ``_signing`` (EIP-712).

Sources: the GRVT API docs (https://api-docs.grvt.io/, generated from
https://github.com/gravity-technologies/api-spec ``artifacts/apidocs/``); the struct, lite-name, enum and
per-route error spec ``src/codegen/apispec.json`` of that repository; grvt-pysdk 0.2.1
(https://github.com/gravity-technologies/grvt-pysdk) and ccxt 4.5.90 (``grvt.py``, ``pro/grvt.py``) for what
clients send and accept; real captured bodies and frames (ccxt's static test fixtures and comment examples) in
``tests/fixtures/grvt/``, whose origins ``tests/fixtures/SOURCES.md`` lists.

Conventions (the docs' number and format conventions, checked against the captured bodies):
    * prices, sizes, fees and pnl are decimal strings in natural units; they are parsed with the domain's
      strict Decimal parsers (never through float) and JSON floats are refused for them;
    * timestamps are unix nanoseconds (decimal strings; ints tolerated); sequence numbers are uint64
      (strings in feeds, ints in some subscribe results: both tolerated); ``client_order_id`` is a uint64
      decimal string; ``order_id`` is an opaque string (``"0x…"``), ``"0x00"`` meaning "not assigned yet";
    * every object may arrive with full names (``/full/v1``, ``/ws/full``) or lite names (``/lite/v1``,
      ``/ws/lite``; the ``lite_name`` of each field in apispec.json). Each parser detects the encoding per
      object: an object holding any full field name of its struct is read with full names, otherwise with lite
      names. Encoders emit full names only (neither grvt-pysdk nor ccxt uses lite).

Citations in this package: "GRVT docs: <page>" is that page of the GRVT API docs (https://api-docs.grvt.io/:
the market data and trading API pages, one section per route, with full and lite examples and error tables);
"GRVT WS docs" their market data and trading streams pages (subscribe, selectors, sequence numbers, the private
feeds, JSON-RPC trading); "GRVT docs: error codes" their error-code tables; "apispec.json" the machine-readable
spec in https://github.com/gravity-technologies/api-spec (``src/codegen/apispec.json``); "grvt-pysdk signing"
grvt-pysdk 0.2.1's ``pysdk/grvt_ccxt_utils.py`` / ``grvt_raw_signing.py``.

Errors: every parser raises :class:`GrvtProtocolError` for malformed input (bad JSON, missing fields,
wrong types, NaN/Infinity, out-of-range numbers, unknown enum values), never KeyError/TypeError; error
bodies from the venue become the domain's typed :class:`~trio_hedge.domain.VenueError` tree (see
:func:`error_from_code`). Exception texts never contain cookies or other credentials.
"""

from ._auth import GrvtCookie as GrvtCookie
from ._auth import format_set_cookie as format_set_cookie
from ._auth import parse_set_cookie as parse_set_cookie
from ._book import GrvtBookUpdate as GrvtBookUpdate
from ._book import GrvtRawBookUpdate as GrvtRawBookUpdate
from ._book import apply_raw_book_update as apply_raw_book_update
from ._book import check_book_levels as check_book_levels
from ._book import format_book as format_book
from ._book import parse_book as parse_book
from ._book import parse_book_feed_raw as parse_book_feed_raw
from ._codec import CLIENT_ORDER_ID_MAX as CLIENT_ORDER_ID_MAX
from ._codec import CLIENT_ORDER_ID_MIN as CLIENT_ORDER_ID_MIN
from ._codec import COOKIE_NAME as COOKIE_NAME
from ._codec import LITE_NAMES as LITE_NAMES
from ._codec import NO_ORDER_ID as NO_ORDER_ID
from ._codec import POST_ONLY_REJECT_REASON as POST_ONLY_REJECT_REASON
from ._codec import STREAM_BOOK_DELTA as STREAM_BOOK_DELTA
from ._codec import STREAM_BOOK_SNAPSHOT as STREAM_BOOK_SNAPSHOT
from ._codec import STREAM_CANCEL as STREAM_CANCEL
from ._codec import STREAM_FILL as STREAM_FILL
from ._codec import STREAM_ORDER as STREAM_ORDER
from ._codec import STREAM_ORDER_STATE as STREAM_ORDER_STATE
from ._codec import STREAM_POSITION as STREAM_POSITION
from ._codec import GrvtOrderStatus as GrvtOrderStatus
from ._codec import GrvtProtocolError as GrvtProtocolError
from ._codec import GrvtTimeInForce as GrvtTimeInForce
from ._codec import decode_json as decode_json
from ._codec import encode_json as encode_json
from ._codec import format_decimal as format_decimal
from ._errors import KNOWN_ERROR_CODES as KNOWN_ERROR_CODES
from ._errors import error_from_code as error_from_code
from ._errors import error_from_http_status as error_from_http_status
from ._errors import rejection_error as rejection_error
from ._fills import format_fill as format_fill
from ._fills import parse_fill as parse_fill
from ._fills import parse_fills as parse_fills
from ._instruments import GrvtInstrumentMeta as GrvtInstrumentMeta
from ._instruments import format_instrument as format_instrument
from ._instruments import parse_instrument as parse_instrument
from ._instruments import parse_instruments as parse_instruments
from ._orders import ClientOrderIdGenerator as ClientOrderIdGenerator
from ._orders import GrvtOrder as GrvtOrder
from ._orders import GrvtOrderState as GrvtOrderState
from ._orders import GrvtOrderStateEvent as GrvtOrderStateEvent
from ._orders import format_order as format_order
from ._orders import format_order_state as format_order_state
from ._orders import is_api_client_order_id as is_api_client_order_id
from ._orders import parse_order as parse_order
from ._orders import parse_order_state_feed as parse_order_state_feed
from ._orders import parse_orders as parse_orders
from ._positions import format_position as format_position
from ._positions import parse_position as parse_position
from ._positions import parse_positions as parse_positions
from ._rest import format_error_body as format_error_body
from ._rest import format_rest_result as format_rest_result
from ._rest import parse_ack as parse_ack
from ._rest import parse_rest_page as parse_rest_page
from ._rest import parse_rest_response as parse_rest_response
from ._rest import unwrap_rest as unwrap_rest
from ._rpc import GrvtFeedMessage as GrvtFeedMessage
from ._rpc import GrvtRpcRequest as GrvtRpcRequest
from ._rpc import GrvtRpcResponse as GrvtRpcResponse
from ._rpc import GrvtSubscribeResult as GrvtSubscribeResult
from ._rpc import GrvtWsMessage as GrvtWsMessage
from ._rpc import account_selector as account_selector
from ._rpc import book_delta_selector as book_delta_selector
from ._rpc import book_snapshot_selector as book_snapshot_selector
from ._rpc import build_rpc_request as build_rpc_request
from ._rpc import build_subscribe as build_subscribe
from ._rpc import build_unsubscribe as build_unsubscribe
from ._rpc import format_feed as format_feed
from ._rpc import format_rpc_error as format_rpc_error
from ._rpc import format_rpc_result as format_rpc_result
from ._rpc import format_subscribe_result as format_subscribe_result
from ._rpc import parse_private_event as parse_private_event
from ._rpc import parse_rpc_request as parse_rpc_request
from ._rpc import parse_subscribe_params as parse_subscribe_params
from ._rpc import parse_subscribe_result as parse_subscribe_result
from ._rpc import parse_ws_message as parse_ws_message
from ._rpc import selector_symbol as selector_symbol
from ._signing import CHAIN_IDS as CHAIN_IDS
from ._signing import KECCAK_BACKEND as KECCAK_BACKEND
from ._signing import GrvtSigner as GrvtSigner
from ._signing import InvalidSignature as InvalidSignature
from ._signing import SigningInstrument as SigningInstrument
from ._signing import build_order_payload as build_order_payload
from ._signing import build_order_rpc_payload as build_order_rpc_payload
from ._signing import eip712_order_digest as eip712_order_digest
from ._signing import expiration_ns_after as expiration_ns_after
from ._signing import keccak256 as keccak256
from ._signing import new_nonce as new_nonce
from ._signing import recover_order_signer as recover_order_signer
from ._signing import wire_order_digest as wire_order_digest

__all__ = [
    "CHAIN_IDS",
    "CLIENT_ORDER_ID_MAX",
    "CLIENT_ORDER_ID_MIN",
    "COOKIE_NAME",
    "ClientOrderIdGenerator",
    "GrvtBookUpdate",
    "GrvtCookie",
    "GrvtFeedMessage",
    "GrvtInstrumentMeta",
    "GrvtOrder",
    "GrvtOrderState",
    "GrvtOrderStateEvent",
    "GrvtOrderStatus",
    "GrvtProtocolError",
    "GrvtRawBookUpdate",
    "GrvtRpcRequest",
    "GrvtRpcResponse",
    "GrvtSigner",
    "GrvtSubscribeResult",
    "GrvtTimeInForce",
    "GrvtWsMessage",
    "InvalidSignature",
    "KECCAK_BACKEND",
    "KNOWN_ERROR_CODES",
    "LITE_NAMES",
    "NO_ORDER_ID",
    "POST_ONLY_REJECT_REASON",
    "STREAM_BOOK_DELTA",
    "STREAM_BOOK_SNAPSHOT",
    "STREAM_CANCEL",
    "STREAM_FILL",
    "STREAM_ORDER",
    "STREAM_ORDER_STATE",
    "STREAM_POSITION",
    "SigningInstrument",
    "account_selector",
    "apply_raw_book_update",
    "book_delta_selector",
    "book_snapshot_selector",
    "build_order_payload",
    "build_order_rpc_payload",
    "build_rpc_request",
    "build_subscribe",
    "build_unsubscribe",
    "check_book_levels",
    "decode_json",
    "eip712_order_digest",
    "encode_json",
    "error_from_code",
    "error_from_http_status",
    "expiration_ns_after",
    "format_book",
    "format_decimal",
    "format_error_body",
    "format_feed",
    "format_fill",
    "format_instrument",
    "format_order",
    "format_order_state",
    "format_position",
    "format_rest_result",
    "format_rpc_error",
    "format_rpc_result",
    "format_set_cookie",
    "format_subscribe_result",
    "is_api_client_order_id",
    "keccak256",
    "new_nonce",
    "parse_ack",
    "parse_book",
    "parse_book_feed_raw",
    "parse_fill",
    "parse_fills",
    "parse_instrument",
    "parse_instruments",
    "parse_order",
    "parse_order_state_feed",
    "parse_orders",
    "parse_position",
    "parse_positions",
    "parse_private_event",
    "parse_rest_page",
    "parse_rest_response",
    "parse_rpc_request",
    "parse_set_cookie",
    "parse_subscribe_params",
    "parse_subscribe_result",
    "parse_ws_message",
    "recover_order_signer",
    "rejection_error",
    "selector_symbol",
    "unwrap_rest",
    "wire_order_digest",
]
