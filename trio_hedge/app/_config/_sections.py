"""``[metrics]``, ``[alerts]``, ``[journal]`` and ``[run]``: the operator-facing sections."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from ...engine import MarketSettings
from ._readers import _bool, _float, _http_url, _int, _ms, _opt_str, _str
from ._types import AlertsConfig, ConfigError, MetricsConfig, RunConfig


def _metrics(tree: dict[str, Any]) -> MetricsConfig:
    """``[metrics]``: host must be an IP literal or ``localhost`` (no name lookup at start), and loopback
    unless ``allow_remote = true``."""
    enabled = _bool(tree, "enabled", "metrics")
    allow_remote = _bool(tree, "allow_remote", "metrics")
    host = _str(tree, "host", "metrics")
    port = _int(tree, "port", "metrics", lo=0, hi=65535)
    if host == "localhost":
        loopback = True
    else:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            raise ConfigError("metrics.host", f"{host!r} is not an IP address",
                              'write an IP address such as host = "127.0.0.1" (or "localhost")') from None
    if not loopback and not allow_remote:
        raise ConfigError("metrics.host", f"{host!r} is not a loopback address, and the endpoint has no "
                          "authentication (it shows PnL, exposure and order counts)",
                          'use host = "127.0.0.1" and scrape through a local agent or an SSH tunnel, or set '
                          "metrics.allow_remote = true to serve on it anyway")
    return MetricsConfig(enabled=enabled, host=host, port=port, allow_remote=allow_remote)


def _alerts(tree: dict[str, Any]) -> AlertsConfig:
    """``[alerts]``: URLs must be http(s); a Telegram token needs a chat id and the other way round."""
    token = _opt_str(tree, "telegram_bot_token", "alerts")
    chat = _opt_str(tree, "telegram_chat_id", "alerts")
    if bool(token) != bool(chat):
        raise ConfigError("alerts.telegram_chat_id" if token else "alerts.telegram_bot_token",
                          "Telegram needs both a bot token and a chat id",
                          "set both alerts.telegram_bot_token and alerts.telegram_chat_id, or neither")
    api = _http_url(tree, "telegram_api_url", "alerts")
    if token and not api:
        raise ConfigError("alerts.telegram_api_url", "is empty", 'use "https://api.telegram.org"')
    return AlertsConfig(
        webhook_url=_http_url(tree, "webhook_url", "alerts"),
        telegram_bot_token=token,
        telegram_chat_id=chat,
        telegram_api_url=api.rstrip("/"),
        summary_every_s=_float(tree, "summary_every_s", "alerts", lo=0.0),
        queue_capacity=_int(tree, "queue_capacity", "alerts", lo=1, hi=100_000),
        min_interval_s=_float(tree, "min_interval_ms", "alerts", lo=0.0) / 1000.0,
        retries=_int(tree, "retries", "alerts", lo=0, hi=20),
        retry_backoff_s=_ms(tree, "retry_backoff_ms", "alerts"),
        send_deadline_s=_ms(tree, "send_deadline_ms", "alerts"),
        flush_s=_ms(tree, "flush_ms", "alerts"),
    )


def _account_lock_dir(jt: dict[str, Any], base_dir: Path) -> Path | None:
    text = _str(jt, "account_lock_dir", "journal")
    if not text:
        return None
    p = Path(text).expanduser()
    return p if p.is_absolute() else base_dir / p


def _run_config(rt: dict[str, Any], markets: list[MarketSettings]) -> RunConfig:
    """``[run]``, checked: the cleanup, a final read and the journal close must fit the stop budget."""
    run = RunConfig(
        stop_budget_s=_ms(rt, "stop_budget_ms", "run"),
        final_read_s=_ms(rt, "final_read_ms", "run"),
        journal_close_s=_ms(rt, "journal_close_ms", "run"),
        second_signal_wait_s=_ms(rt, "second_signal_wait_ms", "run"),
        live_start_delay_s=_float(rt, "live_start_delay_ms", "run", lo=0.0) / 1000.0,
    )
    cleanup_s = max((m.cleanup_deadline_s for m in markets), default=0.0)
    need_s = cleanup_s + run.final_read_s + run.journal_close_s
    if need_s > run.stop_budget_s:
        raise ConfigError("run.stop_budget_ms", f"{run.stop_budget_s * 1000:.0f} ms cannot hold the cleanup "
                          f"(risk.cleanup_deadline_ms {cleanup_s * 1000:.0f}) + run.final_read_ms "
                          f"({run.final_read_s * 1000:.0f}) + run.journal_close_ms ({run.journal_close_s * 1000:.0f})",
                          f"raise it to at least {need_s * 1000:.0f} (and keep it below the supervisor's "
                          "stopwaitsecs), or lower those")
    return run
