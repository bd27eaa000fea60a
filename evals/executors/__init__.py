"""How an eval's instances are dispatched: `threads` (worker threads of this process, the default) or `ray`
(tasks on a Ray cluster). Everything else, planning, attempts, result files, progress, Ctrl-C and the summary,
is the runner's (evals/runner.py) and the same for both.

An executor only moves `Job`s to where they run (each ends in `evals.attempt.run_job` there) and hands the
results back; this module imports neither threads' nor Ray's code, and Ray is imported only when asked for.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Protocol

from agent.cli_flags import UsageError
from evals.attempt import Job
from evals.results import InstanceResult

RAY_INSTALL = "pip install 'qwen-gui-agent[ray]'"


class Executor(Protocol):
    def start(self, jobs: Sequence[Job]) -> None:
        """Begin running `jobs`; returns at once."""

    def results(self, timeout: float) -> list[InstanceResult]:
        """Results recorded since the last call, waiting up to `timeout` seconds for the first."""

    def active(self) -> bool:
        """Whether results may still come (instances running or waiting to start)."""

    def running(self) -> int:
        """How many instances (or workers) are busy now, for what the runner tells the user."""

    def stop_scheduling(self) -> None:
        """Start no more instances; those in progress go on."""

    def stop_episodes(self) -> None:
        """End the episodes in progress before their next step (recorded as interrupted)."""

    def close(self) -> None:
        """Release what the executor holds (its threads are done by then; a cluster connection)."""


def require_ray() -> None:
    """A clear error, before anything runs, where Ray is not installed."""
    if importlib.util.find_spec("ray") is None:
        raise UsageError(f"--executor ray needs Ray, which is not installed; install it with `{RAY_INSTALL}` "
                         "(or `pip install 'ray>=2.40,<3'`), or leave out --executor to run on threads")
