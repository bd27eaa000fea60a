"""The default executor: worker threads of this process, each with its own environments, all asking one model."""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence

from agent.models.base import ModelBackend
from environments.base import Environment
from evals.attempt import Job, close_environments, run_job
from evals.results import InstanceResult


class ThreadExecutor:
    def __init__(self, workers: int, model: ModelBackend | None) -> None:
        self._workers = workers
        self._model = model  # agent qwen's, shared by every thread (evals.attempt.SharedModel); None otherwise
        self._work: queue.Queue[Job] = queue.Queue()
        self._done: queue.Queue[InstanceResult] = queue.Queue()
        self._stop, self._end_episodes = threading.Event(), threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self, jobs: Sequence[Job]) -> None:
        for job in jobs:
            self._work.put(job)
        self._threads = [threading.Thread(target=self._worker, daemon=True, name=f"eval-worker-{i}")
                         for i in range(min(self._workers, max(1, len(jobs))))]
        for t in self._threads:
            t.start()

    def _worker(self) -> None:
        envs: dict[str, Environment] = {}
        try:
            while not self._stop.is_set():
                try:
                    job = self._work.get_nowait()
                except queue.Empty:
                    return
                result = run_job(job, envs, self._model, self._end_episodes)
                if result.stop_reason == "interrupted":
                    # The run is being stopped, or the stop file exists: take nothing new, not even before the
                    # runner reads this result.
                    self._stop.set()
                self._done.put(result)
        finally:
            close_environments(envs)

    def results(self, timeout: float) -> list[InstanceResult]:
        out: list[InstanceResult] = []
        try:
            out.append(self._done.get(timeout=timeout))
            while True:
                out.append(self._done.get_nowait())
        except queue.Empty:
            return out

    def active(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def running(self) -> int:
        return sum(t.is_alive() for t in self._threads)

    def stop_scheduling(self) -> None:
        self._stop.set()

    def stop_episodes(self) -> None:
        self._end_episodes.set()

    def close(self) -> None:
        """Nothing to release: the runner waits until every thread has ended, and each closes its environments."""
