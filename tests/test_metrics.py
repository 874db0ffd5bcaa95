"""Hedge latency histogram (bounded, percentiles within the stated bound), the run summary built from it, the
Prometheus endpoint scraped over loopback during a real-time run, and the ``[metrics]`` config."""

from __future__ import annotations

import math
import re
import socket
import subprocess
import sys
import tracemalloc
from fractions import Fraction
from pathlib import Path

import httpx
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st
from loguru import logger
from prometheus_client.parser import text_string_to_metric_families

from trio_hedge.app import ConfigError, build_summary, load_config, run_bot
from trio_hedge.app._metrics import BotCollector, latency_buckets_s, open_metrics_server
from trio_hedge.app._report import render_summary
from trio_hedge.domain import BadValue
from trio_hedge.engine import EXIT_OK, LatencyHistogram, MarketStats
from trio_hedge.engine._histogram import BOUNDS_NS, HIGH_NS, LOW_NS, N_BUCKETS, REL_ERROR

REPO = Path(__file__).resolve().parent.parent
IN_PROCESS = ["venues.backpack.kind=sim", "venues.grvt.kind=sim", 'engine.markets=["BTC"]']
"""In-process venues, the BTC market alone (these tests were written for one market; tests/test_markets.py has
the default run's two)."""

in_range = st.integers(min_value=LOW_NS + 1, max_value=HIGH_NS)
any_latency = st.integers(min_value=0, max_value=10 * HIGH_NS)
quantile_per_mille = st.integers(min_value=0, max_value=1000)


pytestmark = pytest.mark.timeout(120)  # waits on sockets or subprocesses: a hang fails the test, not the run


def _hist(values: list[int]) -> LatencyHistogram:
    h = LatencyHistogram()
    for v in values:
        h.record(v)
    return h


def _nearest_rank(values: list[int], per_mille: int) -> int:
    """The exact nearest-rank quantile, in exact arithmetic: the ceil(q * n)-th smallest (the smallest at q=0)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(Fraction(per_mille, 1000) * len(ordered)))
    return ordered[rank - 1]


def _naive_bucket(v: int) -> int:
    for i, bound in enumerate(BOUNDS_NS):
        if v <= bound:
            return i
    return len(BOUNDS_NS)


# ------------------------------------------------------------------------------------------------ histogram
def test_bucket_layout_and_stated_bound() -> None:
    assert BOUNDS_NS[0] == LOW_NS and BOUNDS_NS[-1] == HIGH_NS
    assert all(a < b for a, b in zip(BOUNDS_NS, BOUNDS_NS[1:], strict=False))
    assert N_BUCKETS == len(BOUNDS_NS) + 1 == 142
    # 20 per decade: each bucket spans 10**(1/20); the geometric middle is within sqrt of that
    assert REL_ERROR == pytest.approx(10 ** (1 / 40) - 1, rel=5e-3)  # bounds rounded to whole ns
    assert LatencyHistogram.REL_ERROR == REL_ERROR


@pytest.mark.parametrize("bound", BOUNDS_NS[::7] + BOUNDS_NS[-1:])
def test_bucket_edges_follow_prometheus_le(bound: int) -> None:
    for v in (bound - 1, bound, bound + 1):
        assert LatencyHistogram.bucket_index(v) == _naive_bucket(v)
    # a value equal to a bound is counted in that bound's ("le") bucket
    h = _hist([bound])
    assert dict(h.cumulative())[bound] == 1
    if bound > LOW_NS:
        assert dict(h.cumulative())[BOUNDS_NS[BOUNDS_NS.index(bound) - 1]] == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(in_range, min_size=1, max_size=400), st.lists(quantile_per_mille, min_size=1, max_size=5))
def test_percentiles_within_stated_bound_of_exact(values: list[int], qs: list[int]) -> None:
    h = _hist(values)
    assert h.count == len(values)
    assert h.sum_ns == sum(values)
    assert h.max_ns == max(values) and h.min_ns == min(values)
    for per_mille in qs:
        exact = _nearest_rank(values, per_mille)
        est = h.percentile(per_mille / 1000)
        assert est is not None
        assert abs(est - exact) <= REL_ERROR * exact * (1 + 1e-9), (per_mille, exact, est)
        assert min(values) <= est <= max(values)


@settings(max_examples=100, deadline=None)
@given(st.lists(any_latency, min_size=1, max_size=300))
def test_out_of_range_samples_keep_exact_totals_and_monotone_percentiles(values: list[int]) -> None:
    h = _hist(values)
    assert (h.count, h.sum_ns, h.max_ns, h.min_ns) == (len(values), sum(values), max(values), min(values))
    assert sum(h.bucket_counts()) == len(values)
    assert h.percentile(1.0) == max(values) and h.percentile(0.0) == min(values)
    estimates = [h.percentile(k / 20) for k in range(21)]
    assert all(e is not None for e in estimates)
    assert estimates == sorted(estimates)  # type: ignore[type-var]
    for k in range(21):
        exact = _nearest_rank(values, k * 50)
        est = estimates[k]
        assert est is not None
        if exact <= LOW_NS:
            assert abs(est - exact) <= LOW_NS / 2
        elif exact <= HIGH_NS:
            assert abs(est - exact) <= REL_ERROR * exact * (1 + 1e-9)
        else:
            assert HIGH_NS < est <= max(values)


@settings(max_examples=50, deadline=None)
@given(st.lists(any_latency, max_size=100), st.lists(any_latency, max_size=100))
def test_merge_equals_recording_everything(a: list[int], b: list[int]) -> None:
    merged = LatencyHistogram.merged([_hist(a), _hist(b)])
    together = _hist(a + b)
    assert merged.bucket_counts() == together.bucket_counts()
    assert (merged.count, merged.sum_ns, merged.max_ns, merged.min_ns) == (
        together.count, together.sum_ns, together.max_ns, together.min_ns)


def test_memory_stays_bounded_however_many_samples() -> None:
    h = LatencyHistogram()
    for v in range(1_000, 2_000_000, 997):  # warm up: every bucket touched up to 2 ms
        h.record(v)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for i in range(200_000):
            h.record(1_000 + (i * 7919) % 5_000_000_000)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # a list of samples would hold 200k ints (> 1.6 MB); 142 counters and a few ints is all the histogram has
    assert after - before < 16_000
    assert h.count == 200_000 + len(range(1_000, 2_000_000, 997))
    assert len(h.bucket_counts()) == N_BUCKETS


def test_empty_and_bad_quantiles() -> None:
    h = LatencyHistogram()
    assert h.percentile(0.5) is None and h.max_ns is None and list(h.buckets()) == []
    h.record(-5)  # a clock never goes back; counted as 0
    assert h.min_ns == 0 and h.count == 1
    for q in (-0.1, 1.5, float("nan"), "0.5", True):
        with pytest.raises(BadValue):
            h.percentile(q)  # type: ignore[arg-type]


@settings(max_examples=50, deadline=None)
@given(st.lists(any_latency, max_size=200))
def test_prometheus_buckets_are_cumulative_counts_at_their_le(values: list[int]) -> None:
    h = _hist(values)
    buckets = latency_buckets_s(h)
    assert buckets[-1] == ("+Inf", float(len(values)))
    assert len(buckets) == 30  # 4 per decade over 7 decades, both ends, plus +Inf
    for le, count in buckets[:-1]:
        bound_ns = next(b for b in BOUNDS_NS if math.isclose(b / 1e9, float(le), rel_tol=1e-12))
        assert count == sum(1 for v in values if v <= bound_ns)


# ------------------------------------------------------------------------------------------------ summary
def test_summary_reports_histogram_percentiles_buckets_and_exact_max() -> None:
    values = [250_000 + 3_001 * i for i in range(300)] + [40_000_000]
    a, b = MarketStats(), MarketStats()
    for i, v in enumerate(values):
        (a if i % 2 else b).hedge_latency_ns.record(v)
    s = build_summary({"A": a, "B": b}, {}, "done", 0)
    lat = s["hedge_latency_ms"]
    assert lat["count"] == len(values)
    assert lat["max"] == 40.0
    for key, per_mille in (("p50", 500), ("p99", 990)):
        exact_ms = _nearest_rank(values, per_mille) / 1e6
        assert abs(lat[key] - exact_ms) <= REL_ERROR * exact_ms + 1e-4
    assert sum(lat["buckets"].values()) == len(values)
    uppers = [float(k) for k in lat["buckets"]]
    assert uppers == sorted(uppers) and uppers[-1] >= 40.0
    assert lat["rel_error"] == round(REL_ERROR, 4)
    assert f"(n={len(values)};" in render_summary(s)


def test_summary_of_no_hedges() -> None:
    lat = build_summary({"A": MarketStats()}, {}, "done", 0)["hedge_latency_ms"]
    assert (lat["p50"], lat["p99"], lat["max"], lat["count"], lat["buckets"]) == (None, None, None, 0, {})


# ------------------------------------------------------------------------------------------------ endpoint
def _families(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Parsed exposition: sample name -> {sorted label pairs: value}."""
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for fam in text_string_to_metric_families(text):
        for sample in fam.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


async def test_endpoint_scraped_during_a_real_time_run(tmp_path: Path) -> None:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), format="{message}", level="INFO",
                      filter=lambda r: r["extra"].get("tag") == "METRICS")
    config = load_config(REPO / "config.toml", [*IN_PROCESS, "engine.cycles=4", "sim.speed=20",
                                                "metrics.enabled=true", "metrics.port=0"])
    scraped: dict[str, object] = {}

    async def scrape_mid_run(_exchange: object) -> None:
        url = re.search(r"http://127\.0\.0\.1:\d+/metrics", "\n".join(lines))
        assert url is not None, lines
        scraped["url"] = url.group(0)
        async with httpx.AsyncClient() as client:
            with trio.fail_after(20):
                while True:
                    r = await client.get(url.group(0))
                    fams = _families(r.text)
                    done = fams.get("trio_hedge_cycles_completed_total", {})
                    if any(v >= 1 for v in done.values()):
                        break
                    await trio.sleep(0.01)
            scraped["text"], scraped["content_type"] = r.text, r.headers["content-type"]
            om = await client.get(url.group(0), headers={"Accept": "application/openmetrics-text; version=1.0.0"})
            scraped["openmetrics"] = om.headers["content-type"], om.text
            scraped["404"] = (await client.get(url.group(0).replace("/metrics", "/other"))).status_code

    try:
        result = await run_bot(config, sim_hook=scrape_mid_run, journal_path=tmp_path / "j.sqlite")
    finally:
        logger.remove(sink)
    assert result.exit_code == EXIT_OK, result.exit_reason
    assert "text" in scraped, "the run ended before the scrape"
    assert str(scraped["content_type"]).startswith("text/plain; version=0.0.4")
    fams = _families(str(scraped["text"]))
    btc = (("market", "BTC"),)
    completed = fams["trio_hedge_cycles_completed_total"][btc]
    assert 1 <= completed <= result.summary["cycles_completed"]
    count = fams["trio_hedge_hedge_latency_seconds_count"][btc]
    assert 1 <= count <= result.summary["hedge_latency_ms"]["count"]
    buckets = fams["trio_hedge_hedge_latency_seconds_bucket"]
    assert buckets[(("le", "+Inf"), ("market", "BTC"))] == count
    cumulative = [v for k, v in sorted(buckets.items(), key=lambda kv: float(dict(kv[0])["le"]))]
    assert cumulative == sorted(cumulative)
    latency_sum = fams["trio_hedge_hedge_latency_seconds_sum"][btc]
    assert 0 < latency_sum <= count * fams["trio_hedge_hedge_latency_max_seconds"][btc] * (1 + 1e-9)
    assert fams["trio_hedge_maker_fills_total"][btc] >= 1
    assert fams["trio_hedge_trading_state"][(("market", "BTC"), ("state", "ACTIVE"))] == 1
    assert fams["trio_hedge_feed_connected"] == {
        (("symbol", "BTC_USDC_PERP"), ("venue", "backpack")): 1.0,
        (("symbol", "BTC_USDT_Perp"), ("venue", "grvt")): 1.0,
    }
    assert fams["trio_hedge_journal_writes_total"][(("kind", "intents"),)] >= 2
    om_type, om_text = scraped["openmetrics"]  # type: ignore[misc]
    assert om_type.startswith("application/openmetrics-text") and om_text.rstrip().endswith("# EOF")
    assert scraped["404"] == 404
    # the endpoint lives only as long as the run
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(str(scraped["url"]))


def _busy_port() -> tuple[socket.socket, int]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s, s.getsockname()[1]


async def test_port_in_use_is_a_config_error_naming_metrics_port() -> None:
    sock, port = _busy_port()
    try:
        with pytest.raises(ConfigError, match="metrics.port") as info:  # a plain error, not a group
            async with open_metrics_server(BotCollector({}), port=port):
                pytest.fail("served on a busy port")
        assert info.value.key == "metrics.port" and "in use" in info.value.problem
    finally:
        sock.close()


async def test_run_with_busy_metrics_port_stops_before_the_journal(tmp_path: Path) -> None:
    sock, port = _busy_port()
    config = load_config(None, [*IN_PROCESS, "metrics.enabled=true", f"metrics.port={port}"])
    journal = tmp_path / "j.sqlite"
    try:
        # one level of group (run_bot's root nursery): what the CLI's except* turns into exit 78
        with pytest.RaisesGroup(pytest.RaisesExc(ConfigError, check=lambda e: e.key == "metrics.port")):
            await run_bot(config, journal_path=journal)
    finally:
        sock.close()
    assert not journal.exists()  # no run recorded: a config problem is not a crash


def test_cli_exits_78_naming_metrics_port_when_the_port_is_busy(tmp_path: Path) -> None:
    sock, port = _busy_port()
    try:
        proc = subprocess.run([sys.executable, "-m", "trio_hedge", "--set", "metrics.enabled=true", "--set",
                               f"metrics.port={port}"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                              check=False)
    finally:
        sock.close()
    assert proc.returncode == 78, proc.stderr[-2000:]
    assert "metrics.port" in proc.stderr and "Fix:" in proc.stderr and "Traceback" not in proc.stderr


async def test_collector_outside_a_run_renders_engine_stats_only() -> None:
    stats = MarketStats()
    stats.hedge_latency_ns.record(2_500_000)
    stats.cycles_completed = 3
    async with open_metrics_server(BotCollector({"ETH": stats})) as server:
        assert server.url.startswith("http://127.0.0.1:") and server.bound.port > 0
        async with httpx.AsyncClient() as client:
            fams = _families((await client.get(server.url)).text)
    eth = (("market", "ETH"),)
    assert fams["trio_hedge_cycles_completed_total"][eth] == 3
    assert fams["trio_hedge_hedge_latency_max_seconds"][eth] == pytest.approx(0.0025)
    assert fams["trio_hedge_hedge_latency_seconds_bucket"][(("le", "0.003162278"), ("market", "ETH"))] == 1
    assert fams["trio_hedge_hedge_latency_seconds_bucket"][(("le", "0.001778279"), ("market", "ETH"))] == 0
    assert "trio_hedge_feed_connected" not in fams and "trio_hedge_journal_max_queued" not in fams


# ------------------------------------------------------------------------------------------------ config
def test_shipped_metrics_config_equals_default_and_is_off() -> None:
    shipped, builtin = load_config(REPO / "config.toml"), load_config(None)
    assert shipped.metrics == builtin.metrics
    assert not builtin.metrics.enabled and builtin.metrics.host == "127.0.0.1" and builtin.metrics.port > 0


@pytest.mark.parametrize(
    "overrides,key",
    [
        (["metrics.host=0.0.0.0"], "metrics.host"),
        (["metrics.host=10.1.2.3"], "metrics.host"),
        (["metrics.host=metrics.example.com", "metrics.allow_remote=true"], "metrics.host"),
        (['metrics.host=""'], "metrics.host"),
        (["metrics.port=65536"], "metrics.port"),
        (["metrics.port=-1"], "metrics.port"),
        (["metrics.port=http"], "metrics.port"),
        (["metrics.enabled=yes"], "metrics.enabled"),
        (["metrics.allow_remote=1"], "metrics.allow_remote"),
        (["metrics.path=/m"], "metrics.path"),
    ],
)
def test_metrics_config_errors_name_the_key_and_the_fix(overrides: list[str], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, overrides)
    assert info.value.key == key
    assert "Fix:" in str(info.value) and info.value.fix


def test_non_loopback_host_needs_allow_remote() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, ["metrics.host=0.0.0.0"])
    assert "allow_remote" in info.value.fix and "127.0.0.1" in info.value.fix
    c = load_config(None, ["metrics.host=0.0.0.0", "metrics.allow_remote=true", "metrics.enabled=true"])
    assert (c.metrics.host, c.metrics.enabled, c.metrics.allow_remote) == ("0.0.0.0", True, True)
    for host in ("127.0.0.2", "::1", "localhost"):
        assert load_config(None, [f'metrics.host="{host}"']).metrics.host == host


def test_metrics_table_in_a_file(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text('[metrics]\nenabled = true\nport = 9999\n')
    m = load_config(p).metrics
    assert (m.enabled, m.port, m.host) == (True, 9999, "127.0.0.1")
