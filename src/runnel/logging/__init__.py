"""Console and stored logging of runs: ``HH:MM:SS.mmm | LEVEL   | Flow run 'x' - message``."""

from runnel.logging.setup import ConsoleHandler, RunFormatter, StoreHandler, configure_logging

__all__ = ["ConsoleHandler", "RunFormatter", "StoreHandler", "configure_logging"]
