"""Configuration: TOML file + ``--set key.path=value`` overrides → validated, typed settings.

Every error is a :class:`ConfigError` naming the key, what is wrong, and the fix; the CLI turns it into
exit code 78 (do not restart). Unknown keys are errors too: a typo in a risk limit must not silently fall
back to a default.

Decimal values (prices, sizes, bps) must be written as strings (``order_size = "0.002"``) or integers: a
TOML float has already lost its decimal form. ``--set`` values are read as TOML literals, except that a
value which would read as a float is kept as its original text so Decimal keys get it exactly.

Modules: ``_types`` (:class:`ConfigError` and the dataclasses), ``_defaults`` (the raw tree's defaults),
``_tree`` (merging a file and ``--set``), ``_readers`` (typed readers), ``_venues`` (``[venues.<name>]``),
``_sections`` (metrics, alerts, journal, run), ``_build`` (:func:`build_config`, :func:`load_config`).
"""

from ._build import build_config, load_config
from ._defaults import CYCLE_MODES, DEFAULTS, TIMEOUT_DEFAULTS
from ._types import (
    DATA_DIR,
    AlertsConfig,
    CcxtVenueConfig,
    Config,
    ConfigError,
    JournalConfig,
    LiveVenueConfig,
    LogConfig,
    MetricsConfig,
    RunConfig,
    SimConfig,
    SimVenueConfig,
    VenueConfig,
)
from ._venues import CCXT_SIMULATORS, LIVE_DEFAULTS, ccxt_env_name

__all__ = [
    "CCXT_SIMULATORS", "CYCLE_MODES", "DATA_DIR", "DEFAULTS", "LIVE_DEFAULTS", "TIMEOUT_DEFAULTS", "AlertsConfig",
    "CcxtVenueConfig", "Config", "ConfigError", "JournalConfig", "LiveVenueConfig", "LogConfig", "MetricsConfig",
    "RunConfig", "SimConfig", "SimVenueConfig", "VenueConfig", "build_config", "ccxt_env_name", "load_config",
]
