"""The task contract over every registered task, the checker itself, and the registry's errors."""

from __future__ import annotations

from typing import ClassVar

import pytest

from evals.checker import TaskContractError, check_task
from evals.registry import SUITES, UnknownSuiteError, all_tasks, get_suite
from evals.task import Task, TaskParams, seeded_rng


def test_every_registered_task_keeps_the_contract() -> None:
    tasks = all_tasks()
    assert len(tasks) >= 2 * 125 + 20  # both MiniWoB++ views and the phone suite
    for task_cls in tasks:
        check_task(task_cls)


def test_suites_hold_what_the_issue_asks_for() -> None:
    miniwob, mobile = get_suite("miniwob"), get_suite("miniwob-mobile")
    assert {"book-flight", "book-flight-nodelay", "click-button", "email-inbox"} <= set(miniwob.tasks)
    assert set(miniwob.tasks) == set(mobile.tasks)
    # The phone-sized view zooms the task: more physical pixels per CSS pixel than the desktop view.
    assert mobile.tasks["click-button"].environment_options()["device_scale_factor"] > \
        miniwob.tasks["click-button"].environment_options()["device_scale_factor"]
    assert len(get_suite("phone").tasks) >= 20
    android = get_suite("android")
    assert android.tasks and all(t.suite == "android" for t in android.tasks.values())
    assert not any(t.has_oracle() for t in android.tasks.values())  # scripts target the simulator's UI
    assert sum(t.has_oracle() for t in miniwob.tasks.values()) >= 15
    assert all(t.has_oracle() for t in get_suite("phone").tasks.values())


def test_phone_params_are_seeded_and_vary() -> None:
    add = get_suite("phone").tasks["add-contact"]
    assert add.generate_params(7) == add.generate_params(7)
    assert len({add.generate_params(s) for s in range(20)}) > 10


class _Params(TaskParams):
    word: str


class _GoodTask(Task):
    name = "good-task"
    suite = "test"
    template = "Type {word}."
    Params: ClassVar[type[TaskParams]] = _Params

    @classmethod
    def generate_params(cls, seed: int) -> _Params:
        return _Params(word=seeded_rng(seed, cls.name).choice(["a", "b", "c"]))


def test_checker_accepts_a_good_task() -> None:
    check_task(_GoodTask)


def test_checker_rejects_unseeded_params() -> None:
    import random

    class Unseeded(_GoodTask):
        name = "unseeded"

        @classmethod
        def generate_params(cls, seed: int) -> _Params:
            return _Params(word=str(random.random()))

    with pytest.raises(TaskContractError, match="not deterministic"):
        check_task(Unseeded)


def test_checker_rejects_a_placeholder_without_a_param() -> None:
    class Leftover(_GoodTask):
        name = "leftover"
        template = "Type {word} into {field}."

    with pytest.raises(TaskContractError, match="field"):
        check_task(Leftover)


def test_checker_rejects_a_bad_difficulty_and_budget() -> None:
    class Bad(_GoodTask):
        name = "bad"
        difficulty = "trivial"

    with pytest.raises(TaskContractError, match="difficulty"):
        check_task(Bad)

    class NoBudget(_GoodTask):
        name = "no-budget"
        max_steps = 0

    with pytest.raises(TaskContractError, match="max_steps"):
        check_task(NoBudget)


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(UnknownSuiteError) as e:
        get_suite("nope")
    assert all(name in str(e.value) for name in SUITES)
    with pytest.raises(UnknownSuiteError) as e:
        get_suite("phone").select(["toggle-wifi", "no-such-task"])
    assert "no-such-task" in str(e.value) and "create-note" in str(e.value)
