"""Instruments: what a venue trades and the grid its prices and sizes live on."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ._errors import BadValue
from ._num import ZERO, floor_to, is_multiple, round_to


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable perpetual contract on one venue.

    Attributes:
        venue (str): venue name as configured (``"backpack"``, ``"grvt"``, ``"sim_primary"``...).
        symbol (str): the venue's own symbol (``"BTC_USDC_PERP"``, ``"BTC_USDT_Perp"``).
        base (str): base asset (``"BTC"``); sizes are in base units.
        quote (str): quote asset (``"USDT"``); prices are quote per base.
        tick_size (Decimal): price grid step, > 0.
        lot_size (Decimal): size grid step, > 0.
        min_size (Decimal): smallest order size, >= lot_size.
        min_notional (Decimal): smallest ``price * size`` in quote units, >= 0.
    """

    venue: str
    symbol: str
    base: str
    quote: str
    tick_size: Decimal
    lot_size: Decimal
    min_size: Decimal
    min_notional: Decimal = ZERO

    def __post_init__(self) -> None:
        for name in ("tick_size", "lot_size", "min_size"):
            v = getattr(self, name)
            if not isinstance(v, Decimal) or not v.is_finite() or v <= ZERO:
                raise BadValue(f"instrument {self.symbol}: {name}={v!r} must be a positive Decimal")
        if not self.min_notional.is_finite() or self.min_notional < ZERO:
            raise BadValue(f"instrument {self.symbol}: min_notional must be >= 0")

    def round_price(self, price: Decimal) -> Decimal:
        """``price`` rounded to the nearest tick."""
        return round_to(price, self.tick_size)

    def floor_size(self, size: Decimal) -> Decimal:
        """``size`` rounded down to the lot grid (never rounds a size up)."""
        return floor_to(size, self.lot_size)

    def check_order(self, price: Decimal | None, size: Decimal) -> None:
        """Validate an order's price and size against this instrument's grid and minimums.

        Args:
            price: limit price in quote per base, or None for a market order.
            size: size in base units.

        Raises:
            BadValue: with a message naming the rule that failed (tick, lot, min size, min notional).
        """
        if size <= ZERO or not is_multiple(size, self.lot_size):
            raise BadValue(f"{self.symbol}: size {size} must be a positive multiple of {self.lot_size}")
        if size < self.min_size:
            raise BadValue(f"{self.symbol}: size {size} below min size {self.min_size}")
        if price is not None:
            if price <= ZERO or not is_multiple(price, self.tick_size):
                raise BadValue(f"{self.symbol}: price {price} must be a positive multiple of {self.tick_size}")
            if price * size < self.min_notional:
                raise BadValue(f"{self.symbol}: notional {price * size} below min notional {self.min_notional}")
