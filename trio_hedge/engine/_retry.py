"""Retries by error class: the one place that decides what the engine does after a venue error.

The hedger (quotes, hedge slices, unwind), the order tracker's queries and the cleanup's flatten all send
through :func:`submit_order` (orders) and :func:`call_venue` (idempotent requests: cancels, queries, position
reads). The classes are :func:`trio_hedge.venues.retry_class` (``venues/_errors.py``):

==============  ==========================================  ==============================================
class           errors                                      what happens
==============  ==========================================  ==============================================
``backoff``     RateLimited (GRVT 1006, HTTP 429)           exponential backoff with jitter (at least the
                                                            venue's ``retry_after_s``), then the SAME request
                                                            again (same client order id: the venue refused
                                                            it, and places are idempotent by id), at most
                                                            ``rate_limit_retries`` times
``never``       InsufficientMargin, InvalidOrder, AuthError never retried; :class:`MarketHalted` with the
                                                            venue's message, for AuthError its subclass
                                                            CredentialsRefused (exit 78); for the reduce-only
                                                            unwind and the flatten, which re-read the position
                                                            instead, the order is reported refused
``never``       other OrderRejected (PostOnlyWouldCross...)  reported refused: the order does not exist; the
                                                            caller may decide a NEW order (re-price)
``resolve``     UnknownOutcome, DuplicateClientOrderId      reported unknown: the caller resolves the order
                                                            by query (stream, then status by client order
                                                            id) BEFORE sending any new order under a new id
``transient``   VenueUnavailable (nothing was sent), others the same request again after a backoff, at most
                                                            ``transient_retries`` times
==============  ==========================================  ==============================================

Backoff: ``delay = min(backoff_max_s, backoff_s * 2**attempt) * U(0.5, 1.0)`` ("equal jitter", AWS
Architecture Blog "Exponential Backoff and Jitter"), raised to ``retry_after_s`` when the venue names one.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import trio
from loguru import logger

from ..domain import OrderRequest
from ..venues import (
    AuthError,
    InsufficientMargin,
    InvalidOrder,
    OrderNotFound,
    OrderRejected,
    OrderReport,
    RateLimited,
    UnknownOutcome,
    Venue,
    VenueError,
    retry_class,
)
from ._errors import CredentialsRefused, MarketHalted

if TYPE_CHECKING:
    from loguru import Logger

T = TypeVar("T")

HALTING = (InsufficientMargin, InvalidOrder, AuthError)
"""Errors that halt the market: retrying cannot fix them."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times and how long to retry, by error class.

    Attributes:
        backoff_s (float): first backoff step, seconds.
        backoff_max_s (float): cap of one backoff step, seconds.
        rate_limit_retries (int): retries after RateLimited before giving up.
        transient_retries (int): retries after a transient error (VenueUnavailable) before giving up.
    """

    backoff_s: float = 0.1
    backoff_max_s: float = 2.0
    rate_limit_retries: int = 5
    transient_retries: int = 3

    def delay_s(self, attempt: int, retry_after_s: float | None = None) -> float:
        """Backoff before retry number ``attempt`` (0-based), seconds (see the module docstring)."""
        step = min(self.backoff_max_s, self.backoff_s * 2.0 ** min(attempt, 30))
        delay = step * (0.5 + random.random() / 2)
        if retry_after_s is not None and retry_after_s > delay:
            delay = retry_after_s
        return delay


class SubmitOutcome(enum.StrEnum):
    """What became of an order after :func:`submit_order`.

    ACCEPTED: the venue acknowledged it. REFUSED: definitively refused (it does not exist). UNKNOWN: it may
    or may not exist: resolve by query before anything new. FAILED: retries exhausted; nothing was sent.
    """

    ACCEPTED = "accepted"
    REFUSED = "refused"
    UNKNOWN = "unknown"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """Result of :func:`submit_order`.

    Attributes:
        outcome (SubmitOutcome): see the enum.
        report (OrderReport | None): the venue's acknowledgement (ACCEPTED only).
        error (VenueError | None): the last error (every outcome but ACCEPTED).
        attempts (int): place calls made.
    """

    outcome: SubmitOutcome
    report: OrderReport | None = None
    error: VenueError | None = None
    attempts: int = 1


async def submit_order(
    venue: Venue, request: OrderRequest, *, policy: RetryPolicy, halt_on_refusal: bool = True,
    log: Logger | None = None,
) -> SubmitResult:
    """Send ``request`` with retries by error class (see the module docstring).

    Args:
        venue: where.
        request: the order (its client order id is reused on every retry).
        policy: retry bounds and backoff.
        halt_on_refusal: raise :class:`MarketHalted` on InsufficientMargin/InvalidOrder/AuthError (quotes and
            hedges); False reports them REFUSED (the reduce-only unwind and the flatten re-read the position).
        log: where to log retries.

    Returns:
        SubmitResult: ACCEPTED, REFUSED, UNKNOWN (resolve by query before any new order) or FAILED.

    Raises:
        MarketHalted: a halting refusal with ``halt_on_refusal`` (:class:`CredentialsRefused`, exit 78, when the
            venue refused the credentials).
    """
    log = log or logger.bind(tag=f"{venue.name.upper()}_{request.symbol}")
    rate_limited = 0
    transient = 0
    attempts = 0
    while True:
        attempts += 1
        try:
            report = await venue.place(request)
            return SubmitResult(SubmitOutcome.ACCEPTED, report=report, attempts=attempts)
        except HALTING as exc:
            if halt_on_refusal:
                if isinstance(exc, AuthError):
                    raise CredentialsRefused(exc, f"on {request.reason or 'an'} order {request.client_order_id}") \
                        from None
                raise MarketHalted(
                    f"{venue.name} refused {request.reason or 'an'} order {request.client_order_id} "
                    f"({request.side} {request.size} {request.symbol}): {type(exc).__name__}: {exc.message}. "
                    "Not retried (retrying cannot fix it): halting the market"
                ) from None
            return SubmitResult(SubmitOutcome.REFUSED, error=exc, attempts=attempts)
        except RateLimited as exc:
            if rate_limited >= policy.rate_limit_retries:
                log.error("{} order {} still rate limited after {} retries: giving up", request.reason,
                          request.client_order_id, rate_limited)
                return SubmitResult(SubmitOutcome.FAILED, error=exc, attempts=attempts)
            delay = policy.delay_s(rate_limited, exc.retry_after_s)
            rate_limited += 1
            log.warning("{} order {} rate limited ({}); retry {} in {:.3f}s", request.reason,
                        request.client_order_id, exc.message, rate_limited, delay)
            await trio.sleep(delay)
        except VenueError as exc:
            cls = retry_class(exc)
            if cls == "never":
                return SubmitResult(SubmitOutcome.REFUSED, error=exc, attempts=attempts)
            if cls == "resolve":
                log.warning("{} order {} outcome unknown ({}): resolving by query", request.reason,
                            request.client_order_id, exc)
                return SubmitResult(SubmitOutcome.UNKNOWN, error=exc, attempts=attempts)
            if transient >= policy.transient_retries:
                log.error("{} order {} failed after {} retries: {}", request.reason, request.client_order_id,
                          transient, exc)
                return SubmitResult(SubmitOutcome.FAILED, error=exc, attempts=attempts)
            delay = policy.delay_s(transient)
            transient += 1
            log.warning("{} order {}: {} ({}); retry {} in {:.3f}s", request.reason, request.client_order_id,
                        type(exc).__name__, exc.message, transient, delay)
            await trio.sleep(delay)


async def call_venue(
    fn: Callable[..., Awaitable[T]], *args: Any, policy: RetryPolicy, what: str, log: Logger | None = None
) -> T:
    """Call an idempotent venue request (cancel, cancel-all, status, positions, fills) with retries.

    RateLimited: backoff, at most ``rate_limit_retries`` times. UnknownOutcome and transient errors: the same
    call again after a backoff, at most ``transient_retries`` times (these requests are idempotent).

    Raises:
        VenueError: the last error once the retries are exhausted; OrderRejected, AuthError and OrderNotFound
            at once (an answer, not a failure to get one).
    """
    log = log or logger.bind(tag="RETRY")
    rate_limited = 0
    other = 0
    while True:
        try:
            return await fn(*args)
        except RateLimited as exc:
            if rate_limited >= policy.rate_limit_retries:
                raise
            delay = policy.delay_s(rate_limited, exc.retry_after_s)
            rate_limited += 1
            log.warning("{} rate limited ({}); retry {} in {:.3f}s", what, exc.message, rate_limited, delay)
            await trio.sleep(delay)
        except (OrderRejected, AuthError, OrderNotFound):
            raise
        except VenueError as exc:
            if other >= policy.transient_retries:
                raise
            delay = policy.delay_s(other)
            other += 1
            log.warning("{} failed ({}: {}); retry {} in {:.3f}s", what, type(exc).__name__, exc.message, other,
                        delay)
            await trio.sleep(delay)


def answered_5xx(exc: BaseException | None) -> bool:
    """True when ``exc`` is an :class:`~trio_hedge.venues.UnknownOutcome` the venue (or a proxy in front of
    it) answered with an HTTP 5xx: the request got an answer, and the order most likely never reached the
    matching engine (unlike a connection reset or a timeout, where it may be on its way). The adapters give
    such errors the code ``"HTTP 5xx"`` (a non-JSON body) or ``"SERVER_ERROR"`` (Backpack's JSON 5xx body:
    ``venues/backpack/_wire.py`` ``error_from_response``)."""
    code = str(getattr(exc, "code", "") or "").upper()
    return isinstance(exc, UnknownOutcome) and (code.startswith("HTTP 5") or code == "SERVER_ERROR")
