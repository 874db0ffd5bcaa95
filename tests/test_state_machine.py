"""The order state machine as a table: every (from, to) pair is legal exactly when the diagram documented in
``domain/_orders.py`` allows it, for :meth:`Order.transition` and for the journal's status check
(:meth:`Journal.record_status`) alike. The table below is transcribed from that diagram, not from the code."""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path

import pytest

from trio_hedge.app import Journal
from trio_hedge.domain import IllegalTransition, Order, OrderRequest, OrderStatus, Side

S = OrderStatus
TERMINAL = {S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED}
# The documented diagram: PENDING -> anything; OPEN -> PARTIALLY_FILLED, FILLED, CANCELLED, EXPIRED;
# PARTIALLY_FILLED -> PARTIALLY_FILLED (more fills), FILLED, CANCELLED, EXPIRED; nothing out of a terminal status.
DIAGRAM: dict[OrderStatus, set[OrderStatus]] = {
    S.PENDING: {S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED, S.REJECTED},
    S.OPEN: {S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED},
    S.PARTIALLY_FILLED: {S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED},
    S.FILLED: set(),
    S.CANCELLED: set(),
    S.REJECTED: set(),
    S.EXPIRED: set(),
}
PAIRS = list(itertools.product(list(S), list(S)))


def _request(n: int) -> OrderRequest:
    return OrderRequest(f"c{n}", "BTC_USDT_Perp", Side.BUY, Decimal("0.002"), price=Decimal("100.0"))


def _expected(src: OrderStatus, dst: OrderStatus) -> str:
    """'moves', 'repeat' (a repeated terminal report: not an error, nothing changes) or 'illegal'."""
    if dst in DIAGRAM[src]:
        return "moves"
    if src is dst and src in TERMINAL:
        return "repeat"
    return "illegal"


def test_the_table_is_complete_and_terminal_states_are_the_documented_ones() -> None:
    assert set(DIAGRAM) == set(S)
    assert {s for s in S if s.is_terminal} == TERMINAL


@pytest.mark.parametrize(("src", "dst"), PAIRS, ids=[f"{a.value}->{b.value}" for a, b in PAIRS])
def test_order_transition_follows_the_diagram(src: OrderStatus, dst: OrderStatus) -> None:
    order = Order(_request(1), "grvt", status=src)
    expected = _expected(src, dst)
    if expected == "illegal":
        with pytest.raises(IllegalTransition):
            order.transition(dst)
        assert order.status is src
    else:
        assert order.transition(dst) is (expected == "moves")
        assert order.status is dst


def test_the_journal_refuses_exactly_what_the_diagram_refuses(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.sqlite") as j:
        for n, (src, dst) in enumerate(PAIRS):
            req = _request(n)
            j.record_intent("grvt", req)
            if src is not S.PENDING:
                assert j.record_status("grvt", req.client_order_id, src) is not None  # PENDING -> src is legal
            expected = _expected(src, dst)
            if expected == "illegal":
                with pytest.raises(IllegalTransition):
                    j.record_status("grvt", req.client_order_id, dst)
                current = j.intent("grvt", req.client_order_id)
                assert current is not None and current.status is src, (src, dst)
            else:
                seq = j.record_status("grvt", req.client_order_id, dst)
                assert (seq is not None) is (expected == "moves"), (src, dst)
                current = j.intent("grvt", req.client_order_id)
                assert current is not None and current.status is dst, (src, dst)


@pytest.mark.parametrize("src", [S.PENDING, S.OPEN, S.PARTIALLY_FILLED, S.CANCELLED, S.EXPIRED, S.FILLED])
def test_a_fill_is_recorded_in_every_status_but_rejected(src: OrderStatus) -> None:
    """A late fill on a CANCELLED/EXPIRED (or FILLED-early) order is still a real fill: it is recorded."""
    from trio_hedge.domain import Fill

    order = Order(_request(1), "grvt", status=src)
    fill = Fill("grvt", "BTC_USDT_Perp", "c1", "t1", Side.BUY, Decimal("100"), Decimal("0.001"), Decimal(0), True, 0)
    assert order.apply_fill(fill) is True
    assert order.filled_size == Decimal("0.001")
    assert order.apply_fill(fill) is False  # once per trade id


def test_a_fill_on_a_rejected_order_is_refused() -> None:
    from trio_hedge.domain import Fill

    order = Order(_request(1), "grvt", status=S.REJECTED)
    fill = Fill("grvt", "BTC_USDT_Perp", "c1", "t1", Side.BUY, Decimal("100"), Decimal("0.001"), Decimal(0), True, 0)
    with pytest.raises(IllegalTransition):
        order.apply_fill(fill)
