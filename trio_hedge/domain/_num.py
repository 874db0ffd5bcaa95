"""Strict Decimal parsing for prices and sizes arriving from the outside world.

Every venue message and config value that carries a price or size goes through these functions, so the
rules live in one place: values are parsed from their decimal string (never via float), must be finite
(no NaN, no Infinity, no sNaN), prices must be > 0 and sizes >= 0.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal, InvalidOperation

from ._errors import BadValue

ZERO = Decimal(0)
ONE = Decimal(1)
BPS = Decimal(10_000)  # basis points per unit


def to_decimal(value: object, *, what: str = "value") -> Decimal:
    """Parse ``value`` (str, int or Decimal; never float) into a finite Decimal.

    Args:
        value: a decimal string such as ``"61800.20"``, an int, or a Decimal.
        what: a name for the value, used in the error text.

    Returns:
        Decimal: the parsed value.

    Raises:
        BadValue: floats (they carry binary rounding), bools, non-numeric text, NaN or Infinity.
    """
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, bool) or isinstance(value, float):
        raise BadValue(f"{what}: {type(value).__name__} is not accepted, send a decimal string")
    elif isinstance(value, (str, int)):
        try:
            d = Decimal(value.strip() if isinstance(value, str) else value)
        except (InvalidOperation, ValueError):
            raise BadValue(f"{what}: {str(value)[:40]!r} is not a decimal number") from None
    else:
        raise BadValue(f"{what}: {type(value).__name__} is not a decimal number")
    if not d.is_finite():
        raise BadValue(f"{what}: {d} is not finite")
    return d


def parse_price(value: object, *, what: str = "price") -> Decimal:
    """Parse a price: finite and strictly positive. Raises :class:`BadValue` otherwise."""
    d = to_decimal(value, what=what)
    if d <= ZERO:
        raise BadValue(f"{what}: {d} must be > 0")
    return d


def parse_size(value: object, *, what: str = "size") -> Decimal:
    """Parse a size: finite and >= 0 (0 deletes a book level). Raises :class:`BadValue` otherwise."""
    d = to_decimal(value, what=what)
    if d < ZERO:
        raise BadValue(f"{what}: {d} must be >= 0")
    return d


def floor_to(value: Decimal, step: Decimal) -> Decimal:
    """Round ``value`` down (toward zero) to a multiple of ``step`` (``step`` > 0)."""
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def ceil_to(value: Decimal, step: Decimal) -> Decimal:
    """Round ``value`` up (away from zero) to a multiple of ``step`` (``step`` > 0)."""
    return (value / step).to_integral_value(rounding=ROUND_UP) * step


def round_to(value: Decimal, step: Decimal) -> Decimal:
    """Round ``value`` to the nearest multiple of ``step`` (half-even)."""
    return (value / step).to_integral_value(rounding=ROUND_HALF_EVEN) * step


def is_multiple(value: Decimal, step: Decimal) -> bool:
    """True when ``value`` is an exact multiple of ``step``."""
    return (value % step) == ZERO


def bps(delta: Decimal, reference: Decimal) -> Decimal:
    """``delta`` as basis points of ``reference``: ``delta / reference * 10_000``."""
    return delta / reference * BPS
