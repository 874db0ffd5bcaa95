"""GRVT errors: the error-code table (apispec.json per-route errors and the docs' error tables) mapped onto
the domain's venue error tree, HTTP statuses, and order ``reject_reason`` values.

Sources and the citation names used below: the package docstring (:mod:`trio_hedge.protocols.grvt`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from ...domain import (
    AuthError,
    DuplicateClientOrderId,
    InsufficientMargin,
    InvalidOrder,
    OrderNotFound,
    OrderRejected,
    PostOnlyWouldCross,
    RateLimited,
    UnknownOutcome,
    VenueError,
    VenueUnavailable,
)
from ._codec import VENUE


def rejection_error(reason: str, *, venue: str = VENUE, client_order_id: str = "") -> VenueError:
    """The typed error for an order the venue reports REJECTED with ``reason`` (GRVT WS docs: trading streams
    ``reject_reason``).

    GRVT reports matching-time refusals (post-only would cross, margin, reduce-only) as an order state,
    not as an error body (GRVT docs: create_order; GRVT docs: error codes); an adapter that must raise from ``place``
    uses this. ``code`` is the reason string.

    Mapping: ``FAIL_POST_ONLY`` -> PostOnlyWouldCross; ``BELOW_MARGIN``, ``BELOW_MARGIN_WITH_PENALTY_DEVIATION``,
    ``INSUFFICIENT_BALANCE`` -> InsufficientMargin; ``OVERLAPPING_CLIENT_ORDER_ID`` -> DuplicateClientOrderId;
    ``UNAUTHORISED``, ``SESSION_KEY_EXPIRED``, ``NO_TRADE_PERMISSION``, ``SUB_ACCOUNT_NOT_FOUND``,
    ``INVALID_CHAIN_ID`` -> AuthError; order-rule reasons (reduce-only, TIF, legs, instrument, limit price,
    signature expiry, builder, spot) -> InvalidOrder; anything else -> OrderRejected.
    """
    cls = _REASON_ERRORS.get(reason, OrderRejected)
    what = f"order {client_order_id} " if client_order_id else "order "
    return cls(venue, f"{what}rejected: {reason}", code=reason)


_REASON_ERRORS: Final[Mapping[str, type[VenueError]]] = {
    "FAIL_POST_ONLY": PostOnlyWouldCross,
    "BELOW_MARGIN": InsufficientMargin,
    "BELOW_MARGIN_WITH_PENALTY_DEVIATION": InsufficientMargin,
    "INSUFFICIENT_BALANCE": InsufficientMargin,
    "OVERLAPPING_CLIENT_ORDER_ID": DuplicateClientOrderId,
    "UNAUTHORISED": AuthError,
    "SESSION_KEY_EXPIRED": AuthError,
    "NO_TRADE_PERMISSION": AuthError,
    "SUB_ACCOUNT_NOT_FOUND": AuthError,
    "INVALID_CHAIN_ID": AuthError,
    **{
        r: InvalidOrder
        for r in (
            "FAIL_REDUCE_ONLY", "REDUCE_ONLY_LIMIT", "UNSUPPORTED_TIME_IN_FORCE", "MULTI_LEGGED_ORDER",
            "MARKET_ORDER_WITH_LIMIT_PRICE", "INSTRUMENT_INVALID", "INSTRUMENT_DEACTIVATED",
            "EXCEED_MAX_SIGNATURE_EXPIRATION", "INVALID_ORDER_TYPE", "CURRENCY_NOT_DEFINED",
            "DERISK_MUST_BE_IOC", "DERISK_MUST_BE_REDUCE_ONLY", "DERISK_NOT_SUPPORTED",
            "BUILDER_ORDER_FEE_EXCEED", "BUILDER_ORDER_FEE_NEGATIVE", "BUILDER_ORDER_BUILDER_NOT_AUTHORIZED",
            "BUILDER_ORDER_BUILDER_NOT_EXIST", "REDUCE_ONLY_NOT_SUPPORTED_FOR_SPOT_ORDER",
            "TPSL_NOT_SUPPORTED_FOR_SPOT_ORDER", "SPOT_ORDER_NOT_SUPPORTED",
        )
    },
}  # fmt: skip


# ---------------------------------------------------------------------------------------------- REST envelope & errors
@dataclass(frozen=True, slots=True)
class _Code:
    http_status: int
    message: str
    error: type[VenueError]


_CODES: Final[Mapping[int, _Code]] = {
    # auth / access (apispec on_request_errors; GRVT docs: error codes table)
    1000: _Code(401, "You need to authenticate prior to using this functionality", AuthError),
    1001: _Code(403, "You are not authorized to access this functionality", AuthError),
    1002: _Code(500, "Internal Server Error", UnknownOutcome),
    1003: _Code(400, "Request could not be processed due to malformed syntax", InvalidOrder),
    1004: _Code(404, "Data Not Found", OrderNotFound),
    1005: _Code(500, "Unknown Error", UnknownOutcome),
    1006: _Code(429, "You have surpassed the allocated rate limit for your tier", RateLimited),
    1008: _Code(401, "Your IP has not been whitelisted for access", AuthError),
    1009: _Code(503, "We are temporarily deactivating this API endpoint, please try again later", VenueUnavailable),
    1012: _Code(400, "Invalid signature chain ID", AuthError),
    1400: _Code(403, "Signer does not have trade permission", AuthError),
    # signature
    2000: _Code(403, "Signature is from an unauthorized signer", AuthError),
    2001: _Code(403, "Signature has expired", AuthError),
    2002: _Code(403, "Signature does not match payload", AuthError),
    2003: _Code(403, "Order sub account does not match logged in user", AuthError),
    2004: _Code(403, "Signature is from an expired session key", AuthError),
    2005: _Code(403, "Signature V must be 27/28", AuthError),
    2006: _Code(403, "Signature R/S must have exactly 64 characters long without 0x prefix", AuthError),
    2007: _Code(403, "Signature S must be in the lower half of the curve", AuthError),
    2008: _Code(403, "Signature exceeds maximum allowed duration.", AuthError),
    # order validation
    2010: _Code(400, "Order ID should be empty when creating an order", InvalidOrder),
    2011: _Code(400, "Client Order ID should be supplied when creating an order", InvalidOrder),
    2012: _Code(400, "Client Order ID overlaps with existing active order", DuplicateClientOrderId),
    2020: _Code(400, "Market Order must always be supplied without a limit price", InvalidOrder),
    2021: _Code(400, "Limit Order must always be supplied with a limit price", InvalidOrder),
    2030: _Code(400, "Orderbook Orders must have a TimeInForce of GTT/IOC/FOK", InvalidOrder),
    2031: _Code(400, "RFQ Orders must have a TimeInForce of GTT/AON/IOC/FOK", InvalidOrder),
    2032: _Code(400, "Post Only can only be set to true for GTT/AON orders", InvalidOrder),
    2040: _Code(400, "Order must contain at least one leg", InvalidOrder),
    2041: _Code(400, "Order Legs must be sorted by Derivative.Instrument/Underlying/BaseCurrency/Expiration/StrikePrice", InvalidOrder),  # noqa: E501
    2042: _Code(400, "Orderbook Orders must contain only one leg", InvalidOrder),
    2050: _Code(400, "Order state must be empty upon creation", InvalidOrder),
    2051: _Code(400, "Order execution metadata must be empty upon creation", InvalidOrder),
    2060: _Code(400, "Order Legs contain one or more inactive derivative", InvalidOrder),
    2061: _Code(400, "Unsupported Instrument Requested", InvalidOrder),
    2062: _Code(400, "Order size smaller than min size", InvalidOrder),
    2063: _Code(400, "Order size smaller than min block size in block trade venue", InvalidOrder),
    2064: _Code(400, "Invalid limit price tick", InvalidOrder),
    2065: _Code(400, "Order size too granular", InvalidOrder),
    2066: _Code(400, "Order below minimum notional. Please try again with a higher price or size.", InvalidOrder),
    2067: _Code(400, "Order below minimum notional. Please try reducing your position again with a higher price or size.", InvalidOrder),  # noqa: E501
    2070: _Code(400, "Liquidation Order is not supported", InvalidOrder),
    2080: _Code(400, "Insufficient margin to create order", InsufficientMargin),
    2081: _Code(400, "Order Fill would result in exceeding maximum position size", OrderRejected),
    2082: _Code(400, "Pre-order check failed", OrderRejected),
    2083: _Code(400, "Order Fill would result in exceeding maximum position size under current configurable leverage tier", OrderRejected),  # noqa: E501
    2084: _Code(400, "Post-order check failed", OrderRejected),
    2090: _Code(429, "Max open orders exceeded", RateLimited),
    2110: _Code(400, "Invalid trigger by", InvalidOrder),
    2111: _Code(400, "Unsupported trigger by", InvalidOrder),
    2112: _Code(400, "Invalid trigger order", InvalidOrder),
    2113: _Code(400, "Trigger price must be non-zero", InvalidOrder),
    2300: _Code(400, "Order cancel time-to-live settings currently disabled.", InvalidOrder),
    2301: _Code(400, "Order cancel time-to-live exceeds maximum allowed value.", InvalidOrder),
    2400: _Code(400, "Reduce only order with no position", InvalidOrder),
    2401: _Code(400, "Reduce only order must not increase position size", InvalidOrder),
    2402: _Code(400, "Reduce only order size exceeds maximum allowed value", InvalidOrder),
    2450: _Code(400, "Spot order is not supported", InvalidOrder),
    # market data / streams
    3000: _Code(400, "Instrument is invalid", InvalidOrder),
    3004: _Code(500, "Instrument does not have a valid maintenance margin configuration", UnknownOutcome),
    3020: _Code(400, "Sub account ID must be an uint64 integer", InvalidOrder),
    3021: _Code(400, "Either order ID or client order ID must be supplied", InvalidOrder),
    3030: _Code(400, "Feed rate is invalid", InvalidOrder),
    3031: _Code(400, "Depth is invalid", InvalidOrder),
    1101: _Code(400, "Feed Format must be in the format of <primary>@<secondary>", InvalidOrder),
    1102: _Code(400, "Wrong number of primary selectors", InvalidOrder),
    1103: _Code(400, "Wrong number of secondary selectors", InvalidOrder),
    6000: _Code(400, "Countdown time is bigger than 300s supported", InvalidOrder),
    7201: _Code(400, "Attempted to create a limit order at a price outside of asset's price protection band.", OrderRejected),  # noqa: E501
    7304: _Code(400, "Only position-reducing orders (`reduce_only` as true) allowed for this asset right now.", OrderRejected),  # noqa: E501
}  # fmt: skip
"""GRVT error codes a hedge bot meets: (HTTP status, venue message, our error class).

Messages and statuses from apispec.json ``on_request_errors`` / ``on_subscribe_errors`` (7201's message from
ccxt 4.5.90 ``grvt.py`` exceptions map). Class choices: request/format faults of ours (1003, 3xxx, 11xx,
2300/2301) are InvalidOrder ("a rule was broken: do not retry, halt the market"); 2081-2084, 7201, 7304 are
definitive refusals without a rule of ours broken (OrderRejected); 2090 "Max open orders exceeded" is sent
with HTTP 429 and is RateLimited (ccxt maps it to RateLimitExceeded too); 1002/1005/3004 are HTTP 500 and,
like any 5xx, UnknownOutcome; 1009 (HTTP 503, endpoint temporarily disabled) is VenueUnavailable.
"""

KNOWN_ERROR_CODES: Final = frozenset(_CODES)


def _class_for_status(http_status: int | None) -> type[VenueError]:
    if http_status is None:
        return VenueError
    if http_status == 429:
        return RateLimited
    if http_status in (401, 403):
        return AuthError
    if http_status == 404:
        return OrderNotFound
    if http_status >= 500:
        return UnknownOutcome
    if 400 <= http_status < 500:
        return OrderRejected
    return VenueError


def error_from_code(
    code: int,
    message: str = "",
    *,
    http_status: int | None = None,
    venue: str = VENUE,
    retry_after_s: float | None = None,
) -> VenueError:
    """The typed error for a GRVT error ``code`` (REST body, JSON-RPC ``error`` or legacy WS error).

    Known codes use the table above (see ``KNOWN_ERROR_CODES``). An unknown code falls back on the HTTP
    status: 429 RateLimited, 401/403 AuthError, 404 OrderNotFound, 5xx UnknownOutcome, other 4xx
    OrderRejected, none VenueError. ``.code`` is ``str(code)``; ``.message`` the venue's message (or the
    table's when empty).

    Args:
        code: the venue's numeric code.
        message: the venue's message.
        http_status: the HTTP status (or the body's ``status``), when there is one.
        venue: configured venue name.
        retry_after_s: for RateLimited, the server's ``Retry-After`` if any.

    Returns:
        VenueError: not raised; the caller raises it.
    """
    known = _CODES.get(code)
    cls = known.error if known else _class_for_status(http_status)
    text = message or (known.message if known else "error")
    if cls is RateLimited:
        return RateLimited(venue, text, code=str(code), retry_after_s=retry_after_s)
    return cls(venue, text, code=str(code))


def error_from_http_status(
    http_status: int, message: str = "", *, venue: str = VENUE, retry_after_s: float | None = None
) -> VenueError:
    """The typed error for a non-2xx HTTP answer without a GRVT error body (a proxy page, an empty body):
    the status classes of :func:`error_from_code`; ``code`` is ``"HTTP <status>"``."""
    cls = _class_for_status(http_status)
    code = f"HTTP {http_status}"
    text = message or f"HTTP status {http_status}"
    if cls is RateLimited:
        return RateLimited(venue, text, code=code, retry_after_s=retry_after_s)
    return cls(venue, text, code=code)
