"""App layer: configuration, command line, logging, run summary, and the main job."""

from ._config import Config as Config
from ._config import ConfigError as ConfigError
from ._config import load_config as load_config
from ._journal import SCHEMA_VERSION as SCHEMA_VERSION
from ._journal import AsyncJournal as AsyncJournal
from ._journal import DuplicateIntent as DuplicateIntent
from ._journal import IntentRow as IntentRow
from ._journal import Journal as Journal
from ._journal import JournalError as JournalError
from ._journal import JournalSchemaError as JournalSchemaError
from ._journal import open_async_journal as open_async_journal
from ._logging import register_secret as register_secret
from ._logging import setup_logging as setup_logging
from ._report import build_summary as build_summary
from ._run import RunResult as RunResult
from ._run import run_bot as run_bot

__all__ = [
    "SCHEMA_VERSION",
    "AsyncJournal",
    "Config",
    "ConfigError",
    "DuplicateIntent",
    "IntentRow",
    "Journal",
    "JournalError",
    "JournalSchemaError",
    "RunResult",
    "build_summary",
    "load_config",
    "open_async_journal",
    "register_secret",
    "run_bot",
    "setup_logging",
]
