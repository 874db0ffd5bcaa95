"""Backpack venue: the Trio adapter (the protocol it speaks, ED25519 signing included, is
:mod:`trio_hedge.protocols.backpack`)."""

from ._adapter import BackpackSettings as BackpackSettings
from ._adapter import BackpackVenue as BackpackVenue
from ._adapter import open_backpack_venue as open_backpack_venue

__all__ = [
    "BackpackSettings",
    "BackpackVenue",
    "open_backpack_venue",
]
