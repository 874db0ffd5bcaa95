"""Wire machinery shared by the simulator's venue servers (``sim/_backpack_server.py``, ``sim/_grvt_server.py``):
the WebSocket connection with its bounded outbox and kill-on-overflow policy (``_conn``), the book mirror that
reduces the exchange's market data to per-batch diffs (``_mirror``), the request middleware for the rate limit and
the latency and the base of the servers' API errors (``_middleware``).

Imports the domain and the simulator's own exchange; never a venue's protocol package (each server brings its
venue's formats)."""

from ._conn import CLOSE_GOING_AWAY as CLOSE_GOING_AWAY
from ._conn import CLOSE_INTERNAL as CLOSE_INTERNAL
from ._conn import CLOSE_NORMAL as CLOSE_NORMAL
from ._conn import CLOSE_POLICY as CLOSE_POLICY
from ._conn import CLOSE_TOO_BIG as CLOSE_TOO_BIG
from ._conn import CLOSE_TRANSPORT_GONE as CLOSE_TRANSPORT_GONE
from ._conn import WsConnection as WsConnection
from ._middleware import GateMiddleware as GateMiddleware
from ._middleware import RequestGate as RequestGate
from ._middleware import SimApiError as SimApiError
from ._middleware import TokenBucket as TokenBucket
from ._mirror import BookDiff as BookDiff
from ._mirror import BookMirror as BookMirror

__all__ = [
    "BookDiff",
    "BookMirror",
    "GateMiddleware",
    "RequestGate",
    "SimApiError",
    "TokenBucket",
    "CLOSE_GOING_AWAY",
    "CLOSE_INTERNAL",
    "CLOSE_NORMAL",
    "CLOSE_POLICY",
    "CLOSE_TOO_BIG",
    "CLOSE_TRANSPORT_GONE",
    "WsConnection",
]
