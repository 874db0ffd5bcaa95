"""GRVT wire simulator constants, the venue error, request-field helpers (GRVT docs: error codes; apispec
``src/codegen/apispec.json`` for the field rules)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response

from ...domain import BadValue
from ...protocols.grvt import GrvtProtocolError, decode_json, encode_json, format_error_body, keccak256
from .._matching import (
    REASON_BOOK_UNAVAILABLE,
    REASON_DUPLICATE_CLIENT_ORDER_ID,
    REASON_FOK_NOT_FILLABLE,
    REASON_POST_ONLY_WOULD_CROSS,
    REASON_REDUCE_ONLY_CAPPED,
    REASON_REDUCE_ONLY_WOULD_INCREASE,
)
from .._wire import SimApiError

# ---------------------------------------------------------------------------------------------- constants
SESSION_LIFETIME_S: Final = 86_400
"""API-key session lifetime (help.grvt.io: "API Key login: 1 day")."""

MAX_SIGNATURE_AHEAD_NS: Final = 30 * 24 * 3600 * 1_000_000_000
"""Signature expirations further ahead are refused with 2008 (grvt-pysdk signing)."""

DEFAULT_CANCEL_TTL_MS: Final = 1_000
"""TTL of a cancel-by-client-order-id sent without ``time_to_live_ms`` (the venue's default is not documented)."""

MAX_CANCEL_TTL_MS: Final = 5_000
"""Cancel TTLs are rounded down to 100 ms and capped here (apispec ``ApiCancelOrderRequest``)."""

COD_MAX_MS: Final = 300_000
"""Largest cancel-on-disconnect countdown; larger answers 6000 (apispec ``ApiCancelOnDisconnectRequest``)."""

OUTBOX_CAPACITY: Final = 4_096
"""Frames buffered per WebSocket connection before the server drops it as a slow consumer."""

MAX_BODY_BYTES: Final = 1 << 20
"""Largest request body or WebSocket frame accepted (1 MiB)."""

SIM_BALANCE_QUOTE: Final = Decimal("100000")
"""The simulated sub-account's collateral, quote units (margin is not modelled; only reported)."""

SIM_LEVERAGE: Final = Decimal(10)
"""Leverage used to report initial margin (``format_position`` reports ``"10.0"``)."""

_ORDER_ID_PREFIX: Final = 0x01010105  # real ids look like 0x01010105034cddc7000000006621285c
_ZERO_ADDRESS: Final = "0x0000000000000000000000000000000000000000"
_BASE62: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SECP256K1_N: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_UINT64_MAX: Final = 2**64 - 1
_KNOWN_HASHES: Final = {"BTC_USDT_Perp": "0x030501"}  # the hash GRVT uses for BTC_USDT_Perp (GRVT docs: instrument)

_REASONS: Final = {
    REASON_POST_ONLY_WOULD_CROSS: "FAIL_POST_ONLY",
    REASON_FOK_NOT_FILLABLE: "FOK_CANCEL",
    REASON_REDUCE_ONLY_WOULD_INCREASE: "FAIL_REDUCE_ONLY",
    REASON_REDUCE_ONLY_CAPPED: "REDUCE_ONLY_LIMIT",
    REASON_DUPLICATE_CLIENT_ORDER_ID: "OVERLAPPING_CLIENT_ORDER_ID",
    REASON_BOOK_UNAVAILABLE: "SYSTEM_FAILOVER",
}
"""Matching-engine reasons -> GRVT ``OrderRejectReason`` (GRVT WS docs: trading streams). Cancels and IOC remainders
depend on the order (see :meth:`._state._GrvtState._wire_reason`)."""

_TRIGGER_NONE: Final = {
    "trigger_type": "UNSPECIFIED",
    "tpsl": {"trigger_by": "UNSPECIFIED", "trigger_price": "0.0", "close_position": False},
}

# EIP-712 WalletLogin (ccxt ``eip_definitions``; docs /auth/): digest = keccak(0x1901 || domain || struct).
_DOMAIN_TYPEHASH: Final = keccak256(b"EIP712Domain(string name,string version,uint256 chainId)")
_WALLET_LOGIN_TYPEHASH: Final = keccak256(b"WalletLogin(address signer,uint32 nonce,int64 expiration)")


# ---------------------------------------------------------------------------------------------- internals
class _ApiError(SimApiError):
    """A venue error answer: GRVT ``code`` (and HTTP status from the code table unless given)."""

    def __init__(self, code: int, message: str | None = None, *, http_status: int | None = None) -> None:
        super().__init__(f"{code}: {message or ''}")
        self.code = code
        self.message = message
        self.http_status = http_status

    def body(self) -> tuple[int, dict[str, Any]]:
        return format_error_body(self.code, self.message, http_status=self.http_status)

    def response(self) -> Response:
        """``{"code","message","status"}`` with the code table's HTTP status; 1006 (rate limited) with
        ``Retry-After: 1``."""
        status, payload = self.body()
        headers = {"Retry-After": "1"} if self.code == 1006 else None
        return Response(encode_json(payload), status, headers=headers, media_type="application/json")


# ---------------------------------------------------------------------------------------------- small helpers
async def _read_body(request: Request) -> bytes:
    """The request body, at most ``MAX_BODY_BYTES``. A larger body is read to its end (up to 4x the limit)
    and discarded before the 1003 answer, so that the client, still sending, gets to read it."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > 4 * MAX_BODY_BYTES:
        raise _ApiError(1003, "request body too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > 4 * MAX_BODY_BYTES:
            break
        if size <= MAX_BODY_BYTES:
            chunks.append(chunk)
    if size > MAX_BODY_BYTES:
        raise _ApiError(1003, "request body too large")
    return b"".join(chunks)


def _decode_body(raw: bytes, content_type: str) -> Any:
    """A request body as the venue reads it: JSON with ``Content-Type: application/json`` (else 1003)."""
    if content_type.split(";", 1)[0].strip().lower() != "application/json":
        raise _ApiError(1003, "Content-Type must be application/json")
    try:
        return decode_json(raw or b"{}")
    except GrvtProtocolError as exc:
        raise _ApiError(1003, str(exc)[:200]) from None


def _raw_id(data: str | bytes) -> int | None:
    try:
        obj = decode_json(data)
    except GrvtProtocolError:
        return None
    rid = obj.get("id", obj.get("i")) if isinstance(obj, dict) else None
    return rid if isinstance(rid, int) and not isinstance(rid, bool) and 0 <= rid < 2**32 else None


def _opt_uint(body: Mapping[str, Any], name: str, *, default: int) -> int:
    """An optional unsigned integer field (int or decimal string). Raises _ApiError 1003."""
    value = body.get(name)
    if value is None or value == "":
        return default
    try:
        return _uint_field(value, 2**63 - 1, name)
    except BadValue as exc:
        raise _ApiError(1003, str(exc)) from None


def _uint_field(value: Any, maximum: int, name: str) -> int:
    if isinstance(value, bool):
        raise BadValue(f"{name}: expected an unsigned integer")
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit() and len(value) <= 20):
            raise BadValue(f"{name}: expected an unsigned integer")
        value = int(value)
    if not isinstance(value, int) or not 0 <= value <= maximum:
        raise BadValue(f"{name}: expected an unsigned integer <= {maximum}")
    return value


def _str_list(body: Mapping[str, Any], name: str) -> list[str] | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _ApiError(1003, f"{name}: expected an array of strings")
    return value


def _decimal_or_none(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    try:
        d = Decimal(value)
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


def _page(items: list[Any], body: Mapping[str, Any]) -> tuple[list[Any], str]:
    """One page of a newest-first history: ``limit`` (default 500, max 1000) from the ``cursor`` (an offset
    this server issued). Returns (page, next cursor or "")."""
    limit = min(_opt_uint(body, "limit", default=500) or 500, 1000)
    cursor = body.get("cursor")
    start = 0
    if cursor not in (None, ""):
        if not isinstance(cursor, str) or not cursor.isdigit() or len(cursor) > 12:
            raise _ApiError(1003, "cursor: not a cursor this venue issued")
        start = int(cursor)
    page = items[start : start + limit]
    return page, str(start + limit) if start + limit < len(items) else ""
