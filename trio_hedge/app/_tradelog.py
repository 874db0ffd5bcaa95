"""``trades.csv`` beside the journal: every fill (quote, hedge, unwind, flatten) as one CSV row, in journal
order, columns :data:`~trio_hedge.app._history.TRADE_COLUMNS` (``timestamp,exchange,side,price,quantity``
first, the columns traders' scripts already read, then ``market,role,client_order_id,trade_id,fee,
fee_currency,liquidity,cycle``).

The journal is the source of truth and the file is derived from it: :meth:`TradeLog.sync` appends the fills
committed since the last sync (read through a read-only connection, ``app/_history.py``). The run calls it
at start, every :data:`SYNC_INTERVAL_S` from its own task on a worker thread (off the trading path) and once
more after the journal recorded the run's exit. Nothing is lost if the process dies: the first sync of the
next start compares the file with the journal (row count, and the last row against the fill at that
position) and appends what is missing, or rewrites the file (to a temporary file, then an atomic rename)
when it does not match (edited, truncated mid-line, or written from another journal).
"""

from __future__ import annotations

import csv
import io
import os
import sqlite3
from pathlib import Path
from typing import Final

from ._history import TRADE_COLUMNS, Trade, open_reader, trades

SYNC_INTERVAL_S: Final = 0.5
"""How often the running bot appends newly journaled fills to ``trades.csv``."""


def trade_log_path(journal_path: Path) -> Path:
    """``trades.csv`` in the journal's directory."""
    return journal_path.with_name("trades.csv")


def write_trades_csv(path: Path, rows: list[Trade]) -> None:
    """Write ``rows`` to ``path`` with the header (replacing it atomically: temporary file, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(TRADE_COLUMNS)
        w.writerows(t.csv_row() for t in rows)
    os.replace(tmp, path)


def _csv_rows(path: Path) -> list[list[str]] | None:
    """The file's data rows, or None when it is not a complete trade log (missing, other header, or a last
    line cut short by a crash)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if not text.endswith("\n"):
        return None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or tuple(rows[0]) != TRADE_COLUMNS or any(len(r) != len(TRADE_COLUMNS) for r in rows[1:]):
        return None
    return rows[1:]


class TradeLog:
    """The trade log of the journal at ``journal_path``, written to ``path`` (default: beside the journal).

    Attributes:
        path (Path): the CSV file.
        rows (int): data rows in the file after the last sync.
        rebuilt (bool): the first sync rewrote the file from the journal (it did not match).
    """

    def __init__(self, journal_path: Path, path: Path | None = None) -> None:
        self.journal_path = journal_path
        self.path = path or trade_log_path(journal_path)
        self.rows = 0
        self.rebuilt = False
        self._last_seq: int | None = None  # seq of the last fill written; None until the first sync

    def sync(self) -> int:
        """Bring the file level with the journal's fills, reading the journal over a read-only connection of
        its own (blocking: call it on a worker thread from trio). Only while no bot holds the journal under
        its exclusive lock; a running bot syncs through its own connection (:meth:`sync_on`).

        Returns:
            int: rows appended (or written, when the file was rebuilt).

        Raises:
            HistoryError: the journal cannot be read.
            OSError: the file cannot be written.
        """
        with open_reader(self.journal_path) as conn:
            return self.sync_on(conn)

    def sync_on(self, conn: sqlite3.Connection) -> int:
        """:meth:`sync` over ``conn``, a connection to the journal whose rows are ``sqlite3.Row`` (the bot's
        own: ``AsyncJournal.read(trade_log.sync_on)``).

        Raises:
            sqlite3.Error: the journal cannot be read. OSError: the file cannot be written.
        """
        if self._last_seq is None:
            return self._first_sync(conn)
        newest = conn.execute("SELECT max(seq) FROM fills").fetchone()[0]  # the primary key: no scan
        if newest is None or newest <= self._last_seq:
            return 0
        new = trades(conn, after_seq=self._last_seq)
        if new:
            self._append(new)
        return len(new)

    def _first_sync(self, conn: sqlite3.Connection) -> int:
        existing = _csv_rows(self.path)
        n = len(existing) if existing is not None else -1
        if existing is not None and n > 0:
            r = conn.execute("SELECT seq, trade_id FROM fills ORDER BY seq LIMIT 1 OFFSET ?", (n - 1,)).fetchone()
            if r is None or r["trade_id"] != existing[-1][TRADE_COLUMNS.index("trade_id")]:
                n = -1  # more rows than fills, or another journal's: rewrite
            else:
                self._last_seq = r["seq"]
        elif n == 0:
            self._last_seq = 0
        if n < 0:
            rows = trades(conn)
            write_trades_csv(self.path, rows)
            self.rows = len(rows)
            self.rebuilt = True
            self._last_seq = rows[-1].seq if rows else 0
            return len(rows)
        self.rows = n
        assert self._last_seq is not None
        new = trades(conn, after_seq=self._last_seq)
        if new:
            self._append(new)
        return len(new)

    def _append(self, new: list[Trade]) -> None:
        with self.path.open("a", encoding="utf-8", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerows(t.csv_row() for t in new)
        self.rows += len(new)
        self._last_seq = new[-1].seq
