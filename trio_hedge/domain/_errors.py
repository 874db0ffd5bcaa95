"""The root of trio_hedge's exception tree and the domain layer's own errors.

Tree (one root, semantic subtrees, in the manner of httpx's ``_exceptions.py``)::

    TrioHedgeError
    ├── BadValue                 a number or enum that is not acceptable (NaN, negative, off-tick, ...)
    ├── IllegalTransition        an order state machine was asked to make an impossible move
    ├── BookError
    │   ├── BookInvalid          the book is not usable (gap, crossed, never synced); resync first
    │   └── SequenceGap          a delta does not continue the previous one; the book is now invalid
    └── (the venue error tree is in _venue_errors.py; engine errors live in the engine)
"""

from __future__ import annotations

import trio


class TrioHedgeError(Exception):
    """Root of every error trio_hedge raises on purpose."""


class BadValue(TrioHedgeError, ValueError):
    """A price, size or enum value that the domain refuses (non-finite, negative, off-grid, unknown)."""


class IllegalTransition(TrioHedgeError):
    """An order was asked to move between two states the state machine does not connect.

    Attributes:
        client_order_id (str): the order concerned.
        current (str): its state before the attempted move.
        requested (str): the state that was refused.
    """

    def __init__(self, client_order_id: str, current: str, requested: str) -> None:
        super().__init__(f"order {client_order_id}: illegal transition {current} -> {requested}")
        self.client_order_id = client_order_id
        self.current = current
        self.requested = requested


class BookError(TrioHedgeError):
    """Base of order book errors."""


class BookInvalid(BookError):
    """The book cannot be used until it is resynced from a snapshot (reason in the message)."""


class SequenceGap(BookInvalid):
    """An update did not continue the previous one (missing or out-of-order sequence number).

    Attributes:
        expected (int): the sequence number the book was waiting for.
        got (int): the one that arrived.
    """

    def __init__(self, symbol: str, expected: int, got: int) -> None:
        super().__init__(f"{symbol}: sequence gap, expected {expected}, got {got}; resync required")
        self.expected = expected
        self.got = got


def leaves(exc: BaseException) -> list[BaseException]:
    """Every exception inside a (nested) exception group, depth first, in order; ``[exc]`` for a plain one."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in leaves(sub)]
    return [exc]


def sole_failure(exc: BaseException) -> BaseException:
    """What ``exc`` stands for at a task boundary: when ``exc`` is a (nested) exception group holding exactly
    one exception that is not :class:`trio.Cancelled`, that exception (the failure that cancelled its
    siblings); otherwise ``exc`` itself: a plain exception, a group of several failures (no failure is ever
    dropped: the caller keeps, logs and weighs every leaf, :func:`leaves`), or a group of cancellations only.

    The rule trio-websocket applies to the nursery inside ``open_websocket`` (python-trio/trio-websocket,
    ``trio_websocket/_impl.py``, the ``except`` of ``open_websocket``: one exception, or exactly one
    non-``Cancelled`` one, is raised as itself; several real ones are not collapsed).
    """
    if not isinstance(exc, BaseExceptionGroup):
        return exc
    real = [leaf for leaf in leaves(exc) if not isinstance(leaf, trio.Cancelled)]
    return real[0] if len(real) == 1 else exc
