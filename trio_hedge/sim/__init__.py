"""Simulator layer: recorded-data replay (``_replay``), the matching engine (``_matching``), the simulated exchange
that runs them in trio time (``_exchange``), the in-process venue over it (``_venue``: the ``Venue`` interface
with no wire), the venues' wire-protocol servers (``_grvt_server`` with its parts in ``_grvt/``,
``_backpack_server`` with ``_backpack/``, on ``_asgi``, both built on the shared wire machinery of ``_wire/``:
connection outbox, book mirror, request middleware) and the TCP fault proxy (``_faultproxy``).

Imports the domain, the protocols (the servers speak them: :mod:`trio_hedge.protocols`) and the root's
``trio_hedge._streams``; never the venues, the engine or the app (tests/test_layers.py checks it)."""

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
from ._venue import SimVenue as SimVenue
from ._venue import SimVenueSettings as SimVenueSettings
from ._venue import open_sim_venue as open_sim_venue

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
    "SimVenue",
    "SimVenueSettings",
    "TickerMsg",
    "TradeMsg",
    "load_lines",
    "open_sim_exchange",
    "open_sim_venue",
    "read_recording",
]
