"""ccxt's exception tree onto ours (trio_hedge/venues/ccxt/_errors.py ERROR_TABLE): one test per row, each with
the ccxt exception a ccxt client raises (ccxt/base/errors.py), for a read and for a write where the row tells
them apart."""

from __future__ import annotations

import ccxt
import pytest

from trio_hedge.domain import (
    AuthError,
    InsufficientMargin,
    InvalidOrder,
    OrderNotFound,
    OrderRejected,
    PostOnlyWouldCross,
    RateLimited,
    UnknownOutcome,
    VenueUnavailable,
    retry_class,
)
from trio_hedge.venues.ccxt._errors import ERROR_TABLE, Call, map_ccxt_error

READ, WRITE, POST_ONLY = Call(), Call(write=True), Call(write=True, post_only=True)
CANCEL = Call(write=True, cancel=True)


@pytest.mark.parametrize(
    ("exc", "call", "ours", "retry"),
    [
        (ccxt.RateLimitExceeded("429 too many"), Call(retry_after_s=2.0), RateLimited, "backoff"),
        (ccxt.DDoSProtection("slow down"), WRITE, RateLimited, "backoff"),
        (ccxt.InsufficientFunds("margin"), WRITE, InsufficientMargin, "never"),
        (ccxt.OrderImmediatelyFillable("would take"), POST_ONLY, PostOnlyWouldCross, "never"),
        (ccxt.OrderNotFound("no such order"), READ, OrderNotFound, "transient"),
        (ccxt.InvalidOrder("size below minimum"), WRITE, InvalidOrder, "never"),
        (ccxt.InvalidOrder('{"code":"INVALID_ORDER","message":"Order would immediately match and take"}'),
         POST_ONLY, PostOnlyWouldCross, "never"),
        (ccxt.BadSymbol("no market XYZ"), WRITE, InvalidOrder, "never"),
        (ccxt.AccountSuspended("suspended"), READ, AuthError, "never"),
        (ccxt.PermissionDenied("no trading permission"), WRITE, AuthError, "never"),
        (ccxt.AuthenticationError("bad signature"), READ, AuthError, "never"),
        (ccxt.RequestTimeout("timed out"), WRITE, UnknownOutcome, "resolve"),
        (ccxt.RequestTimeout("timed out"), READ, VenueUnavailable, "transient"),
        (ccxt.ExchangeNotAvailable("503"), WRITE, UnknownOutcome, "resolve"),
        (ccxt.ExchangeNotAvailable("503"), READ, VenueUnavailable, "transient"),
        (ccxt.NetworkError("connection reset"), WRITE, UnknownOutcome, "resolve"),
        (ccxt.NetworkError("connection reset"), READ, VenueUnavailable, "transient"),
        (ccxt.ExchangeError("something else"), WRITE, OrderRejected, "never"),
        (ccxt.ExchangeError("something else"), READ, VenueUnavailable, "transient"),
        # "not found" in an answer with no row of its own: the order, on a read or a cancel; on a new order it names
        # something else, and the order was refused
        (ccxt.OperationRejected('{"code":1004,"message":"Data Not Found"}'), READ, OrderNotFound, "transient"),
        (ccxt.BadRequest('{"code":"RESOURCE_NOT_FOUND","message":"Order not found"}'), CANCEL, OrderNotFound,
         "transient"),
        (ccxt.ExchangeError("market not found"), WRITE, OrderRejected, "never"),
        (ccxt.ExchangeError("market not found"), POST_ONLY, OrderRejected, "never"),
    ],
)
def test_each_row_maps_to_our_error_and_retry_class(exc: Exception, call: Call, ours: type, retry: str) -> None:
    mapped = map_ccxt_error("v", exc, call)
    assert type(mapped) is ours
    assert retry_class(mapped) == retry
    assert mapped.venue == "v" and mapped.code == type(exc).__name__ and str(exc) in mapped.message
    if isinstance(mapped, RateLimited):
        assert mapped.retry_after_s == call.retry_after_s


def test_every_row_is_reachable_subclasses_before_parents() -> None:
    classes = [cls for cls, _make in ERROR_TABLE]
    for i, cls in enumerate(classes):
        assert not any(issubclass(cls, earlier) for earlier in classes[:i]), f"{cls.__name__} is shadowed"


def test_a_non_ccxt_exception_is_not_translated() -> None:
    with pytest.raises(TypeError):
        map_ccxt_error("v", ValueError("a bug"), READ)
