"""Credentials a venue refuses end the run with exit 78 (do not restart), with a message that names the venue and
what to fix and no credential value: through the ccxt venue and the native adapters, against the wire simulators
on loopback (real clock, real sockets)."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path

import pytest
import trio

from tests.contract.conftest import CCXT_FAST, _market
from tests.rigs import backpack_rig, grvt_rig, proxied
from trio_hedge.app._journal import Journal
from trio_hedge.domain import OrderRequest, OrderType, Side, leaves
from trio_hedge.engine import EXIT_CONFIG, CredentialsRefused, RetryPolicy, exit_code_of, submit_order
from trio_hedge.protocols.backpack import BackpackSigner
from trio_hedge.venues import AuthError, Venue
from trio_hedge.venues.backpack import open_backpack_venue
from trio_hedge.venues.ccxt import CcxtSettings, open_ccxt_venue, simulator_urls
from trio_hedge.venues.grvt import open_grvt_venue

REPO = Path(__file__).resolve().parent.parent
BP, GR = "BTC_USDC_PERP", "BTC_USDT_Perp"
OTHER_SEED = base64.b64encode(bytes(range(32))).decode()
"""Another account's ED25519 seed: a valid key pair the Backpack simulator does not know."""

pytestmark = pytest.mark.timeout(120)  # waits on sockets or subprocesses: a hang fails the test, not the run


def _refusal(exc: BaseException) -> AuthError:
    found = [e for e in leaves(exc) if isinstance(e, AuthError)] if isinstance(exc, BaseExceptionGroup) else [exc]
    assert len(found) == 1 and isinstance(found[0], AuthError), repr(exc)
    return found[0]


async def _open_refused(kind: str, tmp_path: Path) -> tuple[AuthError, list[str]]:
    """Open a ``kind`` session with credentials its simulator refuses; the AuthError it ends with and the
    credential values that must not show anywhere."""
    with trio.fail_after(30):
        if kind.endswith("backpack"):
            async with backpack_rig([_market(tmp_path, "backpack", BP, "USDC")]) as rig:
                with pytest.raises(BaseException) as refused:
                    if kind == "ccxt:backpack":  # the right key, another account's secret: the signature fails
                        s = CcxtSettings("backpack", "backpack", (BP,), {"apiKey": rig.info.api_key,
                                         "secret": OTHER_SEED}, simulator_urls("backpack", rig.info.rest, rig.info.ws,
                                         rig.info.ws), timeouts=CCXT_FAST)  # fmt: skip
                        async with open_ccxt_venue(s):
                            pass
                    else:  # another account's key pair: the private subscription is refused
                        settings = rig.settings(api_key=BackpackSigner(OTHER_SEED).api_key, api_secret=OTHER_SEED)
                        async with open_backpack_venue(settings) as venue:
                            await venue.open_orders(BP)
                return _refusal(refused.value), [OTHER_SEED, rig.info.api_secret]
        async with grvt_rig([_market(tmp_path, "grvt", GR, "USDT")]) as rig:
            info = rig.info
            with pytest.raises(BaseException) as refused:
                if kind == "ccxt:grvt":  # the key of another trading account: 1001 not authorized
                    s = CcxtSettings("grvt", "grvt", (GR,), {"privateKey": "0x" + info.private_key,
                                     "options": {"accountId": "1234567890123456", "builderFee": False}},
                                     simulator_urls("grvt", f"http://127.0.0.1:{rig.rest.port}",
                                                    f"ws://127.0.0.1:{rig.md.port}/market-data/ws/full",
                                                    f"ws://127.0.0.1:{rig.trades.port}/trades/ws/full"),
                                     timeouts=CCXT_FAST)  # fmt: skip
                    async with open_ccxt_venue(s):
                        pass
                else:  # an API key the venue does not know: the login is refused
                    async with open_grvt_venue(rig.settings(api_key="wrong-key-" + "x" * 17)):
                        pass
            return _refusal(refused.value), [info.private_key, info.api_key]


@pytest.mark.parametrize("kind", ["ccxt:backpack", "ccxt:grvt", "backpack", "grvt"])
async def test_refused_credentials_end_the_session_as_an_auth_error_that_exits_78(
    kind: str, tmp_path: Path, log_lines: list[str]
) -> None:
    """The ccxt venue behaves as the native adapters: a session whose credentials the venue refuses ends with
    AuthError (ccxt: AuthenticationError/PermissionDenied through the error table, checked by one private read
    before the streams start), which is exit 78 and names the venue; no credential value in any text."""
    auth, secrets = await _open_refused(kind, tmp_path)
    venue = kind.split(":")[-1]
    assert auth.venue == venue and exit_code_of(auth) == EXIT_CONFIG
    halted = CredentialsRefused(auth)
    assert halted.exit_code == exit_code_of(halted) == EXIT_CONFIG
    assert f"venue {venue} refused the credentials" in str(halted) and "Fix:" in str(halted)
    text = "\n".join([str(auth), repr(auth), str(halted), *log_lines])
    for secret in secrets:
        assert secret not in text


@asynccontextmanager
async def _backpack_behind_proxy(kind: str, tmp_path: Path) -> AsyncIterator[tuple[Venue, object]]:
    async with backpack_rig([_market(tmp_path, "backpack", BP, "USDC")]) as rig, proxied(rig.info.rest) as rest:
        url = f"http://127.0.0.1:{rest.port}"
        if kind == "ccxt:backpack":
            s = CcxtSettings("backpack", "backpack", (BP,), {"apiKey": rig.info.api_key, "secret": rig.info.api_secret},
                             simulator_urls("backpack", url, rig.info.ws, rig.info.ws), timeouts=CCXT_FAST)
            async with open_ccxt_venue(s) as venue:
                yield venue, rest
        else:
            async with open_backpack_venue(rig.settings(rest_url=url)) as venue:
                yield venue, rest


@pytest.mark.parametrize("kind", ["ccxt:backpack", "backpack"])
async def test_an_order_refused_for_its_credentials_mid_run_halts_with_exit_78(kind: str, tmp_path: Path) -> None:
    """A key revoked while trading: the order's HTTP 401 is AuthError, and the engine's order path halts the market
    with CredentialsRefused (exit 78) at once, without a retry."""
    with trio.fail_after(30):
        async with _backpack_behind_proxy(kind, tmp_path) as (venue, rest):
            rest.fail_http(401, count=5, method="POST")  # type: ignore[attr-defined]
            req = OrderRequest(client_order_id=venue.new_client_order_id(), symbol=BP, side=Side.BUY,
                               size=Decimal("0.001"), order_type=OrderType.LIMIT, price=Decimal("59990.0"),
                               post_only=True)  # fmt: skip
            with pytest.raises(CredentialsRefused) as halted:
                await submit_order(venue, req, policy=RetryPolicy(backoff_s=0.01))
            assert rest.statistics().http_failed == 1  # type: ignore[attr-defined]  # not retried
    assert halted.value.exit_code == EXIT_CONFIG and "venue backpack refused the credentials" in str(halted.value)


def test_the_main_job_exits_78_when_the_ccxt_hedge_venue_refuses_the_account(tmp_path: Path) -> None:
    """The whole process: the ccxt GRVT leg configured with a trading account its key cannot use (the simulator
    answers 1001, ccxt raises PermissionDenied): nothing trades, exit 78, stderr names the venue and the fix, no
    traceback and no key (64 hex digits) in the output."""
    proc = subprocess.run(
        [sys.executable, "-m", "trio_hedge", "--config", str(REPO / "config.toml"), "--set", "venues.grvt.kind=ccxt",
         "--set", 'venues.grvt.ccxt_options.accountId="1234567890123456"', "--set", "engine.cycles=1",
         "--set", f"journal.path={tmp_path / 'j.sqlite'}", "--no-live"],
        cwd=tmp_path, capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert proc.returncode == EXIT_CONFIG, proc.stderr[-3000:]
    assert "cannot start: AuthError: [grvt]" in proc.stderr
    assert "venue grvt refused the credentials. Fix:" in proc.stderr and "secrets_file" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not re.search(r"[0-9a-fA-F]{64}", proc.stdout + proc.stderr)
    with Journal.open(tmp_path / "j.sqlite") as j:  # recorded as the refusal it is, not as a crash (exit 1)
        runs = j.runs()
    assert [r.exit_code for r in runs] == [EXIT_CONFIG]
    assert "grvt refused the credentials" in (runs[-1].exit_reason or "")
