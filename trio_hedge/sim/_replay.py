"""Reader for recorded Binance futures market data (diff depth, book ticker, trades, one REST snapshot).

File format (``trio_hedge/data/SOURCES.md``; captured by nkaz001/hftbacktest's Binance collector): gzip text,
one message per line, ``<local_receive_ns> <raw JSON>``. The JSON is a Binance combined-stream envelope
``{"stream": ..., "data": {...}}`` whose ``data.e`` is one of

* ``depthUpdate``: ``U`` (first update id), ``u`` (last update id), ``pu`` (previous event's ``u``, futures
  only), ``b``/``a`` = ``[["price", "qty"], ...]`` absolute level sizes (``"0"`` deletes), ``E`` event time ms,
  ``T`` transaction time ms;
* ``bookTicker``: ``b``/``B`` best bid price/qty, ``a``/``A`` best ask price/qty, ``T``, ``E``;
* ``trade``: ``t`` trade id, ``p``, ``q``, ``T``, ``m`` (buyer is the maker: ``m=true`` means the aggressor
  SOLD, ``m=false`` that it BOUGHT);

except one line that is a REST depth snapshot ``{"lastUpdateId": ..., "bids": [...], "asks": [...]}``.
Sources: Binance USD-M / COIN-M futures WebSocket docs ("Diff. Book Depth Streams", "Trade Streams",
"Individual Symbol Book Ticker Streams") and "How to manage a local order book correctly".

Book synchronisation (the Binance rule, applied by :class:`RecordingReader`): diff events received before the
snapshot are buffered. When the snapshot line arrives, buffered events with ``u <= lastUpdateId`` are dropped
(counted in :attr:`ReplayStats.dropped_before_snapshot`); the rest (the first must have
``U <= lastUpdateId <= u``, then each ``pu`` equals the previous ``u``) are applied on top of the snapshot, and
the reader returns ONE :class:`BookSnapshotMsg` holding the merged book at the last merged event's ``u``
(counted in :attr:`ReplayStats.merged_into_snapshot`). Every :class:`BookDeltaMsg` returned afterwards
therefore continues that snapshot with ``prev_seq == previous seq``. (In both shipped recordings two diff
events that arrive before the snapshot line bridge it: dropping them all would leave a sequence gap.)

Size units (:class:`ContractSpec`): linear contracts (USD-M) carry sizes in base units; inverse contracts
(COIN-M ``BTCUSD_PERP``, one contract = 100 USD) carry a contract count, converted to base units as
``base = contracts * contract_value_quote / price``, floored to the lot size when one is given.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import orjson

from ..domain import BadValue, CheckedLevels, Level, OrderBook, Side, TrioHedgeError

_checked = CheckedLevels._from_checked

__all__ = [
    "BookDeltaMsg",
    "BookSnapshotMsg",
    "ContractSpec",
    "RawBookDeltaMsg",
    "RecordingError",
    "RecordingReader",
    "ReplayMsg",
    "ReplayStats",
    "TickerMsg",
    "TradeMsg",
    "load_lines",
    "read_recording",
]

_ZERO = Decimal(0)
_INF = Decimal("Infinity")
_MS_TO_NS = 1_000_000
_EXACT = Context(prec=64)  # products and integer quotients of recorded values are exact at this precision
_QUOTIENT = Context(prec=28, rounding=ROUND_HALF_EVEN)  # an un-lotted inverse size: the default context's rules
_CACHE_MAX = 200_000  # distinct price/size strings kept parsed; the cache is cleared when it reaches this


class RecordingError(TrioHedgeError):
    """A recording that cannot be used at all: missing, unreadable, not gzip, or without a snapshot line."""


@dataclass(frozen=True, slots=True)
class ContractSpec:
    """How recorded sizes map to base units.

    Linear: size is base units. Inverse (COIN-M): size is contracts of ``contract_value_quote`` quote units,
    ``base = contracts * contract_value_quote / price``, floored to ``lot_size`` (levels that floor to 0 become
    size 0, i.e. absent). For Binance ``BTCUSD_PERP`` (contract = 100 USD): ``base = contracts * 100 / price``;
    e.g. 35 contracts at 61804.7 are 0.05663... BTC, 0.056 BTC on a 0.001 lot.

    The floor is exact: ``(contracts * value) // (price * lot) * lot`` in a private 64-digit Decimal context
    (products of recorded values are exact there, and ``//`` is the exact integer part), so a quotient just
    under a lot boundary never rounds up onto it, whatever the caller's Decimal context. Without ``lot_size``
    an inverse size is the quotient rounded half-even to 28 significant digits.

    Attributes:
        inverse (bool): sizes are contract counts (True) or base units (False).
        contract_value_quote (Decimal): quote units per contract (inverse only), > 0.
        lot_size (Decimal | None): if set, every size (linear too) is floored to this grid, > 0.

    Raises:
        BadValue: a non-positive or non-finite ``contract_value_quote`` or ``lot_size``.
    """

    inverse: bool = False
    contract_value_quote: Decimal = Decimal(1)
    lot_size: Decimal | None = None

    def __post_init__(self) -> None:
        cv = self.contract_value_quote
        if not (isinstance(cv, Decimal) and cv.is_finite() and cv > _ZERO):
            raise BadValue(f"contract_value_quote {cv!r} must be a finite Decimal > 0")
        lot = self.lot_size
        if lot is not None and not (isinstance(lot, Decimal) and lot.is_finite() and lot > _ZERO):
            raise BadValue(f"lot_size {lot!r} must be a finite Decimal > 0")

    def to_base(self, size: Decimal, price: Decimal) -> Decimal:
        """Convert a recorded ``size`` (>= 0) at ``price`` (quote per base, > 0) to base units (class doc).

        Raises:
            decimal.InvalidOperation: only for absurd magnitudes (an integer quotient over 64 digits).
        """
        lot = self.lot_size
        if self.inverse:
            quote = _EXACT.multiply(size, self.contract_value_quote)
            if lot is None:
                return _QUOTIENT.divide(quote, price)
            return _EXACT.multiply(_EXACT.divide_int(quote, _EXACT.multiply(price, lot)), lot)
        if lot is None:
            return size
        return _EXACT.multiply(_EXACT.divide_int(size, lot), lot)


@dataclass(frozen=True, slots=True)
class BookSnapshotMsg:
    """A full book (the REST snapshot, with the diff events that bridged it already applied).

    Attributes:
        recv_ns (int): local receive time of the snapshot line, ns since the Unix epoch.
        seq (int): the update id the book is at (``lastUpdateId``, or the last merged event's ``u``).
        bids (list[Level]): (price, size in base units), best first; no zero sizes.
        asks (list[Level]): (price, size in base units), best first; no zero sizes.
        ts_ns (int): exchange time of the book state, ns (``T``, else ``E``; 0 if the line has neither).
    """

    recv_ns: int
    seq: int
    bids: list[Level]
    asks: list[Level]
    ts_ns: int


@dataclass(frozen=True, slots=True)
class BookDeltaMsg:
    """One diff-depth event: absolute level sizes (size 0 deletes), in the order the exchange sent them.

    Attributes:
        recv_ns (int): local receive time, ns.
        seq (int): last update id in the event (``u``).
        first_seq (int): first update id in the event (``U``).
        prev_seq (int | None): the previous event's ``u`` (``pu``; futures only, None on spot).
        bids, asks (list[Level]): (price, new size in base units).
        ts_ns (int): exchange time (``T``, else ``E``), ns.
    """

    recv_ns: int
    seq: int
    first_seq: int
    prev_seq: int | None
    bids: list[Level]
    asks: list[Level]
    ts_ns: int


@dataclass(frozen=True, slots=True)
class TradeMsg:
    """One public trade.

    Attributes:
        recv_ns (int): local receive time, ns.
        trade_id (str): the exchange trade id (``t``).
        price (Decimal): quote per base.
        size (Decimal): base units (an inverse size that floors to 0 on the lot is reported as 0).
        aggressor (Side): the taker's side: SELL when ``m`` (buyer is maker) is true, BUY otherwise.
        ts_ns (int): exchange time (``T``, else ``E``), ns.
    """

    recv_ns: int
    trade_id: str
    price: Decimal
    size: Decimal
    aggressor: Side
    ts_ns: int


@dataclass(frozen=True, slots=True)
class TickerMsg:
    """Best bid and offer (``bookTicker``).

    Attributes:
        recv_ns (int): local receive time, ns.
        bid, ask (Decimal): best prices, quote per base.
        bid_size, ask_size (Decimal): sizes at them, base units.
        ts_ns (int): exchange time (``T``, else ``E``), ns.
    """

    recv_ns: int
    bid: Decimal
    bid_size: Decimal
    ask: Decimal
    ask_size: Decimal
    ts_ns: int


@dataclass(frozen=True, slots=True)
class RawBookDeltaMsg:
    """One diff-depth event with its levels as decoded (:meth:`RecordingReader.parse_raw`), for
    :meth:`OrderBook.apply_raw_delta`, which parses and validates every value as it applies it.

    Attributes:
        recv_ns (int): local receive time, ns.
        seq (int): last update id in the event (``u``).
        first_seq (int): first update id in the event (``U``).
        prev_seq (int | None): the previous event's ``u`` (``pu``; futures only, None on spot).
        bids, asks (list[list[object]]): ``b``/``a`` exactly as decoded, ``[["price", "qty"], ...]``; sizes
            in base units (linear contracts only). Their values are NOT validated yet: the book does it.
        ts_ns (int): exchange time (``T``, else ``E``), ns.
    """

    recv_ns: int
    seq: int
    first_seq: int
    prev_seq: int | None
    bids: list[list[object]]
    asks: list[list[object]]
    ts_ns: int


ReplayMsg = BookSnapshotMsg | BookDeltaMsg | TradeMsg | TickerMsg


@dataclass(slots=True)
class ReplayStats:
    """Counters kept by :class:`RecordingReader` (it logs nothing itself).

    Attributes:
        lines (int): lines given to :meth:`RecordingReader.parse`.
        snapshots (int): snapshot messages returned.
        deltas (int): depth deltas returned.
        trades (int): trades returned.
        tickers (int): book-ticker lines seen (returned only with ``include_tickers``).
        dropped_before_snapshot (int): diff events received before the snapshot and older than it
            (``u <= lastUpdateId``: nothing newer than it), dropped by the Binance sync rule.
        merged_into_snapshot (int): diff events received before the snapshot that bridge it, applied to the
            returned snapshot.
        malformed (int): lines skipped as unusable (bad JSON, NaN, bad price or size, missing field, unknown
            event type, a pre-snapshot event that does not continue the book).
        last_error (str): the text of the last malformed line's error ("" if none).
    """

    lines: int = 0
    snapshots: int = 0
    deltas: int = 0
    trades: int = 0
    tickers: int = 0
    dropped_before_snapshot: int = 0
    merged_into_snapshot: int = 0
    malformed: int = 0
    last_error: str = ""


class _PriceCache(dict[object, Decimal]):
    """Price string -> Decimal, parsed and validated (finite, > 0) on first sight; cleared when it gets big."""

    __slots__ = ()

    def __missing__(self, text: object) -> Decimal:
        value = _parse(text, "price")
        if value <= _ZERO:
            raise _Malformed(f"price {text!r} must be > 0")
        if len(self) >= _CACHE_MAX:
            self.clear()
        self[text] = value
        return value


class _SizeCache(dict[object, Decimal]):
    """Size string -> Decimal, parsed and validated (finite, >= 0) on first sight; cleared when it gets big."""

    __slots__ = ()

    def __missing__(self, text: object) -> Decimal:
        value = _parse(text, "size")
        if value < _ZERO:
            raise _Malformed(f"size {text!r} must be >= 0")
        if len(self) >= _CACHE_MAX:
            self.clear()
        self[text] = value
        return value


def _parse(text: object, what: str) -> Decimal:
    if type(text) is not str:
        raise _Malformed(f"{what} {str(text)[:24]!r} is not a decimal string")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise _Malformed(f"{what} {text[:24]!r} is not a decimal number") from None
    if not value.is_finite():
        raise _Malformed(f"{what} {text[:24]!r} is not finite")
    return value


class _Malformed(Exception):
    """Internal: one line is unusable (caught in :meth:`RecordingReader.parse` and counted)."""


def load_lines(path: str | Path) -> list[bytes]:
    """Read a whole recording into memory: its non-empty lines, raw (blocking: run it in a worker thread).

    Args:
        path: a gzip recording (format in the module docstring).

    Returns:
        list[bytes]: the lines without their line endings, in file order.

    Raises:
        RecordingError: the file is missing or unreadable, is not valid gzip, or has no snapshot line.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise RecordingError(f"recording {p}: cannot read ({exc.strerror or exc})") from None
    try:
        text = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise RecordingError(f"recording {p}: not a valid gzip file ({exc})") from None
    lines = [line for line in text.splitlines() if line]
    if not any(b'"lastUpdateId"' in line for line in lines):
        raise RecordingError(f"recording {p}: no depth snapshot line (lastUpdateId); the book cannot be synced")
    return lines


class RecordingReader:
    """Parse recorded lines, in file order, into :data:`ReplayMsg` values.

    Diff events that arrive before the snapshot line are handled by the Binance book-sync rule (see the
    module docstring): the stale ones are dropped, the bridging ones are merged into the returned snapshot.
    Malformed lines (bad JSON, NaN/Infinity, negative or zero price, negative size, missing or mistyped
    fields, unknown event type) are counted in :attr:`stats` and skipped instead of raising; nothing is
    logged here: the caller reads :attr:`stats` (``malformed``, ``last_error``).

    Every price is finite and > 0 and every size finite and >= 0 in what :meth:`parse` returns.

    Args:
        spec: how recorded sizes map to base units.
        include_tickers: return :class:`TickerMsg` for ``bookTicker`` lines (otherwise they are counted but
            not decoded, which keeps parsing cheap).

    Attributes:
        stats (ReplayStats): counters.
        spec (ContractSpec): the size conversion in use.
    """

    __slots__ = ("spec", "stats", "_include_tickers", "_synced", "_pending", "_px", "_qty", "_convert")

    def __init__(self, spec: ContractSpec = ContractSpec(), *, include_tickers: bool = False) -> None:
        self.spec = spec
        self.stats = ReplayStats()
        self._include_tickers = include_tickers
        self._synced = False
        self._pending: list[BookDeltaMsg | RawBookDeltaMsg] = []
        self._px = _PriceCache()  # price string -> validated Decimal
        self._qty = _SizeCache()  # size string -> validated Decimal (as recorded, before any conversion)
        self._convert = spec.inverse or spec.lot_size is not None

    def parse(self, line: bytes) -> ReplayMsg | None:
        """Parse one recorded line.

        Args:
            line: ``b"<recv_ns> <json>"`` (a line from :func:`load_lines`).

        Returns:
            ReplayMsg | None: the message, or None for a skipped line (malformed, a diff event before the
            snapshot, a ticker when tickers are excluded).
        """
        return self._parse(line, False)  # type: ignore[return-value]  # raw=False: never a RawBookDeltaMsg

    def parse_raw(self, line: bytes) -> ReplayMsg | RawBookDeltaMsg | None:
        """Parse one recorded line like :meth:`parse`, but return a depth delta as a :class:`RawBookDeltaMsg`
        whose levels are left as decoded, for :meth:`OrderBook.apply_raw_delta` (the fast path: the book
        parses and validates each value once per distinct string, while applying it).

        Everything else is checked here as in :meth:`parse` (the line, the JSON, ``U``/``u``/``pu``, the
        timestamp, that ``b``/``a`` are lists). A bad level value (NaN, a negative or malformed number, an item
        that is not a ``[price, size]`` pair) is therefore not counted in :attr:`stats`: it raises
        :class:`~trio_hedge.domain.BookInvalid` when the delta is applied. Diff events before the snapshot are
        merged into the returned :class:`BookSnapshotMsg` as by :meth:`parse` (an event with a bad value there
        stops the merge and is counted as malformed). With a size conversion (an inverse spec or a
        ``lot_size``) deltas come back decoded, as :class:`BookDeltaMsg`.

        Args:
            line: ``b"<recv_ns> <json>"``.

        Returns:
            ReplayMsg | RawBookDeltaMsg | None: as :meth:`parse`, with depth deltas raw.
        """
        return self._parse(line, not self._convert)

    def _parse(self, line: bytes, raw: bool) -> ReplayMsg | RawBookDeltaMsg | None:
        stats = self.stats
        stats.lines += 1
        sp = line.find(b" ")
        if not self._include_tickers and line.find(b'@bookTicker"', sp, sp + 64) >= 0:
            stats.tickers += 1
            return None
        try:
            if sp <= 0:
                raise _Malformed("no '<recv_ns> <json>' separator")
            recv_ns = int(line[:sp])
            if recv_ns < 0:
                raise _Malformed("negative receive timestamp")
            obj = orjson.loads(memoryview(line)[sp + 1 :])
            data = obj.get("data")
            if data is None:
                if "lastUpdateId" in obj:
                    return self._snapshot(recv_ns, obj)
                raise _Malformed("neither a stream envelope nor a depth snapshot")
            event = data["e"]
            if event == "depthUpdate":
                return self._raw_delta(recv_ns, data) if raw else self._delta(recv_ns, data)
            if event == "trade":
                return self._trade(recv_ns, data)
            if event == "bookTicker":
                stats.tickers += 1
                return self._ticker(recv_ns, data) if self._include_tickers else None
            raise _Malformed(f"unknown event type {str(event)[:32]!r}")
        except _Malformed as exc:
            self._bad(str(exc))
            return None
        except orjson.JSONDecodeError as exc:
            self._bad(f"bad JSON: {exc}")
            return None
        except KeyError as exc:
            self._bad(f"missing field {exc}")
            return None
        except (TypeError, ValueError, AttributeError, IndexError, InvalidOperation, ArithmeticError) as exc:
            self._bad(f"bad value: {type(exc).__name__}: {str(exc)[:80]}")
            return None

    # ------------------------------------------------------------------ helpers
    def _bad(self, text: str) -> None:
        self.stats.malformed += 1
        self.stats.last_error = f"line {self.stats.lines}: {text}"

    def _levels(self, pairs: object) -> list[Level]:
        # The hot path: per value one dict lookup on a cache hit (misses are parsed and validated by the caches'
        # __missing__), and one C-level pass checking that every level is a JSON array.
        if type(pairs) is not list:
            raise _Malformed("levels are not a list")
        if [*map(type, pairs)].count(list) != len(pairs):
            raise _Malformed("a level is not a [price, size] pair")
        px = self._px
        qty = self._qty
        out = [(px[p], qty[q]) for p, q in pairs]
        if self._convert:
            to_base = self.spec.to_base
            out = [(p, to_base(q, p) if q else q) for p, q in out]
        return CheckedLevels._from_checked(out)  # every value validated above: the book skips re-checking

    def _delta(self, recv_ns: int, data: dict[str, object]) -> BookDeltaMsg | None:
        # The hot path (one call per depth event): _levels is inlined for both sides.
        first, last, prev, bid_pairs, ask_pairs, ts_ns = _delta_header(data)
        if [*map(type, bid_pairs), *map(type, ask_pairs)].count(list) != len(bid_pairs) + len(ask_pairs):
            raise _Malformed("a level is not a [price, size] pair")
        px = self._px
        qty = self._qty
        bids = [(px[p], qty[q]) for p, q in bid_pairs]
        asks = [(px[p], qty[q]) for p, q in ask_pairs]
        if self._convert:
            to_base = self.spec.to_base
            bids = [(p, to_base(q, p) if q else q) for p, q in bids]  # 0 stays 0: a delete
            asks = [(p, to_base(q, p) if q else q) for p, q in asks]
        # every value was validated by the caches: the book skips re-checking a CheckedLevels
        msg = BookDeltaMsg(recv_ns, last, first, prev, _checked(bids), _checked(asks), ts_ns)
        if self._synced:
            self.stats.deltas += 1
            return msg
        self._pending.append(msg)
        return None

    def _raw_delta(self, recv_ns: int, data: dict[str, object]) -> RawBookDeltaMsg | None:
        # _delta without the level pass: the book parses the values (OrderBook.apply_raw_delta)
        first, last, prev, bids, asks, ts_ns = _delta_header(data)
        msg = RawBookDeltaMsg(recv_ns, last, first, prev, bids, asks, ts_ns)
        if self._synced:
            self.stats.deltas += 1
            return msg
        self._pending.append(msg)
        return None

    def _snapshot(self, recv_ns: int, obj: dict[str, object]) -> BookSnapshotMsg:
        seq = obj["lastUpdateId"]
        if type(seq) is not int:
            raise _Malformed("lastUpdateId is not an integer")
        bids: list[Level] = CheckedLevels._from_checked([lv for lv in self._levels(obj["bids"]) if lv[1]])
        asks: list[Level] = CheckedLevels._from_checked([lv for lv in self._levels(obj["asks"]) if lv[1]])
        ts_ns = _ts_ns(obj) if ("T" in obj or "E" in obj) else 0
        pending, self._pending = self._pending, []
        self._synced = True
        fresh = [m for m in pending if m.seq > seq]
        self.stats.dropped_before_snapshot += len(pending) - len(fresh)
        if fresh:
            book = OrderBook("replay")
            try:
                book.apply_snapshot(bids, asks, seq=seq, ts_ns=ts_ns)
                for m in fresh:
                    if isinstance(m, RawBookDeltaMsg):
                        book.apply_raw_delta(
                            m.bids, m.asks, seq=m.seq, first_seq=m.first_seq, prev_seq=m.prev_seq, ts_ns=m.ts_ns
                        )
                    else:
                        book.apply_delta(
                            m.bids, m.asks, seq=m.seq, first_seq=m.first_seq, prev_seq=m.prev_seq, ts_ns=m.ts_ns
                        )
            except TrioHedgeError as exc:
                # The recording cannot be synced at this snapshot: return the snapshot unmerged, so that the
                # consumer's book reports the gap on the next delta.
                self.stats.dropped_before_snapshot += len(fresh)
                self.stats.malformed += 1
                self.stats.last_error = f"line {self.stats.lines}: pre-snapshot diff events do not merge: {exc}"
            else:
                self.stats.merged_into_snapshot += len(fresh)
                merged_bids, merged_asks = book.snapshot()
                bids = CheckedLevels._from_checked(merged_bids)
                asks = CheckedLevels._from_checked(merged_asks)
                seq, ts_ns = book.seq, book.ts_ns
        self.stats.snapshots += 1
        return BookSnapshotMsg(recv_ns, seq, bids, asks, ts_ns)

    def _trade(self, recv_ns: int, data: dict[str, object]) -> TradeMsg:
        trade_id = data["t"]
        if type(trade_id) is not int and type(trade_id) is not str:
            raise _Malformed("trade id is not an integer or string")
        price = self._px[data["p"]]
        size = self._qty[data["q"]]
        if not size:
            raise _Malformed("trade size must be > 0")
        maker = data["m"]
        if maker is True:
            aggressor = Side.SELL  # the buyer was the maker: the taker sold
        elif maker is False:
            aggressor = Side.BUY
        else:
            raise _Malformed(f"trade m {str(maker)[:16]!r} is not a boolean")
        if self._convert:
            size = self.spec.to_base(size, price)
        self.stats.trades += 1
        return TradeMsg(recv_ns, str(trade_id), price, size, aggressor, _ts_ns(data))

    def _ticker(self, recv_ns: int, data: dict[str, object]) -> TickerMsg:
        bid = self._px[data["b"]]
        ask = self._px[data["a"]]
        bid_size = self._qty[data["B"]]
        ask_size = self._qty[data["A"]]
        if bid >= ask:
            raise _Malformed(f"crossed ticker: bid {bid} >= ask {ask}")
        if self._convert:
            bid_size = self.spec.to_base(bid_size, bid)
            ask_size = self.spec.to_base(ask_size, ask)
        return TickerMsg(recv_ns, bid, bid_size, ask, ask_size, _ts_ns(data))


def _ts_ns(data: dict[str, object]) -> int:
    ts = data.get("T")
    if ts is None:
        ts = data["E"]
    if type(ts) is not int or ts < 0:
        raise _Malformed(f"timestamp {str(ts)[:24]!r} is not a non-negative integer (ms)")
    return ts * _MS_TO_NS


def read_recording(
    path: str | Path, spec: ContractSpec = ContractSpec(), *, include_tickers: bool = False
) -> Iterator[ReplayMsg]:
    """Yield every usable message of a recording, in file order (blocking I/O: not for the event loop).

    Args:
        path: a gzip recording.
        spec: how recorded sizes map to base units.
        include_tickers: also yield :class:`TickerMsg`.

    Yields:
        ReplayMsg: snapshots, deltas, trades (and tickers).

    Raises:
        RecordingError: the file cannot be used (see :func:`load_lines`); raised on the first ``next()``.
    """
    reader = RecordingReader(spec, include_tickers=include_tickers)
    for line in load_lines(path):
        msg = reader.parse(line)
        if msg is not None:
            yield msg


def _delta_header(data: dict[str, object]) -> tuple[int, int, int | None, list[Any], list[Any], int]:
    """A depth event's checked header: ``(U, u, pu or None, b, a, ts_ns)`` (``T``, else ``E``, ms -> ns).

    Raises:
        _Malformed: ids not integers, ``U > u``, ``b``/``a`` not lists, a bad timestamp.
        KeyError: a required field is missing (the caller counts it as malformed).
    """
    first = data["U"]
    last = data["u"]
    prev = data.get("pu")
    if type(first) is not int or type(last) is not int or (prev is not None and type(prev) is not int):
        raise _Malformed("U/u/pu are not integers")
    if first > last:
        raise _Malformed(f"first update id {first} > last {last}")
    bids = data["b"]
    asks = data["a"]
    if type(bids) is not list or type(asks) is not list:
        raise _Malformed("b/a are not lists")
    ts = data.get("T")
    if ts is None:
        ts = data["E"]
    if type(ts) is not int or ts < 0:
        raise _Malformed(f"timestamp {str(ts)[:24]!r} is not a non-negative integer (ms)")
    return first, last, prev, bids, asks, ts * _MS_TO_NS
