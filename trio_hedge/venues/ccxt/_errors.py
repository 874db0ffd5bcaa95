"""ccxt's exception tree onto ours, in one table (:data:`ERROR_TABLE`; ccxt's tree: ``ccxt/base/errors.py``,
https://docs.ccxt.com/#/README?id=exception-hierarchy).

The table is read top to bottom and the first row whose ccxt class the exception is an instance of wins, so a
subclass comes before its parent (ccxt's ``OrderNotFound`` and ``OrderImmediatelyFillable`` are ``InvalidOrder``
subclasses; ``RateLimitExceeded`` is a ``DDoSProtection`` is a ``NetworkError``). What a row maps to can depend on
whether the call was a *write* (it may have changed state on the venue) and on whether the order was post-only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import ccxt

from ...domain import (
    AuthError,
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


@dataclass(frozen=True, slots=True)
class Call:
    """What was asked when the error came: ``write`` (create/cancel: may have reached the venue), ``cancel`` (a
    cancel: a write about an order that exists, or not), ``post_only``
    (a post-only order: an ``InvalidOrder`` that says it would take is a post-only reject), ``retry_after_s`` (the
    venue's ``Retry-After``, read from the call's own response: ``_session.py`` ``capture_response_headers``)."""

    write: bool = False
    post_only: bool = False
    retry_after_s: float | None = None
    cancel: bool = False


_WOULD_TAKE = ("post only", "post-only", "postonly", "immediately", "would cross", "would take", "would match",
               "post_only")


def _invalid(venue: str, msg: str, code: str, call: Call) -> VenueError:
    if call.post_only and any(w in msg.lower() for w in _WOULD_TAKE):
        return PostOnlyWouldCross(venue, msg, code=code)
    return InvalidOrder(venue, msg, code=code)


def _network(venue: str, msg: str, code: str, call: Call) -> VenueError:
    return (UnknownOutcome if call.write else VenueUnavailable)(venue, msg, code=code)


def _other(venue: str, msg: str, code: str, call: Call) -> VenueError:
    # the exchange answered with an error we have no row for: a write it refused did not happen. ccxt raises some
    # exchanges' "not found" answers to an order query or cancel as a plain ExchangeError/BadRequest/
    # OperationRejected (GRVT 1004 "Data Not Found", Backpack "Order not found"): they are OrderNotFound. On a new
    # order "not found" names something else ("market not found", "account not found"): the order was refused
    if "not found" in msg.lower() and (call.cancel or not call.write):
        return OrderNotFound(venue, msg, code=code)
    return (OrderRejected if call.write else VenueUnavailable)(venue, msg, code=code)


Row = tuple[type[BaseException], Callable[[str, str, str, Call], VenueError]]

ERROR_TABLE: tuple[Row, ...] = (
    # rate limits: back off, honour Retry-After when the venue sent one
    (ccxt.RateLimitExceeded, lambda v, m, c, call: RateLimited(v, m, code=c, retry_after_s=call.retry_after_s)),
    (ccxt.DDoSProtection, lambda v, m, c, call: RateLimited(v, m, code=c, retry_after_s=call.retry_after_s)),
    # margin: no retry, the market halts
    (ccxt.InsufficientFunds, lambda v, m, c, call: InsufficientMargin(v, m, code=c)),
    # a post-only that would take is a reject (PostOnlyWouldCross), not an error
    (ccxt.OrderImmediatelyFillable, lambda v, m, c, call: PostOnlyWouldCross(v, m, code=c)),
    (ccxt.OrderNotFound, lambda v, m, c, call: OrderNotFound(v, m, code=c)),
    (ccxt.InvalidOrder, _invalid),
    (ccxt.BadSymbol, lambda v, m, c, call: InvalidOrder(v, m, code=c)),
    # credentials: fatal (config problem, exit 78)
    (ccxt.AccountSuspended, lambda v, m, c, call: AuthError(v, m, code=c)),
    (ccxt.PermissionDenied, lambda v, m, c, call: AuthError(v, m, code=c)),
    (ccxt.AuthenticationError, lambda v, m, c, call: AuthError(v, m, code=c)),
    # the wire: a write may have happened (resolve by query); a read is transient
    (ccxt.RequestTimeout, _network),
    (ccxt.ExchangeNotAvailable, _network),
    (ccxt.NetworkError, _network),
    # anything else ccxt raises: a typed venue error carrying the exchange's message ("not found" on a read or a
    # cancel: OrderNotFound)
    (ccxt.BaseError, _other),
)
"""(ccxt exception class, maker of our error) rows, most specific first; see the module docstring."""


def map_ccxt_error(venue: str, exc: BaseException, call: Call) -> VenueError:
    """Our :class:`VenueError` for ccxt's ``exc`` (the first matching row of :data:`ERROR_TABLE`). The code is the
    ccxt class name; the message is the exchange's, truncated (ccxt puts the response body in it, never the
    request's credentials).

    Raises:
        TypeError: ``exc`` is not a ccxt error (a bug elsewhere: not ours to translate).
    """
    for cls, make in ERROR_TABLE:
        if isinstance(exc, cls):
            return make(venue, str(exc)[:400], type(exc).__name__, call)
    raise TypeError(f"not a ccxt error: {type(exc).__name__}") from exc
