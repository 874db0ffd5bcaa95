"""REST plumbing shared by the wire adapters: ``Retry-After`` parsing and :class:`RestCaller`, the one REST call
helper with read/write semantics."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import httpx
import trio

from .._errors import RateLimited, UnknownOutcome, VenueUnavailable
from .._ws import Backoff

if TYPE_CHECKING:
    from loguru import Logger

T = TypeVar("T")

RETRY_AFTER_MAX_S = 300.0
"""A ``Retry-After`` longer than this is not believed (ignored: the caller's own backoff applies)."""


def retry_after_s(value: str | None) -> float | None:
    """Seconds from an HTTP ``Retry-After`` header in its delay-seconds form (RFC 9110 §10.2.3), or None when it
    is absent, not a number, negative, non-finite or over :data:`RETRY_AFTER_MAX_S`."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and 0 <= seconds <= RETRY_AFTER_MAX_S else None


CONNECT_ERRORS: tuple[type[httpx.HTTPError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
)
"""httpx errors raised before a request was sent: nothing reached the venue."""


class RestCaller:
    """One REST call helper with read/write semantics, for every wire adapter.

    A *write* (a request that changes state and is not safe to repeat: place, cancel, cancel all) that may have
    reached the venue ends in :class:`UnknownOutcome` (no answer within ``budget_s``, a transport error after the
    connection was made, a 5xx, an unreadable answer), to be resolved by query; a write that could not be sent
    (cannot connect) is :class:`VenueUnavailable`; a rate-limited write is :class:`RateLimited` at once (the
    order does not exist; the caller decides). A *read* (or an idempotent write) is retried up to
    ``read_attempts`` times on :class:`VenueUnavailable`, :class:`RateLimited` (after the venue's ``Retry-After``
    when longer than the backoff) and 5xx, then raises :class:`VenueUnavailable` (or :class:`RateLimited`).

    Args:
        venue: venue name for errors. budget_s: the adapter's own deadline on one HTTP exchange, seconds.
        read_attempts: tries of a read (>= 1). backoff_min_s, backoff_max_s: the retry backoff.
        protocol_errors: the venue codec's "unreadable answer" errors (a write's become UnknownOutcome).
        log: the adapter's logger.
    """

    def __init__(
        self,
        venue: str,
        *,
        budget_s: float,
        read_attempts: int,
        backoff_min_s: float,
        backoff_max_s: float,
        protocol_errors: tuple[type[Exception], ...],
        log: Logger,
    ) -> None:
        self._venue = venue
        self._budget_s = budget_s
        self._attempts = max(1, read_attempts)
        self._backoff = (backoff_min_s, backoff_max_s)
        self._protocol_errors = protocol_errors
        self._log = log

    async def call(
        self,
        what: str,
        send: Callable[[], Awaitable[httpx.Response]],
        decode: Callable[[httpx.Response], T],
        *,
        write: bool,
    ) -> T:
        """Send with ``send()`` and return ``decode(response)`` (which raises the venue's mapped
        :class:`VenueError` for an error answer: RateLimited, UnknownOutcome for a 5xx, ...).

        Raises:
            UnknownOutcome (writes), VenueUnavailable, RateLimited, and whatever else ``decode`` raises.
        """
        backoff = Backoff(*self._backoff)
        attempt = 0
        while True:
            attempt += 1
            last = write or attempt >= self._attempts
            try:
                response = await self._exchange(what, send, write=write)
                try:
                    return decode(response)
                except self._protocol_errors as exc:
                    if write:
                        raise UnknownOutcome(self._venue, f"{what}: unreadable answer ({str(exc)[:200]})",
                                             code="PROTOCOL") from None  # fmt: skip
                    raise
            except RateLimited as exc:
                if last:
                    raise
                delay = max(exc.retry_after_s or 0.0, backoff.next_delay_s())
                self._log.warning("{}: rate limited; retrying in {:.2f}s", what, delay)
            except UnknownOutcome as exc:  # a 5xx, or a transport failure of a read
                if write:
                    raise
                if last:
                    raise VenueUnavailable(self._venue, f"{what}: {exc.message}", code=exc.code) from None
                delay = backoff.next_delay_s()
            except VenueUnavailable:
                if last:
                    raise
                delay = backoff.next_delay_s()
            await trio.sleep(delay)

    async def _exchange(
        self, what: str, send: Callable[[], Awaitable[httpx.Response]], *, write: bool
    ) -> httpx.Response:
        try:
            with trio.fail_after(self._budget_s):
                return await send()
        except trio.TooSlowError:
            text = f"{what}: no response within {self._budget_s}s"
            if write:
                raise UnknownOutcome(self._venue, text, code="timeout") from None
            raise VenueUnavailable(self._venue, text, code="timeout") from None
        except CONNECT_ERRORS as exc:
            text = f"{what}: cannot connect ({type(exc).__name__})"
            raise VenueUnavailable(self._venue, text, code="connect") from None
        except httpx.HTTPError as exc:  # sent (or partly sent): read/write timeout, reset, protocol error
            text = f"{what}: transport error ({type(exc).__name__})"
            if write:
                raise UnknownOutcome(self._venue, text, code="transport") from None
            raise VenueUnavailable(self._venue, text, code="transport") from None
