"""Helpers for the eval tests: one shared browser per module, running single instances, a flaky task."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from actions.base import Action
from actions.computer import LeftClick
from environments.base import Environment
from environments.capabilities import PageAccess, capability
from evals.agents import NoopBackend, OracleBackend
from evals.episode import run_instance
from evals.registry import Suite
from evals.results import InstanceResult
from evals.task import Task, TaskSetupError

# Shorter bounds than the defaults: the pages are local and tests are many.
FAST_BROWSER = {"settle_timeout": 0.5, "settle_delay": 0.02, "navigation_timeout": 10.0}


def browser_for(task_cls: type[Task]) -> Any:
    from environments.browser.driver import BrowserEnvironment, BrowserSettings

    return BrowserEnvironment(BrowserSettings(**{**task_cls.environment_options(), **FAST_BROWSER}))


@pytest.fixture(scope="module")
def desktop_browser() -> Iterator[Any]:
    from evals.miniwob.tasks import DESKTOP_SUITE

    env = browser_for(next(iter(DESKTOP_SUITE.tasks.values())))
    try:
        yield env
    finally:
        env.close()


def run_one(task_cls: type[Task], seed: int, env: Environment, agent: str, out: Path) -> InstanceResult:
    """One instance through the real episode path (Agent loop, parser, mapping, driver, recording)."""
    task = task_cls.from_seed(seed)
    iid = f"{task_cls.name}__{seed}"
    base = InstanceResult(instance_id=iid, suite=task_cls.suite, task=task_cls.name, difficulty=task_cls.difficulty,
                          index=0, seed=seed, agent=agent, outcome="error")
    factory = (lambda t, e: OracleBackend(t, e)) if agent == "oracle" else (lambda t, e: NoopBackend())
    return run_instance(task, env, factory, base, out / iid, out)


class FlakyClickTask(Task):
    """A one-button page whose setup fails the first time per marker folder: the runner must record an
    error, and a rerun must retry it. The marker folder is set by the test."""

    name = "flaky-click"
    suite = "test-flaky"
    template = "Click the Done button."
    max_steps = 4
    marker_dir: ClassVar[Path | None] = None

    @classmethod
    def environment_options(cls) -> dict[str, Any]:
        return {"viewport_width": 400, "viewport_height": 300}

    @classmethod
    def create_environment(cls, overrides: dict[str, Any]) -> Environment:
        from environments.browser.driver import BrowserEnvironment, BrowserSettings

        return BrowserEnvironment(BrowserSettings(**{**cls.environment_options(), **FAST_BROWSER, **overrides}))

    def setup(self, env: Environment) -> None:
        assert self.marker_dir is not None
        marker = self.marker_dir / "failed-once"
        if not marker.exists():
            marker.touch()
            raise TaskSetupError("the test's first setup fails on purpose")
        done_button(env)

    def score(self, env: Environment) -> float:
        return float(capability(env, PageAccess, "the test's task").page().evaluate("() => window.clicked === 1"))

    def oracle(self, env: Environment) -> Iterator[Action]:
        yield LeftClick(coordinate=(200, 140))


def done_button(env: Environment) -> None:
    capability(env, PageAccess, "the test's task").page().set_content(
        "<button id=b style='position:absolute;left:150px;top:120px;width:100px;height:40px' "
        "onclick='window.clicked=1'>Done</button>")


class BrokenEnvironmentTask(FlakyClickTask):
    """Its environment cannot even be created: the worker must record the instance and go on."""

    name = "broken-environment"

    @classmethod
    def create_environment(cls, overrides: dict[str, Any]) -> Environment:
        raise RuntimeError("this environment is broken on purpose")


class CrashingOracleTask(FlakyClickTask):
    """Its oracle script raises after one action, as a script meeting a page it did not expect does."""

    name = "crashing-oracle"

    def setup(self, env: Environment) -> None:
        if self.marker_dir is not None:
            (self.marker_dir / "failed-once").touch()
        super().setup(env)

    def oracle(self, env: Environment) -> Iterator[Action]:
        yield LeftClick(coordinate=(10, 10))
        raise LookupError("no #submit on the page")


class BrokenScoreTask(CrashingOracleTask):
    """Its oracle solves it, but its score cannot be read, as when the page's state is not what the task
    expects: the instance cannot be judged."""

    name = "broken-score"

    def oracle(self, env: Environment) -> Iterator[Action]:
        yield LeftClick(coordinate=(200, 140))

    def score(self, env: Environment) -> float:
        return {"clicked": 1.0}["reward"]  # a bug of the task's: a KeyError


FLAKY_SUITE = Suite("test-flaky", "tasks that fail outside the agent",
                    {t.name: t for t in (FlakyClickTask, BrokenEnvironmentTask)})
# Tasks whose own code breaks after a good setup: an oracle script that raises, a score that raises.
BROKEN_SUITE = Suite("test-broken", "tasks whose oracle or score raises",
                     {t.name: t for t in (CrashingOracleTask, BrokenScoreTask)})
