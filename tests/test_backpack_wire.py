"""Backpack wire codec: real captured payloads -> hand-checked domain values, mappings, builders, error classes,
clientId allocation, and fuzzing (only BadValue / VenueError subclasses may escape).

Fixtures: tests/fixtures/backpack/{captured.json, ws_order_update_examples.json, backpack_signing_vectors.json}
(see tests/fixtures/SOURCES.md).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from trio_hedge.domain import (
    BadValue,
    BookInvalid,
    Fill,
    Instrument,
    Order,
    OrderBook,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    SequenceGap,
    Side,
    TimeInForce,
)
from trio_hedge.protocols.backpack import (
    ORDER_STATUS,
    POST_ONLY_WOULD_CROSS,
    UINT32_MAX,
    BackpackProtocolError,
    BackpackSigner,
    ClientIdAllocator,
    WsError,
    WsFrame,
    apply_delta_raw,
    apply_snapshot,
    book_ticker_stream,
    client_id_from_str,
    decimal_text,
    decode_json,
    depth_stream,
    encode_json,
    error_from_order_report,
    error_from_response,
    is_position_snapshot,
    iso_to_ns,
    order_cancel_body,
    order_execute_body,
    order_query_params,
    order_update_stream,
    parse_book_ticker,
    parse_depth_delta_raw,
    parse_depth_snapshot,
    parse_error_body,
    parse_fill_history,
    parse_history_fill,
    parse_market,
    parse_markets,
    parse_order,
    parse_order_events,
    parse_order_fill,
    parse_order_update,
    parse_orders,
    parse_position,
    parse_position_update,
    parse_position_updates,
    parse_positions,
    parse_subscribe_message,
    parse_ws_frame,
    position_update_stream,
    private_subscribe_message,
    signing_string,
    stream_kind,
    subscribe_message,
    unsubscribe_message,
    verify_ws_subscribe,
)
from trio_hedge.venues import (
    AuthError,
    InsufficientMargin,
    InvalidOrder,
    OrderNotFound,
    OrderRejected,
    PostOnlyWouldCross,
    RateLimited,
    UnknownOutcome,
    VenueError,
    VenueUnavailable,
    retry_class,
)

FIXTURES = Path(__file__).parent / "fixtures" / "backpack"
CAPTURED: dict[str, Any] = json.loads((FIXTURES / "captured.json").read_text())
REST = CAPTURED["rest"]
WS = CAPTURED["ws"]
BPX_RS_UPDATES: list[dict[str, Any]] = json.loads((FIXTURES / "ws_order_update_examples.json").read_text())[
    "stream_data_payloads"
]
VECTORS: dict[str, Any] = json.loads((FIXTURES / "backpack_signing_vectors.json").read_text())
D = Decimal
ALLOWED = (BadValue, VenueError)


def _ns(iso_naive_utc: str) -> int:
    """Independent oracle for naive-UTC ISO times: datetime arithmetic, exact to the microsecond."""
    dt = datetime.fromisoformat(iso_naive_utc).replace(tzinfo=UTC)
    return (dt - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000


SOL_PERP = Instrument("backpack", "SOL_USDC_PERP", "SOL", "USDC", D("0.01"), D("0.01"), D("0.01"))


# ============================================================================================== markets


def test_markets_perp_filter_and_values() -> None:
    perps = parse_markets(orjson.dumps(REST["markets"]["body"]))
    assert list(perps) == ["SOL_USDC_PERP"]
    assert perps["SOL_USDC_PERP"] == SOL_PERP
    everything = parse_markets(REST["markets"]["body"], market_type=None, venue="bp1")
    assert set(everything) == {"SOL_USDC", "SOL_USDC_PERP"}
    assert everything["SOL_USDC"].venue == "bp1" and everything["SOL_USDC"].min_notional == 0


def test_market_min_quantity_zero_falls_back_to_lot_and_optional_min_notional() -> None:
    market = copy.deepcopy(REST["markets"]["body"][1])
    market["filters"]["quantity"].update({"minQuantity": "0", "stepSize": "0.001", "minNotional": "5"})
    inst = parse_market(market)
    assert (inst.min_size, inst.lot_size, inst.min_notional) == (D("0.001"), D("0.001"), D("5"))


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        (("filters", "price", "tickSize"), "0", BadValue),
        (("filters", "price", "tickSize"), "NaN", BadValue),
        (("filters", "quantity", "stepSize"), 0.01, BadValue),
        (("filters", "quantity", "stepSize"), "1e-999", BadValue),
        (("filters", "quantity"), None, BackpackProtocolError),
        (("symbol",), 5, BackpackProtocolError),
    ],
)
def test_market_rejects_bad_filters(path: tuple[str, ...], value: object, error: type[Exception]) -> None:
    market = copy.deepcopy(REST["markets"]["body"][1])
    target = market
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(error):
        parse_market(market)


# ============================================================================================== depth


def test_depth_snapshot_from_docs_example() -> None:
    snap = parse_depth_snapshot(orjson.dumps(REST["depth"]["body"]))
    assert snap.bids == ((D("18.67"), D("0.832")),)
    assert snap.asks == ((D("18.70"), D("0.000")),)
    assert snap.last_update_id == 94978271  # a string on the wire
    assert snap.ts_ns == 1694687965941000 * 1000


def test_depth_snapshot_sorts_levels_best_first() -> None:
    body = {
        "bids": [["1", "1"], ["3", "1"], ["2", "1"]],
        "asks": [["6", "1"], ["4", "1"], ["5", "1"]],
        "lastUpdateId": 7,
        "timestamp": "1",
    }
    snap = parse_depth_snapshot(body)
    assert [p for p, _ in snap.bids] == [D(3), D(2), D(1)]
    assert [p for p, _ in snap.asks] == [D(4), D(5), D(6)]


def test_depth_deltas_from_captures() -> None:
    ccxt = parse_depth_delta_raw(WS["depth"]["frame"]["data"])
    assert (ccxt.symbol, ccxt.first_update_id, ccxt.last_update_id) == ("ETH_USDC", 1345937436, 1345937436)
    assert ccxt.bids == [] and ccxt.asks == []
    assert ccxt.ts_ns == 1754903057554352000 and ccxt.event_ts_ns == 1754903057555305000
    docs = parse_depth_delta_raw(WS["depth_docs"]["frame"]["data"])
    # applied on a book holding the levels it removes: (18.68, 0) and (18.70, 0) delete, (18.67, 0.832) sets
    book = OrderBook(docs.symbol)
    book.apply_snapshot(
        [(D("18.68"), D(1))], [(D("18.70"), D(1)), (D("18.71"), D(1))], seq=docs.first_update_id - 1, ts_ns=0
    )
    assert apply_delta_raw(book, docs)
    assert book.snapshot() == ([(D("18.67"), D("0.832"))], [(D("18.71"), D(1))])


def _delta(first: int, last: int, bids: list[list[str]] | None = None, asks: list[list[str]] | None = None) -> Any:
    return parse_depth_delta_raw(
        {
            "e": "depth",
            "s": "SOL_USDC_PERP",
            "U": first,
            "u": last,
            "b": bids or [],
            "a": asks or [],
            "E": "1",
            "T": "1",
        }
    )


def test_delta_continuity_is_first_equals_previous_last_plus_one() -> None:
    book = OrderBook("SOL_USDC_PERP")
    apply_snapshot(
        book,
        parse_depth_snapshot({"bids": [["100", "1"]], "asks": [["101", "2"]], "lastUpdateId": "500", "timestamp": 1}),
    )
    assert book.seq == 500
    assert apply_delta_raw(book, _delta(490, 500)) is False  # stale: u <= lastUpdateId
    assert apply_delta_raw(book, _delta(495, 503, bids=[["100.5", "3"]])) is True  # bridges the snapshot
    assert apply_delta_raw(book, _delta(504, 504, asks=[["101", "0"], ["102", "1"]])) is True
    assert book.best_bid() == (D("100.5"), D("3")) and book.best_ask() == (D("102"), D("1"))
    with pytest.raises(SequenceGap):
        apply_delta_raw(book, _delta(506, 507))  # 505 missing
    assert not book.valid
    with pytest.raises(BookInvalid):
        apply_delta_raw(book, _delta(505, 505))


def test_delta_with_first_after_last_is_refused() -> None:
    with pytest.raises(BackpackProtocolError):
        _delta(10, 9)


def test_book_ticker_capture() -> None:
    bt = parse_book_ticker(WS["book_ticker"]["frame"]["data"])
    assert bt.symbol == "ETH_USDC"
    assert bt.bid == (D("3667.49"), D("0.0020")) and bt.ask == (D("3667.50"), D("0.4087"))
    assert bt.update_id == 1328288557 and bt.ts_ns == 1754517402449064000
    crossed = {**WS["book_ticker"]["frame"]["data"], "b": "3667.50"}
    with pytest.raises(BadValue):
        parse_book_ticker(crossed)
    one_sided = {k: v for k, v in WS["book_ticker"]["frame"]["data"].items() if k not in ("a", "A")}
    assert parse_book_ticker(one_sided).ask is None
    with pytest.raises(BackpackProtocolError):
        parse_book_ticker({k: v for k, v in WS["book_ticker"]["frame"]["data"].items() if k != "A"})


# ============================================================================================== REST orders


def test_rest_limit_order_new() -> None:
    report = parse_order(orjson.dumps(REST["order_create_limit"]["body"]))
    assert report.client_order_id == "" and report.venue_order_id == "8284671277"
    assert (report.symbol, report.side, report.size, report.price) == ("ETH_USDC_PERP", Side.BUY, D("0.001"), D("4000"))
    assert report.status is OrderStatus.OPEN and report.filled_size == 0 and report.avg_fill_price is None
    assert report.reduce_only is False and report.post_only is False and report.reason == ""
    assert error_from_order_report(report) is None


def test_rest_market_order_with_client_id_filled() -> None:
    report = parse_order(REST["order_create_market_client_id"]["body"])
    assert report.client_order_id == "55555"  # a string in the capture, a number in the spec
    assert report.status is OrderStatus.FILLED and report.price is None
    assert report.size == D("1") and report.filled_size == D("1") and report.avg_fill_price == D("0.8921")


def test_rest_trigger_order_uses_trigger_quantity() -> None:
    report = parse_order(REST["order_create_trigger"]["body"])
    assert report.status is OrderStatus.OPEN and report.size == D("0.001") and report.price == D("4000")


def test_rest_cancel_open_orders_history_and_cancel_all() -> None:
    assert parse_order(REST["order_cancel"]["body"]).status is OrderStatus.CANCELLED
    [open_order] = parse_orders(REST["open_orders"]["body"])
    assert open_order.status is OrderStatus.OPEN and open_order.venue_order_id == "8284661092"
    [history] = parse_orders(REST["order_history"]["body"])
    assert history.status is OrderStatus.CANCELLED and history.symbol == "ETH_USDC" and history.reason == ""
    assert parse_orders(orjson.dumps(REST["cancel_all"]["body"])) == []


@pytest.mark.parametrize("reason", ["PostOnlyTaker", "POST_ONLY_TAKER"])
def test_expired_post_only_taker_becomes_post_only_would_cross(reason: str) -> None:
    # Derived from the captured limit order: status and expiryReason as OrderExpiryReason documents them.
    body = {
        **REST["order_create_limit"]["body"],
        "postOnly": True,
        "status": "Expired",
        "expiryReason": reason,
        "clientId": 7,
    }
    report = parse_order(body)
    assert report.status is OrderStatus.EXPIRED and report.reason == POST_ONLY_WOULD_CROSS and report.post_only
    err = error_from_order_report(report, venue="bp")
    assert isinstance(err, PostOnlyWouldCross) and err.venue == "bp" and retry_class(err) == "never"
    other = parse_order({**body, "expiryReason": "ImmediateOrCancel"})
    assert other.reason == "ImmediateOrCancel" and error_from_order_report(other) is None


EXPECTED_STATUS = {  # OpenAPI OrderStatus enum -> ours, decided in _wire.ORDER_STATUS's comment
    "New": OrderStatus.OPEN,
    "PartiallyFilled": OrderStatus.PARTIALLY_FILLED,
    "Filled": OrderStatus.FILLED,
    "Cancelled": OrderStatus.CANCELLED,
    "Expired": OrderStatus.EXPIRED,
    "TriggerPending": OrderStatus.OPEN,
    "TriggerFailed": OrderStatus.EXPIRED,
}


@pytest.mark.parametrize(("venue_status", "ours"), EXPECTED_STATUS.items())
def test_status_mapping_and_reachable_from_pending(venue_status: str, ours: OrderStatus) -> None:
    assert parse_order({**REST["order_create_limit"]["body"], "status": venue_status}).status is ours
    # Every mapped status is a legal first report for a freshly sent order.
    order = Order(OrderRequest("1", "ETH_USDC_PERP", Side.BUY, D("0.001"), price=D("4000")), "backpack")
    assert order.transition(ours)


def test_status_mapping_covers_exactly_the_openapi_enum() -> None:
    assert dict(ORDER_STATUS) == EXPECTED_STATUS


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("status", "Open"),
        ("status", "new"),
        ("side", "Buy"),
        ("orderType", "StopLimit"),
        ("timeInForce", "GTT"),
        ("clientId", 2**32),
        ("clientId", "-1"),
        ("id", None),
        ("postOnly", "false"),
    ],
)
def test_rest_order_rejects_unknown_enums_and_wrong_types(key: str, value: object) -> None:
    with pytest.raises(BackpackProtocolError):
        parse_order({**REST["order_create_limit"]["body"], key: value})


# ============================================================================================== WS orders


def test_bpx_rs_order_updates() -> None:
    trigger, accepted, cancelled = (parse_order_update(p, venue="bp") for p in BPX_RS_UPDATES)
    assert trigger == OrderUpdate(
        "bp", "SOL_USDC", "", OrderStatus.OPEN, "114575813313101824", D("0"), "", 1748288167009460 * 1000
    )
    assert accepted.status is OrderStatus.OPEN and accepted.venue_order_id == "114575842681290753"
    assert accepted.ts_ns == 1748288615133255000 and accepted.filled_size == 0
    assert cancelled.status is OrderStatus.CANCELLED and cancelled.venue_order_id == "114575904705282048"


def test_ccxt_order_accepted_with_string_timestamps() -> None:
    frame = parse_ws_frame(orjson.dumps(WS["order_accepted"]["frame"]))
    assert isinstance(frame, WsFrame) and frame.kind == "account.orderUpdate"
    [update] = parse_order_events(frame.data)
    assert isinstance(update, OrderUpdate)
    assert (update.symbol, update.status, update.venue_order_id) == ("ETH_USDC", OrderStatus.OPEN, "5406825793")
    assert update.ts_ns == 1754939110174703000


def test_order_fill_event_gives_fill_then_update() -> None:
    fill, update = parse_order_events(WS["order_fill"]["data"], venue="bp")
    assert isinstance(fill, Fill) and isinstance(update, OrderUpdate)
    # Fee 0.000001 ETH on an ETH_USDC buy, at the fill price 4299.16 USDC/ETH = 0.00429916 USDC.
    assert fill == Fill(
        "bp",
        "ETH_USDC",
        "",
        "2888471",
        Side.BUY,
        D("4299.16"),
        D("0.0010"),
        D("0.00429916"),
        False,
        1754939110174705000,
    )
    assert update.status is OrderStatus.FILLED and update.filled_size == D("0.0010")
    # Applying the pair to an order leaves it FILLED with the fill recorded once.
    order = Order(OrderRequest("9", "ETH_USDC", Side.BUY, D("0.0010"), OrderType.MARKET), "bp")
    order.apply_fill(fill)
    order.transition(update.status)
    assert order.status is OrderStatus.FILLED and order.filled_size == D("0.0010")


def test_order_fill_in_quote_with_client_id_and_maker_rebate() -> None:
    data = {
        **WS["order_fill"]["data"],
        "s": "ETH_USDC_PERP",
        "N": "USDC",
        "n": "-0.0002",
        "m": True,
        "c": 4294967295,
        "X": "PartiallyFilled",
        "o": "LIMIT",
        "p": "4299.16",
    }
    fill, update = parse_order_events(data)
    assert isinstance(fill, Fill) and isinstance(update, OrderUpdate)
    assert fill.fee == D("-0.0002") and fill.is_maker and fill.client_order_id == "4294967295"
    assert update.status is OrderStatus.PARTIALLY_FILLED and update.client_order_id == "4294967295"


def test_order_fill_in_foreign_asset_is_refused() -> None:
    with pytest.raises(BackpackProtocolError):
        parse_order_fill({**WS["order_fill"]["data"], "N": "SOL"})


@pytest.mark.parametrize("reason", ["PostOnlyTaker", "POST_ONLY_TAKER"])
def test_order_expired_post_only(reason: str) -> None:
    data = {**BPX_RS_UPDATES[1], "e": "orderExpired", "X": "Expired", "R": reason, "c": 12}
    update = parse_order_update(data)
    assert update.status is OrderStatus.EXPIRED and update.reason == POST_ONLY_WOULD_CROSS
    assert update.client_order_id == "12"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("e", "orderRejected"),
        ("e", None),
        ("X", "Rejected"),
        ("o", "STOP_LIMIT"),
        ("S", "BUY"),
        ("f", "GTX"),
        ("i", None),
        ("i", 1.5),
        ("R", 5),
    ],
)
def test_order_update_rejects_unknown_enums(key: str, value: object) -> None:
    with pytest.raises(BackpackProtocolError):
        parse_order_update({**BPX_RS_UPDATES[1], key: value})


def test_order_type_case_in_updates_is_accepted_both_ways() -> None:
    assert parse_order_update({**BPX_RS_UPDATES[1], "o": "Limit"}).status is OrderStatus.OPEN


def test_order_fill_needs_fill_fields() -> None:
    for key in ("t", "l", "L", "m", "n", "N"):
        with pytest.raises(BackpackProtocolError):
            parse_order_fill({k: v for k, v in WS["order_fill"]["data"].items() if k != key})
    with pytest.raises(BadValue):
        parse_order_fill({**WS["order_fill"]["data"], "l": "0"})
    with pytest.raises(BackpackProtocolError):
        parse_order_fill(BPX_RS_UPDATES[1])  # not an orderFill


# ============================================================================================== fills


def test_fill_history_capture() -> None:
    fills = parse_fill_history(orjson.dumps(REST["fills"]["body"]), venue="bp")
    assert [f.trade_id for f in fills] == ["2958908", "2959284", "2959285"]  # oldest first
    oldest, buy, sell = fills
    assert oldest.ts_ns == _ns("2025-08-13T17:24:00.021")
    assert buy == Fill(
        "bp",
        "ETH_USDC",
        "",
        "2959284",
        Side.BUY,
        D("4732.9"),
        D("0.001"),
        D("0.0047329"),
        False,
        _ns("2025-08-13T17:26:01.197"),
    )
    assert sell.side is Side.SELL and sell.fee == D("0.0047325") and sell.price == D("4732.5")


def test_history_fill_accepts_numeric_trade_id_and_client_id() -> None:
    item = {**REST["fills"]["body"][0], "tradeId": 9748827, "clientId": "55555", "isMaker": True}
    fill = parse_history_fill(item)
    assert fill.trade_id == "9748827" and fill.client_order_id == "55555" and fill.is_maker


def test_iso_times() -> None:
    assert iso_to_ns("2025-01-21T06:34:54.691858") == _ns("2025-01-21T06:34:54.691858")
    assert iso_to_ns("2025-01-21T06:34:54") == _ns("2025-01-21T06:34:54")
    assert iso_to_ns("2025-01-21T06:34:54.123456789") == _ns("2025-01-21T06:34:54") + 123456789
    for bad in ("2025-02-30T00:00:00", "2025-13-01T00:00:00", "1757621440699", 1757621440699, "2025-01-21"):
        with pytest.raises(BadValue):
            iso_to_ns(bad)


# ============================================================================================== positions


def test_rest_positions_capture() -> None:
    positions = parse_positions(orjson.dumps(REST["positions"]["body"]), venue="bp")
    pos = positions["ETH_USDC_PERP"]
    assert (pos.venue, pos.size, pos.entry_price, pos.realized_pnl) == ("bp", D("0.002"), D("4447.065"), D("-0.054434"))


def test_rest_position_short_and_flat() -> None:
    base = REST["positions"]["body"][0]
    assert parse_position({**base, "netQuantity": "-0.5"}).size == D("-0.5")
    flat = parse_position({**base, "netQuantity": "0", "entryPrice": "0"})
    assert flat.size == 0 and flat.entry_price is None
    with pytest.raises(BackpackProtocolError):
        parse_positions([base, base])


def test_ws_position_opened_uses_entry_not_break_even() -> None:
    frame = parse_ws_frame(WS["position_opened"]["frame"])
    assert isinstance(frame, WsFrame) and frame.kind == "account.positionUpdate"
    update = parse_position_update(frame.data, venue="bp")
    assert update.position.size == D("0.0010") and update.position.entry_price == D("4236.36")  # B, not b
    assert update.position.realized_pnl == 0 and update.ts_ns == 1754943862040487000
    assert not is_position_snapshot(frame.data)


def test_ws_position_snapshot_without_event_type() -> None:
    data = {k: v for k, v in WS["position_opened"]["frame"]["data"].items() if k != "e"}
    assert is_position_snapshot(data) and is_position_snapshot([data])
    [single] = parse_position_updates(data)
    assert single.position.symbol == "ETH_USDC_PERP"
    assert len(parse_position_updates([data, {**data, "s": "SOL_USDC_PERP", "q": "-3"}])) == 2
    closed = parse_position_update({**WS["position_opened"]["frame"]["data"], "e": "positionClosed", "q": "0"})
    assert closed.position.size == 0 and closed.position.entry_price is None
    with pytest.raises(BackpackProtocolError):
        parse_position_update({**data, "e": "positionLiquidated"})


# ============================================================================================== requests


def test_post_only_limit_body_equals_signing_vector() -> None:
    vector = VECTORS["vectors"][0]
    request = OrderRequest("123456", "SOL_USDC_PERP", Side.BUY, D("12.00"), OrderType.LIMIT, D("141.0"), post_only=True)
    body = order_execute_body(request, SOL_PERP)
    assert body == vector["params_or_body"]
    assert signing_string("orderExecute", body, timestamp_ms=1750793021519) == vector["signing_string"]
    assert orjson.loads(encode_json(body)) == vector["params_or_body"]


def test_market_reduce_only_body_matches_vector_plus_client_id() -> None:
    vector = VECTORS["vectors"][1]
    request = OrderRequest("7", "SOL_USDC_PERP", Side.SELL, D("0.5"), OrderType.MARKET, reduce_only=True)
    assert order_execute_body(request, SOL_PERP) == {**vector["params_or_body"], "clientId": 7}


def test_ioc_limit_body_and_stp() -> None:
    request = OrderRequest("4294967295", "SOL_USDC_PERP", Side.SELL, D("1E+1"), price=D("150.10"), tif=TimeInForce.IOC)
    body = order_execute_body(request, SOL_PERP, self_trade_prevention="RejectBoth")
    assert body == {
        "clientId": 4294967295,
        "orderType": "Limit",
        "price": "150.1",
        "quantity": "10",
        "side": "Ask",
        "selfTradePrevention": "RejectBoth",
        "symbol": "SOL_USDC_PERP",
        "timeInForce": "IOC",
    }


@pytest.mark.parametrize(
    ("request_kwargs", "stp"),
    [
        ({"price": D("141.005")}, None),  # off tick
        ({"size": D("0.005")}, None),  # off lot / below min
        ({"client_order_id": "4294967296"}, None),
        ({"client_order_id": "abc"}, None),
        ({"client_order_id": "-1"}, None),
        ({"symbol": "ETH_USDC_PERP"}, None),
        ({}, "RejectNone"),
    ],
)
def test_order_body_refuses_bad_requests(request_kwargs: dict[str, Any], stp: str | None) -> None:
    fields: dict[str, Any] = {
        "client_order_id": "1",
        "symbol": "SOL_USDC_PERP",
        "side": Side.BUY,
        "size": D("1"),
        "price": D("141"),
    }
    fields.update(request_kwargs)
    with pytest.raises(BadValue):
        order_execute_body(OrderRequest(**fields), SOL_PERP, self_trade_prevention=stp)


def test_cancel_and_query_builders() -> None:
    assert order_cancel_body("SOL_USDC_PERP", client_id=123) == {"clientId": 123, "symbol": "SOL_USDC_PERP"}
    body = order_cancel_body("SOL_USDC_PERP", order_id="111051090663277568")
    assert signing_string("orderCancel", body, timestamp_ms=1750793021519) == VECTORS["vectors"][2]["signing_string"]
    params = order_query_params("SOL_USDC_PERP", client_id=123456)
    assert params == {"clientId": "123456", "symbol": "SOL_USDC_PERP"}
    assert signing_string("orderQuery", params, timestamp_ms=1750793021519) == VECTORS["vectors"][5]["signing_string"]
    for kwargs in ({}, {"client_id": 1, "order_id": "2"}, {"client_id": 2**32}, {"order_id": ""}):
        with pytest.raises(BadValue):
            order_cancel_body("SOL_USDC_PERP", **kwargs)


def test_decimal_text() -> None:
    assert [decimal_text(D(x)) for x in ("141", "141.0", "0.0010", "1E+2", "-0", "0.00000001")] == [
        "141",
        "141",
        "0.001",
        "100",
        "0",
        "0.00000001",
    ]
    for bad in (D("NaN"), D("Infinity"), D("1E+99"), 1.5):
        with pytest.raises(BadValue):
            decimal_text(bad)  # type: ignore[arg-type]


# ============================================================================================== client ids


def test_client_ids_are_unique_and_in_range() -> None:
    alloc = ClientIdAllocator(now_ms=1_750_793_021_519)
    ids = [alloc.allocate() for _ in range(5000)]
    assert len(set(ids)) == 5000 and all(1 <= i <= UINT32_MAX for i in ids)
    assert ids[0] == 1_750_793_021_519 % 2**32
    assert alloc.live_count == 5000


def test_client_ids_wrap_skip_zero_and_live_ids() -> None:
    alloc = ClientIdAllocator(start=UINT32_MAX - 1)
    alloc.reserve(1)  # found live on the venue at reconciliation
    assert [alloc.allocate() for _ in range(3)] == [UINT32_MAX - 1, UINT32_MAX, 2]
    alloc.release(UINT32_MAX)
    assert not alloc.is_live(UINT32_MAX) and alloc.is_live("2")
    assert client_id_from_str(alloc.new_client_order_id()) == 3
    for bad in (-1, 2**32, "x", True):
        with pytest.raises(BadValue):
            alloc.reserve(bad)


def test_restart_starts_above_previous_run() -> None:
    first = ClientIdAllocator(now_ms=1_000_000)
    issued = [first.allocate() for _ in range(1000)]  # 1000 ids over the next 2 s of "uptime"
    second = ClientIdAllocator(now_ms=1_002_000)
    assert second.allocate() > max(issued)


class ClientIdMachine(RuleBasedStateMachine):
    """Random allocate / release / reserve sequences keep every live id unique and in range."""

    live_ids = Bundle("live_ids")

    def __init__(self) -> None:
        super().__init__()
        self.alloc = ClientIdAllocator(start=UINT32_MAX - 3)
        self.model: set[int] = set()

    @rule(target=live_ids)
    def allocate(self) -> int:
        cid = self.alloc.allocate()
        assert cid not in self.model and 1 <= cid <= UINT32_MAX
        self.model.add(cid)
        return cid

    @rule(cid=live_ids)
    def release(self, cid: int) -> None:
        self.alloc.release(cid)
        self.model.discard(cid)

    @rule(cid=st.integers(1, 6) | st.integers(UINT32_MAX - 5, UINT32_MAX))
    def reserve(self, cid: int) -> None:
        self.alloc.reserve(cid)
        self.model.add(cid)

    @invariant()
    def counts_agree(self) -> None:
        assert self.alloc.live_count == len(self.model)


TestClientIdMachine = ClientIdMachine.TestCase
TestClientIdMachine.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)


# ============================================================================================== WS frames


def test_ws_error_frame() -> None:
    err = parse_ws_frame(orjson.dumps(WS["error"]["frame"]))
    assert err == WsError("4006", "Invalid stream")
    exc = err.to_exception(venue="bp")
    assert isinstance(exc, BackpackProtocolError) and exc.code == "4006"
    assert isinstance(WsError("4001", "Signature verification failed").to_exception(), AuthError)


def test_stream_names_and_kinds() -> None:
    assert depth_stream("SOL_USDC_PERP") == "depth.SOL_USDC_PERP"
    assert depth_stream("SOL_USDC_PERP", aggregate_ms=200) == "depth.200ms.SOL_USDC_PERP"
    assert stream_kind("depth.200ms.SOL_USDC_PERP") == "depth"
    assert stream_kind(book_ticker_stream("X_Y")) == "bookTicker"
    assert order_update_stream() == "account.orderUpdate"
    assert stream_kind(order_update_stream("SOL_USDC_PERP")) == "account.orderUpdate"
    assert stream_kind(position_update_stream("SOL_USDC_PERP")) == "account.positionUpdate"
    bad: Callable[[], str]
    for bad in (
        lambda: depth_stream("SOL USDC"),
        lambda: depth_stream("X", aggregate_ms=100),
        lambda: book_ticker_stream(""),
    ):
        with pytest.raises(BadValue):
            bad()


def test_public_subscribe_message_is_the_documented_text() -> None:
    text = subscribe_message([depth_stream("SOL_USDC_PERP"), book_ticker_stream("SOL_USDC_PERP")])
    # B4 / OpenAPI Streams "Subscribing".
    assert text == '{"method":"SUBSCRIBE","params":["depth.SOL_USDC_PERP","bookTicker.SOL_USDC_PERP"]}'
    assert unsubscribe_message(["depth.SOL_USDC_PERP"]) == '{"method":"UNSUBSCRIBE","params":["depth.SOL_USDC_PERP"]}'
    with pytest.raises(BadValue):
        subscribe_message([order_update_stream("SOL_USDC_PERP")])
    with pytest.raises(BadValue):
        subscribe_message([])


def test_private_subscribe_message_equals_vector_and_verifies() -> None:
    signer = BackpackSigner(VECTORS["secret_base64_64bytes"])
    text = private_subscribe_message([order_update_stream("SOL_USDC_PERP")], signer, timestamp_ms=1750793021519)
    assert json.loads(text) == VECTORS["ws_private_subscribe_message"]
    request = parse_subscribe_message(text)
    assert request.method == "SUBSCRIBE" and request.streams == ("account.orderUpdate.SOL_USDC_PERP",)
    verify_ws_subscribe(request.signature, VECTORS["public_key_base64"], 1750793021519)
    assert VECTORS["secret_base64_64bytes"] not in text
    with pytest.raises(BackpackProtocolError):
        parse_subscribe_message('{"method":"SUBSCRIBE","params":[]}')


# ============================================================================================== errors

ERROR_CASES = [
    (400, REST["errors"]["bodies"][0], InvalidOrder, "INVALID_ORDER"),
    (400, REST["errors"]["bodies"][1], InvalidOrder, "INVALID_CLIENT_REQUEST"),
    (400, REST["errors"]["bodies"][2], InvalidOrder, "INVALID_PRICE"),
    (400, {"code": "INVALID_QUANTITY", "message": "Quantity below the minimum"}, InvalidOrder, "INVALID_QUANTITY"),
    (429, {"code": "TOO_MANY_REQUESTS", "message": "slow down"}, RateLimited, "TOO_MANY_REQUESTS"),
    (429, b"Too Many Requests", RateLimited, "HTTP 429"),
    (400, {"code": "INSUFFICIENT_MARGIN", "message": "Insufficient margin"}, InsufficientMargin, "INSUFFICIENT_MARGIN"),
    (400, {"code": "INSUFFICIENT_FUNDS", "message": "Insufficient funds"}, InsufficientMargin, "INSUFFICIENT_FUNDS"),
    (
        400,
        {"code": "INVALID_ORDER", "message": "Order would immediately match and take"},
        PostOnlyWouldCross,
        "INVALID_ORDER",
    ),
    (401, {"code": "UNAUTHORIZED", "message": "Unauthorized"}, AuthError, "UNAUTHORIZED"),
    (400, {"code": "INVALID_SIGNATURE", "message": "Invalid signature"}, AuthError, "INVALID_SIGNATURE"),
    (404, {"code": "RESOURCE_NOT_FOUND", "message": "Order not found"}, OrderNotFound, "RESOURCE_NOT_FOUND"),
    (500, {"code": "SERVER_ERROR", "message": "Internal"}, UnknownOutcome, "SERVER_ERROR"),
    (503, b"<html>Service Unavailable</html>", UnknownOutcome, "HTTP 503"),
    (400, {"code": "TIMEOUT", "message": "Request timed out"}, UnknownOutcome, "TIMEOUT"),
    (400, {"code": "ORDER_LIMIT", "message": "Too many open orders"}, OrderRejected, "ORDER_LIMIT"),
    (400, {"code": "TRADING_PAUSED", "message": "Trading paused"}, VenueUnavailable, "TRADING_PAUSED"),
    (
        400,
        b'parse request payload error: Expected input type "OrderExecutePayload", found [...]',
        InvalidOrder,
        "HTTP 400",
    ),
    (404, b"Not Found", BackpackProtocolError, "HTTP 404"),
]


@pytest.mark.parametrize(("status", "body", "cls", "code"), ERROR_CASES)
def test_error_mapping(status: int, body: Any, cls: type[VenueError], code: str) -> None:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    err = error_from_response(status, raw, venue="bp", retry_after_s=2.5)
    assert type(err) is cls and err.code == code and err.venue == "bp"
    if isinstance(body, dict):
        assert err.message == body["message"]
    if cls is RateLimited:
        assert isinstance(err, RateLimited) and err.retry_after_s == 2.5 and retry_class(err) == "backoff"


def test_error_classes_drive_retries() -> None:
    assert retry_class(error_from_response(503, b"")) == "resolve"
    assert retry_class(error_from_response(400, REST["errors"]["bodies"][0])) == "never"
    assert parse_error_body(b"not json") is None and parse_error_body({"code": 5}) is None
    assert parse_error_body(orjson.dumps(REST["errors"]["bodies"][0])) == ("INVALID_ORDER", "Invalid order")


# ============================================================================================== fuzzing

PARSERS = [
    parse_market, parse_markets, parse_depth_snapshot, parse_depth_delta_raw, parse_book_ticker, parse_order,
    parse_orders, parse_order_update, parse_order_fill, parse_order_events, parse_history_fill, parse_fill_history,
    parse_position, parse_positions, parse_position_update, parse_position_updates, parse_ws_frame,
    parse_subscribe_message,
]  # fmt: skip

KEYS = ["symbol", "s", "e", "E", "T", "U", "u", "a", "b", "A", "B", "X", "i", "c", "S", "o", "f", "q", "z", "l", "L",
        "m", "n", "N", "t", "R", "p", "id", "side", "status", "orderType", "price", "quantity", "executedQuantity",
        "executedQuoteQuantity", "clientId", "tradeId", "fee", "feeSymbol", "isMaker", "timestamp", "bids", "asks",
        "lastUpdateId", "netQuantity", "entryPrice", "pnlRealized", "filters", "price", "stepSize", "tickSize",
        "minQuantity", "baseSymbol", "quoteSymbol", "stream", "data", "error", "method", "params"]  # fmt: skip

leaves = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["NaN", "Infinity", "-1", "0", "1e999999999", "1E-999999999", "4000.5", "Bid", "Ask", "New",
                     "orderFill", "depth", "USDC", "ETH", "SOL_USDC_PERP", "2025-08-13T17:26:01.197", "-0"]),
)  # fmt: skip
json_like = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), inner, max_size=6)
    ),
    max_leaves=12,
)


def _only_allowed(parser: Any, value: object) -> None:
    try:
        parser(value)
    except ALLOWED:
        pass


@pytest.mark.parametrize("parser", PARSERS, ids=lambda p: p.__name__)
@given(value=json_like)
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_fuzz_random_values(parser: Any, value: object) -> None:
    _only_allowed(parser, value)


@pytest.mark.parametrize("parser", PARSERS, ids=lambda p: p.__name__)
@given(
    raw=st.binary(max_size=60)
    | st.text(max_size=60)
    | st.sampled_from(
        [
            b"NaN",
            b"[Infinity]",
            b'{"a":-Infinity}',
            b'{"bids":[["1","NaN"]]}',
            b"1e400",
            b'"\\ud800"',
            b"",
            b"{}",
            b"[]",
        ]
    )
)
@settings(max_examples=40, deadline=None)
def test_fuzz_raw_bytes(parser: Any, raw: bytes | str) -> None:
    _only_allowed(parser, raw)


def _captured_cases() -> list[tuple[Any, Any]]:
    return [
        (parse_market, REST["markets"]["body"][1]),
        (parse_depth_snapshot, REST["depth"]["body"]),
        (parse_depth_delta_raw, WS["depth_docs"]["frame"]["data"]),
        (parse_book_ticker, WS["book_ticker"]["frame"]["data"]),
        (parse_order, REST["order_create_limit"]["body"]),
        (parse_order, REST["order_create_market_client_id"]["body"]),
        (parse_order_update, BPX_RS_UPDATES[1]),
        (parse_order_events, WS["order_fill"]["data"]),
        (parse_history_fill, REST["fills"]["body"][1]),
        (parse_position, REST["positions"]["body"][0]),
        (parse_position_update, WS["position_opened"]["frame"]["data"]),
        (parse_ws_frame, WS["order_accepted"]["frame"]),
    ]


CAPTURED_CASES = _captured_cases()


@pytest.mark.parametrize(("parser", "payload"), CAPTURED_CASES, ids=lambda x: getattr(x, "__name__", "payload"))
@given(data=st.data())
@settings(max_examples=60, deadline=None)
def test_fuzz_mutated_captures(parser: Any, payload: dict[str, Any], data: st.DataObject) -> None:
    mutated = copy.deepcopy(payload)
    keys = sorted(mutated)
    action = data.draw(st.sampled_from(["drop", "replace", "extra"]))
    if action == "drop":
        del mutated[data.draw(st.sampled_from(keys))]
        _only_allowed(parser, mutated)
    elif action == "replace":
        mutated[data.draw(st.sampled_from(keys))] = data.draw(json_like)
        _only_allowed(parser, mutated)
    else:  # unknown extra keys never change the result
        # a key no Backpack message defines (a short random key could be a known optional field the capture
        # lacks, e.g. the order update's "c" client id, which then rightly changes the result)
        extra = "x_" + data.draw(st.text(min_size=1, max_size=6))
        mutated[extra] = data.draw(json_like)
        assert parser(mutated) == parser(payload)


@given(st.integers(-1000, 1000), st.binary(max_size=40) | st.text(max_size=40) | json_like)
@settings(max_examples=100, deadline=None)
def test_error_mapping_never_raises(status: int, body: Any) -> None:
    assert isinstance(error_from_response(status, body), VenueError)
    parse_error_body(body)


@given(st.binary(max_size=40) | st.text(max_size=40))
@settings(max_examples=100, deadline=None)
def test_decode_json_only_raises_protocol_error(raw: bytes | str) -> None:
    try:
        decode_json(raw)
    except BackpackProtocolError:
        pass


def test_package_exports_resolve() -> None:
    import trio_hedge.protocols.backpack as backpack

    assert backpack.__all__ == sorted(backpack.__all__)
    missing = [name for name in backpack.__all__ if not hasattr(backpack, name)]
    assert missing == []
