"""Reference agents as model backends: `noop` (stops at once) and `oracle` (a scripted policy).

Both answer through the normal path: their text is a Qwen-style `<tool_call>` in model-image coordinates,
which the real parser, coordinate mapping and driver carry out in the real Agent loop.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from loguru import logger

from actions.base import Action, Terminate
from actions.geometry import CoordinateMapper, ImageBudget
from actions.space import tool_call_text
from agent.models.base import Generation, GenerationRequest, ModelError
from evals.episode import TaskEnvironment
from evals.instance_log import first_line
from evals.task import Task

REFERENCE_AGENTS = ("noop", "oracle")


def _image_sizes(request: GenerationRequest, budget: ImageBudget) -> list[tuple[int, int]]:
    return [budget.resized_size(*img.size) for m in request.messages for img in m.images]


class NoopBackend:
    """Terminates at once claiming success: the score must still read 0 wherever the task needs action."""

    name = "noop"

    def __init__(self, image_budget: ImageBudget | None = None) -> None:
        self.image_budget = image_budget or ImageBudget()

    def generate(self, request: GenerationRequest) -> Generation:
        text = tool_call_text(request.space.tool_name, Terminate(status="success").arguments())
        return Generation(text=text, image_sizes=_image_sizes(request, self.image_budget))

    def close(self) -> None:
        pass


class OracleBackend:
    """Plays `task.oracle(env)`: each generate() takes the script's next action (driver coordinates),
    maps it to the model image with `CoordinateMapper.to_model` and writes it as a tool call. When the
    script ends it terminates with success. A script that raises is the reference's fault, not an agent's: the
    episode ends in error, so the instance is an error (retried on resume), never a scored failure."""

    name = "oracle"

    def __init__(self, task: Task, env: TaskEnvironment, image_budget: ImageBudget | None = None) -> None:
        self.task = task
        self.env = env
        self.image_budget = image_budget or ImageBudget()
        self._script: Iterator[Action] | None = None
        self._started = False

    def _next(self) -> Action:
        try:
            if not self._started:
                self._started = True
                self._script = self.task.oracle(self.env)
                if self._script is None:
                    logger.warning("task {} has no oracle script; the oracle gives up", self.task.name)
            if self._script is None:
                return Terminate(status="failure")
            return next(self._script)
        except StopIteration:
            return Terminate(status="success")
        except Exception as e:  # whatever the script hit, the instance cannot be judged
            self._script = None
            logger.opt(exception=e).debug("the oracle script of {} crashed", self.task.name)  # the instance's log
            raise ModelError(f"the oracle script of {self.task.name} crashed ({type(e).__name__}: "
                             f"{first_line(str(e))}); the instance is an error, not a failure of an agent") from e

    def generate(self, request: GenerationRequest) -> Generation:
        t = time.perf_counter()
        action = self._next()
        geometry = self.env.last_geometry
        if action.points():
            if geometry is None:
                raise RuntimeError("the oracle needs an observation before it can point at anything")
            mapper = CoordinateMapper(geometry, *request.image_size)
            action = action.map_points(mapper.to_model)
        return Generation(text=tool_call_text(request.space.tool_name, action.arguments()),
                          image_sizes=_image_sizes(request, self.image_budget), generate_s=time.perf_counter() - t)

    def close(self) -> None:
        self._script = None
