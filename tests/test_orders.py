"""The order state machine, fills and order-request validation."""

from __future__ import annotations

from decimal import Decimal

import pytest

from trio_hedge.domain import (
    BadValue,
    Fill,
    IllegalTransition,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)

S = OrderStatus
TERMINAL = [S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED]


def _order(size: str = "0.010") -> Order:
    req = OrderRequest("c1", "BTC", Side.BUY, Decimal(size), OrderType.LIMIT, Decimal("100"), TimeInForce.GTT,
                       post_only=True)
    return Order(request=req, venue="v")


def _fill(trade_id: str, size: str, price: str = "100") -> Fill:
    return Fill("v", "BTC", "c1", trade_id, Side.BUY, Decimal(price), Decimal(size), Decimal(0), True, 1)


@pytest.mark.parametrize("terminal", TERMINAL)
@pytest.mark.parametrize("target", [S.PENDING, S.OPEN, S.PARTIALLY_FILLED])
def test_terminal_states_never_reopen(terminal: OrderStatus, target: OrderStatus) -> None:
    o = _order()
    o.transition(S.OPEN)
    if terminal is S.REJECTED:
        o = _order()
    o.transition(terminal)
    with pytest.raises(IllegalTransition) as info:
        o.transition(target)
    assert info.value.current == terminal.value and info.value.requested == target.value


@pytest.mark.parametrize("a,b", [(S.FILLED, S.CANCELLED), (S.CANCELLED, S.FILLED), (S.EXPIRED, S.REJECTED)])
def test_one_terminal_state_cannot_become_another(a: OrderStatus, b: OrderStatus) -> None:
    o = _order()
    o.transition(S.OPEN)
    o.transition(a)
    with pytest.raises(IllegalTransition):
        o.transition(b)


def test_open_cannot_be_rejected_or_go_back_to_pending() -> None:
    o = _order()
    o.transition(S.OPEN)
    for bad in (S.REJECTED, S.PENDING):
        with pytest.raises(IllegalTransition):
            o.transition(bad)
    assert o.status is S.OPEN


def test_repeated_terminal_report_is_not_an_error() -> None:
    o = _order()
    o.transition(S.CANCELLED)
    assert o.transition(S.CANCELLED) is False
    assert o.status is S.CANCELLED


def test_fills_move_status_and_are_idempotent_by_trade_id() -> None:
    o = _order("0.003")
    assert o.apply_fill(_fill("t1", "0.001", "100"))
    assert o.status is S.PARTIALLY_FILLED
    assert not o.apply_fill(_fill("t1", "0.001", "100"))  # the same trade again
    assert o.filled_size == Decimal("0.001")
    o.apply_fill(_fill("t2", "0.002", "103"))
    assert o.status is S.FILLED and o.remaining == 0
    assert o.avg_fill_price == Decimal("102")


def test_overfill_raises_and_changes_nothing() -> None:
    o = _order("0.002")
    o.apply_fill(_fill("t1", "0.002"))
    with pytest.raises(IllegalTransition):
        o.apply_fill(_fill("t2", "0.001"))
    assert o.filled_size == Decimal("0.002")


def test_late_fill_after_cancel_is_kept_without_reopening() -> None:
    o = _order("0.002")
    o.transition(S.OPEN)
    o.transition(S.CANCELLED)
    assert o.apply_fill(_fill("late", "0.001"))
    assert o.status is S.CANCELLED and o.filled_size == Decimal("0.001")


def test_fill_on_rejected_order_raises() -> None:
    o = _order()
    o.transition(S.REJECTED)
    with pytest.raises(IllegalTransition):
        o.apply_fill(_fill("t1", "0.001"))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"size": Decimal(0)},
        {"size": Decimal("-1")},
        {"size": Decimal("NaN")},
        {"price": None},
        {"price": Decimal("-1")},
        {"order_type": OrderType.MARKET},  # a market order with a price
        {"tif": TimeInForce.IOC, "post_only": True},
    ],
)
def test_bad_requests_are_refused(kwargs: dict[str, object]) -> None:
    base: dict[str, object] = dict(client_order_id="c", symbol="BTC", side=Side.BUY, size=Decimal("1"),
                                   order_type=OrderType.LIMIT, price=Decimal("10"), tif=TimeInForce.GTT)
    base.update(kwargs)
    with pytest.raises(BadValue):
        OrderRequest(**base)  # type: ignore[arg-type]


def test_side_parsing() -> None:
    assert Side.parse("buy") is Side.BUY and Side.parse("Ask") is Side.SELL
    assert Side.BUY.opposite is Side.SELL and Side.SELL.sign == -1
    with pytest.raises(BadValue):
        Side.parse("hold")


def test_status_rank_orders_an_orders_life_and_ties_every_terminal_status() -> None:
    from trio_hedge.domain import TERMINAL_RANK

    live = [OrderStatus.PENDING, OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED]
    assert [s.rank for s in live] == sorted({s.rank for s in live}) and max(s.rank for s in live) < TERMINAL_RANK
    assert {s.rank for s in OrderStatus if s.is_terminal} == {TERMINAL_RANK}
