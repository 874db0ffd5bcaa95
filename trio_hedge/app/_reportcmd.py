"""``python -m trio_hedge report [--journal PATH] [--out DIR] [--run N]``: one self-contained HTML report of a
run, plus its CSVs, from the journal alone (read-only: safe while the bot runs).

Writes into ``DIR`` (default ``./report``):

* ``report.html``: the run's header (times, exit code and reason), a summary, charts (cumulative volume and
  PnL over time; net exposure over time per market; the hedge latency histogram; slippage per hedge; edge
  per cycle), the per-cycle table, the trading-state changes (halts), pauses, and the venues' final
  positions. Charts are plotly figures (https://plotly.com/python/interactive-html-export/) with
  plotly.js inlined once (``include_plotlyjs=True``): the file needs no network to be viewed.
* ``trades.csv``: the run's fills (columns of ``app/_history.py`` ``TRADE_COLUMNS``), ``cycles.csv``,
  ``hedges.csv``.

Definitions: volume is the traded notional of every fill (quote units); PnL is cash flow minus fees plus
every open position marked at its venue's last fill price (quote units); net exposure is the sum of a
market's legs' positions from fills (base units); hedge latency (fill received -> first hedge order sent)
and slippage (the hedge's average fill through the arrival price, bps, positive = worse) are the hedger's own
measurements, journaled with each hedge (``hedge`` events). Times on the charts are the venues' fill times.

Exit codes: 0 written; 1 the journal cannot be read (the message says why); 2 bad arguments.
"""

from __future__ import annotations

import argparse
import csv
import html
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from ._history import (
    Cycle,
    Event,
    HistoryError,
    Run,
    Trade,
    cycles,
    events,
    iso_utc,
    open_reader,
    running_totals,
    select_run,
    trades,
)
from ._tradelog import write_trades_csv


def build_parser(prog: str = "python -m trio_hedge report") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Write report.html and CSVs for a run, from the journal.")
    p.add_argument("--journal", type=Path, default=None,
                   help="the journal (default: journal.path of --config / ./config.toml / the defaults)")
    p.add_argument("--config", type=Path, default=None, help="read journal.path from this config file")
    p.add_argument("--out", type=Path, default=Path("report"), help="output directory (default ./report)")
    p.add_argument("--run", type=int, default=None, metavar="N",
                   help="run number (1 = the first; -1 = the newest, the default)")
    return p


def journal_path(journal: Path | None, config: Path | None) -> Path:
    """``--journal``, else ``journal.path`` of ``--config`` (or ./config.toml, or the defaults).

    Raises:
        ConfigError: the config file is invalid.
    """
    if journal is not None:
        return journal
    from ._config import load_config

    if config is None and Path("config.toml").is_file():
        config = Path("config.toml")
    return load_config(config).journal.path


def main(argv: list[str]) -> int:
    from ._config import ConfigError

    args = build_parser().parse_args(argv)
    try:
        path = journal_path(args.journal, args.config)
        out = write_report(path, args.out, args.run)
    except (HistoryError, ConfigError) as exc:
        print(f"trio_hedge report: {exc}", file=sys.stderr)
        return 1
    print(out)
    return 0


# ------------------------------------------------------------------------------------------------ data


def _hedges(evts: list[Event]) -> list[dict[str, Any]]:
    return [e.data for e in evts if e.kind == "hedge" and e.data is not None]


def _f(x: Any) -> float | None:
    try:
        return None if x is None else float(x)
    except (TypeError, ValueError):
        return None


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def write_report(journal: Path, out: Path, run_number: int | None = None) -> Path:
    """Write ``report.html``, ``trades.csv``, ``cycles.csv`` and ``hedges.csv`` of run ``run_number`` (default
    the newest) of ``journal`` into ``out`` (created). Returns the HTML file's path.

    Raises:
        HistoryError: the journal cannot be read, or has no such run.
        OSError: ``out`` cannot be written.
    """
    with open_reader(journal) as conn:
        run = select_run(conn, run_number)
        tl = trades(conn, run)
        cl = cycles(conn, run, tl)
        evts = events(conn, run)
    out.mkdir(parents=True, exist_ok=True)
    write_trades_csv(out / "trades.csv", tl)
    hedges = _hedges(evts)
    _write_csv(out / "cycles.csv", ["market", "cycle", "side", "started", "ended", "outcome", "maker_qty",
                                    "maker_avg", "hedge_qty", "hedge_avg", "edge_bps", "fees", "detail"],
               [_cycle_row(c) for c in cl])
    hedge_cols = ["market", "cycle", "side", "size", "filled", "avg_price", "arrival_price", "slippage_bps",
                  "max_slippage_bps", "latency_us", "orders", "market_used"]
    _write_csv(out / "hedges.csv", hedge_cols, [[str(h.get(k, "")) for k in hedge_cols] for h in hedges])
    page = out / "report.html"
    page.write_text(render_html(journal, run, tl, cl, evts), encoding="utf-8")
    return page


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def _fmt(d: Decimal | None, q: str = "0.01") -> str:
    return "" if d is None else str(d.quantize(Decimal(q)))


def _cycle_row(c: Cycle) -> list[str]:
    return [c.market, str(c.index), c.side, iso_utc(c.started_ns), iso_utc(c.ended_ns) if c.ended_ns else "",
            c.outcome or "open", str(c.maker_qty), _fmt(c.maker_avg), str(c.hedge_qty), _fmt(c.hedge_avg),
            _fmt(c.edge_bps, "0.001"), _fmt(c.fees, "0.000001"), c.detail]


# ------------------------------------------------------------------------------------------------ html


def _charts(tl: list[Trade], cl: list[Cycle], hedges: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    pts = running_totals(tl)
    times = [iso_utc(p.ts_ns) for p in pts]
    layout = {"height": 380, "margin": {"l": 60, "r": 60, "t": 50, "b": 50}, "template": "plotly_white",
              "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0}}
    figs: list[tuple[str, Any]] = []

    f1 = make_subplots(specs=[[{"secondary_y": True}]])
    f1.add_trace(go.Scatter(x=times, y=[p.volume_quote for p in pts], name="volume (quote)", mode="lines",
                            line={"shape": "hv"}), secondary_y=False)
    f1.add_trace(go.Scatter(x=times, y=[p.pnl_quote for p in pts], name="PnL (quote, fees incl.)", mode="lines",
                            line={"shape": "hv"}), secondary_y=True)
    f1.update_layout(title="Cumulative volume and PnL", **layout)
    f1.update_yaxes(title_text="volume", secondary_y=False)
    f1.update_yaxes(title_text="PnL", secondary_y=True)
    figs.append(("volume-pnl", f1))

    f2 = go.Figure()
    for m in sorted({t.market for t in tl}):
        f2.add_trace(go.Scatter(x=times, y=[p.net_by_market.get(m, 0.0) for p in pts], name=m or "(no market)",
                                mode="lines", line={"shape": "hv"}))
    f2.update_layout(title="Net exposure per market (base units, both legs)", yaxis_title="net position",
                     **layout)
    figs.append(("exposure", f2))

    lat_ms = [v / 1000 for v in (_f(h.get("latency_us")) for h in hedges) if v is not None]
    f3 = go.Figure(go.Histogram(x=lat_ms, nbinsx=30, name="hedges"))
    f3.update_layout(title=f"Hedge latency, fill received to first hedge order ({len(lat_ms)} hedges)",
                     xaxis_title="ms", yaxis_title="hedges", bargap=0.05, **layout)
    figs.append(("latency", f3))

    labels = [f"{h.get('market', '')} c{h.get('cycle', '')} #{i + 1}" for i, h in enumerate(hedges)]
    f4 = go.Figure(go.Bar(x=labels, y=[_f(h.get("slippage_bps")) for h in hedges], name="avg through arrival"))
    f4.add_trace(go.Scatter(x=labels, y=[_f(h.get("max_slippage_bps")) for h in hedges], mode="markers",
                            name="worst order"))
    f4.update_layout(title="Slippage per hedge (bps through the arrival price; positive = worse)",
                     yaxis_title="bps", xaxis={"type": "category"}, **layout)
    figs.append(("slippage", f4))

    done = [c for c in cl if c.edge_bps is not None]
    f5 = go.Figure(go.Bar(x=[f"{c.market} {c.index}" for c in done], y=[float(c.edge_bps or 0) for c in done],
                          name="edge"))
    f5.update_layout(title="Edge per cycle (hedge avg vs maker avg, bps, before fees)", yaxis_title="bps",
                     xaxis={"type": "category"}, **layout)
    figs.append(("edge", f5))
    return figs


def _table(header: list[str], rows: list[list[str]], cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def render_html(journal: Path, run: Run, tl: list[Trade], cl: list[Cycle], evts: list[Event]) -> str:
    """The report page (see the module docstring)."""
    import plotly.io as pio

    hedges = _hedges(evts)
    pts = running_totals(tl)
    lat = [v / 1000 for v in (_f(h.get("latency_us")) for h in hedges) if v is not None]
    slip = [v for v in (_f(h.get("slippage_bps")) for h in hedges) if v is not None]
    exit_text = (f"exit {run.exit_code}: {run.exit_reason}" if run.exit_code is not None
                 else "no exit recorded (still running, or the process died)")
    summary = [
        ["run", f"{run.number} (pid {run.pid})"],
        ["started", iso_utc(run.started_ns)],
        ["ended", iso_utc(run.exited_ns) if run.exited_ns else "-"],
        ["exit", exit_text],
        ["cycles", f"{sum(1 for c in cl if c.outcome == 'completed')} completed of {len(cl)}"],
        ["fills", str(len(tl))],
        ["volume (quote)", f"{pts[-1].volume_quote:,.2f}" if pts else "0"],
        ["PnL (quote, fees included)", f"{pts[-1].pnl_quote:+,.4f}" if pts else "0"],
        ["fees (quote)", str(sum((t.fee for t in tl), Decimal(0)))],
        ["hedges", str(len(hedges))],
        ["hedge latency p50 / p99 / max (ms)",
         " / ".join("-" if v is None else f"{v:.3f}" for v in (_percentile(lat, 0.5), _percentile(lat, 0.99),
                                                                max(lat, default=None)))],
        ["slippage avg / max (bps)", f"{sum(slip) / len(slip) + 0.0:.3f} / {max(slip) + 0.0:.3f}" if slip else "-"],
    ]
    charts = []
    for i, (name, fig) in enumerate(_charts(tl, cl, hedges)):
        div = pio.to_html(fig, full_html=False, include_plotlyjs=(i == 0), include_mathjax=False,
                          div_id=f"chart-{name}", config={"displaylogo": False, "displayModeBar": False,
                                                               "responsive": True})
        charts.append(f'<section class="chart">{div}</section>')
    states = [e for e in evts if e.kind in ("state", "pause", "resume")]
    state_rows = [[iso_utc(e.recorded_ns), e.kind,
                   str((e.data or {}).get("market", "")),
                   f"{(e.data or {}).get('from', '')} -> {(e.data or {}).get('to', '')}" if e.kind == "state" else "",
                   str((e.data or {}).get("reason", e.detail))] for e in states]
    halts = [r for r in state_rows if r[3].endswith("HALTED")]
    final = [e.data for e in evts if e.kind == "ops.final" and e.data]
    pos_rows = []
    if final:
        for venue, syms in (final[-1].get("positions") or {}).items():
            for sym, size in syms.items():
                pos_rows.append([venue, sym, "unknown (not readable)" if size is None else str(size)])
    cycle_rows = [_cycle_row(c) for c in cl]
    other = [[iso_utc(e.recorded_ns), e.kind, e.detail] for e in evts
             if e.kind not in ("state", "pause", "resume", "hedge", "ops.final", "ops.run")]
    title = f"trio_hedge run {run.number}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }}
h1 {{ font-size: 1.4em; }} h2 {{ font-size: 1.15em; margin-top: 1.6em; }}
table {{ border-collapse: collapse; font-size: 0.85em; }}
td, th {{ border: 1px solid #ccc; padding: 2px 8px; text-align: left; }}
th {{ background: #f3f3f3; }}
.bad {{ color: #b00; font-weight: bold; }}
.charts {{ max-width: 1200px; }}
.chart {{ width: 100%; margin-bottom: 1em; }}
</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p>Journal <code>{html.escape(str(journal))}</code>.
<span class="{'' if run.exit_code == 0 else 'bad'}">{html.escape(exit_text)}</span></p>
<h2>Summary</h2>
{_table(["", ""], summary, "summary")}
<h2>Charts</h2>
<div class="charts">
{''.join(charts)}
</div>
<h2>Halts</h2>
{_table(["time (UTC)", "event", "market", "change", "reason"], halts) if halts else "<p>None.</p>"}
<h2>Trading-state changes and pauses</h2>
{_table(["time (UTC)", "event", "market", "change", "reason"], state_rows) if state_rows else "<p>None.</p>"}
<h2>Final positions (read from the venues at exit)</h2>
{_table(["venue", "symbol", "position"], pos_rows) if pos_rows else "<p>Not recorded.</p>"}
<h2>Cycles</h2>
{_table(["market", "cycle", "side", "started", "ended", "outcome", "maker qty", "maker avg", "hedge qty",
         "hedge avg", "edge bps", "fees", "detail"], cycle_rows) if cycle_rows else "<p>No cycle.</p>"}
<h2>Other journal events</h2>
{_table(["time (UTC)", "kind", "detail"], other) if other else "<p>None.</p>"}
</body></html>
"""
