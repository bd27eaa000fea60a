"""The project's log lines: off when it is used as a library (loguru's rule for libraries: the application
decides), on in the command line."""

from __future__ import annotations

import importlib
import sys

from loguru import logger

# Each of these disables its own logs when first imported (its __init__), so a library user sees none.
PACKAGES = ("agent", "actions", "environments", "prompts", "evals")


def enable_logs() -> None:
    """Turn on the log lines of every package of the project; where they go is loguru's sinks' business."""
    for name in PACKAGES:
        importlib.import_module(name)  # its first import disables its logs: let that happen before enabling
        logger.enable(name)


def stderr_sink(message: str) -> None:
    """The command line's sink: whatever sys.stderr is at the moment. While a rich live display (a status line,
    a progress bar) is on the terminal, rich puts a proxy there that prints each line above the display; a
    sink holding the stream it was given at the start would write into the display's line instead."""
    sys.stderr.write(message)
    sys.stderr.flush()
