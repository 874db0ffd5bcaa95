"""The run summary: a JSON-ready dict and its human-readable rendering.

Shape (keys always present)::

    {
      "cycles_completed": int, "cycles_failed": int,
      "volume_quote": "decimal string",          # sum of fill notionals on both venues, quote units
      "avg_edge_bps": float | null,              # mean per-cycle entry edge, bps of the maker price:
                                                 #   sign(maker side) * (hedge avg - maker avg) / maker avg * 1e4
      "hedge_latency_ms": {"p50": float|null, "p99": float|null, "max": float|null, "count": int,
                           "rel_error": float, "buckets": {"<upper ms>" | "+Inf": int}},
                                                 # the adapter's receipt of the fill's frame -> the
                                                 #   adapter's write of the first hedge order's frame
                                                 #   (perf counter; MarketStats.hedge_latency_ns: where a
                                                 #   venue does not stamp, the engine's stamp stands in),
                                                 #   every market's LatencyHistogram merged
                                                 #   (engine/_histogram.py): max and count exact; p50/p99
                                                 #   nearest-rank estimates within rel_error (about 0.059)
                                                 #   for 1 us..10 s; buckets: non-empty buckets only, keyed
                                                 #   by inclusive upper bound in ms, counts per bucket (not
                                                 #   cumulative)
      "engine_latency_ms": {same shape},         # the engine's share: the tracker's receipt of the fill ->
                                                 #   the first hedge order submitted (before its intent)
      "avg_expected_edge_bps": float | null,     # mean expected NET edge of the filled quotes when they were
                                                 #   placed (after both venues' fees; engine/_edge.py)
      "max_slippage_bps": float,                 # worst hedge order's average fill through its arrival price
      "max_abs_net_exposure": "decimal string",  # max |primary + hedge| seen from fills, base units
      "halts": [{"market": str, "reason": str, "at_s": float, "utc": str}],
                                                 # every transition to HALTED, with its reason and time
                                                 #   (at_s: seconds since the market started)
      "pnl_quote": {"realized": "decimal string", "unrealized": "...", "fees": "...", "total": "..."},
                                                 # from the fills of every market's trackers, quote units
      "final_positions": {venue: {symbol: "decimal string"}},
      "exit_reason": str, "exit_code": int,
      "wear_bps": float | null,                  # cost per volume: -pnl total / volume x 1e4 over every
                                                 #   market (fees included; positive = a cost)
      "cycles_per_hour": float | null,           # sum of the markets' cycles per hour (venue clock)
      "markets": {name: {
          "cycle_mode": "roundtrip" | "inventory",
          "cycles_completed": int, "cycles_failed": int,
          "volume_quote": "decimal string",     # notional of the market's fills on both venues, quote units
          "wear_bps": float | null,             # -pnl total / volume x 1e4 (MarketStats.wear_bps)
          "fees_quote": "decimal string",       # fees on both venues, quote units (negative = rebates)
          "venues": {venue: {"volume_quote": "decimal string", "fees_quote": "decimal string"}},
          "maker_share": float | null,          # maker share of the primary's traded notional, 0..1
          "cycles_per_hour": float | null,      # completed cycles per venue-clock hour, first fill to last
          "max_abs_net_exposure": "decimal string",
          "halts": [{"reason": str, "at_s": float, "utc": str}],
          "exit_reason": str,                   # completed, stopped, or the failure that halted it
          "cycles": [...per-cycle records...],
          "transitions": [{"from": str, "to": str, "reason": str, "at_s": float, "utc": str}],
          "quote_skips": {reason: count},       # quotes held back (edge, band, hedge_depth, risk limits,
                                                #   edge_typical: inventory quote timing) and
                                                #   resting quotes pulled (pulled_edge, pulled_band)
          "routing": {step: count},             # hedge router fallback steps used (widened, market, failed)
          "rate_limits": {venue: {lane: {"requests", "waited", "max_wait_ms", "total_wait_ms"},
                                  "venue_rate_limited": int}},
          "pnl_quote": {...as above...},
      }}
    }
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..domain import BPS, ZERO
from ..engine import LatencyHistogram, MarketStats


def percentile(sorted_values: list[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of ``sorted_values`` by linear interpolation (numpy's default method)."""
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def latency_summary_ms(hist: LatencyHistogram) -> dict[str, Any]:
    """A latency histogram (ns) as the summary's ``hedge_latency_ms`` dict (module docstring): p50/p99
    (estimates within ``rel_error``), exact max and count, and the non-empty buckets keyed by their inclusive
    upper bound in ms (``"+Inf"`` for the overflow bucket), counts per bucket."""

    def ms(ns: float | None) -> float | None:
        return None if ns is None else round(ns / 1e6, 4)

    return {
        "p50": ms(hist.percentile(0.50)),
        "p99": ms(hist.percentile(0.99)),
        "max": ms(hist.max_ns),
        "count": hist.count,
        "rel_error": round(LatencyHistogram.REL_ERROR, 4),
        "buckets": {("+Inf" if upper is None else f"{upper / 1e6:.6g}"): c for upper, c in hist.buckets()},
    }


def build_summary(
    stats: dict[str, MarketStats],
    final_positions: dict[str, dict[str, Decimal | None]],
    exit_reason: str,
    exit_code: int,
) -> dict[str, Any]:
    """Assemble the summary dict (see the module docstring) from per-market statistics."""
    all_stats = list(stats.values())
    latency = LatencyHistogram.merged(s.hedge_latency_ns for s in all_stats)
    engine = LatencyHistogram.merged(s.engine_latency_ns for s in all_stats)
    edges = [e for s in all_stats for e in s.edges_bps]
    expected = [e for s in all_stats for e in s.expected_edges_bps]

    def r(x: float | None) -> float | None:
        return None if x is None else round(x, 4)

    def pnl(realized: Decimal, unrealized: Decimal, fees: Decimal) -> dict[str, str]:
        q = Decimal("0.0001")
        return {"realized": str(realized.quantize(q)), "unrealized": str(unrealized.quantize(q)),
                "fees": str(fees.quantize(q)), "total": str((realized + unrealized).quantize(q))}

    def lane(ls: Any) -> dict[str, Any]:
        return {"requests": ls.requests, "waited": ls.waited, "max_wait_ms": round(ls.max_wait_s * 1000, 3),
                "total_wait_ms": round(ls.total_wait_s * 1000, 3)}

    total_volume = sum((s.volume_quote for s in all_stats), ZERO)
    total_pnl = sum((s.pnl.total for s in all_stats), ZERO)
    rates = [s.cycles_per_hour for s in all_stats if s.cycles_per_hour is not None]

    def dec(x: Decimal, q: str = "0.0001") -> str:
        return str(x.quantize(Decimal(q)))

    def fr(x: Decimal | float | None) -> float | None:
        return None if x is None else round(float(x), 4)

    return {
        "cycles_completed": sum(s.cycles_completed for s in all_stats),
        "cycles_failed": sum(s.cycles_failed for s in all_stats),
        "volume_quote": dec(total_volume, "0.01"),
        "avg_edge_bps": r(float(sum(edges, ZERO) / len(edges))) if edges else None,
        "hedge_latency_ms": latency_summary_ms(latency),
        "engine_latency_ms": latency_summary_ms(engine),
        "avg_expected_edge_bps": r(float(sum(expected, ZERO) / len(expected))) if expected else None,
        "max_slippage_bps": round(float(max((s.max_slippage_bps for s in all_stats), default=ZERO)), 4),
        "max_abs_net_exposure": str(max((s.max_abs_net_exposure for s in all_stats), default=ZERO)),
        "halts": [
            {"market": name, "reason": t.reason, "at_s": round(t.at_s, 3), "utc": t.utc}
            for name, s in stats.items() for t in s.halts
        ],
        "pnl_quote": pnl(
            sum((s.pnl.realized for s in all_stats), ZERO),
            sum((s.pnl.unrealized for s in all_stats), ZERO),
            sum((s.pnl.fees for s in all_stats), ZERO),
        ),
        "final_positions": {
            venue: {sym: ("unknown" if pos is None else str(pos)) for sym, pos in syms.items()}
            for venue, syms in final_positions.items()
        },
        "exit_reason": exit_reason,
        "exit_code": exit_code,
        "wear_bps": fr(-total_pnl / total_volume * BPS) if total_volume else None,
        "cycles_per_hour": fr(sum(rates)) if rates else None,
        "markets": {
            name: {
                "cycle_mode": s.cycle_mode,
                "cycles_completed": s.cycles_completed,
                "cycles_failed": s.cycles_failed,
                "volume_quote": dec(s.volume_quote, "0.01"),
                "wear_bps": fr(s.wear_bps),
                "fees_quote": dec(sum(s.venue_fees_quote.values(), ZERO)),
                "venues": {v: {"volume_quote": dec(s.venue_volume_quote[v], "0.01"),
                               "fees_quote": dec(s.venue_fees_quote.get(v, ZERO))}
                           for v in sorted(s.venue_volume_quote)},
                "maker_share": fr(s.maker_share),
                "cycles_per_hour": fr(s.cycles_per_hour),
                "max_abs_net_exposure": str(s.max_abs_net_exposure),
                "halts": [{"reason": t.reason, "at_s": round(t.at_s, 3), "utc": t.utc} for t in s.halts],
                "exit_reason": s.exit_reason,
                "cycles": [
                    {
                        "index": c.index,
                        "side": c.side,
                        "maker_filled": str(c.maker_filled),
                        "hedge_filled": str(c.hedge_filled),
                        "edge_bps": None if c.edge_bps is None else round(float(c.edge_bps), 4),
                        "expected_edge_bps": (
                            None if c.expected_edge_bps is None else round(float(c.expected_edge_bps), 4)
                        ),
                        "outcome": c.outcome,
                    }
                    for c in s.cycles
                ],
                "transitions": [
                    {"from": t.from_state.value, "to": t.to_state.value, "reason": t.reason, "at_s": round(t.at_s, 3),
                     "utc": t.utc}
                    for t in s.transitions
                ],
                "quote_skips": dict(sorted(s.quote_skips.items())),
                "routing": dict(sorted(s.routing.items())),
                "rate_limits": {
                    venue: {"normal": lane(b.normal), "priority": lane(b.priority),
                            "venue_rate_limited": b.venue_rate_limited}
                    for venue, b in s.rate_limits.items()
                },
                "pnl_quote": pnl(s.pnl.realized, s.pnl.unrealized, s.pnl.fees),
            }
            for name, s in stats.items()
        },
    }


def render_summary(summary: dict[str, Any]) -> str:
    """The summary as a few aligned lines for a terminal."""
    lat = summary["hedge_latency_ms"]
    eng = summary["engine_latency_ms"]
    pos = ", ".join(
        f"{venue}/{sym}={p}" for venue, syms in summary["final_positions"].items() for sym, p in syms.items()
    )
    lines = [
        "== trio_hedge run summary ==",
        f"cycles completed     {summary['cycles_completed']} (failed {summary['cycles_failed']})",
        f"volume (quote)       {summary['volume_quote']}",
        f"avg edge (bps)       {summary['avg_edge_bps']} gross; "
        f"expected net of fees {summary['avg_expected_edge_bps']}",
        f"hedge latency (ms)   p50 {lat['p50']}  p99 {lat['p99']}  max {lat['max']}  (n={lat['count']}; "
        f"p50/p99 within {lat['rel_error']:.1%}; frame in -> frame out)",
        f"engine share (ms)    p50 {eng['p50']}  p99 {eng['p99']}  max {eng['max']}",
        f"max slippage (bps)   {summary['max_slippage_bps']}",
        f"max net exposure     {summary['max_abs_net_exposure']}",
        f"pnl (quote)          {summary['pnl_quote']['total']} (realized {summary['pnl_quote']['realized']}, "
        f"fees {summary['pnl_quote']['fees']})",
        f"wear (bps)           {summary['wear_bps']} of volume; cycles/hour {summary['cycles_per_hour']}",
        *(f"  {name} ({m['cycle_mode']}): {m['cycles_completed']} cycles, wear {m['wear_bps']} bps, fees "
          f"{m['fees_quote']}, maker share {m['maker_share']}, {m['cycles_per_hour']} cycles/h"
          for name, m in summary["markets"].items()),
        f"halts                {len(summary['halts'])}"
        + "".join(f"\n  {h['market']} at {h['at_s']}s: {h['reason']}" for h in summary["halts"]),
        f"final positions      {pos}",
        f"exit                 {summary['exit_code']}: {summary['exit_reason']}",
    ]
    return "\n".join(lines)
