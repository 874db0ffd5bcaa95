"""``[venues.<name>]``: the simulated market, live endpoints and credentials, ccxt, rate limits and timeouts."""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

from ...domain import Instrument, TrioHedgeError
from ...engine import COST_PROFILES, DEFAULT_RATE_LIMITS, RateLimitSettings
from ...venues import SessionTimeouts
from ...venues._wsdirect import DEFAULT_PRIVATE_WS, PRIVATE_WS_CLIENTS
from ._defaults import TIMEOUT_DEFAULTS
from ._readers import _dec, _float, _int, _ms, _str
from ._types import (
    DATA_DIR,
    CcxtVenueConfig,
    ConfigError,
    LiveVenueConfig,
    SimVenueConfig,
    SymbolConfig,
    VenueConfig,
)

_COMMON_KEYS = {"kind", "endpoint", "symbol", "rate_limit_per_s", "rate_limit_burst", "rate_limit_reserved",
                "rate_limit_costs", "timeouts", "symbols", "private_ws"}
_MARKET_KEYS = {"base", "quote", "tick_size", "lot_size", "min_size", "min_notional", "recording", "contract",
                "contract_value_quote", "maker_fee_bps", "taker_fee_bps"}
_LIVE_KEYS = {
    "backpack": {"rest_url", "ws_url", "secrets_file"},
    "grvt": {"edge_url", "market_data_url", "trades_url", "market_data_ws_url", "trades_ws_url", "chain_id",
             "sub_account_id", "secrets_file"},
    "sim": set(),
    "ccxt": {"ccxt_id", "ccxt_options", "ccxt_poll", "secrets_file"},
}
LIVE_DEFAULTS: dict[str, dict[str, Any]] = {
    # production hosts: the Backpack API docs (https://docs.backpack.exchange/) and grvt-pysdk's GrvtEnv PROD
    "backpack": {"rest_url": "https://api.backpack.exchange", "ws_url": "wss://ws.backpack.exchange"},
    "grvt": {
        "edge_url": "https://edge.grvt.io",
        "market_data_url": "https://market-data.grvt.io",
        "trades_url": "https://trades.grvt.io",
        "market_data_ws_url": "wss://market-data.grvt.io/ws/full",
        "trades_ws_url": "wss://trades.grvt.io/ws/full",
        "chain_id": 325,
    },
}
_SECRET_NAMES = {"backpack": ("api_key", "api_secret"), "grvt": ("api_key", "private_key")}


def _market(name: str, tree: dict[str, Any], base_dir: Path, path: str = "") -> SimVenueConfig:
    path = path or f"venues.{name}"
    missing = _MARKET_KEYS - set(tree)
    if missing:
        raise ConfigError(f"{path}.{sorted(missing)[0]}", "missing (the simulated market needs it)",
                          "add it (see config.toml for an example)")
    try:
        inst = Instrument(
            venue=name,
            symbol=_str(tree, "symbol", path),
            base=_str(tree, "base", path),
            quote=_str(tree, "quote", path),
            tick_size=_dec(tree, "tick_size", path, positive=True),
            lot_size=_dec(tree, "lot_size", path, positive=True),
            min_size=_dec(tree, "min_size", path, positive=True),
            min_notional=_dec(tree, "min_notional", path, nonneg=True),
        )
    except ConfigError:
        raise
    except TrioHedgeError as exc:
        raise ConfigError(path, str(exc), "fix the instrument values") from None
    rec = Path(_str(tree, "recording", path))
    if not rec.is_absolute():
        candidates = [DATA_DIR / rec, base_dir / rec]
        rec = next((c for c in candidates if c.exists()), candidates[0])
    if not rec.exists():
        raise ConfigError(f"{path}.recording", f"file {rec} does not exist",
                          f"use a file in {DATA_DIR} or an absolute path")
    return SimVenueConfig(
        name=name,
        instrument=inst,
        recording=rec,
        inverse=_str(tree, "contract", path, ("linear", "inverse")) == "inverse",
        contract_value_quote=_dec(tree, "contract_value_quote", path, positive=True),
        maker_fee_bps=_dec(tree, "maker_fee_bps", path),
        taker_fee_bps=_dec(tree, "taker_fee_bps", path),
    )


def _secrets_file(path: str, secrets_file: object, example: str) -> dict[str, str]:
    """The string values of a 0600 TOML secrets file (``path``: the venue's config path, for errors)."""
    sf = Path(str(secrets_file)).expanduser()
    try:
        mode = sf.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"{path}.secrets_file", f"cannot read {sf}: {exc.strerror}",
                          "point it at an existing file") from None
    if mode & 0o077:
        raise ConfigError(f"{path}.secrets_file", f"{sf} is readable or writable by group/others", f"chmod 600 {sf}")
    try:
        data = tomllib.loads(sf.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        raise ConfigError(f"{path}.secrets_file", f"{sf} is not a readable TOML file",
                          f"write {example} in it") from None
    return {k: v for k, v in data.items() if isinstance(v, str)}


def _read_secrets(name: str, kind: str, tree: dict[str, Any], env: dict[str, str]) -> tuple[str, str]:
    """Credentials for a live venue: a 0600 TOML ``secrets_file`` or the environment variables
    ``TRIO_HEDGE_<NAME>_<KEY>``. The values are never put in an error text."""
    path = f"venues.{name}"
    key_name, secret_name = _SECRET_NAMES[kind]
    env_prefix = f"TRIO_HEDGE_{name.upper()}_"
    secrets_file = tree.get("secrets_file") or ""
    values: dict[str, str] = {}
    if secrets_file:
        values = _secrets_file(path, secrets_file, f'{key_name} = "..." and {secret_name} = "..."')
    for k in (key_name, secret_name):
        if k not in values and env.get(env_prefix + k.upper()):
            values[k] = env[env_prefix + k.upper()]
    for k in (key_name, secret_name):
        if not values.get(k):
            raise ConfigError(f"{path}.secrets_file", f"no {k} for the live venue {name}",
                              f"set {env_prefix}{k.upper()} or put {k} in a 0600 secrets_file")
    return values[key_name], values[secret_name]


CCXT_SIMULATORS = ("backpack", "grvt")
"""ccxt exchanges with an embedded wire simulator (``endpoint = "sim"`` for ``kind = "ccxt"``)."""


def ccxt_env_name(venue: str, key: str) -> str:
    """``TRIO_HEDGE_<VENUE>_<KEY>`` for ccxt credential ``key`` (camelCase -> SNAKE: ``privateKey`` ->
    ``PRIVATE_KEY``)."""
    snake = "".join("_" + c if c.isupper() else c for c in key).upper()
    return f"TRIO_HEDGE_{venue.upper()}_{snake}"


def _ccxt(name: str, tree: dict[str, Any], endpoint: str, env: dict[str, str]) -> CcxtVenueConfig:
    """``kind = "ccxt"``: ``ccxt_id`` (default the venue's name) must be a ccxt.pro exchange (checked offline, from
    ccxt's own list), ``ccxt_options`` a table; for endpoint "live" every credential the exchange's
    ``requiredCredentials`` names, from ``TRIO_HEDGE_<VENUE>_<KEY>`` or the 0600 ``secrets_file`` (ccxt's key names
    or their snake_case)."""
    import ccxt.pro

    path = f"venues.{name}"
    ccxt_id = tree.get("ccxt_id", name)
    if not isinstance(ccxt_id, str) or ccxt_id not in ccxt.pro.exchanges:
        near = [x for x in ccxt.pro.exchanges if str(ccxt_id)[:3].lower() in x][:8]
        raise ConfigError(f"{path}.ccxt_id", f"{ccxt_id!r} is not a ccxt.pro exchange",
                          f"use a ccxt exchange id{' such as ' + ', '.join(near) if near else ''} "
                          "(python -m trio_hedge venues lists those the bot can trade)")
    options = tree.get("ccxt_options", {})
    if not isinstance(options, dict):
        raise ConfigError(f"{path}.ccxt_options", "expected a table", f"write [venues.{name}.ccxt_options]")
    streams = ("watchOrderBook", "watchOrders", "watchMyTrades")
    poll = tree.get("ccxt_poll", [])
    if not isinstance(poll, list) or any(p not in streams for p in poll):
        raise ConfigError(f"{path}.ccxt_poll", f"expected a list of {', '.join(streams)}, got {poll!r}",
                          'write for example ccxt_poll = ["watchOrders"] (or leave it out: poll only what ccxt lacks)')
    if endpoint == "sim":
        if ccxt_id not in CCXT_SIMULATORS:
            raise ConfigError(f"{path}.endpoint", f'"sim" needs a wire simulator of {ccxt_id!r}',
                              f'use endpoint = "live", or ccxt_id one of {", ".join(CCXT_SIMULATORS)}')
        return CcxtVenueConfig(ccxt_id, dict(options), poll=tuple(poll))
    required = [k for k, need in getattr(ccxt.pro, ccxt_id)().requiredCredentials.items() if need]
    values: dict[str, str] = {}
    secrets_file = tree.get("secrets_file") or ""
    if secrets_file:
        data = _secrets_file(path, secrets_file, " and ".join(f'{k} = "..."' for k in required))
        for k in required:
            v = data.get(k, data.get(ccxt_env_name("", k)[len("TRIO_HEDGE__"):].lower()))
            if v:
                values[k] = v
    for k in required:
        if k not in values and env.get(ccxt_env_name(name, k)):
            values[k] = env[ccxt_env_name(name, k)]
    for k in required:
        if not values.get(k):
            raise ConfigError(f"{path}.secrets_file", f"no {k} for the live venue {name} (ccxt's {ccxt_id} "
                              f"requires {', '.join(required)})",
                              f"set {ccxt_env_name(name, k)} or put {k} in a 0600 secrets_file")
    return CcxtVenueConfig(ccxt_id, dict(options), values, tuple(poll))


def _rate_limit(name: str, kind: str, tree: dict[str, Any]) -> RateLimitSettings | None:
    """The venue's client-side budget. Keys absent: the defaults of its profile (its kind, or for kind
    "sim" its name when that names a venue; ``engine/_ratelimit.py`` has the published limits they halve)."""
    path = f"venues.{name}"
    profile = kind if kind in COST_PROFILES and kind != "sim" else (name if name in DEFAULT_RATE_LIMITS else "unit")
    base = DEFAULT_RATE_LIMITS.get(profile, RateLimitSettings(10.0, 10.0, 3.0))
    merged = {"rate_limit_per_s": base.rate_per_s, "rate_limit_burst": base.burst,
              "rate_limit_reserved": base.reserved, "rate_limit_costs": profile, **tree}
    rate = _float(merged, "rate_limit_per_s", path)
    if rate == 0:
        return None
    costs = _str(merged, "rate_limit_costs", path, tuple(sorted(COST_PROFILES)))
    try:
        return RateLimitSettings(rate_per_s=rate, burst=_float(merged, "rate_limit_burst", path, allow_lo=False),
                                 reserved=_float(merged, "rate_limit_reserved", path),
                                 costs=COST_PROFILES[costs])
    except ValueError as exc:
        raise ConfigError(f"{path}.rate_limit_burst", str(exc),
                          "raise rate_limit_burst or lower rate_limit_reserved") from None


def _timeouts(name: str, kind: str, tree: dict[str, Any]) -> SessionTimeouts:
    """``[venues.<name>.timeouts]``: the same keys for every venue, in ms; a key left out takes the kind's
    default (:data:`TIMEOUT_DEFAULTS`)."""
    path = f"venues.{name}.timeouts"
    given = tree.get("timeouts", {})
    if not isinstance(given, dict):
        raise ConfigError(path, "expected a table", f"write [venues.{name}.timeouts] with keys "
                          f"{', '.join(TIMEOUT_DEFAULTS[kind])}")  # fmt: skip
    unknown = sorted(set(given) - set(TIMEOUT_DEFAULTS[kind]))
    if unknown:
        raise ConfigError(f"{path}.{unknown[0]}", "unknown key", f"use one of: {', '.join(TIMEOUT_DEFAULTS[kind])}")
    merged = {**TIMEOUT_DEFAULTS[kind], **given}
    t = SessionTimeouts(**{k[:-3] + "_s": _ms(merged, k, path) for k in TIMEOUT_DEFAULTS[kind]})
    if t.heartbeat_s >= t.private_stream_budget_s:
        raise ConfigError(f"{path}.heartbeat_ms", f"{merged['heartbeat_ms']} ms is not shorter than "
                          f"private_stream_budget_ms ({merged['private_stream_budget_ms']} ms)",
                          "lower heartbeat_ms or raise private_stream_budget_ms (the watchdog counts pongs as life)")
    return t


def _venue(name: str, tree: Any, base_dir: Path, env: dict[str, str]) -> VenueConfig:
    path = f"venues.{name}"
    if not isinstance(tree, dict):
        raise ConfigError(path, "expected a table", f"write [venues.{name}]")
    kind = _str(tree, "kind", path, ("sim", "backpack", "grvt", "ccxt"))
    endpoint = tree.get("endpoint", "sim")
    if endpoint not in ("sim", "live") or (kind == "sim" and endpoint != "sim"):
        allowed = '"sim"' if kind == "sim" else '"sim" or "live"'
        raise ConfigError(f"{path}.endpoint", f"{endpoint!r} is not valid for kind {kind!r}", f"use {allowed}")
    allowed_keys = _COMMON_KEYS | _MARKET_KEYS | _LIVE_KEYS[kind]
    unknown = set(tree) - allowed_keys
    if unknown:
        raise ConfigError(f"{path}.{sorted(unknown)[0]}", f"unknown key for kind {kind!r}",
                          f"use one of: {', '.join(sorted(allowed_keys))}")
    symbol = _str(tree, "symbol", path)
    private_ws = _str({"private_ws": DEFAULT_PRIVATE_WS, **tree}, "private_ws", path, PRIVATE_WS_CLIENTS)
    rate_limit = _rate_limit(name, kind, tree)
    timeouts = _timeouts(name, kind, tree)
    ccxt_cfg = _ccxt(name, tree, endpoint, env) if kind == "ccxt" else None
    if endpoint == "sim":
        market = _market(name, tree, base_dir)
        symbols = _symbols(name, tree, endpoint, base_dir, market.maker_fee_bps, market.taker_fee_bps, market)
        return VenueConfig(name, kind, endpoint, symbol, market, None, market.maker_fee_bps, market.taker_fee_bps,
                           rate_limit, timeouts, ccxt_cfg, symbols, private_ws)
    for fee in ("maker_fee_bps", "taker_fee_bps"):
        if fee not in tree:
            raise ConfigError(f"{path}.{fee}", "missing: a live venue needs its fees (the quoting edge gate "
                              "charges them)", f'set {fee} from the venue\'s fee schedule, in bps (e.g. {fee} = "2.5"; '
                              "negative = rebate)")
    maker_fee = _dec(tree, "maker_fee_bps", path)
    taker_fee = _dec(tree, "taker_fee_bps", path)
    symbols = _symbols(name, tree, endpoint, base_dir, maker_fee, taker_fee, None)
    if ccxt_cfg is not None:
        return VenueConfig(name, kind, endpoint, symbol, None, None, maker_fee, taker_fee, rate_limit, timeouts,
                           ccxt_cfg, symbols, private_ws)
    merged = {**LIVE_DEFAULTS[kind], **tree}
    urls = {k: _str(merged, k, path) for k in sorted(_LIVE_KEYS[kind] - {"secrets_file", "chain_id",
                                                                         "sub_account_id"})}
    for k, u in urls.items():
        if not u.startswith(("https://", "wss://", "http://127.", "ws://127.", "http://localhost", "ws://localhost")):
            raise ConfigError(f"{path}.{k}", f"{u!r} is neither TLS nor loopback", "use an https:// or wss:// URL")
    api_key, secret = _read_secrets(name, kind, tree, env)
    sub = str(merged.get("sub_account_id", "")) if kind == "grvt" else ""
    if kind == "grvt" and not sub.isdigit():
        raise ConfigError(f"{path}.sub_account_id", "missing or not a number", "set your GRVT sub account id")
    chain = _int(merged, "chain_id", path, lo=1) if kind == "grvt" else 0
    return VenueConfig(name, kind, endpoint, symbol, None, LiveVenueConfig(urls, api_key, secret, sub, chain),
                       maker_fee, taker_fee, rate_limit, timeouts, None, symbols, private_ws)


def _symbols(name: str, tree: dict[str, Any], endpoint: str, base_dir: Path, maker_fee: Decimal, taker_fee: Decimal,
             market: SimVenueConfig | None) -> dict[str, SymbolConfig]:
    """The venue's symbols: the default ``symbol`` (the venue table's own keys) first, then every
    ``[venues.<name>.symbols.<SYMBOL>]`` table, with its simulated market's keys (instrument, recording, contract;
    fees default to the venue's). Endpoint "live" uses only the fees (the instrument is read from the venue at
    start)."""
    path = f"venues.{name}.symbols"
    default = _str(tree, "symbol", f"venues.{name}")
    out = {default: SymbolConfig(default, market, maker_fee, taker_fee)}
    extra = tree.get("symbols", {})
    if not isinstance(extra, dict):
        raise ConfigError(path, "expected a table of symbols",
                          f"write [venues.{name}.symbols.<SYMBOL>] tables (one per extra symbol)")
    allowed = _MARKET_KEYS  # a live venue uses only the fees (as its own table, the rest describes the sim market)
    for sym, st in extra.items():
        spath = f"{path}.{sym}"
        if sym == default:
            raise ConfigError(spath, f"{sym!r} is already the venue's default symbol (venues.{name}.symbol)",
                              "remove this table: the venue's own keys describe its default symbol")
        if not isinstance(st, dict):
            raise ConfigError(spath, "expected a table", f"write [venues.{name}.symbols.{sym}]")
        unknown = sorted(set(st) - allowed)
        if unknown:
            raise ConfigError(f"{spath}.{unknown[0]}", "unknown key for a venue symbol",
                              f"use one of: {', '.join(sorted(allowed))}")
        merged = {"maker_fee_bps": str(maker_fee), "taker_fee_bps": str(taker_fee), **st, "symbol": sym}
        fees = (_dec(merged, "maker_fee_bps", spath), _dec(merged, "taker_fee_bps", spath))
        sim = _market(name, merged, base_dir, spath) if endpoint == "sim" else None
        out[sym] = SymbolConfig(sym, sim, *fees)
    return out
