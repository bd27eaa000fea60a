"""Each instance's own log, `instances/<id>/instance.log`: what its worker logged while running it, at every
level, with whole tracebacks (setup and scoring failures, a crashing oracle script, a crash of the runner).

The console gets one line per instance that ended in error; the traceback is for whoever debugs the task, so
it goes here. Every attempt is appended under its own heading: a rerun retries an instance that ended in
error, and the tracebacks of the tries before stay beside the new one.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

from loguru import logger

LOG_FILE = "instance.log"
_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} {level: <7} {name}:{line} {message}"


@contextlib.contextmanager
def instance_log(path: Path, attempt: int) -> Iterator[None]:
    """While entered, the calling thread's log records are appended to `path` (other workers' are not)."""
    thread = threading.get_ident()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as stream:
        # A stream, not a path: loguru would read braces in a path as its own placeholders.
        # diagnose=False: no variable values in tracebacks, as on the console (they can hold a secret).
        sink = logger.add(stream, level="DEBUG", format=_FORMAT, diagnose=False, backtrace=False,
                          filter=lambda record: record["thread"].id == thread)
        try:
            logger.debug("attempt {} of {}", attempt, path.parent.name)
            yield
        finally:
            logger.remove(sink)


def first_line(text: str) -> str:
    """A message's first line, for a result's one-line reason (a driver's error can run to many lines)."""
    lines = text.strip().splitlines()
    return lines[0] if lines else ""
