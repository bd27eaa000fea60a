"""Commands that other packages add to `python -m agent`, found through the `agent.commands` entry points.

evals/ builds on agent's loop, so agent/ never imports evals/: the `eval` command is declared in pyproject.toml
and loaded from there, and the parser and the replay of an eval's episode reach it only through `Command`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import Any

ENTRY_POINT_GROUP = "agent.commands"

# (args, recording header, recorded answers, recorded finish reasons) -> exit code
Replayer = Callable[[argparse.Namespace, dict[str, Any], list[str], list[str | None]], int]


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    # Its runs are episodes: SIGTERM ends them as Ctrl-C does, so each records how it ended.
    runs_episodes: bool = False
    # Replays a recording whose header has a key of this command's name (an eval's episode names its suite there).
    replay: Replayer | None = None


@cache  # the installed entry points stay as they are for the process: the parser and a replay both ask
def plugin_commands() -> dict[str, Command]:
    """Every installed command, by name. An entry point that does not name a `Command` is a packaging bug."""
    found: dict[str, Command] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        command = ep.load()
        if not isinstance(command, Command) or command.name != ep.name:
            raise TypeError(f"entry point {ep.name} = {ep.value} in group {ENTRY_POINT_GROUP} must name a "
                            f"Command called {ep.name!r}, got {command!r}")
        found[ep.name] = command
    return found
