"""``python -m trio_hedge sim``: the simulated venues as standalone wire-protocol servers on loopback.

Starts the simulated exchange on the configured recordings and serves each simulated venue over its
venue's wire protocol (GRVT: REST + JSON-RPC WebSocket; Backpack: REST + WebSocket streams). When ready it
prints ONE JSON line on stdout::

    {"grvt": {"rest": ..., "ws": ..., "api_key": ..., "private_key": ..., "sub_account_id": ..., "chain_id": ...},
     "backpack": {"rest": ..., "ws": ..., "api_key": ..., "api_secret": ...}}

then serves until the recordings end (and ``--linger-s`` passes) or SIGINT/SIGTERM. The credentials are test
credentials for this simulator only.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

import orjson
import trio
from loguru import logger

from ..sim import SimSettings, open_sim_exchange
from ._config import ConfigError, load_config
from ._logging import flush_logs, setup_logging
from ._run import sim_markets
from ._wire import protocol_of, start_wire_server


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m trio_hedge sim", description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1", help="bind address (loopback only by default)")
    p.add_argument("--grvt-port", type=int, default=0, help="GRVT server port (0 = ephemeral)")
    p.add_argument("--backpack-port", type=int, default=0, help="Backpack server port (0 = ephemeral)")
    p.add_argument("--config", type=Path, default=None, help="config file (recordings, instruments, fees)")
    p.add_argument("--speed", type=float, default=None, help="replay speed multiple (default: sim.speed)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE")
    p.add_argument("--linger-s", type=float, default=5.0, help="keep serving this long after the data ends")
    p.add_argument("--log-level", default="WARNING")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    overrides = list(args.overrides)
    if args.speed is not None:
        overrides.append(f"sim.speed={args.speed}")
    path = args.config if args.config is not None else (Path("config.toml") if Path("config.toml").is_file() else None)
    try:
        config = load_config(path, overrides)
    except ConfigError as exc:
        print(f"trio_hedge sim: configuration error: {exc}", file=sys.stderr)
        return 78
    setup_logging(args.log_level.upper())
    ports = {"grvt": args.grvt_port, "backpack": args.backpack_port}

    async def serve() -> None:
        settings = SimSettings(speed=config.sim.speed, latency_s=config.sim.latency_s,
                               market_data_capacity=config.sim.market_data_capacity,
                               account_capacity=config.sim.account_capacity)
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            markets = sim_markets(config, every_symbol=True)
            async with open_sim_exchange(settings, markets) as exchange, trio.open_nursery() as nursery:
                line: dict[str, object] = {}
                for vc in config.venues.values():
                    proto = protocol_of(vc)
                    if vc.market is None or not proto:
                        continue
                    info = await start_wire_server(nursery, exchange, vc, host=args.host, port=ports[proto],
                                                   protocol=proto)
                    line[proto] = info.to_json()
                sys.stdout.write(orjson.dumps(line).decode() + "\n")
                sys.stdout.flush()

                async def until_signal() -> None:
                    async for signum in signals:
                        logger.bind(tag="SIM").warning("{}: stopping", signal.Signals(signum).name)
                        nursery.cancel_scope.cancel()
                        return

                async def until_data_ends() -> None:
                    await exchange.finished.wait()
                    await trio.sleep(args.linger_s)
                    nursery.cancel_scope.cancel()

                nursery.start_soon(until_signal)
                nursery.start_soon(until_data_ends)
        with trio.CancelScope(shield=True):
            await flush_logs()

    trio.run(serve)
    return 0
