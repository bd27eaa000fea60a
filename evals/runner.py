"""The eval runner: task instances on an executor (threads here, or a Ray cluster), one result file each, resumable.

`run_eval(EvalSettings(...))` is what `python -m agent eval ...` calls. Instances are (task, k) pairs,
k < n_combinations, each with a seed derived from (seed, task, k); they are run task-interleaved so a
partial run covers every task. A rerun into the same folder skips finished instances and retries those
that ended in error (setup failures, crashes, a dead browser), keeping the earlier attempt's files.
Ctrl-C or SIGTERM once lets the episodes in progress finish and starts no new ones; twice stops them before
their next step (recorded as interrupted, so retried by a rerun). Either way the summary of what was recorded is
written before KeyboardInterrupt is raised. All of this is the same for every executor (evals/executors): they
only decide where an instance runs.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

from loguru import logger

from actions.geometry import ImageBudget
from agent.models.base import ModelBackend
from agent.models.identity import ModelIdentity, identify, reference_identity
from evals.attempt import Job, SharedModel, create_model
from evals.executors import Executor, require_ray
from evals.plan import AgentName, EvalSettings, Instance, RaySettings, instance_seed, plan
from evals.report import EvalSummary, ProgressView, summarize, write_reports
from evals.results import ResultStore, next_attempt

__all__ = ["AgentName", "EvalSettings", "Instance", "RaySettings", "instance_seed", "plan", "run_eval"]


def run_eval(settings: EvalSettings, model: ModelBackend | None = None,
             model_settings: Any = None) -> EvalSummary:
    """Run (or resume) an eval; returns its summary, also written to OUT/summary.json and OUT/index.html.

    `model` is the backend for agent "qwen" (any ModelBackend: replay, tiny, a server), left open for the
    caller; when None one is created from `model_settings` (agent.models.settings.ModelSettings) with the
    model factory, and closed at the end. Raises UnknownSuiteError for unknown names and
    ResultsFolderError for an output folder it must not touch, before running anything.
    """
    instances = plan(settings)
    if settings.executor == "ray":
        require_ray()
        if model is not None and settings.agent == "qwen":
            raise ValueError("the ray executor builds agent qwen's model on each worker from model_settings; "
                             "a backend in memory cannot travel there")
    store = ResultStore(settings.out)
    identity = _identity(settings.agent, model, model_settings)
    store.open({"suite": settings.suite, "agent": settings.agent, "seed": settings.seed,
                "n_combinations": settings.n_combinations, "tasks": list(settings.tasks or []),
                "model": identity.model_dump(mode="json")})
    jobs: list[Job] = []
    for inst in instances:
        previous = store.load(inst.id)
        if previous is None or previous.outcome == "error":
            jobs.append(Job(settings, inst, identity, next_attempt(previous)))
    logger.info("{}: {} instances, {} already finished, {} to run", settings.suite, len(instances),
                len(instances) - len(jobs), len(jobs))
    try:
        if jobs:
            _run_jobs(settings, jobs, model, model_settings)
    except KeyboardInterrupt:
        _report(settings, store, instances, identity)  # a stopped run, too, has the summary of what it recorded
        raise
    return _report(settings, store, instances, identity)


def _run_jobs(settings: EvalSettings, jobs: list[Job], model: ModelBackend | None, model_settings: Any) -> None:
    if settings.executor == "ray":
        from evals.executors.ray_cluster import RayExecutor

        _dispatch(RayExecutor(settings, model_settings), jobs, settings.progress)
        return
    from evals.executors.threads import ThreadExecutor

    shared: SharedModel | None = None
    if settings.agent == "qwen":
        shared = SharedModel(model if model is not None else create_model(model_settings))
    try:
        _dispatch(ThreadExecutor(settings.workers, shared), jobs, settings.progress)
    finally:
        if shared is not None and model is None:  # a model we load, we also close
            shared.inner.close()


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
        return reference_identity(model.name, model.image_budget)  # a backend in memory (replay, tests)
    from agent.models.settings import ModelSettings

    return identify(model_settings or ModelSettings())


def _dispatch(executor: Executor, jobs: list[Job], progress: bool) -> None:
    """Run `jobs` on `executor` with the live view, turning Ctrl-C and SIGTERM into a stop in steps."""
    view = ProgressView(len(jobs), enabled=progress)
    try:
        with _InterruptCounter() as interrupts, view:
            executor.start(jobs)
            handled = 0
            while True:
                more = executor.active()
                for result in executor.results(timeout=0.05):
                    view.finished(result)
                    if result.stop_reason == "interrupted":
                        executor.stop_scheduling()  # the run is being stopped, or the stop file exists
                if not more:
                    break
                if interrupts.count > handled:
                    before, handled = handled, interrupts.count
                    _escalate(before, handled, executor)
    finally:
        executor.close()
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


def _escalate(before: int, now: int, executor: Executor) -> None:
    """Act on interrupts `before`+1 to `now`: the first starts no new instances, the second stops the episodes in
    progress before their next step; either way they end recorded, each with its result file."""
    executor.stop_scheduling()
    running = executor.running()
    if now == 1:
        logger.warning("interrupted: finishing the episodes in progress ({} workers), starting no new ones (Ctrl-C "
                       "again to stop them at their next step; a rerun into the same folder picks up where this one "
                       "stopped)", running)
        return
    executor.stop_episodes()
    if before < 2:
        logger.warning("interrupted again: stopping the episodes in progress ({} workers) before their next step; "
                       "they are recorded as interrupted and run again by a rerun into the same folder", running)
    if now > 2:
        logger.warning("still waiting for the episodes in progress ({} workers) to reach their next step; `kill -9 {}` "
                       "leaves at once (a rerun into the same folder runs them again)", running, os.getpid())
