"""The process contract with the supervisor: exit codes, the single-instance lock, orphan protection, and the
crash-loop breaker (``docs/supervisord.md``; supervisord 4.3's ``autorestart``/``exitcodes``/``startretries``,
http://supervisord.org/configuration.html).

Exit codes (``scripts/supervisord.conf`` has ``autorestart=unexpected`` and ``exitcodes=0,78``):

====  ==================================================================  ==================
code  meaning                                                             supervisor
====  ==================================================================  ==================
0     clean stop (end of cycles, SIGINT/SIGTERM, end of data), flat       none
78    configuration error, a second instance, a damaged journal, the      no restart (FATAL
      crash-loop breaker fired (EX_CONFIG), or the loss kill switch       after startsecs)
75    a venue cannot be read or reached (EX_TEMPFAIL)                     restart
74    the journal failed during the run (EX_IOERR): no new risk, fills     restart (a crash to
      hedged, cleanup flattened                                           the breaker)
3     not flat at exit; 1 a crash                                         restart
====  ==================================================================  ==================

Single instance: :func:`acquire_instance_lock` takes an exclusive ``fcntl.flock`` on ``<journal>.lock`` (the
journal's resolved path, ``os.path.realpath``: a symlink to a running bot's journal meets its lock) and
:func:`acquire_process_locks` one more per live venue account (:func:`account_id`: venue, account or
sub-account id, a fingerprint of the key) in :func:`account_lock_dir`; the kernel releases them when the
process dies (``kill -9`` included), so a stale lock file never blocks a restart. A second instance on the
same journal or on the same account, whichever journal it uses, gets :class:`SecondInstance` naming the
running one's pid (exit 78): two bots on one account would trade against each other's orders and reconcile
each other's intents away.

Orphans: when supervisord itself is killed the bot survives with PPID 1, and a restarted supervisord would
start a second one (the lock stops it, but the orphan keeps trading unsupervised). Under a supervisor,
:func:`set_parent_death_signal` asks the kernel (``prctl(PR_SET_PDEATHSIG, SIGINT)``, Linux) to send SIGINT
when the parent dies: the bot then stops gracefully (cancel, flatten, exit 0).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import hashlib
import os
import re
import signal
import sys
import tempfile
import urllib.parse
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from ..domain import TrioHedgeError
from ..engine import EXIT_CONFIG, EXIT_FAILURE, EXIT_NOT_FLAT, EXIT_OK, EXIT_VENUE_UNREACHABLE

__all__ = [
    "EXIT_CONFIG",
    "EXIT_FAILURE",
    "EXIT_NOT_FLAT",
    "EXIT_OK",
    "EXIT_VENUE_UNREACHABLE",
    "SUPERVISED_ENV",
    "CrashLoop",
    "InstanceLock",
    "SecondInstance",
    "account_id",
    "account_lock_dir",
    "acquire_instance_lock",
    "acquire_process_locks",
    "crash_loop_tripped",
    "is_supervised",
    "set_parent_death_signal",
]

SUPERVISED_ENV: Final = "TRIO_HEDGE_SUPERVISED"
"""Set to 1 to declare the process supervised (``--supervised`` does the same). supervisord's own
``SUPERVISOR_ENABLED=1`` (set in every child's environment) counts too."""

_PR_SET_PDEATHSIG: Final = 1  # <linux/prctl.h>


class SecondInstance(TrioHedgeError):
    """Another process holds the journal's lock (exit 78: do not restart; one bot per account)."""

    exit_code = EXIT_CONFIG


class CrashLoop(TrioHedgeError):
    """The crash-loop breaker fired (exit 78: stay down and alert)."""

    exit_code = EXIT_CONFIG


@dataclass(slots=True)
class InstanceLock:
    """A held single-instance lock. :meth:`release` (or process exit) frees it."""

    path: Path
    _file: IO[bytes] | None

    def release(self) -> None:
        """Unlock and close (idempotent). The file itself stays (removing it would race a new locker)."""
        f, self._file = self._file, None
        if f is not None:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)
            finally:
                f.close()

    def __enter__(self) -> InstanceLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def acquire_instance_lock(path: Path, what: str = "") -> InstanceLock:
    """Take the exclusive, non-blocking ``flock`` on ``path`` (created 0600 if missing; its directory too).

    The holder's pid is written into the file for people (the lock itself is the flock, not the content).

    Raises:
        SecondInstance: another process (or another open of the file in this process) holds it.
        OSError: the file cannot be created.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    f = os.fdopen(fd, "r+b", buffering=0)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = f.read(32).decode("ascii", "replace").strip() or "?"
        f.close()
        if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
            raise SecondInstance(f"another trio_hedge instance (pid {holder}) holds {path}"
                                 f"{f' ({what})' if what else ''}: one bot per account. Stop it first (kill -INT "
                                 f"{holder}), or configure another account") from None
        raise
    f.truncate(0)
    f.write(f"{os.getpid()}\n".encode())
    return InstanceLock(path, f)


def account_lock_dir(configured: Path | None = None) -> Path:
    """Where the per-account locks live: ``configured``, else ``$XDG_RUNTIME_DIR/trio_hedge``, else
    ``<tempdir>/trio_hedge-<uid>`` (one directory per user: bots of one account run as one user)."""
    if configured is not None:
        return configured
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "trio_hedge"
    return Path(tempfile.gettempdir()) / f"trio_hedge-{os.getuid()}"


def account_id(kind: str, url: str, sub_account_id: str, api_key: str) -> str:
    """A live venue account's lock name: the venue kind and host, the account or sub-account id, and a
    fingerprint of the API key (the first 16 hex digits of its SHA-256; never the key itself), e.g.
    ``grvt-edge.grvt.io-1234-9f86d081884c7d65``. Two bots with the same key on the same venue host get the same
    name, whichever journal they use."""
    host = urllib.parse.urlsplit(url).netloc or url
    fp = hashlib.sha256(api_key.encode()).hexdigest()[:16]
    raw = f"{kind}-{host}-{sub_account_id or 'account'}-{fp}"
    return re.sub(r"[^A-Za-z0-9._-]", "_", raw)


def acquire_process_locks(journal_lock: Path, accounts: list[str], lock_dir: Path) -> ExitStack:
    """The single-instance locks of one bot: the journal's (on its resolved path) and one per live venue
    account (``<lock_dir>/<account_id>.lock``). Returns an ExitStack that releases them all.

    Raises:
        SecondInstance: one of them is held; the message names the holder's pid and the account or journal.
        OSError: a lock file cannot be created.
    """
    stack = ExitStack()
    try:
        stack.enter_context(acquire_instance_lock(journal_lock, "the journal"))
        for acct in accounts:
            stack.enter_context(acquire_instance_lock(lock_dir / f"{acct}.lock", f"venue account {acct}"))
    except BaseException:
        stack.close()
        raise
    return stack


def is_supervised(flag: bool = False, env: dict[str, str] | None = None) -> bool:
    """True when ``flag`` (``--supervised``), ``TRIO_HEDGE_SUPERVISED=1`` or supervisord's
    ``SUPERVISOR_ENABLED`` says a supervisor runs this process."""
    env = dict(os.environ) if env is None else env
    return flag or env.get(SUPERVISED_ENV, "") not in ("", "0") or bool(env.get("SUPERVISOR_ENABLED"))


def set_parent_death_signal(sig: int = signal.SIGINT) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux ``prctl``; no-op elsewhere).

    If the parent is already gone when this runs (the race the man page warns about: prctl(2)
    "PR_SET_PDEATHSIG"), ``sig`` is sent to ourselves at once.

    Returns:
        bool: True when the signal is armed (Linux), False where unsupported.
    """
    if not sys.platform.startswith("linux"):
        return False
    parent = os.getppid()
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_PDEATHSIG) failed: {os.strerror(err)}")
    if os.getppid() != parent:
        os.kill(os.getpid(), sig)
    return True


def crash_loop_tripped(crashes: int, max_crashes: int) -> bool:
    """The breaker rule (``docs/supervisord.md``): ``crashes`` recent crashes (``Journal.crashes_since``
    over the window) at or above ``max_crashes`` -> do not run (exit 78)."""
    return crashes >= max_crashes
