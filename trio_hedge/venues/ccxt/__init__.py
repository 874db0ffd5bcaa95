"""Any ccxt exchange as a venue: the ``ccxt`` venue kind over ccxt's unified async API (``ccxt.pro``), run on one
asyncio loop in its own thread behind :mod:`._bridge` (the only module of ``trio_hedge/`` that imports asyncio)."""
