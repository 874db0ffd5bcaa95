"""App layer: configuration, command line, logging, run summary, and the main job."""

from ._config import Config as Config
from ._config import ConfigError as ConfigError
from ._config import load_config as load_config
from ._logging import register_secret as register_secret
from ._logging import setup_logging as setup_logging
from ._report import build_summary as build_summary
from ._run import RunResult as RunResult
from ._run import run_bot as run_bot

__all__ = ["Config", "ConfigError", "RunResult", "build_summary", "load_config", "register_secret", "run_bot",
           "setup_logging"]
