"""Command line: ``python -m trio_hedge [--config PATH] [--set key.path=value ...] [--summary-json PATH]
[--no-live]``, ``python -m trio_hedge sim [...]`` (the simulated venues as wire-protocol servers, see
``_simcmd``), and the operator's read-only commands ``python -m trio_hedge report [--journal PATH] [--out DIR]
[--run N]`` (``_reportcmd``) and ``python -m trio_hedge status [--journal PATH]`` (``_statuscmd``).

The run shows a live status view (``_live.py``) when stdout is a terminal, unless ``--no-live``; otherwise
(tests, CI, a supervisor's log file) plain log lines. SIGUSR1 pauses the bot (no new quotes; fills are still
hedged), SIGUSR2 resumes it (``_ops.py``).

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

from ..domain import TrioHedgeError
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
    p.add_argument("--no-live", action="store_true",
                   help="no live status view (it is shown only when stdout is a terminal): plain log lines")
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
    if argv[:1] == ["venues"]:
        return venues_main(argv[1:])
    operator = _operator_command(argv)
    if operator is not None:
        return operator
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


# --- operator commands (issue 14): read the journal only, never take the instance lock -----------------
def venues_main(argv: list[str]) -> int:
    """``python -m trio_hedge venues [--all]``: the ccxt exchanges that have what the bot needs (``kind = "ccxt"``),
    each with the credentials ccxt requires, the REST fallbacks it would run on and what its ccxt description does
    not say; ``--all`` lists the others too, with what each lacks. Offline: read from ccxt's class attributes."""
    import argparse

    from ..venues.ccxt._survey import survey

    p = argparse.ArgumentParser(prog="python -m trio_hedge venues", description=venues_main.__doc__)
    p.add_argument("--all", action="store_true", help="also list the exchanges that lack something, and what")
    args = p.parse_args(argv)
    fits = survey()
    ok = [f for f in fits if f.fits]
    print(f"ccxt exchanges the bot can trade (kind = \"ccxt\", ccxt_id = ...): {len(ok)} of {len(fits)}")
    for f in ok:
        notes = [*f.fallbacks, *(f"not declared: {u}" for u in f.unknown)]
        print(f"  {f.ccxt_id:<16} credentials: {', '.join(f.credentials) or '-'}"
              f"{'; ' + '; '.join(notes) if notes else ''}")
    if args.all:
        print("lacking something the bot needs:")
        for f in fits:
            if not f.fits:
                print(f"  {f.ccxt_id:<16} lacks: {', '.join(f.lacks)}")
    return EXIT_OK


def _operator_command(argv: list[str]) -> int | None:
    """``report`` and ``status`` (``_reportcmd.py``, ``_statuscmd.py``); None for any other command."""
    if argv[:1] == ["report"]:
        from ._reportcmd import main as report_main

        return report_main(argv[1:])
    if argv[:1] == ["status"]:
        from ._statuscmd import main as status_main

        return status_main(argv[1:])
    return None


def _run_locked(args: argparse.Namespace, config: Config) -> int:
    setup_logging(config.log.level, file=config.log.file)

    startup_errors: list[BaseException] = []

    async def go() -> RunResult | None:
        try:
            return await run_bot(config, handle_signals=True, journal_path=config.journal.path,
                                 live_view=not args.no_live and sys.stdout.isatty())
        except* TrioHedgeError as eg:
            # Raised before trading could start (a recording that cannot be read, a venue that refuses
            # the session): nothing was sent.
            startup_errors.extend(eg.exceptions)
        finally:
            with trio.CancelScope(shield=True):
                await flush_logs()
        return None

    result = trio.run(go)
    if result is None:
        exc = startup_errors[0]
        print(f"trio_hedge: cannot start: {type(exc).__name__}: {exc}", file=sys.stderr)
        # a journal that cannot be opened (newer schema, not a journal, unwritable) will not fix itself
        return EXIT_CONFIG if isinstance(exc, (ConfigError, JournalError)) else EXIT_FAILURE
    print(render_summary(result.summary), flush=True)
    if args.summary_json is not None:
        args.summary_json.write_bytes(orjson.dumps(result.summary, option=orjson.OPT_INDENT_2) + b"\n")
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
