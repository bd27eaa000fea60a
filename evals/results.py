"""Result records: one JSON file per task instance, written atomically the moment the instance ends."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from agent.cli_flags import UsageError
from agent.models.identity import ModelIdentity
from agent.recording import write_json_atomic
from evals.instance_log import LOG_FILE

Outcome = Literal["success", "failure", "error"]
RESULT_FILE = "result.json"
MANIFEST_FILE = "eval.json"
INSTANCES_DIR = "instances"


class ResultsFolderError(UsageError):
    """The output folder cannot be used as it is; nothing in it was changed."""


class StepLatency(BaseModel):
    """Mean seconds per step in each phase (capture: screenshot; model: generate; act: the driver)."""

    capture: float = 0.0
    model: float = 0.0
    act: float = 0.0
    total: float = 0.0


class InstanceResult(BaseModel):
    instance_id: str
    suite: str
    task: str
    difficulty: str
    index: int
    seed: int
    agent: str
    # None only in results written before results named their model.
    model: ModelIdentity | None = None
    outcome: Outcome
    score: float | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    goal: str | None = None
    terminated: bool = False
    stop_reason: str | None = None
    agent_status: str | None = None
    steps: int = 0
    max_steps: int = 0
    error: str | None = None
    episode_dir: str | None = None  # relative to the eval's output folder
    latency: StepLatency = Field(default_factory=StepLatency)
    wall_s: float | None = Field(default=None, description="Seconds the episode took on the wall clock.")
    page_s: float | None = Field(default=None, description="Seconds the task's own clock (a page's timers) ran in "
                                 "the episode: only while the agent acted. None where the task keeps no clock.")
    started_at: float = 0.0
    finished_at: float = 0.0
    attempt: int = 1


def _check_same_model(root: Path, recorded: Any, asked: ModelIdentity) -> None:
    if recorded is None:
        raise ResultsFolderError(
            f"{root} holds an eval that does not say which model produced it (written before results named their "
            f"model), so results of {asked.short()} cannot join it; choose another --out")
    try:
        old = ModelIdentity.model_validate(recorded)
    except ValidationError as e:
        raise ResultsFolderError(f"{root / MANIFEST_FILE} has a damaged model entry ({str(e).splitlines()[0]}); "
                                 "choose another --out") from None
    changed = old.differs(asked)
    if changed:
        what = ", ".join(f"{k}={getattr(old, k)!r}, not {getattr(asked, k)!r}" for k in changed)
        raise ResultsFolderError(
            f"{root} holds an eval of another model ({what}); resume it with the same model, engine and pixel "
            "limits, or choose another --out")


def next_attempt(previous: InstanceResult | None) -> int:
    """The number of an instance's next attempt, after the one recorded (None: none yet)."""
    return previous.attempt + 1 if previous else 1


def instance_id(task: str, index: int) -> str:
    return f"{task}__{index}"


class ResultStore:
    """The eval output folder: `eval.json` (what was asked), `instances/<id>/result.json` and episodes."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise ResultsFolderError(f"{self.root} is a file, not a folder; choose another --out")

    def open(self, manifest: dict[str, Any]) -> None:
        """Create the folder, or check that one from an earlier run asked for the same suite, agent, seed and
        model (`manifest["model"]`, a ModelIdentity's dump): results of two models must not mix in one summary."""
        path = self.root / MANIFEST_FILE
        if path.exists():
            try:
                old = json.loads(path.read_text(encoding="utf-8"))
            except (ValueError, OSError) as e:
                raise ResultsFolderError(
                    f"{path} is unreadable ({e}); this does not look like an eval folder we wrote. Choose another "
                    "--out, or move that file away to reuse the folder (its results are left untouched)") from None
            for key in ("suite", "agent", "seed"):
                if old.get(key) != manifest.get(key):
                    raise ResultsFolderError(
                        f"{self.root} holds an eval with {key}={old.get(key)!r}, not {manifest.get(key)!r}; resume it "
                        f"with the same --suite/--agent/--seed or choose another --out")
            _check_same_model(self.root, old.get("model"), ModelIdentity.model_validate(manifest["model"]))
        elif self.root.exists() and any(self.root.iterdir()) and not (self.root / INSTANCES_DIR).is_dir():
            raise ResultsFolderError(
                f"{self.root} is not empty and holds no eval ({MANIFEST_FILE} is missing); choose an empty or new --out")
        (self.root / INSTANCES_DIR).mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, {**manifest, "updated_at": time.time()})

    def instance_dir(self, iid: str) -> Path:
        return self.root / INSTANCES_DIR / iid

    def log_path(self, iid: str) -> Path:
        return self.instance_dir(iid) / LOG_FILE

    def load(self, iid: str) -> InstanceResult | None:
        """The recorded result of an instance, None when it has none. A damaged file is a clear error."""
        path = self.instance_dir(iid) / RESULT_FILE
        if not path.exists():
            return None
        try:
            return InstanceResult.model_validate_json(path.read_text(encoding="utf-8"))
        except (ValidationError, ValueError, OSError) as e:
            raise ResultsFolderError(
                f"{path} is not a valid result record ({str(e).splitlines()[0]}); move it away to rerun that instance "
                "(nothing else is touched)") from None

    def all_results(self) -> list[InstanceResult]:
        base = self.root / INSTANCES_DIR
        out = []
        for d in sorted(base.iterdir()) if base.is_dir() else []:
            if (d / RESULT_FILE).exists():
                r = self.load(d.name)
                if r is not None:
                    out.append(r)
        return out

    def prepare_retry(self, iid: str) -> int:
        """Before (re)running an instance: keep an earlier attempt's files under `attempt-N/`; returns the
        number of this attempt. The instance's log stays where it is: every attempt appends to it."""
        d = self.instance_dir(iid)
        previous = self.load(iid)
        attempt = next_attempt(previous)
        leftovers = ([p for p in d.iterdir() if not p.name.startswith("attempt-") and p.name != LOG_FILE]
                     if d.is_dir() else [])
        if leftovers:
            keep = d / f"attempt-{attempt - 1 if previous else 0}"
            n = 0
            while keep.exists():
                n += 1
                keep = d / f"attempt-{attempt - 1}-{n}"
            keep.mkdir(parents=True)
            for p in leftovers:
                shutil.move(str(p), str(keep / p.name))
        d.mkdir(parents=True, exist_ok=True)
        return attempt

    def save(self, result: InstanceResult) -> None:
        d = self.instance_dir(result.instance_id)
        d.mkdir(parents=True, exist_ok=True)
        write_json_atomic(d / RESULT_FILE, result.model_dump(mode="json"))
