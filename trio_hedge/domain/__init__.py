"""Domain layer: instruments, Decimal prices and sizes, orders and their state machine, fills, positions,
the L2 order book, what a venue reports about an order (``OrderReport``) and the typed venue error tree that
every layer speaks. Imports nothing from the other layers."""

from ._book import BookSide as BookSide
from ._book import CheckedLevels as CheckedLevels
from ._book import FillEstimate as FillEstimate
from ._book import Level as Level
from ._book import OrderBook as OrderBook
from ._book import RawLevels as RawLevels
from ._book import levels_from_pairs as levels_from_pairs
from ._book import walk as walk
from ._errors import BadValue as BadValue
from ._errors import BookError as BookError
from ._errors import BookInvalid as BookInvalid
from ._errors import IllegalTransition as IllegalTransition
from ._errors import SequenceGap as SequenceGap
from ._errors import TrioHedgeError as TrioHedgeError
from ._errors import leaves as leaves
from ._errors import sole_failure as sole_failure
from ._events import OrderUpdate as OrderUpdate
from ._events import PositionUpdate as PositionUpdate
from ._events import VenueEvent as VenueEvent
from ._instrument import Instrument as Instrument
from ._num import BPS as BPS
from ._num import ONE as ONE
from ._num import ZERO as ZERO
from ._num import bps as bps
from ._num import ceil_to as ceil_to
from ._num import floor_to as floor_to
from ._num import is_multiple as is_multiple
from ._num import parse_price as parse_price
from ._num import parse_size as parse_size
from ._num import round_to as round_to
from ._num import to_decimal as to_decimal
from ._orders import TERMINAL_RANK as TERMINAL_RANK
from ._orders import Fill as Fill
from ._orders import Order as Order
from ._orders import OrderRequest as OrderRequest
from ._orders import OrderStatus as OrderStatus
from ._orders import OrderType as OrderType
from ._orders import Position as Position
from ._orders import Side as Side
from ._orders import TimeInForce as TimeInForce
from ._venue import NO_CAPABILITIES as NO_CAPABILITIES
from ._venue import STREAMS as STREAMS
from ._venue import Capability as Capability
from ._venue import FeedState as FeedState
from ._venue import OrderReport as OrderReport
from ._venue import capabilities as capabilities
from ._venue_errors import AuthError as AuthError
from ._venue_errors import DuplicateClientOrderId as DuplicateClientOrderId
from ._venue_errors import InsufficientMargin as InsufficientMargin
from ._venue_errors import InvalidOrder as InvalidOrder
from ._venue_errors import OrderNotFound as OrderNotFound
from ._venue_errors import OrderRejected as OrderRejected
from ._venue_errors import PostOnlyWouldCross as PostOnlyWouldCross
from ._venue_errors import RateLimited as RateLimited
from ._venue_errors import RetryClass as RetryClass
from ._venue_errors import UnknownOutcome as UnknownOutcome
from ._venue_errors import VenueError as VenueError
from ._venue_errors import VenueUnavailable as VenueUnavailable
from ._venue_errors import retry_class as retry_class

__all__ = [
    "AuthError",
    "BPS",
    "BadValue",
    "BookError",
    "BookInvalid",
    "BookSide",
    "CheckedLevels",
    "DuplicateClientOrderId",
    "Capability",
    "FeedState",
    "NO_CAPABILITIES",
    "STREAMS",
    "capabilities",
    "Fill",
    "FillEstimate",
    "IllegalTransition",
    "Instrument",
    "InsufficientMargin",
    "InvalidOrder",
    "Level",
    "ONE",
    "Order",
    "OrderBook",
    "OrderNotFound",
    "OrderRejected",
    "OrderReport",
    "OrderRequest",
    "OrderStatus",
    "OrderType",
    "OrderUpdate",
    "Position",
    "PositionUpdate",
    "PostOnlyWouldCross",
    "RateLimited",
    "RawLevels",
    "RetryClass",
    "SequenceGap",
    "TERMINAL_RANK",
    "Side",
    "TimeInForce",
    "TrioHedgeError",
    "UnknownOutcome",
    "VenueError",
    "VenueEvent",
    "VenueUnavailable",
    "ZERO",
    "bps",
    "ceil_to",
    "floor_to",
    "is_multiple",
    "leaves",
    "levels_from_pairs",
    "parse_price",
    "parse_size",
    "retry_class",
    "sole_failure",
    "round_to",
    "to_decimal",
    "walk",
]
