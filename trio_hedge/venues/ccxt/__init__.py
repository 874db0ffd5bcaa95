"""Any ccxt exchange as a venue: the ``ccxt`` venue kind over ccxt's unified async API (``ccxt.pro``), run on one
asyncio loop in its own thread behind :mod:`._bridge` (the only module of ``trio_hedge/`` that imports asyncio)."""

from ._adapter import CcxtSettings as CcxtSettings
from ._adapter import CcxtVenue as CcxtVenue
from ._adapter import open_ccxt_venue as open_ccxt_venue
from ._adapter import simulator_urls as simulator_urls

__all__ = ["CcxtSettings", "CcxtVenue", "open_ccxt_venue", "simulator_urls"]
