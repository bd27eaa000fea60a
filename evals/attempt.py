"""One attempt at one instance, wherever an executor runs it: set the earlier attempt aside, run the episode with
the instance's own log, write its result file. Also the result of an attempt whose worker died under it.

Both executors (evals/executors) call `run_job` where the instance runs and nothing else of this module's, so
an instance's files are the same whichever ran it; `record_lost` is for an executor whose workers can die.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from loguru import logger

from agent.loop import EpisodeStop
from agent.models.base import ModelBackend
from agent.models.identity import ModelIdentity
from environments.base import Environment
from evals.agents import NoopBackend, OracleBackend
from evals.episode import TaskEnvironment, run_instance
from evals.instance_log import first_line, instance_log
from evals.plan import EvalSettings, Instance
from evals.results import InstanceResult, ResultStore
from evals.task import Task


class StopFlag(Protocol):
    """Set once the run's episodes must end before their next step (threading.Event is one)."""

    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class Job:
    """An instance to run, as an executor hands it to a worker (picklable: it may travel to another machine)."""

    settings: EvalSettings
    instance: Instance
    identity: ModelIdentity
    attempt: int  # the number this attempt gets: the recorded one's plus one, 1 for a new instance


class SharedModel:
    """One model answering for every episode of a worker, one request at a time (a local model is not
    thread-safe); the episodes' close() leaves it open: whoever made it closes `inner` once."""

    def __init__(self, inner: ModelBackend) -> None:
        self.inner = inner
        self.name = inner.name
        self.image_budget = inner.image_budget
        self._lock = threading.Lock()

    def generate(self, request: Any) -> Any:
        with self._lock:
            return self.inner.generate(request)

    def close(self) -> None:
        """Closed once by whoever made it, not by each episode."""


def create_model(model_settings: Any) -> ModelBackend:
    """Agent qwen's backend from agent.models.settings.ModelSettings (None: the defaults)."""
    from agent.models.factory import create_backend
    from agent.models.settings import ModelSettings

    return create_backend(model_settings or ModelSettings())


class _StoppableModel:
    """An episode's model that ends the episode before its next answer once the run is stopped: the loop then
    records it as interrupted, so the instance gets its result file (an error, retried by a rerun)."""

    def __init__(self, inner: ModelBackend, stop: StopFlag) -> None:
        self.inner = inner
        self.name = inner.name
        self.image_budget = inner.image_budget
        self._stop = stop

    def generate(self, request: Any) -> Any:
        if self._stop.is_set():
            raise EpisodeStop("interrupted", "the eval was stopped (Ctrl-C or SIGTERM twice)")
        return self.inner.generate(request)

    def close(self) -> None:
        self.inner.close()


def run_job(job: Job, envs: dict[str, Environment], model: ModelBackend | None, end_episodes: StopFlag) -> InstanceResult:
    """Run one attempt and write its result file. `envs` are the worker's environments by kind, reused across its
    instances (one that broke is closed and dropped); `model` answers for agent qwen and is not closed here."""
    store = ResultStore(job.settings.out)
    iid = job.instance.id
    attempt = store.prepare_retry(iid)
    with instance_log(store.log_path(iid), attempt):
        result = _attempt(job, store, attempt, envs, model, end_episodes)
    store.save(result)
    _warn_if_error(store, result)
    return result


def record_lost(job: Job, reason: str, details: str = "") -> InstanceResult:
    """The result of an attempt whose worker went (process killed, node lost) before it wrote one: an error, retried
    by a rerun. What the attempt wrote (its log, its episode so far) stays; a result it managed to write wins.
    `details` (a remote traceback) goes to the instance's log."""
    store = ResultStore(job.settings.out)
    iid = job.instance.id
    current = store.load(iid)
    if current is not None and current.attempt >= job.attempt:
        return current  # it ended and was recorded; the worker went afterwards (closing its environment)
    if current is not None:
        store.prepare_retry(iid)  # the worker went before it set the earlier attempt aside
    result = _base(job, job.attempt).model_copy(update={"error": f"lost: {reason}", "finished_at": time.time()})
    with instance_log(store.log_path(iid), job.attempt):
        logger.error("the worker running {} went before the instance ended: {}", iid, reason)
        if details:
            logger.debug("{}", details)
    store.save(result)
    _warn_if_error(store, result)
    return result


def close_environments(envs: dict[str, Environment]) -> None:
    for env in envs.values():
        try:
            env.close()
        except Exception as e:  # noqa: BLE001 - closing is best effort
            logger.debug("closing an environment failed: {}", e)
    envs.clear()


def _warn_if_error(store: ResultStore, result: InstanceResult) -> None:
    if result.outcome == "error":
        logger.warning("{} is an error (retried by a rerun into the same folder): {}; details in {}",
                       result.instance_id, result.error, store.log_path(result.instance_id))


def _base(job: Job, attempt: int) -> InstanceResult:
    inst, settings = job.instance, job.settings
    cls = inst.task_cls
    return InstanceResult(instance_id=inst.id, suite=settings.suite, task=cls.name, difficulty=cls.difficulty,
                          index=inst.index, seed=inst.seed, agent=settings.agent, model=job.identity, outcome="error",
                          params=cls.from_seed(inst.seed).params.model_dump(mode="json"), attempt=attempt)


def _attempt(job: Job, store: ResultStore, attempt: int, envs: dict[str, Environment], model: ModelBackend | None,
             end_episodes: StopFlag) -> InstanceResult:
    inst, settings = job.instance, job.settings
    cls = inst.task_cls
    task = cls.from_seed(inst.seed)
    base = _base(job, attempt)
    key = f"{cls.environment}:{sorted(cls.environment_options().items())}"
    try:
        env = envs.get(key)
        if env is None:
            env = envs[key] = cls.create_environment(dict(settings.environment))
        result = run_instance(task, env, _model_factory(settings.agent, model, end_episodes), base,
                              store.instance_dir(inst.id), store.root, settings.agent_config)
    except Exception as e:  # noqa: BLE001 - a crash in one instance is recorded; the worker goes on
        logger.opt(exception=e).debug("instance {} crashed", inst.id)  # the traceback: the instance's log
        result = base.model_copy(update={"error": f"crashed: {type(e).__name__}: {first_line(str(e))}",
                                         "finished_at": time.time()})
    if result.outcome == "error":
        # The environment may be what broke: start the next instance on a fresh one.
        broken = envs.pop(key, None)
        if broken is not None:
            close_environments({key: broken})
    return result


def _model_factory(agent: str, shared: ModelBackend | None,
                   end_episodes: StopFlag) -> Callable[[Task, TaskEnvironment], ModelBackend]:
    budget = shared.image_budget if shared is not None else None

    def make(task: Task, env: TaskEnvironment) -> ModelBackend:
        model: ModelBackend
        if agent == "noop":
            model = NoopBackend(budget)
        elif agent == "oracle":
            model = OracleBackend(task, env, budget)
        else:
            assert shared is not None
            model = shared
        return _StoppableModel(model, end_episodes)

    return make
