"""The in-process simulator venue (implements the venue interface over ``trio_hedge.sim``)."""

from ._venue import SimVenue as SimVenue
from ._venue import SimVenueSettings as SimVenueSettings
from ._venue import open_sim_venue as open_sim_venue

__all__ = ["SimVenue", "SimVenueSettings", "open_sim_venue"]
