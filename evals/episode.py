"""One task instance: reset, set up, run the real Agent, score from real state, tear down.

Success needs both: the agent stopped by itself (terminate or answer) within the task's step budget,
and the task's score reached the threshold. The agent's own claim (terminate status) is recorded but
never counts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loguru import logger

from actions.base import Action
from actions.geometry import ScreenGeometry
from agent.config import AgentConfig
from agent.loop import Agent
from agent.models.base import ModelBackend
from agent.recording import RecordingError, amend_header
from agent.report import SCORED_KEY, write_report
from agent.safety import Safety
from agent.trajectory import EpisodeResult, StepRecord
from environments.base import Environment, EnvironmentWrapper, Observation
from evals.instance_log import first_line
from evals.results import InstanceResult, StepLatency
from evals.task import SUCCESS_THRESHOLD, Task, TaskSetupError

EPISODE_DIR = "episode"


class TaskEnvironment(EnvironmentWrapper):
    """The environment as the Agent sees it during an eval episode, which starts from the task's setup (the
    Agent runs without a reset). Each action runs inside the task's `acting` (where a page's clock runs). It
    remembers the last screen geometry, which the oracle needs to turn page coordinates into model-image
    coordinates.
    """

    def __init__(self, inner: Environment, task: Task) -> None:
        super().__init__(inner)
        self.task = task
        self.last_geometry: ScreenGeometry | None = None

    def reset(self) -> Observation:
        raise RuntimeError("an eval episode starts from the task's setup: the runner resets, never the episode")

    def observe(self) -> Observation:
        obs = self.inner.observe()
        self.last_geometry = obs.geometry
        return obs

    def act(self, action: Action) -> None:
        with self.task.acting(self.inner, action):
            self.inner.act(action)

    def close(self) -> None:
        """The runner owns the inner environment and closes it; an episode must not."""


ModelFactory = Callable[[Task, TaskEnvironment], ModelBackend]


def run_instance(
    task: Task,
    env: Environment,
    make_model: ModelFactory,
    base: InstanceResult,
    instance_dir: Path,
    out_root: Path,
    config: AgentConfig | None = None,
) -> InstanceResult:
    """Run one instance and return its result (never raises for an agent or task problem; setup failures
    and crashes come back as outcome "error")."""
    result = base.model_copy(update={"started_at": time.time(), "max_steps": task.max_steps})
    try:
        env.reset()
        task.setup(env)
        goal = task.goal()
    except Exception as e:  # noqa: BLE001 - every setup problem is the environment's, retried on resume
        logger.opt(exception=e).debug("setup of {} failed", task.name)  # the traceback: the instance's log
        _teardown(task, env)
        kind = "setup failed" if isinstance(e, TaskSetupError) else f"setup failed ({type(e).__name__})"
        return _finish(result, outcome="error", error=f"{kind}: {first_line(str(e))}")
    result.goal = goal
    prepared = TaskEnvironment(env, task)
    steps: list[StepRecord] = []
    model = make_model(task, prepared)
    cfg = (config or AgentConfig()).model_copy(update={"max_steps": task.max_steps, "answer": task.asks_question})
    header = {"eval": {"suite": task.suite, "task": task.name, "seed": base.seed, "params": base.params}}
    started = time.perf_counter()
    try:
        # No safety policy: a task's pages and phone are sandboxes, and a held-back "Delete" would fail the task.
        agent = Agent(prepared, model, cfg, on_step=steps.append, header=header, safety=Safety(policy=None))
        episode = agent.run(goal, instance_dir / EPISODE_DIR, reset=False)
    finally:
        model.close()  # per-instance backends; the runner's shared model ignores this and is closed once
    result.wall_s = time.perf_counter() - started
    result.page_s = _clock_seconds(task, env)
    result.episode_dir = str((instance_dir / EPISODE_DIR).relative_to(out_root))
    result.latency = _latency(steps)
    result.steps, result.stop_reason, result.terminated = episode.steps, episode.stop_reason, episode.terminated
    result.agent_status = episode.status
    result = _judge(task, env, episode, result)
    _record_verdict(instance_dir / EPISODE_DIR, header, result)
    return result


def _judge(task: Task, env: Environment, episode: EpisodeResult, result: InstanceResult) -> InstanceResult:
    """The instance's outcome once the agent has stopped: scored from the environment's real state."""
    if episode.stop_reason in ("error", "interrupted"):
        # Not the agent's failure: the environment or the model broke, or the user stopped the run.
        _teardown(task, env)
        reason = first_line(episode.error or "")
        return _finish(result, outcome="error", error=f"episode {episode.stop_reason}: {reason}")
    try:
        score = float(task.score(env))
    except Exception as e:  # noqa: BLE001 - the state could not be read: the instance cannot be judged
        logger.opt(exception=e).debug("scoring {} failed", task.name)  # the traceback: the instance's log
        _teardown(task, env)
        return _finish(result, outcome="error", error=f"scoring failed: {type(e).__name__}: {first_line(str(e))}")
    if not 0.0 <= score <= 1.0:
        _teardown(task, env)
        return _finish(result, outcome="error", error=f"task bug: score {score} is outside [0, 1]")
    _teardown(task, env)
    success = episode.terminated and episode.steps <= task.max_steps and score >= SUCCESS_THRESHOLD
    return _finish(result, outcome="success" if success else "failure", score=score,
                   error=None if episode.terminated else episode.error)


def _record_verdict(episode_dir: Path, header: dict[str, Any], result: InstanceResult) -> None:
    """Put the scored outcome into the episode's own record and rebuild its report, so a person reading the
    episode sees what counted and not only the agent's claim. result.json stays the record the runner reads."""
    scored = {"outcome": result.outcome, "score": result.score, "error": result.error}
    try:
        amend_header(episode_dir, eval={**header["eval"], SCORED_KEY: scored})
        write_report(episode_dir)
    except (RecordingError, OSError, ValueError) as e:
        logger.warning("could not add the scored outcome to {} ({}); result.json holds it", episode_dir, e)


def _clock_seconds(task: Task, env: Environment) -> float | None:
    try:
        return task.clock_seconds(env)
    except Exception as e:  # noqa: BLE001 - informative only; the score is read (and judged) apart
        logger.warning("could not read the clock of {}: {}", task.name, e)
        return None


def _teardown(task: Task, env: Environment) -> None:
    try:
        task.teardown(env)
    except Exception as e:  # noqa: BLE001 - the next setup starts from a reset anyway
        logger.warning("teardown of {} failed: {}", task.name, e)


def _finish(result: InstanceResult, **update: Any) -> InstanceResult:
    return result.model_copy(update={**update, "finished_at": time.time()})


def _latency(steps: list[StepRecord]) -> StepLatency:
    if not steps:
        return StepLatency()
    n = len(steps)
    return StepLatency(
        capture=sum(s.timings.capture for s in steps) / n,
        model=sum(s.timings.model + s.timings.preprocess for s in steps) / n,
        act=sum(s.timings.act for s in steps) / n,
        total=sum(s.timings.total for s in steps) / n,
    )
