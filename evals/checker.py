"""`check_task`: the contract every registered task must keep, checked without an environment."""

from __future__ import annotations

import re
import string
from typing import Any

from evals.task import DIFFICULTIES, Task, TaskParams

KNOWN_ENVIRONMENTS = ("browser", "desktop", "android")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


class TaskContractError(AssertionError):
    """A task class that breaks the task contract; the message names the task and the rule."""


def _fail(task_cls: type[Task], rule: str) -> None:
    raise TaskContractError(f"task {getattr(task_cls, 'name', task_cls.__name__)!r}: {rule}")


def check_task(task_cls: type[Task], seeds: tuple[int, ...] = (0, 1, 2, 12345)) -> None:
    """Raise TaskContractError unless `task_cls` keeps the contract:

    a slug name and a suite; a known difficulty and environment; a step budget in 1..200; frozen
    pydantic params that are deterministic per seed and survive a JSON round trip; a template whose
    placeholders are all params fields and a goal that renders with no placeholder left.
    """
    for attr in ("name", "suite", "template"):
        if not isinstance(getattr(task_cls, attr, None), str) or not getattr(task_cls, attr):
            _fail(task_cls, f"class attribute `{attr}` must be a non-empty string")
    if not _NAME.match(task_cls.name):
        _fail(task_cls, "name must be lower-case letters, digits, '.', '_' or '-'")
    if not isinstance(task_cls.apps, tuple) or not all(isinstance(a, str) and a for a in task_cls.apps):
        _fail(task_cls, "apps must be a tuple of app or site names")
    if task_cls.difficulty not in DIFFICULTIES:
        _fail(task_cls, f"difficulty {task_cls.difficulty!r} is not one of {DIFFICULTIES}")
    if task_cls.environment not in KNOWN_ENVIRONMENTS:
        _fail(task_cls, f"environment {task_cls.environment!r} is not one of {KNOWN_ENVIRONMENTS}")
    if not isinstance(task_cls.max_steps, int) or not 1 <= task_cls.max_steps <= 200:
        _fail(task_cls, f"max_steps must be an int in 1..200, got {task_cls.max_steps!r}")
    if not (isinstance(task_cls.Params, type) and issubclass(task_cls.Params, TaskParams)):
        _fail(task_cls, "Params must subclass evals.task.TaskParams")
    if not task_cls.Params.model_config.get("frozen"):
        _fail(task_cls, "Params must be frozen so an instance cannot change its own parameters")
    fields = set(task_cls.Params.model_fields)
    placeholders = {f for _, f, _, _ in string.Formatter().parse(task_cls.template) if f is not None}
    if not task_cls.goal_from_environment and not placeholders <= fields:
        _fail(task_cls, f"template placeholders {sorted(placeholders - fields)} are not fields of {task_cls.Params.__name__}")
    options: Any = task_cls.environment_options()
    if not isinstance(options, dict) or options != task_cls.environment_options():
        _fail(task_cls, "environment_options() must return the same dict every time")
    for seed in seeds:
        first, second = task_cls.generate_params(seed), task_cls.generate_params(seed)
        if not isinstance(first, task_cls.Params):
            _fail(task_cls, f"generate_params({seed}) returned {type(first).__name__}, not {task_cls.Params.__name__}")
        if first != second:
            _fail(task_cls, f"generate_params({seed}) is not deterministic: {first!r} then {second!r}")
        if task_cls.Params.model_validate_json(first.model_dump_json()) != first:
            _fail(task_cls, f"params of seed {seed} do not survive a JSON round trip")
        if not task_cls.goal_from_environment:
            goal = task_cls(first).goal()
            if not goal.strip() or re.search(r"\{[A-Za-z_]\w*\}", goal):
                _fail(task_cls, f"goal of seed {seed} is empty or has a placeholder left: {goal!r}")
