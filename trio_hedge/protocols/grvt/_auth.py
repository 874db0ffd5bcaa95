"""GRVT login cookie: the ``gravity`` session cookie of ``POST /auth/api_key/login``, parsed from its
``Set-Cookie`` header (client side) and formatted (server side).

Sources: the GRVT API docs' authentication page (https://api-docs.grvt.io/), grvt-pysdk's cookie handling
(https://github.com/gravity-technologies/grvt-pysdk ``grvt_raw_base._get_cookie``, the ``Expires`` format it parses).
"""

from __future__ import annotations

import calendar
import datetime
import re
from dataclasses import dataclass, field
from email.utils import formatdate
from http.cookies import CookieError, SimpleCookie
from typing import Final

from ...domain import (
    BadValue,
)
from ._codec import COOKIE_EXPIRES_FORMAT, COOKIE_NAME, VENUE, GrvtProtocolError


# ---------------------------------------------------------------------------------------------- login cookie
@dataclass(frozen=True, slots=True)
class GrvtCookie:
    """The ``gravity`` session cookie. ``value`` is a credential: it is left out of repr.

    Attributes:
        value (str): the opaque cookie value.
        expires_s (int): expiry, unix seconds (UTC).
    """

    value: str = field(repr=False)
    expires_s: int

    @property
    def header(self) -> str:
        """The ``Cookie`` request header value: ``gravity=<value>`` (GRVT docs: login)."""
        return f"{COOKIE_NAME}={self.value}"

    def should_refresh(self, now_s: float, margin_s: float = 60.0) -> bool:
        """True when fewer than ``margin_s`` seconds of validity remain (pysdk refreshes at 5 s, GRVT docs: login)."""
        return self.expires_s - now_s < margin_s


_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_EXPIRES_RE: Final = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{1,2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) GMT"
)
_COOKIE_VALUE_RE: Final = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~:/?=@{}()<>]+")


def _expires_to_s(text: str) -> int | None:
    m = _EXPIRES_RE.fullmatch(text.strip())
    if m is None:
        return None
    day, mon, year, hh, mm, ss = m.groups()
    parts = (int(year), _MONTHS.index(mon) + 1, int(day), int(hh), int(mm), int(ss))
    if not (1 <= parts[2] <= 31 and parts[3] <= 23 and parts[4] <= 59 and parts[5] <= 60):
        return None
    try:
        datetime.date(parts[0], parts[1], parts[2])
    except ValueError:
        return None
    return calendar.timegm((*parts, 0, 0, 0))


def parse_set_cookie(header: str, *, venue: str = VENUE) -> GrvtCookie:
    """Parse the login response's ``Set-Cookie`` header into the ``gravity`` cookie (GRVT docs: login).

    As grvt-pysdk ``get_cookie_with_expiration`` does: ``SimpleCookie().load(header)``, take
    ``cookie["gravity"].value`` and its ``expires`` attribute in the format ``"%a, %d %b %Y %H:%M:%S %Z"``
    (``"Sat, 22 Nov 2025 13:50:00 GMT"``). Differences, both on the safe side: the date is read as UTC
    (pysdk's naive ``datetime.timestamp()`` reads it in the host's local zone), and only the ``GMT``
    zone and English day/month names are accepted, independent of the locale (SimpleCookie itself only
    keeps an unquoted ``expires`` date that ends in ``GMT``).

    Returns:
        GrvtCookie: value and ``expires_s``.

    Raises:
        GrvtProtocolError: no ``gravity`` cookie, no or unparseable ``expires``. The message never
            contains the header (it holds the credential).
    """
    if not isinstance(header, str):
        raise GrvtProtocolError("Set-Cookie: expected a string header", venue=venue)
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        raise GrvtProtocolError("Set-Cookie: header could not be parsed", venue=venue) from None
    morsel = jar.get(COOKIE_NAME)
    if morsel is None or not morsel.value:
        raise GrvtProtocolError(f"Set-Cookie: no {COOKIE_NAME!r} cookie", venue=venue)
    expires = morsel["expires"]
    if not isinstance(expires, str) or not expires:
        raise GrvtProtocolError(f"Set-Cookie: {COOKIE_NAME!r} has no expires attribute", venue=venue)
    expires_s = _expires_to_s(expires)
    if expires_s is None:
        raise GrvtProtocolError(f"Set-Cookie: expires is not in the {COOKIE_EXPIRES_FORMAT!r} format", venue=venue)
    return GrvtCookie(morsel.value, expires_s)


def format_set_cookie(
    value: str, expires_s: int, *, path: str = "/", secure: bool = True, http_only: bool = True
) -> str:
    """The ``Set-Cookie`` header value the login endpoint sends (server side; GRVT docs: login):
    ``gravity=<value>; Expires=Sat, 22 Nov 2025 13:50:00 GMT; Path=/; Secure; HttpOnly``. The date is in
    exactly the format grvt-pysdk's ``strptime`` accepts.

    Args:
        value: the opaque session token (cookie-safe characters only).
        expires_s: expiry, unix seconds (UTC).
        path, secure, http_only: cookie attributes (a loopback simulator over plain HTTP may drop Secure).

    Raises:
        BadValue: an empty value or one with characters a cookie cannot carry unquoted (the text of the
            error does not include the value), or a negative ``expires_s``.
    """
    if not isinstance(value, str) or not _COOKIE_VALUE_RE.fullmatch(value):
        raise BadValue("cookie value must be non-empty and use cookie-safe characters")
    if isinstance(expires_s, bool) or not isinstance(expires_s, int) or not 0 <= expires_s < 253402300800:
        raise BadValue(f"expires_s must be unix seconds before year 10000, not {expires_s!r}")
    parts = [f"{COOKIE_NAME}={value}", f"Expires={formatdate(expires_s, usegmt=True)}", f"Path={path}"]
    if secure:
        parts.append("Secure")
    if http_only:
        parts.append("HttpOnly")
    return "; ".join(parts)
