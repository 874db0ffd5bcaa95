"""Read-only views of the journal for the operator tools: the trade log (``trades.csv``), ``status`` and
``report``.

Everything here reads the SQLite file through its own read-only connection (``mode=ro`` URI), with plain SQL
on the journal's schema (``app/_journal/``, schema version 1): it never writes and never migrates. Beside a
bot that runs with ``journal.exclusive_lock = false`` it is safe (a WAL reader sees the last committed
transaction and never blocks the writer; SQLite's documentation, "Write-Ahead Logging",
https://sqlite.org/wal.html §2.2 "Concurrency"); under the default exclusive lock the running bot is the only
connection that can open the file and :func:`open_reader` raises :class:`JournalBusy` (``status`` then shows
the bot's live snapshot, app/_snapshot.py; the trade log reads through the bot's own connection).

What is derived, and from what:

* a *run* is one process: ``runs`` rows in seq order; the run's rows are those with ``run_id <= seq <`` the
  next run's ``run_id`` (every row carries a journal-wide ``seq``, strictly increasing in commit order);
* a *trade* is one ``fills`` row joined with its order intent (``reason`` is the fill's role: ``quote``,
  ``hedge``, ``unwind``, ``flatten``...; ``cycle_id`` its cycle) and the cycle (market, index). A fill whose
  intent has no cycle (the cleanup's flatten) takes its market from the other intents of the same venue and
  symbol, or from the run's ``ops.run`` event (written at start by ``app/_ops.py``);
* the fee currency is the venue's quote currency from the ``ops.run`` event, else the symbol's second
  ``_``-separated part (``BTC_USDC_PERP`` -> ``USDC``);
* hedges (latency, slippage), trading-state changes, pauses and the venues' final positions are journal
  events written by the engine and ``app/_ops.py`` (kinds ``hedge``, ``state``, ``pause``, ``resume``,
  ``ops.final``; JSON details).
"""

from __future__ import annotations

import datetime as _dt
import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from ..domain import ZERO, TrioHedgeError

SUPPORTED_SCHEMA: Final = 2
"""The newest journal schema version these queries read (version 2 only added ``id_blocks``, which they do not
read: a version 1 file reads the same)."""

TRADE_COLUMNS: Final = ("timestamp", "exchange", "side", "price", "quantity", "market", "role", "client_order_id",
                        "trade_id", "fee", "fee_currency", "liquidity", "cycle")
"""``trades.csv`` columns: the five traders' scripts already use first, then ours."""


class HistoryError(TrioHedgeError):
    """The journal cannot be read (missing, not a journal, a newer schema, no run recorded)."""


class JournalBusy(HistoryError):
    """SQLite said "database is locked": another connection holds the journal (a running bot under
    ``journal.exclusive_lock``, which keeps its lock for its whole run)."""


def _is_busy(exc: sqlite3.Error) -> bool:
    return (getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
            or "database is locked" in str(exc))


@contextmanager
def open_reader(path: str | Path, busy_timeout_s: float = 5.0) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the journal at ``path`` (rows as ``sqlite3.Row``), closed on exit.
    ``busy_timeout_s`` is SQLite's busy handler (how long to retry a locked file before giving up).

    Raises:
        JournalBusy: another connection holds the journal's lock (a running bot under ``journal.exclusive_lock``).
        HistoryError: the file does not exist, is not a journal, or has a schema newer than this build reads.
    """
    p = Path(path).resolve()
    if not p.is_file():
        raise HistoryError(f"journal {p}: no such file (set --journal, or journal.path in the config)")
    try:
        conn = sqlite3.connect(f"file:{quote(str(p))}?mode=ro", uri=True, timeout=busy_timeout_s)
    except sqlite3.Error as exc:
        raise HistoryError(f"journal {p}: cannot open read-only ({exc})") from None
    with closing(conn):
        conn.row_factory = sqlite3.Row
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            if _is_busy(exc):
                raise JournalBusy(f"journal {p}: database is locked (held by another connection)") from None
            raise HistoryError(f"journal {p}: not a trio_hedge journal ({exc})") from None
        if row is None or not str(row[0]).isdigit() or int(row[0]) > SUPPORTED_SCHEMA:
            raise HistoryError(f"journal {p}: schema_version {row[0] if row else None} is not one this build "
                               f"reads (up to {SUPPORTED_SCHEMA})")
        yield conn


# ------------------------------------------------------------------------------------------------ runs


@dataclass(frozen=True, slots=True)
class Run:
    """One process run. ``number`` counts runs from 1 (``--run N``); its rows have ``lo_seq <= seq < hi_seq``
    (``hi_seq`` None for the newest run). ``exit_code`` None: still running, or it crashed."""

    number: int
    run_id: int
    pid: int
    started_ns: int
    exited_ns: int | None
    exit_code: int | None
    exit_reason: str | None
    lo_seq: int
    hi_seq: int | None

    def contains(self, seq: int) -> bool:
        return seq >= self.lo_seq and (self.hi_seq is None or seq < self.hi_seq)


def runs(conn: sqlite3.Connection) -> list[Run]:
    """Every run, oldest first."""
    rows = conn.execute("SELECT * FROM runs ORDER BY run_id").fetchall()
    out = []
    for i, r in enumerate(rows):
        hi = rows[i + 1]["run_id"] if i + 1 < len(rows) else None
        out.append(Run(i + 1, r["run_id"], r["pid"], r["started_ns"], r["exited_ns"], r["exit_code"],
                       r["exit_reason"], r["run_id"], hi))
    return out


def select_run(conn: sqlite3.Connection, number: int | None = None) -> Run:
    """Run ``number`` (1 = the first; negative counts from the newest: -1 the newest), default the newest.

    Raises:
        HistoryError: no run recorded, or no such run.
    """
    all_runs = runs(conn)
    if not all_runs:
        raise HistoryError("the journal has no run recorded")
    n = len(all_runs) if number is None else number
    if n < 0:
        n = len(all_runs) + 1 + n
    if not 1 <= n <= len(all_runs):
        raise HistoryError(f"no run {number}: the journal has runs 1..{len(all_runs)}")
    return all_runs[n - 1]


def _range(run: Run | None, column: str = "seq") -> tuple[str, list[int]]:
    if run is None:
        return "1 = 1", []
    if run.hi_seq is None:
        return f"{column} >= ?", [run.lo_seq]
    return f"{column} >= ? AND {column} < ?", [run.lo_seq, run.hi_seq]


# ------------------------------------------------------------------------------------------------ events


@dataclass(frozen=True, slots=True)
class Event:
    """A journal event; ``data`` is its JSON detail parsed (None for free text)."""

    seq: int
    kind: str
    detail: str
    recorded_ns: int
    data: dict[str, Any] | None


def events(conn: sqlite3.Connection, run: Run | None = None, kinds: tuple[str, ...] = ()) -> list[Event]:
    """The run's events (all runs when None), optionally of ``kinds`` only, oldest first."""
    where, args = _range(run)
    if kinds:
        where += f" AND kind IN ({', '.join('?' * len(kinds))})"
        args = [*args, *kinds]  # type: ignore[list-item]
    out = []
    for r in conn.execute(f"SELECT * FROM events WHERE {where} ORDER BY seq", args):
        data: dict[str, Any] | None = None
        if r["detail"].startswith("{"):
            try:
                parsed = json.loads(r["detail"])
                data = parsed if isinstance(parsed, dict) else None
            except ValueError:
                data = None
        out.append(Event(r["seq"], r["kind"], r["detail"], r["recorded_ns"], data))
    return out


def run_setup(conn: sqlite3.Connection, run: Run | None) -> dict[str, Any]:
    """The newest ``ops.run`` event's data up to the end of ``run`` (of the whole journal when None):
    ``{"markets": {name: {...}}, "venues": {key: {"name", "symbol", "quote", "market"}}}``; empty when no run
    wrote one (a journal from an older build)."""
    where, args = ("1 = 1", []) if run is None or run.hi_seq is None else ("seq < ?", [run.hi_seq])
    r = conn.execute(f"SELECT detail FROM events WHERE kind = 'ops.run' AND {where} ORDER BY seq DESC LIMIT 1",
                     args).fetchone()
    if r is None:
        return {}
    try:
        data = json.loads(r[0])
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


# ------------------------------------------------------------------------------------------------ trades


@dataclass(frozen=True, slots=True)
class Trade:
    """One fill as the trade log and the report show it (prices and sizes exact Decimals)."""

    seq: int
    ts_ns: int
    venue: str
    exchange: str
    symbol: str
    side: str
    price: Decimal
    quantity: Decimal
    market: str
    role: str
    client_order_id: str
    trade_id: str
    fee: Decimal
    fee_currency: str
    liquidity: str
    cycle: int | None
    cycle_id: int | None = None

    @property
    def signed_quantity(self) -> Decimal:
        return self.quantity if self.side == "BUY" else -self.quantity

    @property
    def notional(self) -> Decimal:
        return self.price * self.quantity

    def csv_row(self) -> list[str]:
        """The row for :data:`TRADE_COLUMNS` (timestamp ISO 8601 UTC with microseconds, from the venue's
        fill time)."""
        return [iso_utc(self.ts_ns), self.exchange, self.side, str(self.price), str(self.quantity), self.market,
                self.role, self.client_order_id, self.trade_id, str(self.fee), self.fee_currency, self.liquidity,
                "" if self.cycle is None else str(self.cycle)]


def iso_utc(ts_ns: int) -> str:
    """``ts_ns`` (ns since the Unix epoch) as ISO 8601 UTC, microseconds: ``2024-08-08T00:00:01.250000Z``."""
    return _dt.datetime.fromtimestamp(ts_ns / 1e9, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _quote_of(symbol: str) -> str:
    parts = symbol.split("_")
    return parts[1] if len(parts) > 1 else ""


def trades(conn: sqlite3.Connection, run: Run | None = None, *, after_seq: int = 0,
           limit: int | None = None) -> list[Trade]:
    """Fills in journal order with their role, market and cycle; only the run's when ``run`` is given, only
    those with ``seq > after_seq``, at most ``limit``."""
    where, args = _range(run, "f.seq")
    setup = run_setup(conn, run)
    venues: dict[str, Any] = setup.get("venues", {})
    owner: dict[tuple[str, str], str] | None = None  # (venue, symbol) -> market, read when first needed
    sql = (f"SELECT f.*, i.reason AS role, c.market AS market, c.idx AS cycle, c.cycle_id AS cycle_id FROM fills f "
           f"LEFT JOIN intents i ON i.venue = f.venue AND i.client_order_id = f.client_order_id "
           f"LEFT JOIN cycles c ON c.cycle_id = i.cycle_id WHERE {where} AND f.seq > ? ORDER BY f.seq")
    args = [*args, after_seq]
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    out = []
    for r in conn.execute(sql, args):
        key, symbol = r["venue"], r["symbol"]
        vinfo = venues.get(key, {})
        sinfo = vinfo.get("symbols", {}).get(symbol) or vinfo  # per symbol since several markets share a venue
        market = r["market"] or sinfo.get("market")
        if not market:
            if owner is None:  # from the intents that belong to a cycle
                owner = {(o[0], o[1]): o[2] for o in conn.execute(
                    "SELECT DISTINCT i.venue, i.symbol, c.market FROM intents i "
                    "JOIN cycles c ON c.cycle_id = i.cycle_id")}
            market = owner.get((key, symbol), "")
        out.append(Trade(
            seq=r["seq"], ts_ns=r["ts_ns"], venue=key, exchange=vinfo.get("name") or key.split("@")[0],
            symbol=symbol, side=r["side"], price=Decimal(r["price"]), quantity=Decimal(r["size"]), market=market,
            role=r["role"] or "unknown", client_order_id=r["client_order_id"], trade_id=r["trade_id"],
            fee=Decimal(r["fee"]), fee_currency=sinfo.get("quote") or _quote_of(symbol),
            liquidity="maker" if r["is_maker"] else "taker", cycle=r["cycle"], cycle_id=r["cycle_id"]))
    return out


def positions(conn: sqlite3.Connection, run: Run | None = None) -> dict[tuple[str, str], Decimal]:
    """Position per ``(venue key, symbol)`` from every fill recorded up to the end of ``run`` (all fills
    when None), base units, exact."""
    where, args = ("1 = 1", []) if run is None or run.hi_seq is None else ("seq < ?", [run.hi_seq])
    out: dict[tuple[str, str], Decimal] = {}
    for r in conn.execute(f"SELECT venue, symbol, side, size FROM fills WHERE {where} ORDER BY seq", args):
        k = (r["venue"], r["symbol"])
        size = Decimal(r["size"])
        out[k] = out.get(k, ZERO) + (size if r["side"] == "BUY" else -size)
    return out


# ------------------------------------------------------------------------------------------------ cycles


@dataclass(frozen=True, slots=True)
class Cycle:
    """One journaled cycle, with its fills summed (maker = the quote's fills, hedge = the hedges')."""

    cycle_id: int
    market: str
    index: int
    side: str
    started_ns: int
    ended_ns: int | None
    outcome: str | None
    detail: str
    maker_qty: Decimal
    maker_avg: Decimal | None
    hedge_qty: Decimal
    hedge_avg: Decimal | None
    fees: Decimal

    @property
    def edge_bps(self) -> Decimal | None:
        """Hedge average against maker average, bps, positive = the cycle earned the spread (fees excluded)."""
        if self.maker_avg is None or self.hedge_avg is None or self.maker_avg == ZERO:
            return None
        sign = 1 if self.side == "BUY" else -1
        return sign * (self.hedge_avg - self.maker_avg) / self.maker_avg * 10000


def cycles(conn: sqlite3.Connection, run: Run | None = None, trade_list: list[Trade] | None = None) -> list[Cycle]:
    """The run's cycles in order, with their fills (``trade_list``: the run's trades, if already read)."""
    where, args = _range(run, "cycle_id")
    tl = trade_list if trade_list is not None else trades(conn, run)
    out = []
    for r in conn.execute(f"SELECT * FROM cycles WHERE {where} ORDER BY cycle_id", args):
        mine = [t for t in tl if t.cycle_id == r["cycle_id"]]
        sums: dict[str, tuple[Decimal, Decimal]] = {}
        for role in ("quote", "hedge"):
            ts = [t for t in mine if t.role == role]
            sums[role] = (sum((t.quantity for t in ts), ZERO), sum((t.notional for t in ts), ZERO))
        mq, mn = sums["quote"]
        hq, hn = sums["hedge"]
        out.append(Cycle(r["cycle_id"], r["market"], r["idx"], r["side"], r["started_ns"], r["ended_ns"],
                         r["outcome"], r["detail"], mq, mn / mq if mq else None, hq, hn / hq if hq else None,
                         sum((t.fee for t in mine), ZERO)))
    return out


# ------------------------------------------------------------------------------------------------ series


@dataclass(frozen=True, slots=True)
class Point:
    """One step of the run's running totals, after the fill ``seq`` (floats: for charts only)."""

    ts_ns: int
    volume_quote: float
    pnl_quote: float
    net_by_market: dict[str, float]


def running_totals(trade_list: list[Trade]) -> list[Point]:
    """Cumulative traded notional (quote units), PnL (quote units, fees included: cash flows plus every open
    position marked at its venue's last fill price) and net exposure per market (sum of both legs' positions,
    base units), after each fill in the order of the venues' fill times (journal order among equal times).
    Computed exactly in Decimal, returned as floats."""
    volume = ZERO
    cash = ZERO
    pos: dict[tuple[str, str], Decimal] = {}
    last: dict[tuple[str, str], Decimal] = {}
    net: dict[str, Decimal] = {}
    out = []
    for t in sorted(trade_list, key=lambda t: (t.ts_ns, t.seq)):
        k = (t.venue, t.symbol)
        volume += t.notional
        cash -= t.signed_quantity * t.price + t.fee
        pos[k] = pos.get(k, ZERO) + t.signed_quantity
        last[k] = t.price
        net[t.market] = net.get(t.market, ZERO) + t.signed_quantity
        pnl = cash + sum((p * last[key] for key, p in pos.items()), ZERO)
        out.append(Point(t.ts_ns, float(volume), float(pnl), {m: float(v) for m, v in net.items()}))
    return out
