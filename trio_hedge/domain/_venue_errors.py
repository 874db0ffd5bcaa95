"""Typed venue errors: every protocol codec and adapter maps its wire errors onto this tree.

They live in the domain because every layer speaks them: the protocol codecs raise them while parsing a
venue's error bodies, the adapters and the in-process simulator venue raise them from the ``Venue`` calls,
the wire simulators use them to check requests, and the engine retries by their class.

Tree::

    TrioHedgeError
    └── VenueError                 (venue, code, message)
        ├── RateLimited            back off (retry_after_s when the venue says); GRVT 1006, HTTP 429
        ├── OrderRejected          definitive refusal: the order does not exist; never retried as is
        │   ├── InsufficientMargin GRVT 2080, Backpack INSUFFICIENT_MARGIN/INSUFFICIENT_FUNDS
        │   ├── InvalidOrder       size/tick/notional/min-size/post-only/reduce-only rule broken
        │   │                      (GRVT 2062/2064/2065/2066, 240x; Backpack INVALID_ORDER): halt the market
        │   └── PostOnlyWouldCross a post-only order that would have taken liquidity
        ├── DuplicateClientOrderId GRVT 2012: the id is live already; query it, it may exist
        ├── OrderNotFound          the venue does not know that order (not proof it never existed)
        ├── UnknownOutcome         timeout, 5xx, dropped connection after sending: resolve by query
        ├── VenueUnavailable       cannot reach the venue or a feed is down past its budget
        └── AuthError              login or signature refused (config problem, do not retry blindly)

Classification (:func:`retry_class`) drives retries in the engine: ``"backoff"`` for RateLimited,
``"never"`` for OrderRejected/AuthError, ``"resolve"`` for UnknownOutcome/DuplicateClientOrderId,
``"transient"`` for VenueUnavailable.
"""

from __future__ import annotations

from typing import Literal

from ._errors import TrioHedgeError

RetryClass = Literal["backoff", "never", "resolve", "transient"]


class VenueError(TrioHedgeError):
    """A venue said no, or could not be reached.

    Attributes:
        venue (str): configured venue name.
        code (str): the venue's own error code (``"2080"``, ``"INSUFFICIENT_MARGIN"``, ``"HTTP 503"``), or ``""``.
        message (str): the venue's message, truncated; never contains credentials.
    """

    def __init__(self, venue: str, message: str, *, code: str = "") -> None:
        text = f"[{venue}] {code + ': ' if code else ''}{message}"
        super().__init__(text[:500])
        self.venue = venue
        self.code = code
        self.message = message[:400]


class RateLimited(VenueError):
    def __init__(self, venue: str, message: str, *, code: str = "", retry_after_s: float | None = None) -> None:
        super().__init__(venue, message, code=code)
        self.retry_after_s = retry_after_s


class OrderRejected(VenueError):
    """The venue definitively refused the order (it does not exist on the venue)."""


class InsufficientMargin(OrderRejected):
    pass


class InvalidOrder(OrderRejected):
    pass


class PostOnlyWouldCross(OrderRejected):
    pass


class DuplicateClientOrderId(VenueError):
    pass


class OrderNotFound(VenueError):
    pass


class UnknownOutcome(VenueError):
    """We sent something and do not know whether the venue acted on it; resolve by client order id."""


class VenueUnavailable(VenueError):
    pass


class AuthError(VenueError):
    pass


def retry_class(exc: VenueError) -> RetryClass:
    """How the engine may retry after ``exc`` (see the module docstring)."""
    if isinstance(exc, RateLimited):
        return "backoff"
    if isinstance(exc, (OrderRejected, AuthError)):
        return "never"
    if isinstance(exc, (UnknownOutcome, DuplicateClientOrderId)):
        return "resolve"
    return "transient"
