"""The task API: one small class per task template, scored from the environment's real state.

A task is a goal template with typed parameters drawn deterministically from a seed, a `setup` that puts
the environment into the task's starting state, a `score` in [0, 1] read from that environment (never
from what the agent claims), and a `teardown`. Everything else (the agent, its recording, the success
rule) lives in `evals.episode`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from actions.base import Action
from environments.base import Environment

Difficulty = Literal["easy", "medium", "hard"]
DIFFICULTIES: tuple[Difficulty, ...] = ("easy", "medium", "hard")
# An episode counts as a success when the score reaches this and the agent stopped by itself.
SUCCESS_THRESHOLD = 1.0


class TaskParams(BaseModel):
    """Base of every task's parameters: frozen, JSON-able, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# A task's parameters type: `Task[P]` has `self.params: P`.
P = TypeVar("P", bound=TaskParams)


class TaskSetupError(RuntimeError):
    """The environment could not be brought into the task's starting state: the instance is an error
    (retried on resume), not a failure of the agent."""


class Task(Generic[P]):
    """Base class of task templates, generic in the parameters' type (`class AddContact(PhoneTask[ContactParams])`,
    with `Params = ContactParams`). Subclasses set the class attributes and implement setup/score.

    `environment` names the driver the task runs on ("browser", "android") and `environment_options()`
    its settings; the runner keeps one environment per distinct pair and reuses it across instances.
    """

    name: ClassVar[str]
    suite: ClassVar[str]
    apps: ClassVar[tuple[str, ...]] = ()
    difficulty: ClassVar[Difficulty] = "easy"
    max_steps: ClassVar[int] = 10
    template: ClassVar[str]
    Params: ClassVar[type[TaskParams]] = TaskParams
    environment: ClassVar[str] = "browser"
    # True when the goal text comes from the environment after setup (MiniWoB's utterance), so the
    # template is only a frame around it.
    goal_from_environment: ClassVar[bool] = False
    # True when the goal is a question: the agent is then offered `answer` (the checkpoints' tools have none).
    asks_question: ClassVar[bool] = False

    def __init__(self, params: P) -> None:
        if not isinstance(params, self.Params):
            raise TypeError(f"{self.name} takes {self.Params.__name__}, got {type(params).__name__}")
        self.params: P = params

    # -- parameters and goal

    @classmethod
    def generate_params(cls, seed: int) -> P:
        """Parameters drawn from `seed` alone (the same seed always gives the same parameters)."""
        return cls.Params()

    @classmethod
    def from_seed(cls, seed: int) -> Task[P]:
        return cls(cls.generate_params(seed))

    @classmethod
    def environment_options(cls) -> dict[str, Any]:
        """Settings fields for the environment factory (viewport, serial, ...)."""
        return {}

    @classmethod
    def create_environment(cls, overrides: dict[str, Any]) -> Environment:
        """A new environment for this task; `overrides` are the user's driver settings (headless, serial).
        Suites that bring their own device (the simulated phone) override this."""
        from environments.factory import create_environment

        return create_environment(cls.environment, **{**cls.environment_options(), **overrides})

    def goal(self) -> str:
        """The task as the agent reads it. Tasks whose goal comes from the environment override this and
        may need `setup` to have run first."""
        return self.template.format(**self.params.model_dump())

    # -- lifecycle

    def setup(self, env: Environment) -> None:
        """Bring `env` (just reset) into the starting state. Raise TaskSetupError when that fails."""

    def score(self, env: Environment) -> float:
        """How far the task is done, in [0, 1], read from the environment's real state."""
        raise NotImplementedError

    def teardown(self, env: Environment) -> None:
        """Undo what setup and the episode changed that the next task could trip over."""

    # -- time

    def acting(self, env: Environment, action: Action) -> AbstractContextManager[None]:
        """Wraps each action the agent carries out. A task whose environment keeps its own time (a web page's
        timers) lets it run only in here, so time-limited pages measure the agent's actions, not how long
        the model thought between them."""
        return nullcontext()

    def clock_seconds(self, env: Environment) -> float | None:
        """Seconds the environment's own clock ran since setup, where the task keeps one; else None."""
        return None

    # -- reference policy

    @classmethod
    def has_oracle(cls) -> bool:
        """Whether `oracle` has a script for this task (the oracle agent runs only those by default)."""
        return cls.oracle is not Task.oracle

    def oracle(self, env: Environment) -> Iterator[Action] | None:
        """A scripted solution reading privileged state, yielding actions in driver coordinates; None when
        the task has no script. The oracle agent writes each as a model answer, so it runs the real path."""
        return None


def seeded_rng(seed: int, salt: str) -> random.Random:
    """A private generator per (seed, task): parameters never depend on global random state."""
    return random.Random(f"{salt}:{seed}")
