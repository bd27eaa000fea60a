"""Replaying an eval episode: its task is set up again from the recorded seed (the same page, the same
phone state), the recorded answers stand in for the model, and the task scores what they did. Replayed on a
blank start page instead, the answers would click at nothing and the episode would claim its old success."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from actions.geometry import ImageBudget
from agent.config import AgentConfig
from agent.models.identity import reference_identity
from agent.models.replay import ReplayBackend, recording_replayed
from evals.registry import get_suite
from evals.results import InstanceResult


def replay_eval_episode(header: dict[str, Any], texts: list[str], finishes: list[str | None], budget: ImageBudget,
                        out: Path, environment: dict[str, Any]) -> InstanceResult:
    """Set the recorded instance up again, replay `texts` in it, and return its scored result; the replay's
    recording goes to `out`/<instance>/episode."""
    recorded = header["eval"]
    suite = get_suite(recorded["suite"])
    (cls,) = suite.select([recorded["task"]])
    seed = int(recorded["seed"])
    task = cls.from_seed(seed)
    instance_id = f"{cls.name}__replay-{time.strftime('%Y%m%d-%H%M%S')}"

    base = InstanceResult(instance_id=instance_id, suite=suite.name, task=cls.name, difficulty=cls.difficulty,
                          index=0, seed=seed, agent="replay", model=reference_identity("replay", budget),
                          outcome="error", params=task.params.model_dump(mode="json"))
    from evals.episode import run_instance

    env = cls.create_environment(environment)
    try:
        return run_instance(task, env, lambda _task, _env: ReplayBackend(
                            texts, budget, exhausted=lambda: recording_replayed(len(texts)), finishes=finishes),
                            base, out / instance_id, out, AgentConfig())
    finally:
        env.close()
