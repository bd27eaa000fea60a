"""The eval runner: task instances across worker threads, one result file each, resumable.

`run_eval(EvalSettings(...))` is what `python -m agent eval ...` calls. Instances are (task, k) pairs,
k < n_combinations, each with a seed derived from (seed, task, k); they are run task-interleaved so a
partial run covers every task. A rerun into the same folder skips finished instances and retries those
that ended in error (setup failures, crashes, a dead browser), keeping the earlier attempt's files.
Ctrl-C or SIGTERM once lets the episodes in progress finish and starts no new ones; twice stops them before
their next step (recorded as interrupted, so retried by a rerun). Either way the summary of what was recorded is
written before KeyboardInterrupt is raised.
"""

from __future__ import annotations

import hashlib
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from loguru import logger
from pydantic import BaseModel, ConfigDict, Field

from actions.geometry import ImageBudget
from agent.config import AgentConfig
from agent.loop import EpisodeStop
from agent.models.base import ModelBackend
from agent.models.identity import ModelIdentity, identify, reference_identity
from environments.base import Environment
from evals.agents import NoopBackend, OracleBackend
from evals.episode import TaskEnvironment, run_instance
from evals.instance_log import first_line, instance_log
from evals.registry import get_suite
from evals.report import EvalSummary, ProgressView, summarize, write_reports
from evals.results import InstanceResult, ResultStore, instance_id
from evals.task import Task

AgentName = Literal["qwen", "oracle", "noop"]


class EvalSettings(BaseModel):
    """Everything one eval run needs; the CLI maps its flags one to one onto these fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    suite: str
    out: Path
    tasks: tuple[str, ...] | None = Field(default=None, description="Task names; None runs the whole suite.")
    n_combinations: int = Field(default=1, ge=1, le=1000, description="Instances (parameter draws) per task.")
    seed: int = Field(default=0, ge=0, description="Base seed; each instance's seed derives from it.")
    agent: AgentName = "qwen"
    workers: int = Field(default=1, ge=1, le=64, description="Parallel workers, each with its own environment.")
    environment: dict[str, Any] = Field(
        default_factory=dict, description="Driver settings applied to every environment (headless, serial, ...)."
    )
    agent_config: AgentConfig = Field(default_factory=AgentConfig, description="Loop settings; max_steps is the task's.")
    progress: bool = Field(default=True, description="Show a progress bar and print the summary table.")


@dataclass(frozen=True)
class Instance:
    task_cls: type[Task]
    index: int
    seed: int

    @property
    def id(self) -> str:
        return instance_id(self.task_cls.name, self.index)


def instance_seed(base: int, task: str, index: int) -> int:
    """A stable seed per (base seed, task, index): the same instance always gets the same parameters."""
    digest = hashlib.blake2b(f"{base}:{task}:{index}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % 2**31


def plan(settings: EvalSettings) -> list[Instance]:
    suite = get_suite(settings.suite)
    classes = suite.select(list(settings.tasks) if settings.tasks else None)
    if settings.agent == "oracle" and not settings.tasks:
        scripted = [c for c in classes if c.has_oracle()]
        if len(scripted) < len(classes):
            logger.info("the oracle has scripts for {} of {} tasks of {}; running those", len(scripted),
                        len(classes), suite.name)
        classes = scripted
    return [Instance(c, k, instance_seed(settings.seed, c.name, k))
            for k in range(settings.n_combinations) for c in classes]


class _SharedModel:
    """One model answering for every worker, one request at a time (a local model is not thread-safe)."""

    def __init__(self, inner: ModelBackend) -> None:
        self.inner = inner
        self.name = inner.name
        self.image_budget = inner.image_budget
        self._lock = threading.Lock()

    def generate(self, request: Any) -> Any:
        with self._lock:
            return self.inner.generate(request)

    def close(self) -> None:
        """Closed once by the runner, not by each episode."""


class _StoppableModel:
    """An episode's model that ends the episode before its next answer once the run is stopped: the loop then
    records it as interrupted, so the instance gets its result file (an error, retried by a rerun)."""

    def __init__(self, inner: ModelBackend, stop: threading.Event) -> None:
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


def run_eval(settings: EvalSettings, model: ModelBackend | None = None,
             model_settings: Any = None) -> EvalSummary:
    """Run (or resume) an eval; returns its summary, also written to OUT/summary.json and OUT/index.html.

    `model` is the backend for agent "qwen" (any ModelBackend: replay, tiny, a server), left open for the
    caller; when None one is created from `model_settings` (agent.models.settings.ModelSettings) with the
    model factory, and closed at the end. Raises UnknownSuiteError for unknown names and
    ResultsFolderError for an output folder it must not touch, before running anything.
    """
    instances = plan(settings)
    store = ResultStore(settings.out)
    identity = _identity(settings.agent, model, model_settings)
    store.open({"suite": settings.suite, "agent": settings.agent, "seed": settings.seed,
                "n_combinations": settings.n_combinations, "tasks": list(settings.tasks or []),
                "model": identity.model_dump(mode="json")})
    todo: list[Instance] = []
    for inst in instances:
        previous = store.load(inst.id)
        if previous is None or previous.outcome == "error":
            todo.append(inst)
    logger.info("{}: {} instances, {} already finished, {} to run", settings.suite, len(instances),
                len(instances) - len(todo), len(todo))
    shared: _SharedModel | None = None
    owned = settings.agent == "qwen" and todo and model is None  # a model we load, we also close
    if settings.agent == "qwen" and todo:
        shared = _SharedModel(model if model is not None else _create_model(model_settings))
    try:
        try:
            _run_workers(settings, store, todo, shared, identity)
        finally:
            if shared is not None and owned:
                shared.inner.close()
    except KeyboardInterrupt:
        _report(settings, store, instances, identity)  # a stopped run, too, has the summary of what it recorded
        raise
    return _report(settings, store, instances, identity)


def _report(settings: EvalSettings, store: ResultStore, instances: list[Instance],
            identity: ModelIdentity) -> EvalSummary:
    wanted = {inst.id for inst in instances}
    results = [r for r in store.all_results() if r.instance_id in wanted]
    summary = summarize(settings.suite, settings.agent, results, expected=len(instances), model=identity)
    write_reports(store.root, summary, results, print_table=settings.progress)
    return summary


def _identity(agent: str, model: ModelBackend | None, model_settings: Any) -> ModelIdentity:
    """Which model this run's results come from, known before any weights load (so a folder of another
    model's results is refused at once, and a finished folder still gets a summary naming its model)."""
    if agent != "qwen":
        return reference_identity(agent, ImageBudget())
    if model is not None and model_settings is None:
        return reference_identity(model.name, model.image_budget)  # a backend built in memory (replay, tests)
    from agent.models.settings import ModelSettings

    return identify(model_settings or ModelSettings())


def _create_model(model_settings: Any) -> ModelBackend:
    from agent.models.factory import create_backend
    from agent.models.settings import ModelSettings

    return create_backend(model_settings or ModelSettings())


def _run_workers(settings: EvalSettings, store: ResultStore, todo: list[Instance], shared: ModelBackend | None,
                 identity: ModelIdentity) -> None:
    work: queue.Queue[Instance] = queue.Queue()
    for inst in todo:
        work.put(inst)
    stop, end_episodes = threading.Event(), threading.Event()
    view = ProgressView(len(todo), enabled=settings.progress)
    args = (settings, store, work, shared, identity, stop, end_episodes, view)
    workers = [threading.Thread(target=_worker, args=args, daemon=True, name=f"eval-worker-{i}")
               for i in range(min(settings.workers, max(1, len(todo))))]
    with _InterruptCounter() as interrupts, view:
        for w in workers:
            w.start()
        handled = 0
        while any(w.is_alive() for w in workers):
            if interrupts.count > handled:
                before, handled = handled, interrupts.count
                _escalate(before, handled, sum(w.is_alive() for w in workers), stop, end_episodes)
            time.sleep(0.05)
    if interrupts.count:
        raise KeyboardInterrupt


class _InterruptCounter:
    """While entered in the main thread, Ctrl-C and SIGTERM add to `count` instead of raising KeyboardInterrupt.

    A KeyboardInterrupt lands wherever the main thread is, even in the handler of the one before it, or in a
    Thread.join, which on Python 3.11 can then mark a running worker as stopped: the process would exit under
    running episodes, lose their results and crash. Counting leaves the waiting loop in charge."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.count = 0
        self._previous: dict[int, Any] = {}

    def _interrupted(self, signum: int, frame: object) -> None:
        self.count += 1

    def __enter__(self) -> _InterruptCounter:
        if threading.current_thread() is threading.main_thread():  # only it may set handlers, and only it gets them
            self._previous = {s: signal.signal(s, self._interrupted) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, signal.SIG_DFL if handler is None else handler)  # None: set outside Python


def _escalate(before: int, now: int, running: int, stop: threading.Event, end_episodes: threading.Event) -> None:
    """Act on interrupts `before`+1 to `now`: the first starts no new instances, the second stops the episodes in
    progress before their next step; either way they end recorded, each with its result file."""
    stop.set()
    if now == 1:
        logger.warning("interrupted: finishing the episodes in progress ({} workers), starting no new ones (Ctrl-C "
                       "again to stop them at their next step; a rerun into the same folder picks up where this one "
                       "stopped)", running)
        return
    end_episodes.set()
    if before < 2:
        logger.warning("interrupted again: stopping the episodes in progress ({} workers) before their next step; "
                       "they are recorded as interrupted and run again by a rerun into the same folder", running)
    if now > 2:
        logger.warning("still waiting for the episodes in progress ({} workers) to reach their next step; `kill -9 {}` "
                       "leaves at once (a rerun into the same folder runs them again)", running, os.getpid())


def _worker(settings: EvalSettings, store: ResultStore, work: queue.Queue[Instance], shared: ModelBackend | None,
            identity: ModelIdentity, stop: threading.Event, end_episodes: threading.Event, view: ProgressView) -> None:
    envs: dict[str, Environment] = {}
    try:
        while not stop.is_set():
            try:
                inst = work.get_nowait()
            except queue.Empty:
                return
            view.started(inst.id)
            result = _run_one(settings, store, inst, envs, shared, identity, end_episodes)
            store.save(result)
            view.finished(result)
            if result.stop_reason == "interrupted":
                stop.set()  # the run is being stopped, or the stop file exists: start nothing new
    finally:
        for env in envs.values():
            try:
                env.close()
            except Exception as e:  # noqa: BLE001 - closing is best effort
                logger.debug("closing an environment failed: {}", e)


def _run_one(settings: EvalSettings, store: ResultStore, inst: Instance, envs: dict[str, Environment],
             shared: ModelBackend | None, identity: ModelIdentity, end_episodes: threading.Event) -> InstanceResult:
    attempt = store.prepare_retry(inst.id)
    log = store.log_path(inst.id)
    with instance_log(log, attempt):
        result = _attempt(settings, store, inst, attempt, envs, shared, identity, end_episodes)
    if result.outcome == "error":
        logger.warning("{} is an error (retried by a rerun into the same folder): {}; details in {}", inst.id,
                       result.error, log)
    return result


def _attempt(settings: EvalSettings, store: ResultStore, inst: Instance, attempt: int, envs: dict[str, Environment],
             shared: ModelBackend | None, identity: ModelIdentity, end_episodes: threading.Event) -> InstanceResult:
    cls = inst.task_cls
    task = cls.from_seed(inst.seed)
    base = InstanceResult(instance_id=inst.id, suite=settings.suite, task=cls.name, difficulty=cls.difficulty,
                          index=inst.index, seed=inst.seed, agent=settings.agent, model=identity, outcome="error",
                          params=task.params.model_dump(mode="json"), attempt=attempt)
    key = f"{cls.environment}:{sorted(cls.environment_options().items())}"
    try:
        env = envs.get(key)
        if env is None:
            env = envs[key] = cls.create_environment(dict(settings.environment))
        result = run_instance(task, env, _model_factory(settings.agent, shared, end_episodes), base,
                              store.instance_dir(inst.id), store.root, settings.agent_config)
    except Exception as e:  # noqa: BLE001 - a crash in one instance is recorded; the worker goes on
        logger.opt(exception=e).debug("instance {} crashed", inst.id)  # the traceback: the instance's log
        result = base.model_copy(update={"error": f"crashed: {type(e).__name__}: {first_line(str(e))}",
                                         "finished_at": time.time()})
    if result.outcome == "error":
        # The environment may be what broke: start the next instance on a fresh one.
        broken = envs.pop(key, None)
        if broken is not None:
            try:
                broken.close()
            except Exception as e:  # noqa: BLE001
                logger.debug("closing a broken environment failed: {}", e)
    return result


def _model_factory(agent: str, shared: ModelBackend | None,
                   end_episodes: threading.Event) -> Callable[[Task, TaskEnvironment], ModelBackend]:
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
