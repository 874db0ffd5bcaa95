"""Build small synthetic recordings in the recorded Binance format, for controlled simulator scenarios.

A recording is gzip text, one ``<recv_ns> <json>`` per line: a REST snapshot, then ``depthUpdate``
(futures style, with ``pu``) and ``trade`` messages. Used where the real recordings cannot force a
situation (many small partial fills, a thin book).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

T0_NS = 1_723_161_300_000_000_000


@dataclass
class Recording:
    """Accumulates messages; ``write(path)`` produces the file."""

    symbol: str = "BTCUSDT"
    lines: list[str] = field(default_factory=list)
    seq: int = 1000
    trade_id: int = 1

    def snapshot(self, t_s: float, bids: Iterable[tuple[str, str]], asks: Iterable[tuple[str, str]]) -> None:
        body = {"lastUpdateId": self.seq, "E": 0, "T": 0, "bids": [list(b) for b in bids],
                "asks": [list(a) for a in asks]}
        self.lines.append(f"{T0_NS + int(t_s * 1e9)} {json.dumps(body)}")

    def delta(self, t_s: float, bids: Iterable[tuple[str, str]] = (), asks: Iterable[tuple[str, str]] = ()) -> None:
        prev = self.seq
        self.seq += 1
        ms = (T0_NS + int(t_s * 1e9)) // 1_000_000
        data = {"e": "depthUpdate", "E": ms, "T": ms, "s": self.symbol, "U": self.seq, "u": self.seq, "pu": prev,
                "b": [list(b) for b in bids], "a": [list(a) for a in asks]}
        self.lines.append(f"{T0_NS + int(t_s * 1e9)} {json.dumps({'stream': 'x@depth@0ms', 'data': data})}")

    def trade(self, t_s: float, price: str, qty: str, *, buyer_is_maker: bool) -> None:
        ms = (T0_NS + int(t_s * 1e9)) // 1_000_000
        data = {"e": "trade", "E": ms, "T": ms, "s": self.symbol, "t": self.trade_id, "p": price, "q": qty,
                "m": buyer_is_maker}
        self.trade_id += 1
        self.lines.append(f"{T0_NS + int(t_s * 1e9)} {json.dumps({'stream': 'x@trade', 'data': data})}")

    def write(self, path: Path) -> Path:
        with gzip.open(path, "wt") as f:
            f.write("\n".join(self.lines) + "\n")
        return path


def venue_overrides(name: str, recording: Path, *, symbol: str, lot: str = "0.001") -> list[str]:
    """``--set`` overrides pointing venue ``name`` at ``recording`` as a linear contract."""
    return [
        f"venues.{name}.recording={json.dumps(str(recording))}",
        f"venues.{name}.contract=linear",
        f"venues.{name}.contract_value_quote=1",
        f"venues.{name}.lot_size={lot}",
        f"venues.{name}.min_size={lot}",
        f"venues.{name}.symbol={symbol}",
    ]
