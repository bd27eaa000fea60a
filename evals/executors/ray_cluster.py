"""`--executor ray`: each instance is a Ray task that creates its own environment (and agent qwen's model, unless
a server holds it) on the node Ray places it on, and writes its files straight into the results folder.

Results go to a shared folder, not back through Ray: an episode is recorded step by step as it runs, so a worker
that dies mid-episode leaves everything it did on disk (the driver then writes the instance's error result
beside it); results streamed back at the end would lose exactly those. On one machine the folder is simply
shared; across machines --out must be a path every node mounts (NFS or the like), which each task checks.

What each instance asks the cluster for (Ray starts it only on a node with all of them free):
- CPU: `RaySettings.cpus_per_instance` (a browser or simulated phone and the agent loop).
- GPU: `gpus_per_instance`; by default 1 when agent qwen loads its model locally, 0 with a --base-url server.
- `android_device`: 1 for a task on a real device or emulator (the `android` suite); a node with one declares it,
  `ray start ... --resources '{"android_device": 1}'` (one per node: the instance uses the device its node's adb
  server has). The simulated `phone` suite starts its own phone per instance and needs only an adb server there.

Ray's own retries are off (max_retries=0): an instance whose worker died is an error, retried by a rerun, as
every other error is (evals.attempt): one retry mechanism, whichever executor ran it.
"""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ray
from loguru import logger
from ray.exceptions import RayError, RayTaskError, TaskCancelledError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from agent.cli_flags import UsageError
from agent.logs import enable_logs
from evals.attempt import Job, SharedModel, close_environments, create_model, record_lost, run_job
from evals.instance_log import first_line
from evals.plan import EvalSettings
from evals.results import MANIFEST_FILE, InstanceResult
from evals.task import Task

ANDROID_DEVICE = "android_device"


class SharedFolderError(RuntimeError):
    """The results folder is not visible where an instance runs."""


@ray.remote(num_cpus=0)
class _Gate:
    """The driver's word to the tasks: whether they may still start, and whether episodes must end now. Every task
    asks before it starts, so the driver knows which have started (and cancels the others) when it stops."""

    def __init__(self) -> None:
        self._open = True
        self._admitted: set[str] = set()
        self._end_episodes = False

    def admit(self, iid: str) -> bool:
        if self._open:
            self._admitted.add(iid)
        return self._open

    def close(self) -> list[str]:
        self._open = False
        return sorted(self._admitted)

    def end_episodes(self) -> None:
        self._end_episodes = True

    def episodes_ended(self) -> bool:
        return self._end_episodes


class _GateFlag:
    """The gate's end-of-episodes word as the StopFlag an episode's model checks before each answer."""

    def __init__(self, gate: Any) -> None:
        self._gate = gate

    def is_set(self) -> bool:
        try:
            return bool(ray.get(self._gate.episodes_ended.remote(), timeout=60))
        except RayError:
            return True  # the driver is gone: end the episode, recorded, rather than run on for nobody


_worker_logs_on = False


def _worker_logs() -> None:
    """In a worker process: the project's logs on, info and up to stderr (Ray shows them on the driver's console,
    prefixed by the worker); each instance's log file gets everything, as with threads."""
    global _worker_logs_on
    if not _worker_logs_on:
        enable_logs()
        logger.remove()
        logger.add(sys.stderr, level="INFO", format="{level: <7} {message}", diagnose=False, colorize=False)
        _worker_logs_on = True


@ray.remote(max_retries=0)  # our attempts retry, not Ray's (see the module's doc)
def _run_remote(job: Job, gate: Any, model_settings: Any) -> InstanceResult | None:
    if not ray.get(gate.admit.remote(job.instance.id)):
        return None  # the run was stopped before this instance started: no attempt, as with threads
    _worker_logs()
    out = Path(job.settings.out)
    if not (out / MANIFEST_FILE).is_file():
        raise SharedFolderError(
            f"the results folder {out} is not visible on node {socket.gethostname()}: instances write their files "
            "where they run, so --out must be a folder every node mounts at the same path (NFS or the like)")
    envs: dict[str, Any] = {}
    model = SharedModel(create_model(model_settings)) if job.settings.agent == "qwen" else None
    try:
        return run_job(job, envs, model, _GateFlag(gate))
    finally:
        close_environments(envs)
        if model is not None:
            model.inner.close()


def needs_device(task_cls: type[Task]) -> bool:
    """A task on a real Android device or emulator (the simulated phone brings its own)."""
    return task_cls.environment == "android" and not task_cls.environment_options().get("simulated_phone")


def instance_resources(settings: EvalSettings, model_settings: Any, task_cls: type[Task]) -> dict[str, float]:
    """What one instance of `task_cls` asks the cluster for, in Ray's resource names."""
    gpus = settings.ray.gpus_per_instance
    if gpus is None:
        local_model = settings.agent == "qwen" and not getattr(model_settings, "base_url", None)
        gpus = 1.0 if local_model and getattr(model_settings, "device", "auto") != "cpu" else 0.0
    need = {"CPU": settings.ray.cpus_per_instance, "GPU": gpus}
    if needs_device(task_cls):
        need[ANDROID_DEVICE] = 1.0
    return {k: v for k, v in need.items() if v > 0}


class RayExecutor:
    def __init__(self, settings: EvalSettings, model_settings: Any) -> None:
        self._settings = settings
        self._model_settings = model_settings
        self._owns_connection = _connect(settings.ray.address)
        self._gate = _Gate.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
            ray.get_runtime_context().get_node_id(), soft=True)).remote()  # lives and dies with the driver's node
        self._pending: dict[ray.ObjectRef, Job] = {}
        self._admitted: set[str] | None = None  # the instances that started, once scheduling stopped

    def start(self, jobs: Sequence[Job]) -> None:
        shapes = {job.instance.task_cls: instance_resources(self._settings, self._model_settings, job.instance.task_cls)
                  for job in jobs}
        for need in {tuple(sorted(n.items())) for n in shapes.values()}:
            _check_cluster_offers(dict(need))
        for job in jobs:
            need = dict(shapes[job.instance.task_cls])
            options: dict[str, Any] = {"num_cpus": need.pop("CPU", 0), "num_gpus": need.pop("GPU", 0),
                                       "resources": need}
            self._pending[_run_remote.options(**options).remote(job, self._gate, self._model_settings)] = job

    def results(self, timeout: float) -> list[InstanceResult]:
        if not self._pending:
            return []
        ready, _ = ray.wait(list(self._pending), num_returns=1, timeout=timeout)
        if ready:
            ready, _ = ray.wait(list(self._pending), num_returns=len(self._pending), timeout=0)
        out: list[InstanceResult] = []
        for ref in ready:
            job = self._pending.pop(ref)
            try:
                result = ray.get(ref)
            except TaskCancelledError:
                continue  # cancelled before it started: it has no attempt, as an instance threads never took
            except RayError as e:
                result = record_lost(job, _why(e), details=str(e))
            if result is not None:
                out.append(result)
        return out

    def active(self) -> bool:
        return bool(self._pending)

    def running(self) -> int:
        if self._admitted is None:
            return len(self._pending)
        return sum(job.instance.id in self._admitted for job in self._pending.values())

    def stop_scheduling(self) -> None:
        if self._admitted is not None:
            return
        self._admitted = set(ray.get(self._gate.close.remote()))
        for ref, job in self._pending.items():
            if job.instance.id not in self._admitted:
                ray.cancel(ref)  # still queued, or asking the gate (which now says no): it never runs an episode

    def stop_episodes(self) -> None:
        ray.get(self._gate.end_episodes.remote())

    def close(self) -> None:
        for ref in self._pending:
            ray.cancel(ref)  # only after an error of the runner's own: a finished run has nothing pending
        ray.kill(self._gate)
        if self._owns_connection:
            ray.shutdown()


def _connect(address: str | None) -> bool:
    """Join the cluster at `address`, or start a local one; False when this process was already connected."""
    if ray.is_initialized():
        return False
    try:
        if address:
            ray.init(address=address, logging_level=logging.WARNING)
        else:
            ray.init(include_dashboard=False, logging_level=logging.WARNING)
    except ConnectionError as e:
        raise UsageError(f"could not join the Ray cluster at {address!r} ({first_line(str(e))}); start one with "
                         "`ray start --head` (and `ray start --address HEAD:6379` on the other machines), or leave "
                         "out --ray-address to start a local one") from None
    return True


def _check_cluster_offers(need: dict[str, float]) -> None:
    """Refuse at once what no node offers: Ray would wait for such a node forever."""
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if any(all(n["Resources"].get(k, 0) >= v for k, v in need.items()) for n in nodes):
        return
    offered = "; ".join(", ".join(f"{k}={v:g}" for k, v in sorted(n["Resources"].items())
                                  if not k.startswith(("node:", "memory", "object_store"))) for n in nodes)
    hints = {"GPU": "give --ray-gpus-per-instance 0 for a model on the CPU, or serve the model (--base-url)",
             "CPU": "lower --ray-cpus-per-instance",
             ANDROID_DEVICE: f"start the nodes that have a device with --resources '{{\"{ANDROID_DEVICE}\": 1}}'"}
    short = [k for k in need if not any(n["Resources"].get(k, 0) >= need[k] for n in nodes)] or list(need)
    raise UsageError(f"no node of the Ray cluster offers what an instance needs "
                     f"({', '.join(f'{k}={v:g}' for k, v in need.items())}); the nodes offer: {offered or 'nothing'}; "
                     + "; ".join(hints.get(k, f"add nodes with {k}") for k in short))


def _why(e: RayError) -> str:
    if isinstance(e, RayTaskError):
        cause = getattr(e, "cause", None) or e
        return f"it raised on its worker: {type(cause).__name__}: {first_line(str(cause))}"
    return f"its worker died ({type(e).__name__}: {first_line(str(e))})"
