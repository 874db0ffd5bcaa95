"""Engine layer: hedger (the cycle), order tracker (verifier), risk guard, flatten, and the market scope
that runs them. Imports the domain and the venue interface only."""

from ._errors import EXIT_CONFIG as EXIT_CONFIG
from ._errors import EXIT_FAILURE as EXIT_FAILURE
from ._errors import EXIT_NOT_FLAT as EXIT_NOT_FLAT
from ._errors import EXIT_OK as EXIT_OK
from ._errors import EXIT_VENUE_UNREACHABLE as EXIT_VENUE_UNREACHABLE
from ._errors import BookStale as BookStale
from ._errors import EngineError as EngineError
from ._errors import FeedDown as FeedDown
from ._errors import HedgeFailed as HedgeFailed
from ._errors import ImbalanceExceeded as ImbalanceExceeded
from ._errors import MarketFailed as MarketFailed
from ._errors import MarketHalted as MarketHalted
from ._errors import NotFlat as NotFlat
from ._errors import UnresolvedOrder as UnresolvedOrder
from ._flatten import FlattenResult as FlattenResult
from ._flatten import flatten_all as flatten_all
from ._flatten import flatten_position as flatten_position
from ._hedger import Hedger as Hedger
from ._hedger import capped_price as capped_price
from ._market import MarketOutcome as MarketOutcome
from ._market import run_market as run_market
from ._market import run_risk_guard as run_risk_guard
from ._settings import CycleRecord as CycleRecord
from ._settings import MarketSettings as MarketSettings
from ._settings import MarketStats as MarketStats
from ._tracker import InboxFill as InboxFill
from ._tracker import OrderTracker as OrderTracker

__all__ = [
    "EXIT_CONFIG",
    "EXIT_FAILURE",
    "EXIT_NOT_FLAT",
    "EXIT_OK",
    "EXIT_VENUE_UNREACHABLE",
    "BookStale",
    "CycleRecord",
    "EngineError",
    "FeedDown",
    "FlattenResult",
    "HedgeFailed",
    "Hedger",
    "ImbalanceExceeded",
    "InboxFill",
    "MarketFailed",
    "MarketHalted",
    "MarketOutcome",
    "MarketSettings",
    "MarketStats",
    "NotFlat",
    "OrderTracker",
    "UnresolvedOrder",
    "capped_price",
    "flatten_all",
    "flatten_position",
    "run_market",
    "run_risk_guard",
]
