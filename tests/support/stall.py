"""A task whose first worker hangs, for the tests that kill a worker mid-instance (tests/evals/test_evals_ray.py).

Its own module, not tests/support/evals.py (a plugin every test loads): it imports the MiniWoB++ suite.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from environments.base import Environment
from evals.miniwob.tasks import DESKTOP_SUITE
from evals.registry import Suite
from tests.support.evals import FlakyClickTask, done_button


class StallingClickTask(FlakyClickTask):
    """The first time per folder $EVALS_TEST_STALL_DIR its environment hangs, after writing the pid of the process
    that runs it to `worker.pid` there, so a test can kill that process mid-instance (a Ray worker: the variable
    comes from the environment of `ray start`); afterwards it is the Done button."""

    name = "stalling-click"
    suite = "test-stall"
    STALL_DIR = "EVALS_TEST_STALL_DIR"

    @classmethod
    def create_environment(cls, overrides: dict[str, Any]) -> Environment:
        stall = Path(os.environ[cls.STALL_DIR])
        if not (stall / "stalled-once").exists():
            (stall / "stalled-once").touch()
            (stall / "worker.pid").write_text(str(os.getpid()))
            time.sleep(600)  # until killed
        return super().create_environment(overrides)

    def setup(self, env: Environment) -> None:
        done_button(env)


STALL_SUITE = Suite("test-stall", "a task whose first worker hangs, and a MiniWoB++ one",
                    {StallingClickTask.name: StallingClickTask,
                     "click-button": DESKTOP_SUITE.tasks["click-button"]})
