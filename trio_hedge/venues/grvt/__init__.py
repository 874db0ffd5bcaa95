"""GRVT venue: EIP-712 order signing, wire codec, and the Trio adapter."""

from ._adapter import GrvtAccountSummary as GrvtAccountSummary
from ._adapter import GrvtSettings as GrvtSettings
from ._adapter import GrvtVenue as GrvtVenue
from ._adapter import open_grvt_venue as open_grvt_venue
from ._adapter import parse_account_summary as parse_account_summary
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
from ._wire import CLIENT_ORDER_ID_MAX as CLIENT_ORDER_ID_MAX
from ._wire import CLIENT_ORDER_ID_MIN as CLIENT_ORDER_ID_MIN
from ._wire import COOKIE_NAME as COOKIE_NAME
from ._wire import KNOWN_ERROR_CODES as KNOWN_ERROR_CODES
from ._wire import LITE_NAMES as LITE_NAMES
from ._wire import NO_ORDER_ID as NO_ORDER_ID
from ._wire import POST_ONLY_REJECT_REASON as POST_ONLY_REJECT_REASON
from ._wire import STREAM_BOOK_DELTA as STREAM_BOOK_DELTA
from ._wire import STREAM_BOOK_SNAPSHOT as STREAM_BOOK_SNAPSHOT
from ._wire import STREAM_CANCEL as STREAM_CANCEL
from ._wire import STREAM_FILL as STREAM_FILL
from ._wire import STREAM_ORDER as STREAM_ORDER
from ._wire import STREAM_ORDER_STATE as STREAM_ORDER_STATE
from ._wire import STREAM_POSITION as STREAM_POSITION
from ._wire import ClientOrderIdGenerator as ClientOrderIdGenerator
from ._wire import GrvtBookUpdate as GrvtBookUpdate
from ._wire import GrvtCookie as GrvtCookie
from ._wire import GrvtFeedMessage as GrvtFeedMessage
from ._wire import GrvtInstrumentMeta as GrvtInstrumentMeta
from ._wire import GrvtOrder as GrvtOrder
from ._wire import GrvtOrderState as GrvtOrderState
from ._wire import GrvtOrderStateEvent as GrvtOrderStateEvent
from ._wire import GrvtOrderStatus as GrvtOrderStatus
from ._wire import GrvtProtocolError as GrvtProtocolError
from ._wire import GrvtRawBookUpdate as GrvtRawBookUpdate
from ._wire import GrvtRpcRequest as GrvtRpcRequest
from ._wire import GrvtRpcResponse as GrvtRpcResponse
from ._wire import GrvtSubscribeResult as GrvtSubscribeResult
from ._wire import GrvtTimeInForce as GrvtTimeInForce
from ._wire import GrvtWsMessage as GrvtWsMessage
from ._wire import account_selector as account_selector
from ._wire import apply_book_update as apply_book_update
from ._wire import apply_raw_book_update as apply_raw_book_update
from ._wire import book_delta_selector as book_delta_selector
from ._wire import book_snapshot_selector as book_snapshot_selector
from ._wire import build_rpc_request as build_rpc_request
from ._wire import build_subscribe as build_subscribe
from ._wire import build_unsubscribe as build_unsubscribe
from ._wire import check_book_levels as check_book_levels
from ._wire import decode_json as decode_json
from ._wire import encode_json as encode_json
from ._wire import error_from_code as error_from_code
from ._wire import error_from_http_status as error_from_http_status
from ._wire import format_book as format_book
from ._wire import format_decimal as format_decimal
from ._wire import format_error_body as format_error_body
from ._wire import format_feed as format_feed
from ._wire import format_fill as format_fill
from ._wire import format_instrument as format_instrument
from ._wire import format_order as format_order
from ._wire import format_order_state as format_order_state
from ._wire import format_position as format_position
from ._wire import format_rest_result as format_rest_result
from ._wire import format_rpc_error as format_rpc_error
from ._wire import format_rpc_result as format_rpc_result
from ._wire import format_set_cookie as format_set_cookie
from ._wire import format_subscribe_result as format_subscribe_result
from ._wire import is_api_client_order_id as is_api_client_order_id
from ._wire import parse_ack as parse_ack
from ._wire import parse_book as parse_book
from ._wire import parse_book_feed as parse_book_feed
from ._wire import parse_book_feed_raw as parse_book_feed_raw
from ._wire import parse_fill as parse_fill
from ._wire import parse_fills as parse_fills
from ._wire import parse_instrument as parse_instrument
from ._wire import parse_instruments as parse_instruments
from ._wire import parse_order as parse_order
from ._wire import parse_order_state_feed as parse_order_state_feed
from ._wire import parse_orders as parse_orders
from ._wire import parse_position as parse_position
from ._wire import parse_positions as parse_positions
from ._wire import parse_private_event as parse_private_event
from ._wire import parse_rest_page as parse_rest_page
from ._wire import parse_rest_response as parse_rest_response
from ._wire import parse_rpc_request as parse_rpc_request
from ._wire import parse_set_cookie as parse_set_cookie
from ._wire import parse_subscribe_params as parse_subscribe_params
from ._wire import parse_subscribe_result as parse_subscribe_result
from ._wire import parse_ws_message as parse_ws_message
from ._wire import rejection_error as rejection_error
from ._wire import selector_symbol as selector_symbol
from ._wire import unwrap_rest as unwrap_rest

__all__ = [
    "CHAIN_IDS",
    "CLIENT_ORDER_ID_MAX",
    "CLIENT_ORDER_ID_MIN",
    "COOKIE_NAME",
    "ClientOrderIdGenerator",
    "GrvtAccountSummary",
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
    "GrvtSettings",
    "GrvtSigner",
    "GrvtSubscribeResult",
    "GrvtTimeInForce",
    "GrvtVenue",
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
    "apply_book_update",
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
    "open_grvt_venue",
    "parse_account_summary",
    "parse_ack",
    "parse_book",
    "parse_book_feed",
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
