"""Backpack protocol, both directions (trio_hedge/protocols/backpack/): what the server side formats (the wire
simulator's replies) reads back through the client side's parsers (the adapter's) with the same values, and what
the client builds (request bodies, query parameters, stream names) reads back through the server's parsers.
The GRVT equivalents are in tests/test_grvt_wire.py.

Fixtures: tests/fixtures/backpack/captured.json (see tests/fixtures/SOURCES.md), for the key sets.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_hedge.domain import (
    ZERO,
    AuthError,
    BadValue,
    Fill,
    Instrument,
    InvalidOrder,
    OrderBook,
    OrderNotFound,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    PostOnlyWouldCross,
    RateLimited,
    Side,
    TimeInForce,
    UnknownOutcome,
    VenueUnavailable,
)
from trio_hedge.protocols import backpack as bp

FIXTURES = Path(__file__).parent / "fixtures" / "backpack"
CAPTURED = json.loads((FIXTURES / "captured.json").read_text())
D = Decimal
SYMBOL = "BTC_USDC_PERP"
SETTINGS = settings(max_examples=150, deadline=None)


def wire(value: object) -> bytes:
    """Through JSON and back to bytes, as the reply travels."""
    return orjson.dumps(value)


# ---------------------------------------------------------------------------------------------- strategies


def decimals(*, max_places: int = 6, max_units: int = 10**9, positive: bool = True) -> st.SearchStrategy[Decimal]:
    low = 1 if positive else -max_units
    return st.builds(
        lambda n, places: D(n).scaleb(-places),
        st.integers(min_value=low, max_value=max_units),
        st.integers(min_value=0, max_value=max_places),
    )


client_ids = st.none() | st.integers(min_value=0, max_value=bp.UINT32_MAX)
statuses = st.sampled_from(sorted(s for s in bp.ORDER_STATUS if not s.startswith("Trigger")))
times_ns = st.integers(min_value=0, max_value=4_000_000_000 * 10**9)  # up to year 2096


@st.composite
def orders(draw: st.DrawFn) -> bp.BackpackOrder:
    market = draw(st.booleans())
    return bp.BackpackOrder(
        id=str(draw(st.integers(min_value=1, max_value=10**12))),
        client_id=draw(client_ids),
        symbol=SYMBOL,
        side=draw(st.sampled_from(Side)),
        market=market,
        price=None if market else draw(decimals()),
        quantity=draw(decimals()),
        tif=draw(st.sampled_from(sorted(bp.TIME_IN_FORCE))),
        post_only=draw(st.booleans()),
        reduce_only=draw(st.booleans()),
        stp=draw(st.sampled_from(sorted(bp.SELF_TRADE_PREVENTION))),
        created_ns=draw(times_ns),
    )


# ---------------------------------------------------------------------------------------------- orders


@SETTINGS
@given(order=orders(), status=statuses, executed=decimals() | st.just(ZERO), quote=decimals())
def test_order_formatted_by_the_server_parses_back(
    order: bp.BackpackOrder, status: str, executed: Decimal, quote: Decimal
) -> None:
    body = bp.format_order(order, status=status, executed=executed, executed_quote=quote)
    report = bp.parse_order(wire(body))
    assert report.venue_order_id == order.id
    assert report.client_order_id == ("" if order.client_id is None else str(order.client_id))
    assert (report.symbol, report.side, report.size, report.price) == (
        order.symbol,
        order.side,
        order.quantity,
        order.price,
    )
    assert report.status is bp.ORDER_STATUS[status]
    assert report.filled_size == executed
    assert report.avg_fill_price == (quote / executed if executed else None)
    assert (report.reduce_only, report.post_only) == (order.reduce_only, order.post_only and not order.market)
    assert list(body) == sorted(body)  # keys sorted, as the captured bodies


@SETTINGS
@given(order=orders(), executed=decimals() | st.just(ZERO), quote=decimals())
def test_order_history_formatted_by_the_server_parses_back(
    order: bp.BackpackOrder, executed: Decimal, quote: Decimal
) -> None:
    item = bp.format_order_history(
        order, status="Expired", executed=executed, executed_quote=quote, expiry_reason="PostOnlyTaker"
    )
    report = bp.parse_order(wire(item))
    assert (report.venue_order_id, report.status, report.filled_size) == (order.id, OrderStatus.EXPIRED, executed)
    assert report.reason == bp.POST_ONLY_WOULD_CROSS
    assert bp.iso_to_ns(item["createdAt"]) == order.created_ns // 1_000_000 * 1_000_000
    expected_quote = quote if order.price is None else order.price * order.quantity
    assert D(str(item["quoteQuantity"])) == expected_quote


def test_order_formats_have_the_captured_keys() -> None:
    stp = "RejectTaker"
    limit = bp.BackpackOrder("111", 7, SYMBOL, Side.BUY, False, D("100.5"), D("0.01"), "GTC", True, False, stp, 1)
    market = bp.BackpackOrder("112", None, SYMBOL, Side.SELL, True, None, D("0.01"), "GTC", False, True, stp, 1)
    for order, name in [(limit, "order_create_limit"), (market, "order_create_market_client_id")]:
        body = bp.format_order(order, status="New", executed=ZERO, executed_quote=ZERO)
        assert set(body) == set(CAPTURED["rest"][name]["body"]), name
    history = bp.format_order_history(limit, status="New", executed=ZERO, executed_quote=ZERO, expiry_reason=None)
    assert set(history) == set(CAPTURED["rest"]["order_history"]["body"][0])
    assert bp.format_order(limit, status="New", executed=ZERO, executed_quote=ZERO)["clientId"] == "7"


@SETTINGS
@given(
    order=orders(),
    fill_price=decimals(),
    fill_size=decimals(),
    fee=decimals(positive=False),
    maker=st.booleans(),
    trade_id=st.integers(min_value=0, max_value=2**62),
    engine_ns=times_ns,
)
def test_order_fill_update_parses_back_to_the_fill_and_the_status(
    order: bp.BackpackOrder,
    fill_price: Decimal,
    fill_size: Decimal,
    fee: Decimal,
    maker: bool,
    trade_id: int,
    engine_ns: int,
) -> None:
    cid = "" if order.client_id is None else str(order.client_id)
    fill = Fill("backpack", SYMBOL, cid, str(trade_id), order.side, fill_price, fill_size, fee, maker, engine_ns)
    data = bp.format_order_update(
        order,
        event_type="orderFill",
        status="PartiallyFilled",
        executed=fill_size,
        executed_quote=fill_size * fill_price,
        event_ns=engine_ns + 5_000,
        engine_ns=engine_ns,
        fill=fill,
        trade_id=trade_id,
        fee_symbol="USDC",
    )
    frame = bp.parse_ws_frame(bp.format_ws_frame(bp.order_update_stream(), orjson.dumps(data).decode()))
    assert isinstance(frame, bp.WsFrame) and frame.kind == bp.ORDER_UPDATE
    got_fill, update = bp.parse_order_events(frame.data)
    assert got_fill == Fill(
        "backpack", SYMBOL, cid, str(trade_id), order.side, fill_price, fill_size, fee, maker,
        engine_ns // 1_000 * 1_000,
    )  # fmt: skip
    assert isinstance(update, OrderUpdate)
    assert (update.status, update.venue_order_id, update.filled_size, update.client_order_id) == (
        OrderStatus.PARTIALLY_FILLED,
        order.id,
        fill_size,
        cid,
    )


def test_order_fill_events_carry_the_frames_receipt_stamp() -> None:
    order = bp.BackpackOrder("9", 3, SYMBOL, Side.BUY, False, D("10"), D("2"), "GTC", True, False, "RejectTaker", 0)
    fill = Fill("backpack", SYMBOL, "3", "77", Side.BUY, D("10"), D("1"), D("0.01"), True, 0)
    data = bp.format_order_update(order, event_type="orderFill", status="PartiallyFilled", executed=D("1"),
                                  executed_quote=D("10"), event_ns=2_000, engine_ns=1_000, fill=fill, trade_id=77,
                                  fee_symbol="USDC")  # fmt: skip
    stamped = bp.parse_order_events(data, received_ns=123_456)
    plain = bp.parse_order_events(data)
    assert stamped == plain  # received_ns is not part of a Fill's equality
    assert isinstance(stamped[0], Fill) and stamped[0].received_ns == 123_456
    assert isinstance(plain[0], Fill) and plain[0].received_ns == 0
    assert bp.parse_order_fill(data, received_ns=9).received_ns == 9


@pytest.mark.parametrize("change", [
    {"t": None}, {"S": None}, {"L": "0"}, {"l": "0"}, {"m": "yes"}, {"n": None}, {"N": "EUR"}, {},
])  # fmt: skip
def test_order_fill_events_fail_as_parse_order_fill_does(change: dict[str, object]) -> None:
    """parse_order_events takes the fill's symbol, client id and time from the update it parsed first: what is
    left to check fails with the same error as parse_order_fill's (or both parse to the same fill)."""
    order = bp.BackpackOrder("9", 3, SYMBOL, Side.BUY, False, D("10"), D("2"), "GTC", True, False, "RejectTaker", 0)
    fill = Fill("backpack", SYMBOL, "3", "77", Side.BUY, D("10"), D("1"), D("0.01"), True, 0)
    data = bp.format_order_update(order, event_type="orderFill", status="PartiallyFilled", executed=D("1"),
                                  executed_quote=D("10"), event_ns=2_000, engine_ns=1_000, fill=fill, trade_id=77,
                                  fee_symbol="USDC")  # fmt: skip
    data = {k: v for k, v in {**data, **change}.items() if v is not None}
    try:
        expected: object = bp.parse_order_fill(data)
    except (bp.BackpackProtocolError, BadValue) as exc:
        with pytest.raises(type(exc)) as got:
            bp.parse_order_events(data)
        assert str(got.value) == str(exc)
    else:
        assert bp.parse_order_events(data)[0] == expected


def test_order_update_sends_optional_keys_only_when_they_apply() -> None:
    order = bp.BackpackOrder("9", 3, SYMBOL, Side.BUY, False, D("10"), D("2"), "GTC", True, False, "RejectTaker", 0)
    accepted = bp.format_order_update(
        order, event_type="orderAccepted", status="New", executed=ZERO, executed_quote=ZERO, event_ns=2, engine_ns=1
    )
    assert accepted["c"] == 3 and accepted["Q"] == "20" and accepted["y"] is True and accepted["t"] is None
    assert "R" not in accepted and "l" not in accepted
    expired = bp.format_order_update(
        order,
        event_type="orderExpired",
        status="Expired",
        executed=ZERO,
        executed_quote=ZERO,
        event_ns=2,
        engine_ns=1,
        expiry_reason="PostOnlyTaker",
    )
    [update] = bp.parse_order_events(wire(expired))
    assert isinstance(update, OrderUpdate) and update.reason == bp.POST_ONLY_WOULD_CROSS
    fill = Fill("backpack", SYMBOL, "3", "1", Side.BUY, D("10"), D("1"), ZERO, True, 0)
    with pytest.raises(BadValue, match="trade id"):
        bp.format_order_update(
            order, event_type="orderFill", status="Filled", executed=D(1), executed_quote=D(10),
            event_ns=0, engine_ns=0, fill=fill,
        )  # fmt: skip


# ---------------------------------------------------------------------------------------------- requests


@st.composite
def order_requests(draw: st.DrawFn) -> tuple[OrderRequest, Instrument]:
    tick = D(1).scaleb(-draw(st.integers(min_value=0, max_value=4)))
    lot = D(1).scaleb(-draw(st.integers(min_value=0, max_value=5)))
    inst = Instrument("backpack", SYMBOL, "BTC", "USDC", tick, lot, lot)
    market = draw(st.booleans())
    size = lot * draw(st.integers(min_value=1, max_value=10**6))
    side = draw(st.sampled_from(Side))
    cid = str(draw(st.integers(min_value=1, max_value=bp.UINT32_MAX)))
    reduce_only = draw(st.booleans())
    if market:
        tif = draw(st.sampled_from([TimeInForce.IOC, TimeInForce.FOK]))
        req = OrderRequest(cid, SYMBOL, side, size, OrderType.MARKET, None, tif, reduce_only=reduce_only)
    else:
        price = tick * draw(st.integers(min_value=1, max_value=10**8))
        post_only = draw(st.booleans())
        tif = TimeInForce.GTT if post_only else draw(st.sampled_from(TimeInForce))
        req = OrderRequest(cid, SYMBOL, side, size, OrderType.LIMIT, price, tif, post_only, reduce_only)
    return req, inst


@SETTINGS
@given(case=order_requests(), stp=st.none() | st.sampled_from(sorted(bp.SELF_TRADE_PREVENTION)))
def test_order_request_built_by_the_client_parses_on_the_server(
    case: tuple[OrderRequest, Instrument], stp: str | None
) -> None:
    req, inst = case
    body = bp.order_execute_body(req, inst, self_trade_prevention=stp)
    params = bp.parse_request_body(bp.encode_json(body), "OrderExecutePayload")
    got = bp.parse_order_execute(params, {SYMBOL})
    assert (got.symbol, got.side, got.quantity, got.price) == (req.symbol, req.side, req.size, req.price)
    assert got.market is (req.order_type is OrderType.MARKET)
    assert (got.post_only, got.reduce_only) == (req.post_only, req.reduce_only)
    assert got.client_id == int(req.client_order_id)
    assert got.stp == (stp or "RejectTaker") and got.quote_quantity is None and not got.trigger
    # a market order carries no timeInForce: the venue's default GTC
    assert bp.TIME_IN_FORCE[got.tif] is (TimeInForce.GTT if got.market else req.tif)


def test_cancel_and_query_requests_read_back_on_the_server() -> None:
    by_client = bp.parse_request_body(bp.encode_json(bp.order_cancel_body(SYMBOL, client_id=42)), "OrderCancelPayload")
    assert (by_client.symbol({SYMBOL}, required=True), by_client.client_id(), by_client.order_id("orderId")) == (
        SYMBOL,
        42,
        None,
    )
    by_id = bp.parse_request_body(bp.encode_json(bp.order_cancel_body(SYMBOL, order_id="8300000001")), "P")
    assert by_id.order_id("orderId") == "8300000001" and by_id.client_id() is None
    query = bp.RequestParams(bp.order_query_params(SYMBOL, client_id=7), payload=None)
    assert query.client_id() == 7 and query.symbol({SYMBOL}, required=True) == SYMBOL
    all_body = bp.parse_request_body(bp.encode_json(bp.order_cancel_all_body(SYMBOL)), "OrderCancelAllPayload")
    assert all_body.symbol({SYMBOL}, required=True) == SYMBOL


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"[1]", 'parse request payload error: Expected input type "OrderExecutePayload", found [1]'),
        (b"{", 'parse request payload error: invalid JSON (occurred while parsing "OrderExecutePayload")'),
        (
            b'{"symbol": "BTC_USDC_PERP", "price": 1.5}',
            'parse request payload error: unexpected float for `price` (occurred while parsing "OrderExecutePayload")',
        ),
        (b" " * (bp.MAX_BODY_BYTES + 1), "payload too large"),
    ],
)
def test_request_body_refusals_carry_the_venue_text(raw: bytes, text: str) -> None:
    with pytest.raises(bp.RequestParseError) as info:
        bp.parse_request_body(raw, "OrderExecutePayload")
    assert text in info.value.text


@pytest.mark.parametrize(
    ("change", "text"),
    [
        ({"symbol": "NOPE"}, '"MarketSymbol": Invalid market symbol'),
        ({"side": "Buy"}, '"Side": Expect a valid enumeration value.'),
        ({"orderType": None}, 'Type "String" expects an input value for `orderType`.'),
        ({"quantity": "1e99"}, 'failed to parse "Decimal" for `quantity`: invalid decimal.'),
        ({"postOnly": "yes"}, 'failed to parse "Boolean" for `postOnly`.'),
        ({"clientId": 2**32}, 'failed to parse "uint32" for `clientId`.'),
        ({"selfTradePrevention": "Allow"}, '"SelfTradePrevention": Expect a valid enumeration value.'),
    ],
)
def test_order_execute_refusals_name_the_first_bad_key(change: dict[str, object], text: str) -> None:
    body = {"symbol": SYMBOL, "side": "Bid", "orderType": "Limit", "price": "1", "quantity": "1", **change}
    body = {k: v for k, v in body.items() if v is not None}
    with pytest.raises(bp.RequestParseError) as info:
        bp.parse_order_execute(bp.RequestParams(body, payload="OrderExecutePayload"), {SYMBOL})
    assert text in info.value.text and info.value.text.endswith('(occurred while parsing "OrderExecutePayload")')


def test_order_execute_flags_trigger_orders() -> None:
    body = {"symbol": SYMBOL, "side": "Ask", "orderType": "Market", "quantity": "1", "triggerPrice": "5"}
    got = bp.parse_order_execute(bp.RequestParams(body, payload="OrderExecutePayload"), {SYMBOL})
    assert got.trigger and got.market and got.tif == "GTC" and got.stp == "RejectTaker" and got.client_id is None


def test_history_paging_and_market_types() -> None:
    params = bp.RequestParams({"limit": "5000", "offset": "3", "sortDirection": "Asc", "marketType": ["PERP", "SPOT"]},
                              payload=None)  # fmt: skip
    assert params.page() == (bp.HISTORY_LIMIT_MAX, 3, False)
    assert params.market_types() == ["PERP", "SPOT"]
    assert bp.RequestParams({}, payload=None).page() == (bp.HISTORY_LIMIT_DEFAULT, 0, True)
    with pytest.raises(bp.RequestParseError, match="`marketType`"):
        bp.RequestParams({"marketType": "FUTURE"}, payload=None).market_types()


# ---------------------------------------------------------------------------------------------- fills, positions


@SETTINGS
@given(
    price=decimals(),
    size=decimals(),
    fee=decimals(positive=False),
    maker=st.booleans(),
    side=st.sampled_from(Side),
    ts_ns=times_ns,
    trade_id=st.integers(min_value=0, max_value=2**62),
    client_id=client_ids,
)
def test_history_fill_formatted_by_the_server_parses_back(
    price: Decimal,
    size: Decimal,
    fee: Decimal,
    maker: bool,
    side: Side,
    ts_ns: int,
    trade_id: int,
    client_id: int | None,
) -> None:
    cid = "" if client_id is None else str(client_id)
    fill = Fill("backpack", SYMBOL, cid, str(trade_id), side, price, size, fee, maker, ts_ns)
    item = bp.format_history_fill(
        fill, order_id="8300000001", client_id=client_id, trade_id=trade_id, fee_symbol="USDC"
    )
    [back] = bp.parse_fill_history(wire([item]))
    assert back == Fill("backpack", SYMBOL, cid, str(trade_id), side, price, size, fee, maker, ts_ns // 10**6 * 10**6)
    assert set(item) == set(CAPTURED["rest"]["fills"]["body"][0])


@SETTINGS
@given(
    size=decimals() | decimals().map(lambda d: -d) | st.just(ZERO),
    entry=decimals(),
    pnl=decimals(positive=False),
    mark=decimals(),
    event=st.sampled_from(sorted(bp.POSITION_EVENT_TYPES)) | st.none(),
    ts_ns=times_ns,
)
def test_positions_formatted_by_the_server_parse_back(
    size: Decimal, entry: Decimal, pnl: Decimal, mark: Decimal, event: str | None, ts_ns: int
) -> None:
    pos = Position("backpack", SYMBOL, size, None if size == ZERO else entry, pnl)
    rest = bp.format_position(pos, mark=mark, position_id=5, user_id="1")
    assert bp.parse_positions(wire([rest])) == {SYMBOL: pos}
    data = bp.format_position_update(pos, mark=mark, position_id=5, event_ns=ts_ns, engine_ns=ts_ns, event_type=event)
    update = bp.parse_position_update(wire(data))
    assert update.position == pos and update.ts_ns == ts_ns // 1_000 * 1_000
    assert bp.is_position_snapshot(data) is (event is None)


def test_position_formats_have_the_captured_keys() -> None:
    pos = Position("backpack", SYMBOL, D("-0.5"), D("100"), D("1"))
    assert set(bp.format_position(pos, mark=D("99"), position_id=1, user_id="1")) == set(
        CAPTURED["rest"]["positions"]["body"][0]
    )
    data = bp.format_position_update(
        pos, mark=D("99"), position_id=1, event_ns=0, engine_ns=0, event_type="positionOpened"
    )
    assert set(data) == set(CAPTURED["ws"]["position_opened"]["frame"]["data"])
    assert data["P"] == "0.5"  # (99 - 100) * -0.5


# ---------------------------------------------------------------------------------------------- markets, book


@SETTINGS
@given(
    tick_places=st.integers(min_value=0, max_value=6),
    lot_places=st.integers(min_value=0, max_value=6),
    min_lots=st.integers(min_value=1, max_value=100),
    min_notional=st.just(ZERO) | decimals(max_places=2),
)
def test_market_formatted_by_the_server_parses_back(
    tick_places: int, lot_places: int, min_lots: int, min_notional: Decimal
) -> None:
    lot = D(1).scaleb(-lot_places)
    inst = Instrument("backpack", SYMBOL, "BTC", "USDC", D(1).scaleb(-tick_places), lot, lot * min_lots, min_notional)
    assert bp.parse_markets(wire([bp.format_market(inst)])) == {SYMBOL: inst}


def test_ticker_change_and_percent() -> None:
    ticker = bp.format_ticker("X", first=D("200"), last=D("190.5"), high=D("201"), low=D("190"), price_places=2)
    assert (ticker["firstPrice"], ticker["lastPrice"], ticker["priceChange"], ticker["priceChangePercent"]) == (
        "200.00",
        "190.50",
        "-9.5",
        "-0.0475",
    )
    flat = bp.format_ticker("X", first=ZERO, last=ZERO, high=ZERO, low=ZERO, price_places=1)
    assert flat["priceChangePercent"] == "0"


@SETTINGS
@given(prices=st.lists(st.integers(min_value=1, max_value=10**6), min_size=2, max_size=12, unique=True), data=st.data())
def test_depth_snapshot_update_and_ticker_formatted_by_the_server_parse_back(
    prices: list[int], data: st.DataObject
) -> None:
    ordered = sorted(D(p).scaleb(-2) for p in prices)
    cut = data.draw(st.integers(min_value=1, max_value=len(ordered) - 1))
    sizes = st.integers(min_value=1, max_value=10**6).map(lambda n: D(n).scaleb(-3))
    bids = [(p, data.draw(sizes)) for p in reversed(ordered[:cut])]  # best first
    asks = [(p, data.draw(sizes)) for p in ordered[cut:]]
    body = bp.format_depth_snapshot(bids, asks, last_update_id=10, ts_ns=123_456_789, price_places=2, size_places=3)
    snap = bp.parse_depth_snapshot(wire(body))
    assert (list(snap.bids), list(snap.asks), snap.last_update_id, snap.ts_ns) == (bids, asks, 10, 123_456_000)
    book = OrderBook(SYMBOL)
    bp.apply_snapshot(book, snap)
    # the best bid leaves, one ask level changes size: one depth frame, U = u = 11
    new_ask = (asks[0][0], asks[0][1] + 1)
    update = bp.format_depth_update(
        SYMBOL,
        bids=[(bids[0][0], ZERO)],
        asks=[new_ask],
        first_update_id=11,
        last_update_id=11,
        event_ns=5_000,
        engine_ns=4_000,
        price_places=2,
        size_places=3,
    )
    frame = bp.parse_ws_frame(bp.format_ws_frame(bp.depth_stream(SYMBOL), orjson.dumps(update).decode()))
    assert isinstance(frame, bp.WsFrame) and frame.kind == "depth"
    delta = bp.parse_depth_delta_raw(frame.data)
    assert (delta.first_update_id, delta.last_update_id, delta.ts_ns, delta.event_ts_ns) == (11, 11, 4_000, 5_000)
    assert bp.apply_delta_raw(book, delta)
    assert book.best_bid() == (bids[1] if len(bids) > 1 else None) and book.best_ask() == new_ask
    ticker = bp.format_book_ticker(
        SYMBOL, bid=book.best_bid(), ask=book.best_ask(), update_id=11, event_ns=5_000, engine_ns=4_000,
        price_places=2, size_places=3,
    )  # fmt: skip
    top = bp.parse_book_ticker(wire(ticker))
    assert (top.bid, top.ask, top.update_id, top.ts_ns) == (book.best_bid(), book.best_ask(), 11, 4_000)


def test_depth_texts_keep_the_market_places() -> None:
    assert bp.decimal_places(D("0.10")) == 1 and bp.decimal_places(D("5")) == 0
    assert bp.fixed_text(D("18.7"), 2) == "18.70" and bp.fixed_text(D("0"), 3) == "0.000"
    assert bp.fixed_text(D("1.2345"), 2) == "1.2345"  # never rounded
    body = bp.format_depth_snapshot([(D("18.7"), D("1"))], [], last_update_id=1, ts_ns=0, price_places=2, size_places=3)
    assert body["bids"] == [["18.70", "1.000"]] and set(body) == set(CAPTURED["rest"]["depth"]["body"])


# ---------------------------------------------------------------------------------------------- streams, errors


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (bp.depth_stream(SYMBOL), ("depth", SYMBOL)),
        (bp.depth_stream(SYMBOL, aggregate_ms=200), ("depth", SYMBOL)),
        (bp.book_ticker_stream(SYMBOL), ("bookTicker", SYMBOL)),
        (bp.order_update_stream(), (bp.ORDER_UPDATE, None)),
        (bp.order_update_stream(SYMBOL), (bp.ORDER_UPDATE, SYMBOL)),
        (bp.position_update_stream(), (bp.POSITION_UPDATE, None)),
        (bp.position_update_stream(SYMBOL), (bp.POSITION_UPDATE, SYMBOL)),
        ("account.rfqUpdate", ("account.rfqUpdate", None)),
        (bp.depth_stream("ETH_USDC_PERP"), None),
        ("depth.100ms." + SYMBOL, None),
        ("trade." + SYMBOL, None),
        ("account.balanceUpdate", None),
    ],
)
def test_stream_names_built_by_the_client_classify_on_the_server(
    name: str, expected: tuple[str, str | None] | None
) -> None:
    assert bp.parse_stream_name(name, {SYMBOL}) == expected
    if expected is not None:
        assert bp.stream_kind(name) == expected[0]


def test_ws_error_frames_parse_back() -> None:
    text = bp.format_ws_error(None, bp.WS_ERROR_INVALID_STREAM, "Invalid stream")
    assert orjson.loads(text) == CAPTURED["ws"]["error"]["frame"]
    err = bp.parse_ws_frame(text)
    assert err == bp.WsError("4006", "Invalid stream")
    refused = bp.parse_ws_frame(bp.format_ws_error(7, bp.WS_ERROR_UNAUTHORIZED, "Signature verification failed: x"))
    assert isinstance(refused, bp.WsError) and isinstance(refused.to_exception(), AuthError)


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "INVALID_ORDER", InvalidOrder),
        (400, "INVALID_CLIENT_REQUEST", InvalidOrder),
        (404, "RESOURCE_NOT_FOUND", OrderNotFound),
        (401, "UNAUTHORIZED", AuthError),
        (429, "TOO_MANY_REQUESTS", RateLimited),
        (503, "MAINTENANCE", UnknownOutcome),  # a 5xx is an unknown outcome first (error_from_response's table)
        (400, "TRADING_PAUSED", VenueUnavailable),
    ],
)
def test_error_bodies_formatted_by_the_server_map_on_the_client(status: int, code: str, cls: type[Exception]) -> None:
    body = wire(bp.format_error_body(code, "some text"))
    assert bp.parse_error_body(body) == (code, "some text")
    err = bp.error_from_response(status, body)
    assert type(err) is cls and err.code == code


def test_post_only_refusal_maps_to_post_only_would_cross() -> None:
    body = wire(bp.format_error_body("INVALID_ORDER", "Order would immediately match and take"))
    assert isinstance(bp.error_from_response(400, body), PostOnlyWouldCross)


@SETTINGS
@given(ts_ns=times_ns)
def test_iso_ms_text_round_trips_to_the_millisecond(ts_ns: int) -> None:
    assert bp.iso_to_ns(bp.iso_ms_text(ts_ns)) == ts_ns // 1_000_000 * 1_000_000
    assert int(bp.us_text(ts_ns)) == ts_ns // 1_000
