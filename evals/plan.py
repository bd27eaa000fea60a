"""What an eval run is asked to do: its settings, and the task instances they plan (one per task and draw)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from loguru import logger
from pydantic import BaseModel, ConfigDict, Field

from agent.config import AgentConfig
from evals.registry import get_suite
from evals.results import instance_id
from evals.task import Task

AgentName = Literal["qwen", "oracle", "noop"]
ExecutorName = Literal["threads", "ray"]


class RaySettings(BaseModel):
    """Where `--executor ray` runs and what each instance asks the cluster for (see the README's "Running a study
    on a cluster"). Ray places an instance only on a node that has all of these free."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    address: str | None = Field(default=None, description="A cluster to join ('auto', HOST:PORT); None starts a "
                                "local one for this run.")
    cpus_per_instance: float = Field(default=1.0, gt=0, description="CPUs an instance's environment (a browser, a "
                                     "simulated phone) and agent loop take.")
    gpus_per_instance: float | None = Field(default=None, ge=0, description="GPUs for an instance's own model; None: "
                                            "1 when agent qwen loads the model locally, else 0 (a --base-url server "
                                            "holds the model).")


class EvalSettings(BaseModel):
    """Everything one eval run needs; the CLI maps its flags one to one onto these fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    suite: str
    out: Path
    tasks: tuple[str, ...] | None = Field(default=None, description="Task names; None runs the whole suite.")
    n_combinations: int = Field(default=1, ge=1, le=1000, description="Instances (parameter draws) per task.")
    seed: int = Field(default=0, ge=0, description="Base seed; each instance's seed derives from it.")
    agent: AgentName = "qwen"
    workers: int = Field(default=1, ge=1, le=64, description="threads: parallel workers, each with its own "
                         "environment (ray: the cluster's resources decide).")
    environment: dict[str, Any] = Field(
        default_factory=dict, description="Driver settings applied to every environment (headless, serial, ...)."
    )
    agent_config: AgentConfig = Field(default_factory=AgentConfig, description="Loop settings; max_steps is the task's.")
    progress: bool = Field(default=True, description="Show a progress bar and print the summary table.")
    executor: ExecutorName = Field(default="threads", description="How instances are dispatched: threads of this "
                                   "process, or tasks on a Ray cluster.")
    ray: RaySettings = Field(default_factory=RaySettings)


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
