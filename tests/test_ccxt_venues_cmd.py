"""``python -m trio_hedge venues``: the ccxt exchanges with what the bot needs, read from ccxt's class attributes
with every socket connect refused (it must never contact an exchange)."""

from __future__ import annotations

import socket

import pytest

from trio_hedge.app.cli import main
from trio_hedge.venues.ccxt._survey import assess


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("the venues command tried to connect")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_lists_fitting_exchanges_with_credentials_and_fallbacks(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["venues"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "credentials: privateKey, walletAddress" in lines["hyperliquid"]
    assert "credentials: privateKey" in lines["grvt"]
    assert "fills read over REST (no watchMyTrades)" in lines["backpack"]
    assert "binanceusdm" in lines and "kraken" not in lines  # kraken (spot) has no perpetual swaps


def test_all_says_what_the_others_lack(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["venues", "--all"]) == 0
    out = capsys.readouterr().out
    assert any(line.split()[:3] == ["kraken", "lacks:", "perpetual"] for line in out.splitlines())


def test_assess_reads_has_flags() -> None:
    fit = assess("grvt")
    assert fit.fits and fit.credentials == ("privateKey",) and fit.fallbacks == ()
