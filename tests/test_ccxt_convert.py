"""ccxt's unified structures -> our domain types (``venues/ccxt/_convert.py``): market precision in both of ccxt's
modes, the string number mode of the client the adapter makes (prices and sizes exact decimal strings in order
reports and fills), and book levels, which ccxt keeps as floats, read back through ``repr`` to the wire's decimal.
Offline: ccxt.pro's Backpack client parses captured Backpack payloads (tests/fixtures/backpack/captured.json)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import ccxt.pro
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_hedge.domain import BadValue, OrderStatus
from trio_hedge.venues.ccxt import CcxtSettings
from trio_hedge.venues.ccxt import _convert as cv
from trio_hedge.venues.ccxt._adapter import make_client

D = Decimal
CAPTURED = json.loads((Path(__file__).parent / "fixtures" / "backpack" / "captured.json").read_text())
LONG = "4000.123456789012345678"
"""A price with more significant digits (22) than a float holds (15-17): exact only if it never was a float."""


def _client(number: type = str) -> Any:
    """A Backpack client as the adapter makes it (string number mode), or in ccxt's default float mode, with the
    captured markets set (construction and parsing are offline)."""
    x = make_client(CcxtSettings("backpack", "backpack", ("SOL_USDC_PERP",))) if number is str else ccxt.pro.backpack()
    x.set_markets(x.parse_markets(CAPTURED["rest"]["markets"]["body"]))
    return x


@pytest.mark.parametrize(("precision", "mode", "step"), [
    ("2", ccxt.DECIMAL_PLACES, D("0.01")),
    (2, ccxt.DECIMAL_PLACES, D("0.01")),
    ("0", ccxt.DECIMAL_PLACES, D("1")),
    ("-1", ccxt.DECIMAL_PLACES, D("1E+1")),
    ("0.01", ccxt.TICK_SIZE, D("0.01")),
    ("0.5", ccxt.TICK_SIZE, D("0.5")),
    (5, ccxt.TICK_SIZE, D("5")),
])  # fmt: skip
def test_a_step_from_each_precision_mode(precision: Any, mode: int, step: Decimal) -> None:
    assert cv.step(precision, mode) == step


def test_significant_digits_have_no_fixed_step() -> None:
    with pytest.raises(BadValue, match="significant digits"):
        cv.step("4", ccxt.SIGNIFICANT_DIGITS)


def test_both_precision_modes_give_the_same_instrument() -> None:
    """The captured SOL perp market (tick 0.01, step 0.01) as ccxt parses it (TICK_SIZE), and the same market as
    an exchange in DECIMAL_PLACES mode describes it (2 decimals each)."""
    x = _client()
    market = x.market("SOL/USDC:USDC")
    assert x.precisionMode == ccxt.TICK_SIZE
    ticks = cv.instrument("backpack", "SOL_USDC_PERP", market, ccxt.TICK_SIZE)
    places = cv.instrument("backpack", "SOL_USDC_PERP", {**market, "precision": {"price": "2", "amount": "2"}},
                           ccxt.DECIMAL_PLACES)  # fmt: skip
    assert ticks == places
    assert (ticks.tick_size, ticks.lot_size, ticks.min_size) == (D("0.01"), D("0.01"), D("0.01"))


def test_the_adapters_client_keeps_prices_and_sizes_exact_in_reports_and_fills() -> None:
    x = _client()
    assert x.number is str
    raw = dict(CAPTURED["rest"]["open_orders"]["body"][0])
    r = cv.report("ETH_USDC", x.parse_order(raw), "7")
    assert (r.price, r.size, r.filled_size, r.status) == (D("4000"), D("0.001"), D(0), OrderStatus.OPEN)
    long = cv.report("ETH_USDC", x.parse_order({**raw, "price": LONG, "quantity": "0.1000000000000000000001"}), "7")
    assert (long.price, long.size) == (D(LONG), D("0.1000000000000000000001"))
    trade = dict(CAPTURED["rest"]["fills"]["body"][1])
    f = cv.fill("backpack", "ETH_USDC", x.parse_trade({**trade, "price": LONG}), "7")
    assert (f.price, f.size, f.fee) == (D(LONG), D("0.001"), D("0.0047325"))
    # the same payload in ccxt's default float mode loses the digits: what the string mode is for
    assert cv.dec(_client(float).parse_order({**raw, "price": LONG})["price"]) != D(LONG)


def test_book_levels_read_back_as_the_wire_strings() -> None:
    """ccxt keeps levels as floats even in string mode; ``dec`` reads each back as its wire string."""
    x = _client()
    body = {"asks": [["18.70", "0.000"], ["60000.2", "1.5"]], "bids": [["18.67", "0.832"], ["0.00001234", "12345"]]}
    ob = x.parse_order_book(body, "SOL/USDC:USDC")
    assert all(isinstance(v, float) for lv in ob["bids"] + ob["asks"] for v in lv[:2])
    assert [(cv.dec(p), cv.dec(q)) for p, q, *_ in ob["asks"]] == [(D("18.70"), D("0.000")), (D("60000.2"), D("1.5"))]
    assert [(cv.dec(p), cv.dec(q)) for p, q, *_ in ob["bids"]] == [(D("18.67"), D("0.832")),
                                                                    (D("0.00001234"), D("12345"))]  # fmt: skip


@given(st.integers(min_value=1, max_value=10**15 - 1), st.integers(min_value=-12, max_value=6))
def test_a_float_from_a_decimal_of_15_digits_or_fewer_reads_back_exactly(digits: int, exponent: int) -> None:
    """The round trip the book relies on: any decimal of at most 15 significant digits parsed to a float (as ccxt
    does) reads back through ``repr`` to the same number (IEEE 754 doubles hold 15 decimal digits exactly)."""
    wire = D(digits).scaleb(exponent)
    assert cv.dec(float(str(wire))) == wire


@pytest.mark.parametrize("bad", [None, True, "abc", float("nan"), "Infinity"])
def test_not_a_number_is_bad_input(bad: Any) -> None:
    with pytest.raises(BadValue):
        cv.dec(bad)


def test_the_book_levels_cache_reads_as_dec_and_stays_bounded() -> None:
    cache = cv.DecimalCache(size=4)
    levels = [60000.1, 0.001, 60000.1, "0.5", 7, 1e-05, 2.5, 3.5, 60000.1]
    assert [cache.dec(v) for v in levels] == [cv.dec(v) for v in levels]
    assert len(cache._known) <= 4  # started over past its size
    with pytest.raises(BadValue):
        cache.dec(float("nan"))
