"""Suites by name, imported only when asked for: a suite's module (and its driver) loads on first use."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass

from agent.cli_flags import UsageError
from evals.task import Task

# Suite name -> "module:attribute" of a `Suite` object. Importing this file imports no suite.
SUITES: dict[str, str] = {
    "miniwob": "evals.miniwob.tasks:DESKTOP_SUITE",
    "miniwob-mobile": "evals.miniwob.tasks:MOBILE_SUITE",
    "phone": "evals.phone.tasks:PHONE_SUITE",
    "android": "evals.phone.tasks:ANDROID_SUITE",
}


class UnknownSuiteError(UsageError):
    """A suite or task name that is not registered; the message lists the known ones."""


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    tasks: dict[str, type[Task]]

    def select(self, names: Sequence[str] | None = None) -> list[type[Task]]:
        """The named tasks in the order given (all, sorted, when None); unknown names are one clear error."""
        if not names:
            return [self.tasks[n] for n in sorted(self.tasks)]
        unknown = [n for n in names if n not in self.tasks]
        if unknown:
            raise UnknownSuiteError(
                f"unknown task(s) {', '.join(map(repr, unknown))} in suite {self.name!r}; known tasks: "
                + ", ".join(sorted(self.tasks))
            )
        return [self.tasks[n] for n in dict.fromkeys(names)]


def get_suite(name: str) -> Suite:
    target = SUITES.get(name)
    if target is None:
        raise UnknownSuiteError(f"unknown suite {name!r}; known suites: {', '.join(SUITES)}")
    module, _, attr = target.partition(":")
    suite = getattr(importlib.import_module(module), attr)
    if not isinstance(suite, Suite):
        raise TypeError(f"{target} is not a Suite")
    return suite


def all_tasks() -> list[type[Task]]:
    """Every registered task of every suite (imports them all)."""
    return [t for name in SUITES for t in get_suite(name).tasks.values()]
