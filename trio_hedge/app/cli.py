"""Command line: ``python -m trio_hedge [--config PATH] [--set key.path=value ...] [--summary-json PATH]
[--no-live]``, ``python -m trio_hedge sim [...]`` (the simulated venues as wire-protocol servers, see
``_simcmd``), and the operator's read-only commands ``python -m trio_hedge report [--journal PATH] [--out DIR]
[--run N]`` (``_reportcmd``) and ``python -m trio_hedge status [--journal PATH]`` (``_statuscmd``).

The run shows a live status view (``_live.py``) when stdout is a terminal, unless ``--no-live``; otherwise
(tests, CI, a supervisor's log file) plain log lines. SIGUSR1 pauses the bot (no new quotes; fills are still
hedged), SIGUSR2 resumes it (``_ops.py``).

Without ``--config`` it reads ``./config.toml`` when present, else the built-in defaults (the same values:
the shipped ``config.toml`` is checked against them by a test). Exit codes: 0 clean and flat, 78
configuration error (the message names the key and the fix), credentials a venue refused (the message names the
venue and what to check), a second instance on the same journal, or the crash-loop breaker; 75 venue or feed
unreachable; 3 not flat at exit; 1 other failures (``_process.py``).

``python -m trio_hedge journal check|backup|salvage --journal PATH``: the journal tools (``_journalcmd``).

Before the event loop starts: the single-instance locks on ``<resolved journal.path>.lock`` and on every live
venue account (a second instance on either exits 78, naming the running one's pid), the stop budget checked
against the supervisor's ``stopwaitsecs`` (``TRIO_HEDGE_STOPWAITSECS``), and under a supervisor
(``--supervised``, ``TRIO_HEDGE_SUPERVISED=1`` or supervisord's ``SUPERVISOR_ENABLED``)
``prctl(PR_SET_PDEATHSIG, SIGINT)`` so the bot stops gracefully if its supervisor dies.
The SIGINT/SIGTERM receiver is the first thing the trio run installs (``run_bot``); a SIGINT before it (while
starting up) ends the process with exit 0 before anything was sent.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

import orjson
import trio

from .._redact import redact
from ..domain import AuthError, TrioHedgeError, leaves
from ..engine import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, credentials_fix
from ._config import Config, ConfigError, load_config
from ._journal import JournalError
from ._logging import flush_logs, register_secret, setup_logging
from ._process import (
    SecondInstance,
    account_id,
    account_lock_dir,
    acquire_process_locks,
    is_supervised,
    set_parent_death_signal,
)
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
    if argv[:1] == ["journal"]:
        from ._journalcmd import main as journal_main

        return journal_main(argv[1:])
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
        locks = acquire_process_locks(config.journal.lock_path, live_accounts(config),
                                      account_lock_dir(config.journal.account_lock_dir))
    except SecondInstance as exc:
        print(f"trio_hedge: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:
        print(f"trio_hedge: configuration error: cannot create an instance lock ({exc.filename}): "
              f"{exc.strerror}. Fix: set journal.path (and journal.account_lock_dir) to a writable place",
              file=sys.stderr)
        return EXIT_CONFIG
    problem = stop_budget_problem(config, os.environ.get(STOPWAITSECS_ENV))
    if problem is not None:
        locks.close()
        print(f"trio_hedge: configuration error: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    with locks:
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


STOPWAITSECS_ENV = "TRIO_HEDGE_STOPWAITSECS"
"""The supervisor's ``stopwaitsecs`` (``scripts/supervisord.conf`` sets it in the program's environment): the
stop budget is checked against it at start."""

STOP_MARGIN_S = 2.0
"""Head room kept between the stop budget and the supervisor's SIGKILL (process exit, log flush), seconds."""


def stop_budget_problem(config: Config, stopwaitsecs: str | None) -> str | None:
    """Why ``[run] stop_budget_ms`` does not fit the supervisor's ``stopwaitsecs`` (with
    :data:`STOP_MARGIN_S` to spare), or None when it fits or no ``stopwaitsecs`` is known."""
    if not stopwaitsecs:
        return None
    try:
        wait_s = float(stopwaitsecs)
    except ValueError:
        return f"{STOPWAITSECS_ENV}={stopwaitsecs!r} is not a number of seconds. Fix: set it to stopwaitsecs"
    if config.run.stop_budget_s + STOP_MARGIN_S > wait_s:
        return (f"run.stop_budget_ms ({config.run.stop_budget_s * 1000:.0f}) + {STOP_MARGIN_S:.0f} s does not fit the "
                f"supervisor's stopwaitsecs ({wait_s:g}): it would SIGKILL the bot mid-cleanup. Fix: raise "
                "stopwaitsecs in the supervisor's config, or lower run.stop_budget_ms")
    return None


def live_accounts(config: Config) -> list[str]:
    """The lock name of every live venue account (:func:`~trio_hedge.app._process.account_id`)."""
    out = []
    for vc in config.venues.values():
        if vc.live is None:
            continue
        url = vc.live.urls.get("trades_url") or vc.live.urls.get("rest_url") or next(iter(vc.live.urls.values()))
        out.append(account_id(vc.kind, url, vc.live.sub_account_id, vc.live.api_key))
    return out


def _ignore_late_signals() -> None:
    """The run is over (its exit decided and recorded): a SIGINT/SIGTERM from now on (a second Ctrl-C that
    came a moment too late) must not turn the exit code into a death by signal while the summary is printed.
    Set inside the trio run, after its signal receiver is gone (trio leaves a handler it did not install)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


def hard_exit(reason: str) -> None:
    """The hard stop (a third signal, or the stop past its budget): from a timer thread, end the process now
    with exit 1 (a crash to the supervisor: the next start reconciles)."""
    try:
        sys.stderr.write(f"trio_hedge: HARD STOP: {reason}; exiting now (exit {EXIT_FAILURE}); the next start "
                         "reconciles the journal with the venues\n")
        sys.stderr.flush()
    finally:
        os._exit(EXIT_FAILURE)


def _run_locked(args: argparse.Namespace, config: Config) -> int:
    setup_logging(config.log.level, file=config.log.file)

    errors: list[BaseException] = []
    trading: list[bool] = []

    async def go() -> RunResult | None:
        try:
            return await run_bot(config, handle_signals=True, journal_path=config.journal.path,
                                 live_view=not args.no_live and sys.stdout.isatty(), hard_exit=hard_exit,
                                 on_trading=lambda: trading.append(True))
        except* TrioHedgeError as eg:
            # Failures inside a market scope come back in the result; what is raised failed outside them:
            # before trading could start (a recording that cannot be read, a venue that refuses the session,
            # the journal) or after it (the exit steps).
            errors.extend(leaves(eg))
        finally:
            _ignore_late_signals()
            with trio.CancelScope(shield=True):
                await flush_logs()
        return None

    result = trio.run(go)
    if result is None:
        when = "failed while running" if trading else "cannot start"
        for exc in errors:
            print(f"trio_hedge: {when}: {type(exc).__name__}: {redact(str(exc))}", file=sys.stderr)
        # refused credentials (a venue's AuthError, at its session's start or later) will not fix themselves
        refused = sorted({e.venue for e in errors if isinstance(e, AuthError)})
        for venue in refused:
            print(f"trio_hedge: venue {venue} refused the credentials. Fix: {credentials_fix(venue)} "
                  f"(exit {EXIT_CONFIG}: not restarted)", file=sys.stderr)
        if trading:
            print("trio_hedge: the market scopes had cleaned up (cancel, flatten); no exit summary: check the "
                  "venues' positions and the log", file=sys.stderr)
            return EXIT_CONFIG if refused else EXIT_FAILURE
        # a journal that cannot be opened (newer schema, not a journal, unwritable) will not fix itself
        fatal = refused or any(isinstance(e, (ConfigError, JournalError)) for e in errors)
        return EXIT_CONFIG if fatal else EXIT_FAILURE
    print(render_summary(result.summary), flush=True)
    if args.summary_json is not None:
        args.summary_json.write_bytes(orjson.dumps(result.summary, option=orjson.OPT_INDENT_2) + b"\n")
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
