"""GRVT venue: the Trio adapter (the protocol it speaks is :mod:`trio_hedge.protocols.grvt`)."""

from ._adapter import GrvtAccountSummary as GrvtAccountSummary
from ._adapter import GrvtSettings as GrvtSettings
from ._adapter import GrvtVenue as GrvtVenue
from ._adapter import open_grvt_venue as open_grvt_venue
from ._adapter import parse_account_summary as parse_account_summary

__all__ = [
    "GrvtAccountSummary",
    "GrvtSettings",
    "GrvtVenue",
    "open_grvt_venue",
    "parse_account_summary",
]
