"""REST plumbing shared by the wire adapters."""

from __future__ import annotations

import math

RETRY_AFTER_MAX_S = 300.0
"""A ``Retry-After`` longer than this is not believed (ignored: the caller's own backoff applies)."""


def retry_after_s(value: str | None) -> float | None:
    """Seconds from an HTTP ``Retry-After`` header in its delay-seconds form (RFC 9110 §10.2.3), or None when it
    is absent, not a number, negative, non-finite or over :data:`RETRY_AFTER_MAX_S`."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and 0 <= seconds <= RETRY_AFTER_MAX_S else None
