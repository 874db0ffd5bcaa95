"""The venue session kernel: the machinery every wire adapter shares, so that an adapter holds only what is its
venue's own (auth, subscriptions, routes).

* :mod:`._feed`: :class:`FeedBook` (book + ``FeedState`` + change notification + failure mark) and
  :class:`ReadyLatch`.
* :mod:`._dedupe`: :class:`EventGate` (each fill once by trade id; order updates by status rank and filled size;
  positions when changed).
* :mod:`._reconcile`: :class:`Reconciler`, the one reconciliation-after-reconnect loop (statuses, then fills,
  then positions) with the one retry policy.
* :mod:`._rest`: :class:`RestCaller`, the one REST call helper with read/write semantics (a write that may have
  reached the venue is an ``UnknownOutcome``; a read is retried), and ``Retry-After`` parsing.
* :mod:`._session`: :class:`VenueAccessors`, the Venue accessors every adapter answers the same way.
* :mod:`._watchdog`: :class:`PrivateWatchdog`, for venues without cancel-on-disconnect.
"""

from ._dedupe import EventGate as EventGate
from ._feed import FeedBook as FeedBook
from ._feed import ReadyLatch as ReadyLatch
from ._feed import Resync as Resync
from ._reconcile import Reconciler as Reconciler
from ._reconcile import update_from_report as update_from_report
from ._rest import RestCaller as RestCaller
from ._rest import retry_after_s as retry_after_s
from ._session import VenueAccessors as VenueAccessors
from ._watchdog import PrivateWatchdog as PrivateWatchdog

__all__ = [
    "EventGate",
    "FeedBook",
    "PrivateWatchdog",
    "ReadyLatch",
    "Reconciler",
    "RestCaller",
    "Resync",
    "VenueAccessors",
    "retry_after_s",
    "update_from_report",
]
