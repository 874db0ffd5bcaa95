"""Venues layer: the venue interface (``Venue``, with ``OrderReport``, ``FeedState`` and the typed venue errors,
which are defined in the domain so that the protocols can use them), the WebSocket plumbing (``_ws``), and one
adapter package per wire venue (``grvt/``, ``backpack/``). Imports the protocols (:mod:`trio_hedge.protocols`,
the codecs and signing the adapters speak), the domain and the root's ``trio_hedge._redact`` /
``trio_hedge._streams``; never ``sim``, the engine or the app (tests/test_layers.py checks it). The in-process
simulator venue lives in :mod:`trio_hedge.sim` (``sim/_venue.py``)."""

from ._base import STREAMS as STREAMS
from ._base import Capability as Capability
from ._base import FeedState as FeedState
from ._base import OrderReport as OrderReport
from ._base import SessionTimeouts as SessionTimeouts
from ._base import Venue as Venue
from ._base import capabilities as capabilities
from ._errors import AuthError as AuthError
from ._errors import DuplicateClientOrderId as DuplicateClientOrderId
from ._errors import InsufficientMargin as InsufficientMargin
from ._errors import InvalidOrder as InvalidOrder
from ._errors import OrderNotFound as OrderNotFound
from ._errors import OrderRejected as OrderRejected
from ._errors import PostOnlyWouldCross as PostOnlyWouldCross
from ._errors import RateLimited as RateLimited
from ._errors import RetryClass as RetryClass
from ._errors import UnknownOutcome as UnknownOutcome
from ._errors import VenueError as VenueError
from ._errors import VenueUnavailable as VenueUnavailable
from ._errors import retry_class as retry_class

__all__ = [
    "AuthError",
    "Capability",
    "DuplicateClientOrderId",
    "FeedState",
    "InsufficientMargin",
    "InvalidOrder",
    "OrderNotFound",
    "OrderRejected",
    "OrderReport",
    "PostOnlyWouldCross",
    "RateLimited",
    "RetryClass",
    "STREAMS",
    "SessionTimeouts",
    "UnknownOutcome",
    "Venue",
    "VenueError",
    "VenueUnavailable",
    "capabilities",
    "retry_class",
]
