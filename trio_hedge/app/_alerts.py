"""Operator alerts: a webhook (JSON POST) and/or a Telegram chat, sent by their own task.

Wire formats:

* webhook: ``POST <webhook_url>`` with ``{"text": ..., "event": ..., "run": ..., "market": ...}``
  (``Content-Type: application/json``). Slack (https://api.slack.com/messaging/webhooks), Mattermost
  (https://developers.mattermost.com/integrate/webhooks/incoming/) read ``text``; Discord's execute-webhook
  (https://discord.com/developers/docs/resources/webhook#execute-webhook) reads ``content`` and Lark's custom
  bot ``msg_type``/``content``: point those at a relay, or at Slack-compatible endpoints (Discord's
  ``/slack`` suffix). Extra keys are ignored by all of them.
* Telegram: ``POST <telegram_api_url>/bot<token>/sendMessage`` with ``{"chat_id": ..., "text": ...}``
  (https://core.telegram.org/bots/api#sendmessage).

Never blocking trading: :meth:`Alerts.post` is synchronous and O(1); it appends to a bounded deque
(``queue_capacity``) and drops the oldest alert when full (``dropped`` counts them). The sender task takes
them in order, keeps at most one message per ``min_interval_s`` per destination (rate limit), bounds every
request with ``send_deadline_s`` (a ``move_on_after`` at the call site) and retries a failure ``retries``
times with exponential backoff. A receiver that is down or slow therefore delays only later alerts, never
the run; at exit :meth:`Alerts.flush` gives what is still queued ``flush_s`` in all: in order, one try each,
without the rate limit's wait, each alert an equal share of the time left (a stale alert stuck on a slow
receiver does not hold up the exit alert). Delivery is at least once.

Secrets: the Telegram token is in the request URL and a webhook URL is itself a credential; both are
registered for redaction (``trio_hedge/_redact.py``) by the CLI, and no error text here includes a URL.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx
import trio
from loguru import logger

from .._redact import redact
from ._config import AlertsConfig

MAX_BACKOFF_S = 30.0


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert: ``event`` a short tag (``start``, ``halt``, ``exit``...), ``text`` the message, ``market``
    the market it concerns ("" for the whole run)."""

    event: str
    text: str
    market: str = ""


@dataclass(slots=True)
class AlertStats:
    """Counters: alerts ``posted``, ``dropped`` (queue full, oldest first), ``sent`` and ``failed`` per
    destination (after every retry)."""

    posted: int = 0
    dropped: int = 0
    sent: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)


class Alerts:
    """The alert queue and its sender (see the module docstring). Run :meth:`run` as a task; call
    :meth:`flush` at exit.

    Args:
        settings: ``[alerts]``.
        run: the run's label in every message (the journal's run id, else the pid).
        client: the HTTP client (default: a new ``httpx.AsyncClient``, closed by :meth:`aclose`).
    """

    def __init__(self, settings: AlertsConfig, run: str, client: httpx.AsyncClient | None = None) -> None:
        self.s = settings
        self.run_label = run
        self.stats = AlertStats()
        self._queue: deque[Alert] = deque()
        self._lot = trio.lowlevel.ParkingLot()
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(timeout=None)  # deadlines at the call sites
        self._last_send: dict[str, float] = {}
        self._log = logger.bind(tag="ALERTS")

    @property
    def destinations(self) -> list[str]:
        return [d for d, on in (("webhook", bool(self.s.webhook_url)), ("telegram", bool(self.s.telegram_chat_id)))
                if on]

    @property
    def queued(self) -> int:
        return len(self._queue)

    def post(self, event: str, text: str, market: str = "") -> None:
        """Queue an alert (never blocks; the oldest is dropped when the queue is full)."""
        if not self.destinations:
            return
        if len(self._queue) >= self.s.queue_capacity:
            self._queue.popleft()
            self.stats.dropped += 1
        self._queue.append(Alert(event, text, market))
        self.stats.posted += 1
        self._lot.unpark()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Send queued alerts in order, until cancelled."""
        task_status.started()
        while True:
            while not self._queue:
                await self._lot.park()
            alert = self._queue[0]
            for dest in self.destinations:
                await self._deliver(dest, alert, retries=self.s.retries)
            if self._queue and self._queue[0] is alert:
                self._queue.popleft()

    async def flush(self) -> None:
        """Send what is still queued within ``flush_s`` in all, in order, one try each and no rate-limit wait,
        each alert given an equal share of what is left of the budget (so a stale alert stuck on a slow
        receiver cannot hold up the exit alert behind it). Call it after cancelling :meth:`run`, shielded.
        Delivery is at least once: an alert whose request was on its way when :meth:`run` was cancelled is
        sent again. What does not go out is logged and counted as dropped."""
        pending = list(self._queue)
        self._queue.clear()
        end = trio.current_time() + self.s.flush_s
        delivered = 0
        for i, alert in enumerate(pending):
            with trio.move_on_at(trio.current_time() + (end - trio.current_time()) / (len(pending) - i)):
                results = [await self._deliver(dest, alert, retries=0, rate_limited=False)
                           for dest in self.destinations]
                delivered += all(results)
        if delivered < len(pending):
            self.stats.dropped += len(pending) - delivered
            self._log.warning("{} alert(s) not sent at exit (alerts.flush_ms)", len(pending) - delivered)

    async def aclose(self) -> None:
        if self._own_client:
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                await self._client.aclose()

    def _request(self, dest: str, alert: Alert) -> tuple[str, dict[str, Any]]:
        text = f"[trio_hedge run {self.run_label}] {alert.text}"
        if dest == "webhook":
            return self.s.webhook_url, {"text": text, "event": alert.event, "run": self.run_label,
                                        "market": alert.market}
        return (f"{self.s.telegram_api_url}/bot{self.s.telegram_bot_token}/sendMessage",
                {"chat_id": self.s.telegram_chat_id, "text": text})

    async def _deliver(self, dest: str, alert: Alert, *, retries: int, rate_limited: bool = True) -> bool:
        url, body = self._request(dest, alert)
        delay = self.s.retry_backoff_s
        for attempt in range(retries + 1):
            wait = self._last_send.get(dest, -1e18) + self.s.min_interval_s - trio.current_time()
            if wait > 0 and rate_limited:
                await trio.sleep(wait)
            self._last_send[dest] = trio.current_time()
            problem = "no answer within alerts.send_deadline_ms"
            with trio.move_on_after(self.s.send_deadline_s):
                try:
                    r = await self._client.post(url, json=body)
                    if r.status_code < 300:
                        self.stats.sent[dest] = self.stats.sent.get(dest, 0) + 1
                        return True
                    problem = f"HTTP {r.status_code}"
                    if r.status_code == 429:  # Telegram and Slack say how long to wait
                        delay = max(delay, _retry_after_s(r))
                except httpx.HTTPError as exc:
                    problem = type(exc).__name__  # never the message: it carries the URL (and a token)
            if attempt < retries:
                self._log.debug("{} alert {} failed ({}); retry in {:.1f}s", dest, alert.event, problem, delay)
                await trio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_S)
            else:
                self._log.warning("{} alert {} not sent ({})", dest, alert.event, redact(problem))
        self.stats.failed[dest] = self.stats.failed.get(dest, 0) + 1
        return False


def _retry_after_s(r: httpx.Response) -> float:
    try:
        return min(float(r.headers.get("retry-after", "0")), MAX_BACKOFF_S)
    except ValueError:
        return 0.0
