"""GRVT instruments: parse ``POST /full/v1/instrument`` / ``all_instruments`` results into domain
:class:`~trio_hedge.domain.Instrument` (plus the signing metadata), and format them (server side).

Sources and the citation names used below: the package docstring (:mod:`trio_hedge.protocols.grvt`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from ...domain import (
    ZERO,
    BadValue,
    Instrument,
    is_multiple,
)
from ._codec import _F_INSTRUMENT, _KINDS, _MISSING, VENUE, GrvtProtocolError, _Reader, _show, format_decimal


# ---------------------------------------------------------------------------------------------- instruments
@dataclass(frozen=True, slots=True)
class GrvtInstrumentMeta:
    """What the GRVT order signer needs about an instrument beyond the domain :class:`Instrument`.

    Attributes:
        symbol (str): GRVT instrument name (``"BTC_USDT_Perp"``).
        instrument_hash (str): the EIP-712 ``assetID`` as the venue sends it (``"0x030501"``).
        base_decimals (int): size multiplier exponent: a size of ``s`` is signed as ``s * 10**base_decimals``.
        quote_decimals (int): quote asset decimals.
        kind (str): ``PERPETUAL``, ``FUTURE``, ``CALL``, ``PUT`` or ``SPOT_SWAP``.

    Source: GRVT docs: instrument; grvt-pysdk signing (pysdk ``get_signable_message`` refuses to sign without
    ``instrument_hash`` and ``base_decimals``).
    """

    symbol: str
    instrument_hash: str
    base_decimals: int
    quote_decimals: int
    kind: str

    @property
    def asset_id(self) -> int:
        """``instrument_hash`` as an integer (the EIP-712 ``assetID`` uint256)."""
        return int(self.instrument_hash, 16)


_HEX_RE: Final = re.compile(r"0x[0-9a-fA-F]{1,64}")
_SYMBOL_RE: Final = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


def parse_instrument(
    obj: Any, *, venue: str = VENUE, size_step: str = "base_decimals"
) -> tuple[Instrument, GrvtInstrumentMeta]:
    """Parse one GRVT ``InstrumentDisplay`` (full or lite names).

    Shape (GRVT docs: instrument, real)::

        {"instrument":"BTC_USDT_Perp","instrument_hash":"0x030501","base":"BTC","quote":"USDT",
         "kind":"PERPETUAL","base_decimals":9,"quote_decimals":6,"tick_size":"0.1","min_size":"0.001",
         "min_notional":"100.0", ...}

    Mapping: ``tick_size`` -> ``tick_size``; ``min_size`` -> ``min_size``; ``min_notional`` ->
    ``min_notional`` (0 when absent: an older real capture, ccxt ``fetch_markets`` comment, has none and
    sends ``base_decimals`` as a string, which is also accepted). The lot (``lot_size``) is
    ``10**-base_decimals`` (the venue's size granularity, error 2065 "Order size too granular", GRVT docs: create_order
    errors) with ``size_step="base_decimals"`` (default), or ``min_size`` with ``size_step="min_size"`` (what ccxt
    4.5.90 ``parse_market`` uses for amount precision: "confirmed, not base_decimals").

    Args:
        obj: the decoded instrument object.
        venue: configured venue name for the Instrument.
        size_step: ``"base_decimals"`` or ``"min_size"`` (see above).

    Returns:
        (Instrument, GrvtInstrumentMeta).

    Raises:
        GrvtProtocolError: a missing or malformed field, an unknown ``kind``, a non-positive tick or
            min size, ``min_size`` off the lot grid, ``base_decimals`` outside [-18, 18].
    """
    r = _Reader(obj, _F_INSTRUMENT, "instrument", venue)
    symbol = r.string("instrument")
    if not _SYMBOL_RE.fullmatch(symbol):
        raise r.err("instrument", f"bad symbol {_show(symbol)}")
    r.path = f"instrument[{symbol}]"
    instrument_hash = r.string("instrument_hash")
    if not _HEX_RE.fullmatch(instrument_hash):
        raise r.err("instrument_hash", f"expected 0x-prefixed hex, got {_show(instrument_hash)}")
    kind = r.enum("kind", _KINDS)
    base_decimals = _small_int(r, "base_decimals")
    quote_decimals = _small_int(r, "quote_decimals")
    tick = r.price("tick_size")
    min_size = r.price("min_size")
    min_notional = r.size("min_notional") if r.get("min_notional") is not _MISSING else ZERO
    if size_step == "base_decimals":
        lot = Decimal(1).scaleb(-base_decimals)
        try:
            on_grid = is_multiple(min_size, lot)
        except ArithmeticError:  # decimal.InvalidOperation (DivisionImpossible) for absurd ratios
            on_grid = False
        if not on_grid:
            raise r.err("min_size", f"{min_size} is not a multiple of 10^-{base_decimals}")
    elif size_step == "min_size":
        lot = min_size
    else:
        raise BadValue(f"size_step must be 'base_decimals' or 'min_size', not {size_step!r}")
    try:
        instrument = Instrument(
            venue=venue,
            symbol=symbol,
            base=r.string("base"),
            quote=r.string("quote"),
            tick_size=tick,
            lot_size=lot,
            min_size=min_size,
            min_notional=min_notional,
        )
    except BadValue as exc:
        raise GrvtProtocolError(f"{r.path}: {exc}", venue=venue) from None
    return instrument, GrvtInstrumentMeta(symbol, instrument_hash, base_decimals, quote_decimals, kind)


def _small_int(r: _Reader, name: str) -> int:
    value = r.need(name)
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,2}", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not -18 <= value <= 18:
        raise r.err(name, f"expected an integer in [-18, 18], got {_show(value)}")
    return value


def parse_instruments(
    result: Any,
    *,
    venue: str = VENUE,
    kinds: frozenset[str] = frozenset({"PERPETUAL"}),
    size_step: str = "base_decimals",
) -> list[tuple[Instrument, GrvtInstrumentMeta]]:
    """Parse the ``result`` array of ``/full/v1/instruments`` or ``/full/v1/all_instruments`` (GRVT docs: instrument).

    Elements whose ``kind`` (a string) is not in ``kinds`` are skipped before validation, so an
    instrument of a kind the bot does not trade (or a kind GRVT adds later) cannot break the listing.
    Every kept element is parsed strictly by :func:`parse_instrument`.

    Raises:
        GrvtProtocolError: ``result`` is not an array, an element is not an object or has no string
            ``kind``, or a kept element is malformed.
    """
    if not isinstance(result, list):
        raise GrvtProtocolError(f"instruments: expected an array, got {type(result).__name__}", venue=venue)
    out: list[tuple[Instrument, GrvtInstrumentMeta]] = []
    for i, item in enumerate(result):
        r = _Reader(item, _F_INSTRUMENT, f"instruments[{i}]", venue)
        if r.string("kind") not in kinds:
            continue
        out.append(parse_instrument(item, venue=venue, size_step=size_step))
    return out


def format_instrument(instrument: Instrument, meta: GrvtInstrumentMeta, *, create_time_ns: int = 0) -> dict[str, Any]:
    """The full-name ``InstrumentDisplay`` JSON object for ``instrument`` (server side; inverse of
    :func:`parse_instrument` with the default ``size_step``)."""
    return {
        "instrument": instrument.symbol,
        "instrument_hash": meta.instrument_hash,
        "base": instrument.base,
        "quote": instrument.quote,
        "kind": meta.kind,
        "venues": ["ORDERBOOK", "RFQ"],
        "settlement_period": "PERPETUAL",
        "base_decimals": meta.base_decimals,
        "quote_decimals": meta.quote_decimals,
        "tick_size": format_decimal(instrument.tick_size),
        "min_size": format_decimal(instrument.min_size),
        "create_time": str(create_time_ns),
        "min_notional": format_decimal(instrument.min_notional),
    }
