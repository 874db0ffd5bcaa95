"""The venue interface's error tree, importable from the venues layer: it is defined in the domain
(:mod:`trio_hedge.domain._venue_errors`, where the tree and :func:`retry_class` are documented) so that the
protocol codecs below the venues can raise it; every adapter maps its wire errors onto it at its boundary.
"""

from __future__ import annotations

from ..domain import AuthError as AuthError
from ..domain import DuplicateClientOrderId as DuplicateClientOrderId
from ..domain import InsufficientMargin as InsufficientMargin
from ..domain import InvalidOrder as InvalidOrder
from ..domain import OrderNotFound as OrderNotFound
from ..domain import OrderRejected as OrderRejected
from ..domain import PostOnlyWouldCross as PostOnlyWouldCross
from ..domain import RateLimited as RateLimited
from ..domain import RetryClass as RetryClass
from ..domain import UnknownOutcome as UnknownOutcome
from ..domain import VenueError as VenueError
from ..domain import VenueUnavailable as VenueUnavailable
from ..domain import retry_class as retry_class
