"""The venue session kernel: the machinery every wire adapter shares, so that an adapter holds only what is its
venue's own (auth, subscriptions, routes).

* :mod:`._feed`: :class:`FeedBook` (book + ``FeedState`` + change notification + failure mark) and
  :class:`ReadyLatch`.
"""

from ._feed import FeedBook as FeedBook
from ._feed import ReadyLatch as ReadyLatch

__all__ = ["FeedBook", "ReadyLatch"]
