"""GRVT authentication (https://api-docs.grvt.io/: Authentication): API-key login for the ``gravity`` session cookie and
the account id header, single-flight re-login, and the refresh task that renews the cookie before it expires."""

from __future__ import annotations

import time

import httpx
import trio

from ..._redact import register_secret
from ...protocols.grvt import GrvtCookie, GrvtProtocolError, encode_json, parse_rest_page, parse_set_cookie
from .._errors import AuthError, RateLimited, UnknownOutcome, VenueError, VenueUnavailable
from .._ws import Backoff
from ._session import ACCOUNT_HEADER, LOGIN_PATH, _GrvtSession


class _Auth(_GrvtSession):
    """Login and cookie refresh of a GRVT session."""

    def _auth_headers(self) -> dict[str, str]:
        if self._cookie is None:
            raise AuthError(self.name, "not logged in", code="1000")
        headers = {"Cookie": self._cookie.header}
        if self._account_id:
            headers[ACCOUNT_HEADER] = self._account_id
        return headers

    async def _login(self) -> None:
        """``POST {edge}/auth/api_key/login`` (API docs: Authentication): keep the ``gravity`` cookie and the account id
        header.

        Raises:
            AuthError: the key is refused or no usable cookie came back.
            VenueUnavailable: the edge host cannot be reached, answers 5xx, or times out.
            RateLimited: the login was rate limited.
        """
        url = self._s.edge_url.rstrip("/") + LOGIN_PATH
        try:
            resp = await self._client.post(url, content=encode_json({"api_key": self._s.api_key}))
        except httpx.HTTPError as exc:
            raise VenueUnavailable(self.name, f"login failed: {type(exc).__name__}", code="login") from None
        if not 200 <= resp.status_code < 300:
            try:
                parse_rest_page(resp.content, http_status=resp.status_code, venue=self.name)
            except (AuthError, RateLimited):
                raise
            except UnknownOutcome:
                raise VenueUnavailable(self.name, f"login: HTTP {resp.status_code}", code="login") from None
            except VenueError as exc:
                raise AuthError(self.name, f"login refused: {exc.message}", code=exc.code) from None
            raise AuthError(self.name, f"login refused: HTTP {resp.status_code}", code="login")
        cookie: GrvtCookie | None = None
        for header in resp.headers.get_list("set-cookie"):
            try:
                cookie = parse_set_cookie(header, venue=self.name)
                break
            except GrvtProtocolError:
                continue
        if cookie is None:
            raise AuthError(self.name, "login answered without a usable 'gravity' cookie", code="login")
        register_secret(cookie.value)
        self._cookies_seen.append(cookie.value)
        del self._cookies_seen[:-4]
        self._cookie = cookie
        self._account_id = resp.headers.get(ACCOUNT_HEADER.lower(), "") or self._account_id
        self._cookie_stale = False
        self._log.info("logged in (session valid for {:.0f}s)", cookie.expires_s - time.time())

    async def _relogin(self, stale: GrvtCookie | None) -> None:
        """Log in again unless another task already replaced ``stale`` (single flight)."""
        async with self._login_lock:
            if self._cookie is not stale and not self._cookie_stale:
                return
            await self._login()

    async def _run_auth(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Refresh the cookie ``cookie_refresh_margin_s`` before it expires; retry with backoff; raise
        AuthError only once the cookie has actually expired and the key is still refused."""
        task_status.started()
        backoff = Backoff(self._s.backoff_min_s, self._s.backoff_max_s)
        while True:
            cookie = self._cookie
            if cookie is not None and not self._cookie_stale:
                wait_s = cookie.expires_s - self._s.cookie_refresh_margin_s - time.time()
                if wait_s > 0:
                    await trio.sleep(min(wait_s, 60.0))
                    continue
            try:
                self._cookie_stale = True
                await self._relogin(cookie)
                backoff.reset()
            except (VenueUnavailable, RateLimited, AuthError) as exc:
                expired = cookie is None or cookie.expires_s <= time.time()
                if isinstance(exc, AuthError) and expired:
                    raise
                delay = backoff.next_delay_s()
                self._log.warning("cookie refresh failed ({}); retrying in {:.2f}s", exc, delay)
                await trio.sleep(delay)

    async def _ensure_fresh_cookie(self) -> None:
        cookie = self._cookie
        if self._cookie_stale or cookie is None or cookie.should_refresh(time.time(), 5.0):
            self._cookie_stale = True
            await self._relogin(cookie)
