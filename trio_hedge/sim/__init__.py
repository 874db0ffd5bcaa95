"""Simulator layer: recorded-data replay, the matching engine, and the simulated exchange that runs them in
trio time (wire-protocol servers come with the venue issues). Imports only the domain."""

from ._exchange import MarketDataMsg as MarketDataMsg
from ._exchange import SimExchange as SimExchange
from ._exchange import SimMarket as SimMarket
from ._exchange import SimSettings as SimSettings
from ._exchange import SimStatistics as SimStatistics
from ._exchange import SimUnavailable as SimUnavailable
from ._exchange import open_sim_exchange as open_sim_exchange
from ._matching import MatchingEngine as MatchingEngine
from ._matching import MatchingStats as MatchingStats
from ._replay import BookDeltaMsg as BookDeltaMsg
from ._replay import BookSnapshotMsg as BookSnapshotMsg
from ._replay import ContractSpec as ContractSpec
from ._replay import RecordingError as RecordingError
from ._replay import RecordingReader as RecordingReader
from ._replay import ReplayMsg as ReplayMsg
from ._replay import ReplayStats as ReplayStats
from ._replay import TickerMsg as TickerMsg
from ._replay import TradeMsg as TradeMsg
from ._replay import load_lines as load_lines
from ._replay import read_recording as read_recording

__all__ = [
    "BookDeltaMsg",
    "BookSnapshotMsg",
    "ContractSpec",
    "MarketDataMsg",
    "MatchingEngine",
    "MatchingStats",
    "RecordingError",
    "RecordingReader",
    "ReplayMsg",
    "ReplayStats",
    "SimExchange",
    "SimMarket",
    "SimSettings",
    "SimStatistics",
    "SimUnavailable",
    "TickerMsg",
    "TradeMsg",
    "load_lines",
    "open_sim_exchange",
    "read_recording",
]
