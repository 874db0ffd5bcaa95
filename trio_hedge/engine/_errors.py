"""Engine errors: each one fails a market scope, which then cancels, flattens, and reports why.

Each class carries ``exit_code``, the process exit code it maps to when it ends the run (the contract with
the supervisor: 0 clean and flat, 78 do not restart, 75 venue unreachable, 74 journal down, anything
else restart).
"""

from __future__ import annotations

from ..domain import AuthError, TrioHedgeError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_NOT_FLAT = 3
EXIT_JOURNAL_DOWN = 74
"""EX_IOERR: the journal could not be written during the run (disk full, I/O error, read-only or immutable
file, damage met mid-run). The run stopped taking new risk, hedged what was filled and flattened; a restart
(the supervisor's, after the disk is fixed) begins with reconciliation from the venues."""
EXIT_VENUE_UNREACHABLE = 75
EXIT_CONFIG = 78
EXIT_DO_NOT_RESTART = EXIT_CONFIG
"""78 means "do not restart" to the supervisor: configuration errors, and the loss kill switch (a restart
would reset the PnL it measures and trade on)."""


class EngineError(TrioHedgeError):
    """Base of engine errors."""

    exit_code: int = EXIT_FAILURE


class MarketFailed(EngineError):
    """A market scope cannot go on; its cleanup cancels resting orders and flattens."""


class FeedDown(MarketFailed):
    """A market-data feed stayed disconnected (or its book invalid) past its budget."""

    exit_code = EXIT_VENUE_UNREACHABLE


class BookStale(MarketFailed):
    """A book received no update for longer than its staleness deadline (a silent, half-open feed)."""

    exit_code = EXIT_VENUE_UNREACHABLE


class VenueDown(MarketFailed):
    """The venue's own session is down (its private stream lost past its budget): every market with a leg on
    it halts and flattens (``engine/_portfolio.py``)."""

    exit_code = EXIT_VENUE_UNREACHABLE


class UnresolvedOrder(MarketFailed):
    """An order could not be resolved to a terminal state, by stream or by query, within its deadline."""


class HedgeFailed(MarketFailed):
    """The hedge could not be completed within the slippage cap and attempt budget."""


class ImbalanceExceeded(MarketFailed):
    """|primary + hedge| position stayed beyond tolerance past its grace period."""


class PositionDrift(ImbalanceExceeded):
    """A venue's own position differs from the one tracked from its fills by more than one lot (a fill the
    private stream never delivered, or an order the bot does not know): the market halts and flattens from
    the venue's position."""


class MarketHalted(MarketFailed):
    """A venue refused an order in a way retrying cannot fix (invalid order, insufficient margin)."""


def credentials_fix(venue: str) -> str:
    """What the operator fixes when ``venue`` refuses its credentials (the text of every exit-78 message about
    them; it names no credential value)."""
    return (f"check venue {venue}'s credentials (TRIO_HEDGE_{venue.upper()}_<KEY> or its 0600 secrets_file: the "
            "API key and secret or private key, and for ccxt venues every key the exchange's requiredCredentials "
            "names and the account id in ccxt_options), the key's trading permission and IP allow-list, and the "
            "host clock; then restart by hand")


class CredentialsRefused(MarketHalted):
    """A venue refused the bot's credentials (:class:`~trio_hedge.domain.AuthError`: login, signature, account,
    permission). Retrying or restarting cannot fix it: exit 78 (do not restart), with the venue and what to fix
    in the message. The venue's own message is kept; a credential value never is (venue errors carry none).

    Attributes:
        venue (str): the configured venue name.
    """

    exit_code = EXIT_CONFIG

    def __init__(self, cause: AuthError, doing: str = "") -> None:
        what = f" {doing}" if doing else ""
        super().__init__(f"venue {cause.venue} refused the credentials{what} ({cause.code or 'AuthError'}: "
                         f"{cause.message}). Fix: {credentials_fix(cause.venue)}")
        self.venue = cause.venue


def exit_code_of(exc: BaseException) -> int:
    """The process exit code when ``exc`` ends the run: its ``exit_code`` for our errors, 78 for an
    :class:`~trio_hedge.domain.AuthError` (refused credentials: do not restart), 1 for anything else (a bug)."""
    if isinstance(exc, AuthError):
        return EXIT_CONFIG
    if isinstance(exc, TrioHedgeError):
        return int(getattr(exc, "exit_code", EXIT_FAILURE))
    return EXIT_FAILURE


class LossLimitHit(MarketHalted):
    """The loss kill switch: realized + unrealized PnL reached ``-max_loss``. Exit 78: do not restart."""

    exit_code = EXIT_DO_NOT_RESTART


class JournalDown(MarketFailed):
    """The journal cannot record an intent (``app/_reconcile.py`` ``JournalRecorder``): no new quote and no
    new cycle. Orders that reduce risk (hedges of fills taken, unwinds, the cleanup's flatten) still go out,
    logged with every field and marked unjournaled. Exit 74."""

    exit_code = EXIT_JOURNAL_DOWN


class NotFlat(EngineError):
    """Cleanup could not bring every position to zero within its deadline."""

    exit_code = EXIT_NOT_FLAT
