"""Engine layer: hedger (the cycle), smart router, order tracker (verifier), risk engine, retries by error
class, rate limiter, flatten, and the market scope that runs them. Imports the domain and the venue interface
only."""

from ._edge import QuoteCheck as QuoteCheck
from ._edge import check_quote as check_quote
from ._edge import expected_edge_bps as expected_edge_bps
from ._errors import EXIT_CONFIG as EXIT_CONFIG
from ._errors import EXIT_DO_NOT_RESTART as EXIT_DO_NOT_RESTART
from ._errors import EXIT_FAILURE as EXIT_FAILURE
from ._errors import EXIT_JOURNAL_DOWN as EXIT_JOURNAL_DOWN
from ._errors import EXIT_NOT_FLAT as EXIT_NOT_FLAT
from ._errors import EXIT_OK as EXIT_OK
from ._errors import EXIT_VENUE_UNREACHABLE as EXIT_VENUE_UNREACHABLE
from ._errors import BookStale as BookStale
from ._errors import CredentialsRefused as CredentialsRefused
from ._errors import EngineError as EngineError
from ._errors import FeedDown as FeedDown
from ._errors import HedgeFailed as HedgeFailed
from ._errors import ImbalanceExceeded as ImbalanceExceeded
from ._errors import JournalDown as JournalDown
from ._errors import LossLimitHit as LossLimitHit
from ._errors import MarketFailed as MarketFailed
from ._errors import MarketHalted as MarketHalted
from ._errors import NotFlat as NotFlat
from ._errors import PositionDrift as PositionDrift
from ._errors import UnresolvedOrder as UnresolvedOrder
from ._errors import VenueDown as VenueDown
from ._errors import credentials_fix as credentials_fix
from ._errors import exit_code_of as exit_code_of
from ._flatten import FlattenResult as FlattenResult
from ._flatten import flatten_all as flatten_all
from ._flatten import flatten_position as flatten_position
from ._hedger import Hedger as Hedger
from ._histogram import LatencyHistogram as LatencyHistogram
from ._journaled import ClientIdSource as ClientIdSource
from ._journaled import JournaledVenue as JournaledVenue
from ._journaled import Recorder as Recorder
from ._market import MarketOutcome as MarketOutcome
from ._market import run_market as run_market
from ._market import run_risk_guard as run_risk_guard
from ._portfolio import PortfolioGuard as PortfolioGuard
from ._portfolio import PortfolioLimits as PortfolioLimits
from ._portfolio import session_down as session_down
from ._ratelimit import BACKPACK_COSTS as BACKPACK_COSTS
from ._ratelimit import COST_PROFILES as COST_PROFILES
from ._ratelimit import DEFAULT_RATE_LIMITS as DEFAULT_RATE_LIMITS
from ._ratelimit import GRVT_COSTS as GRVT_COSTS
from ._ratelimit import BucketStats as BucketStats
from ._ratelimit import LaneStats as LaneStats
from ._ratelimit import RateCosts as RateCosts
from ._ratelimit import RateLimitedVenue as RateLimitedVenue
from ._ratelimit import RateLimitSettings as RateLimitSettings
from ._ratelimit import TokenBucket as TokenBucket
from ._ratelimit import urgent as urgent
from ._ratelimit import wrap_rate_limited as wrap_rate_limited
from ._rehearse import hedge_rehearsal as hedge_rehearsal
from ._retry import RetryPolicy as RetryPolicy
from ._retry import SubmitOutcome as SubmitOutcome
from ._retry import SubmitResult as SubmitResult
from ._retry import call_venue as call_venue
from ._retry import submit_order as submit_order
from ._risk import LegBook as LegBook
from ._risk import PauseSwitch as PauseSwitch
from ._risk import RiskEngine as RiskEngine
from ._router import DepthAnalysis as DepthAnalysis
from ._router import HedgeRouter as HedgeRouter
from ._router import RouteResult as RouteResult
from ._router import analyze_depth as analyze_depth
from ._router import cap_limit_price as cap_limit_price
from ._router import capped_price as capped_price
from ._settings import CycleRecord as CycleRecord
from ._settings import MarketSettings as MarketSettings
from ._settings import MarketStats as MarketStats
from ._settings import PnlSnapshot as PnlSnapshot
from ._settings import StateTransition as StateTransition
from ._settings import TradingState as TradingState
from ._tracker import InboxFill as InboxFill
from ._tracker import OrderTracker as OrderTracker

__all__ = [
    "BACKPACK_COSTS",
    "COST_PROFILES",
    "DEFAULT_RATE_LIMITS",
    "EXIT_CONFIG",
    "EXIT_DO_NOT_RESTART",
    "EXIT_FAILURE",
    "EXIT_JOURNAL_DOWN",
    "EXIT_NOT_FLAT",
    "EXIT_OK",
    "EXIT_VENUE_UNREACHABLE",
    "GRVT_COSTS",
    "BookStale",
    "BucketStats",
    "CycleRecord",
    "DepthAnalysis",
    "EngineError",
    "FeedDown",
    "FlattenResult",
    "HedgeFailed",
    "HedgeRouter",
    "Hedger",
    "ImbalanceExceeded",
    "PositionDrift",
    "InboxFill",
    "ClientIdSource",
    "JournaledVenue",
    "LaneStats",
    "LatencyHistogram",
    "LegBook",
    "LossLimitHit",
    "MarketFailed",
    "JournalDown",
    "MarketHalted",
    "CredentialsRefused",
    "credentials_fix",
    "exit_code_of",
    "MarketOutcome",
    "MarketSettings",
    "MarketStats",
    "NotFlat",
    "OrderTracker",
    "PnlSnapshot",
    "QuoteCheck",
    "RateCosts",
    "Recorder",
    "RateLimitSettings",
    "RateLimitedVenue",
    "RetryPolicy",
    "PauseSwitch",
    "RiskEngine",
    "RouteResult",
    "StateTransition",
    "SubmitOutcome",
    "SubmitResult",
    "TokenBucket",
    "TradingState",
    "UnresolvedOrder",
    "VenueDown",
    "PortfolioGuard",
    "PortfolioLimits",
    "session_down",
    "analyze_depth",
    "call_venue",
    "cap_limit_price",
    "capped_price",
    "check_quote",
    "expected_edge_bps",
    "flatten_all",
    "flatten_position",
    "run_market",
    "hedge_rehearsal",
    "run_risk_guard",
    "submit_order",
    "urgent",
    "wrap_rate_limited",
]
