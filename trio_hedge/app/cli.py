"""Command line: ``python -m trio_hedge [--config PATH] [--set key.path=value ...] [--summary-json PATH]``,
and ``python -m trio_hedge sim [...]`` (the simulated venues as wire-protocol servers, see ``_simcmd``).

Without ``--config`` it reads ``./config.toml`` when present, else the built-in defaults (the same values:
the shipped ``config.toml`` is checked against them by a test). Exit codes: 0 clean and flat, 78
configuration error (the message names the key and the fix), a second instance on the same journal, or the
crash-loop breaker; 75 venue or feed unreachable; 3 not flat at exit; 1 other failures (``_process.py``).

Before the event loop starts: the single-instance lock on ``<journal.path>.lock`` (a second instance exits
78), and under a supervisor (``--supervised``, ``TRIO_HEDGE_SUPERVISED=1`` or supervisord's
``SUPERVISOR_ENABLED``) ``prctl(PR_SET_PDEATHSIG, SIGINT)`` so the bot stops gracefully if its supervisor dies.
The SIGINT/SIGTERM receiver is the first thing the trio run installs (``run_bot``); a SIGINT before it (while
starting up) ends the process with exit 0 before anything was sent.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

import orjson
import trio

from ..domain import TrioHedgeError, leaves
from ..engine import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK
from ._config import Config, ConfigError, load_config
from ._journal import JournalError
from ._logging import flush_logs, register_secret, setup_logging
from ._process import SecondInstance, acquire_instance_lock, is_supervised, set_parent_death_signal
from ._report import render_summary
from ._run import RunResult, run_bot


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m trio_hedge",
        description="Delta-neutral hedge bot: post-only maker on the primary venue, IOC hedge on the second.",
    )
    p.add_argument("--config", type=Path, default=None, help="TOML config file (default: ./config.toml if present)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override one config value, e.g. --set engine.cycles=5 (repeatable)")
    p.add_argument("--summary-json", type=Path, default=None, metavar="PATH", help="write the run summary as JSON")
    p.add_argument("--log-level", default=None, help="override log.level (DEBUG, INFO, WARNING...)")
    p.add_argument("--live", action="store_true",
                   help="allow venues with endpoint = \"live\": REAL orders with REAL money")
    p.add_argument("--supervised", action="store_true",
                   help="running under a supervisor: stop (SIGINT) when the parent process dies "
                        "(also TRIO_HEDGE_SUPERVISED=1, or supervisord's SUPERVISOR_ENABLED)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the bot, print the summary, return the exit code."""
    try:
        return _main(argv)
    except KeyboardInterrupt:  # SIGINT before the signal receiver was installed: nothing was sent
        print("trio_hedge: interrupted while starting; nothing was sent", file=sys.stderr)
        return EXIT_OK


def _main(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["sim"]:
        from ._simcmd import main as sim_main

        return sim_main(argv[1:])
    args = build_parser().parse_args(argv)
    path = args.config
    if path is None and Path("config.toml").is_file():
        path = Path("config.toml")
    overrides = list(args.overrides)
    if args.log_level:
        overrides.append(f"log.level={args.log_level.upper()}")
    try:
        config = load_config(path, overrides)
    except ConfigError as exc:
        print(f"trio_hedge: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    live = [v.name for v in config.venues.values() if v.endpoint == "live"]
    if live and not args.live:
        print(f"trio_hedge: configuration error: venues {', '.join(live)} have endpoint = \"live\" (real money). "
              "Fix: pass --live to confirm, or set endpoint = \"sim\".", file=sys.stderr)
        return EXIT_CONFIG
    for secret in config.secrets:
        register_secret(secret)
    if is_supervised(args.supervised):
        set_parent_death_signal(signal.SIGINT)
    try:
        lock = acquire_instance_lock(config.journal.lock_path)
    except SecondInstance as exc:
        print(f"trio_hedge: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:
        print(f"trio_hedge: configuration error: cannot create the journal lock {config.journal.lock_path}: "
              f"{exc.strerror}. Fix: set journal.path to a writable place", file=sys.stderr)
        return EXIT_CONFIG
    with lock:
        return _run_locked(args, config)


def _run_locked(args: argparse.Namespace, config: Config) -> int:
    setup_logging(config.log.level, file=config.log.file)

    errors: list[BaseException] = []
    trading: list[bool] = []

    async def go() -> RunResult | None:
        try:
            return await run_bot(config, handle_signals=True, journal_path=config.journal.path,
                                 on_trading=lambda: trading.append(True))
        except* TrioHedgeError as eg:
            # Failures inside a market scope come back in the result; what is raised failed outside them:
            # before trading could start (a recording that cannot be read, a venue that refuses the session,
            # the journal) or after it (the exit steps).
            errors.extend(leaves(eg))
        finally:
            with trio.CancelScope(shield=True):
                await flush_logs()
        return None

    result = trio.run(go)
    if result is None:
        if trading:
            for exc in errors:
                print(f"trio_hedge: failed while running: {type(exc).__name__}: {exc}", file=sys.stderr)
            print("trio_hedge: the market scopes had cleaned up (cancel, flatten); no exit summary: check the "
                  "venues' positions and the log", file=sys.stderr)
            return EXIT_FAILURE
        for exc in errors:
            print(f"trio_hedge: cannot start: {type(exc).__name__}: {exc}", file=sys.stderr)
        # a journal that cannot be opened (newer schema, not a journal, unwritable) will not fix itself
        return EXIT_CONFIG if any(isinstance(e, (ConfigError, JournalError)) for e in errors) else EXIT_FAILURE
    print(render_summary(result.summary), flush=True)
    if args.summary_json is not None:
        args.summary_json.write_bytes(orjson.dumps(result.summary, option=orjson.OPT_INDENT_2) + b"\n")
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
