"""``build_config`` (the raw tree → :class:`Config`: engine, markets, sim, log, journal) and ``load_config``."""

from __future__ import annotations

import copy
import os
import tomllib
from pathlib import Path
from typing import Any

from ..._hotpath import DEFAULT_WARM_PATH_MS
from ...engine import MarketSettings, PortfolioLimits, RetryPolicy
from ._defaults import CYCLE_MODES, DEFAULTS
from ._readers import _bool, _dec, _float, _int, _ms, _str
from ._sections import _account_lock_dir, _alerts, _metrics, _run_config
from ._tree import _merge, _parse_override, _set_path
from ._types import Config, ConfigError, JournalConfig, LogConfig, SimConfig
from ._venues import _venue


def _fill_priority_ms(eng: dict[str, Any]) -> float:
    v = _float(eng, "fill_priority_ms", "engine", lo=0.0)
    if v > 100.0:
        raise ConfigError("engine.fill_priority_ms", f"{v} ms would hold the book readers back too long",
                          "use 0 (off) to 100; the default is 2")
    return v


def _warm_path_ms(eng: dict[str, Any]) -> float:
    v = _float(eng, "warm_path_ms", "engine", lo=0.0)
    if 0 < v < 0.2:
        raise ConfigError("engine.warm_path_ms", f"{v} ms would spend most of a CPU rehearsing the hedge path",
                          f"use 0 (off) or at least 0.2; the default is {DEFAULT_WARM_PATH_MS:g}")
    return v


def build_config(tree: dict[str, Any], *, base_dir: Path, source: str, env: dict[str, str] | None = None) -> Config:
    """Validate a merged raw tree into :class:`Config`. Raises :class:`ConfigError`."""
    env = dict(os.environ) if env is None else env
    eng = tree["engine"]
    risk = tree["risk"]
    venues = {name: _venue(name, v, base_dir, env) for name, v in tree["venues"].items()}
    primary = _str(eng, "primary", "engine")
    hedge = _str(eng, "hedge", "engine")
    for key, name in (("primary", primary), ("hedge", hedge)):
        if name not in venues:
            raise ConfigError(f"engine.{key}", f"{name!r} is not a configured venue",
                              f"use one of: {', '.join(sorted(venues))}")
    if primary == hedge:
        raise ConfigError("engine.hedge", "the hedge venue is the primary venue", "use two different venues")
    cycles = _int(eng, "cycles", "engine", lo=1)
    cycle_mode = _str(eng, "cycle_mode", "engine", CYCLE_MODES)
    position_check_s = _float(risk, "position_check_interval_ms", "risk", lo=0.0) / 1000.0
    retry = RetryPolicy(
        backoff_s=_ms(risk, "retry_backoff_ms", "risk"),
        backoff_max_s=_ms(risk, "retry_backoff_max_ms", "risk"),
        rate_limit_retries=_int(risk, "rate_limit_retries", "risk", lo=0, hi=100),
        transient_retries=_int(risk, "transient_retries", "risk", lo=0, hi=100),
    )
    markets: list[MarketSettings] = []
    names: set[str] = set()
    legs: dict[tuple[str, str], str] = {}
    if not tree["markets"]:
        raise ConfigError("markets", "no market configured", "add a [[markets]] table")
    only = _names(eng, "markets", "engine")
    for i, m in enumerate(tree["markets"]):
        path = f"markets.{i}"
        name = _str(m, "name", path)
        if name in names:
            raise ConfigError(f"{path}.name", f"market {name!r} configured twice", "give each market its own name")
        names.add(name)
        if only and name not in only:
            continue  # not run (engine.markets): not validated against the venues either
        psym = _str(m, "primary_symbol", path)
        hsym = _str(m, "hedge_symbol", path)
        for key, sym, vname in (("primary_symbol", psym, primary), ("hedge_symbol", hsym, hedge)):
            if sym not in venues[vname].symbols:
                raise ConfigError(f"{path}.{key}", f"{sym!r} is not a symbol configured for {vname}",
                                  f"use one of {', '.join(repr(s) for s in venues[vname].symbols)}, or add a "
                                  f"[venues.{vname}.symbols.{sym}] table")
            if (vname, sym) in legs:
                raise ConfigError(f"{path}.{key}", f"{vname} {sym} is already traded by market {legs[(vname, sym)]!r}",
                                  "give each market its own symbol on each venue (positions are per symbol)")
            legs[(vname, sym)] = name
        psc, hsc = venues[primary].symbols[psym], venues[hedge].symbols[hsym]
        size = _dec(m, "order_size", path, positive=True)
        for sc, who in ((psc, primary), (hsc, hedge)):
            if sc.market is None:
                continue  # a live venue's grid is checked against its own instrument list at start
            inst = sc.market.instrument
            if size % inst.lot_size != 0 or size < inst.min_size:
                raise ConfigError(f"{path}.order_size", f"{size} is not a valid size on {who} (lot {inst.lot_size}, "
                                  f"min {inst.min_size})", "use a multiple of both venues' lot sizes")
        cap = _dec(m, "slippage_cap_bps", path, positive=True)
        hard_cap = _dec(m, "hard_slippage_cap_bps", path, positive=True)
        if hard_cap < cap:
            raise ConfigError(f"{path}.hard_slippage_cap_bps", f"{hard_cap} is below slippage_cap_bps {cap}",
                              "use a hard cap >= slippage_cap_bps (equal: no widening step)")
        own_max = _str(m, "max_position", path, None, allow_empty=True)
        max_position = (_dec(m, "max_position", path, positive=True) if own_max
                        else _dec(risk, "max_position", "risk", positive=True))
        if max_position < size:
            key = f"{path}.max_position" if own_max else "risk.max_position"
            raise ConfigError(key, f"{max_position} is below {path}.order_size {size}: no quote "
                              "could ever be sent", f"use a max_position >= {size}")
        two_sided = _bool(m, "two_sided", path)
        max_open = _int(risk, "max_open_orders", "risk", lo=1, hi=1000)
        if two_sided and max_open < 2:
            raise ConfigError(f"{path}.two_sided", "true needs two live quotes, but risk.max_open_orders is "
                              f"{max_open}", "set risk.max_open_orders >= 2, or two_sided = false")
        markets.append(
            MarketSettings(
                name=name,
                primary_symbol=psym,
                hedge_symbol=hsym,
                cycles=cycles,
                order_size=size,
                slippage_cap_bps=cap,
                requote_after_s=_ms(m, "requote_after_ms", path),
                quote_check_interval_s=_ms(m, "quote_check_interval_ms", path),
                hedge_attempts=_int(m, "hedge_attempts", path, lo=1, hi=20),
                inbox_capacity=_int(m, "inbox_capacity", path, lo=1, hi=1_000_000),
                max_hedges_in_flight=_int(m, "max_hedges_in_flight", path, lo=1, hi=32),
                order_deadline_s=_ms(risk, "order_deadline_ms", "risk"),
                event_grace_s=_ms(risk, "event_grace_ms", "risk"),
                query_interval_s=_ms(risk, "query_interval_ms", "risk"),
                book_wait_s=_ms(risk, "book_wait_ms", "risk"),
                max_quote_rejects=_int(risk, "max_quote_rejects", "risk", lo=1),
                book_stale_s=_ms(risk, "book_stale_ms", "risk"),
                feed_down_budget_s=_ms(risk, "feed_down_budget_ms", "risk"),
                imbalance_tolerance=(_dec(m, "imbalance_tolerance", path, nonneg=True)
                                     if _str(m, "imbalance_tolerance", path, None, allow_empty=True)
                                     else _dec(risk, "imbalance_tolerance", "risk", nonneg=True)),
                imbalance_grace_s=_ms(risk, "imbalance_grace_ms", "risk"),
                risk_check_interval_s=_ms(risk, "risk_check_interval_ms", "risk"),
                cleanup_deadline_s=_ms(risk, "cleanup_deadline_ms", "risk"),
                min_edge_bps=_dec(m, "min_edge_bps", path),
                edge_memory_s=_float(m, "edge_memory_ms", path, lo=0.0) / 1000.0,
                price_band_bps=_dec(m, "price_band_bps", path, positive=True),
                hard_slippage_cap_bps=hard_cap,
                slippage_cap_step_bps=_dec(m, "slippage_cap_step_bps", path, positive=True),
                market_fallback=_bool(m, "market_fallback", path),
                primary_maker_fee_bps=psc.maker_fee_bps,
                hedge_taker_fee_bps=hsc.taker_fee_bps,
                max_position=max_position,
                max_notional=_dec(risk, "max_notional", "risk", positive=True),
                max_open_orders=max_open,
                max_loss=_dec(risk, "max_loss", "risk", positive=True),
                retry=retry,
                primary_rate_limit=venues[primary].rate_limit,
                hedge_rate_limit=venues[hedge].rate_limit,
                cycle_mode=_str(m, "cycle_mode", path, ("", *CYCLE_MODES)) or cycle_mode,
                position_check_interval_s=position_check_s,
                two_sided=two_sided,
            )
        )
    if only:
        unknown = [n for n in only if n not in names]
        if unknown:
            raise ConfigError("engine.markets", f"{unknown[0]!r} is not a configured market",
                              f"use names of [[markets]] tables: {', '.join(sorted(names))} (or [] for all)")
    portfolio = PortfolioLimits(
        max_total_notional=_dec(risk, "max_total_notional", "risk", positive=True),
        max_total_loss=_dec(risk, "max_total_loss", "risk", positive=True),
    )
    sim = tree["sim"]
    log = tree["log"]
    level = _str(log, "level", "log", ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR"))
    log_file = _str(log, "file", "log")
    jt = tree["journal"]
    jpath = Path(_str(jt, "path", "journal")).expanduser()
    journal = JournalConfig(
        path=jpath if jpath.is_absolute() else (base_dir / jpath),
        max_crashes=_int(jt, "max_crashes", "journal", lo=1, hi=1000),
        crash_window_s=_ms(jt, "crash_window_ms", "journal"),
        reconcile_grace_s=_float(jt, "reconcile_grace_ms", "journal", lo=0.0) / 1000.0,
        check_budget_ms=_int(jt, "check_budget_ms", "journal", lo=1, hi=3_600_000),
        exclusive_lock=_bool(jt, "exclusive_lock", "journal"),
        report_queue_capacity=_int(jt, "report_queue_capacity", "journal", lo=1, hi=10_000_000),
        account_lock_dir=_account_lock_dir(jt, base_dir),
        call_bound_ms=_int(jt, "call_bound_ms", "journal", lo=1, hi=3_600_000),
        inline_intents=_bool(jt, "inline_intents", "journal"),
        queue_hedge_intents=_bool(jt, "queue_hedge_intents", "journal"),
    )
    alerts = _alerts(tree["alerts"])
    run = _run_config(tree["run"], markets)
    return Config(
        primary=primary,
        hedge=hedge,
        event_capacity=_int(eng, "event_capacity", "engine", lo=1, hi=1_000_000),
        fill_priority_ms=_fill_priority_ms(eng),
        warm_path_ms=_warm_path_ms(eng),
        markets=tuple(markets),
        venues=venues,
        sim=SimConfig(
            speed=_float(sim, "speed", "sim", lo=0.0),
            latency_s=_float(sim, "latency_ms", "sim", lo=0.0) / 1000.0,
            market_data_capacity=_int(sim, "market_data_capacity", "sim", lo=1, hi=1_000_000),
            account_capacity=_int(sim, "account_capacity", "sim", lo=1, hi=10_000_000),
        ),
        log=LogConfig(level=level, file=Path(log_file) if log_file else None),
        source=source,
        secrets=(*(x for v in venues.values() if v.live for x in (v.live.api_key, v.live.secret)),
                 *(x for v in venues.values() if v.ccxt for x in v.ccxt.credentials.values()),
                 *(x for x in (alerts.telegram_bot_token, alerts.webhook_url) if x)),
        journal=journal,
        metrics=_metrics(tree["metrics"]),
        alerts=alerts,
        run=run,
        portfolio=portfolio,
    )


def _names(tree: dict[str, Any], key: str, path: str) -> list[str]:
    """A list of names (``engine.markets``); ``[]`` = all."""
    v = tree.get(key)
    if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
        raise ConfigError(f"{path}.{key}", f"{v!r} is not a list of market names",
                          f'write {key} = ["BTC"] (the [[markets]] names to run), or [] for every market')
    return list(v)


def load_config(path: Path | None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read ``path`` (or the built-in defaults when None), apply ``overrides``, and validate.

    Args:
        path: a TOML file, or None for the defaults (identical to the shipped ``config.toml``).
        overrides: ``key.path=value`` strings, applied in order after the file.

    Raises:
        ConfigError: unreadable file, bad TOML, unknown key, wrong type, or an out-of-range value.
    """
    tree: dict[str, Any] = copy.deepcopy(DEFAULTS)
    base_dir = Path.cwd()
    source = "<defaults>"
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError("--config", f"cannot read {path}: {exc.strerror}", "pass an existing file") from None
        try:
            user = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("--config", f"{path} is not valid TOML ({exc})", "fix the TOML syntax") from None
        if "venues" in user and isinstance(user["venues"], dict):
            # venues listed in the file replace the default set entirely (no hidden default venue)
            tree["venues"] = {}
        tree = _merge(tree, user, "")
        base_dir = path.resolve().parent
        source = str(path)
    for text in overrides:
        keys, value = _parse_override(text)
        _set_path(tree, keys, value)
    return build_config(tree, base_dir=base_dir, source=source)
