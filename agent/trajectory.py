"""What an episode leaves behind, as plain data: one record per step and the episode's result."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from actions.geometry import ScreenGeometry
from agent.models.base import Finish

StopReason = Literal["terminate", "answer", "max_steps", "stuck", "error", "interrupted"]


class Timings(BaseModel):
    """Seconds spent in each phase of a step."""

    capture: float = 0.0
    preprocess: float = 0.0
    model: float = 0.0
    parse: float = 0.0
    act: float = 0.0
    total: float = 0.0

    @property
    def framework(self) -> float:
        """Everything but the model's forward passes: capture, preprocessing, parsing and acting (settling
        included). What a fast model leaves as the step's floor."""
        return self.capture + self.preprocess + self.parse + self.act

    def summary(self, label: str = "per step") -> str:
        """Where the step's time went: the model against the rest of the framework."""
        share = self.framework / self.total * 100 if self.total > 0 else 0.0
        return (
            f"{label}: {self.total * 1000:.0f} ms; model {self.model * 1000:.0f} ms; the rest "
            f"{self.framework * 1000:.0f} ms ({share:.0f}%): capture {self.capture * 1000:.0f}, preprocess "
            f"{self.preprocess * 1000:.0f}, parse {self.parse * 1000:.1f}, act and settle {self.act * 1000:.0f} ms"
        )

    @classmethod
    def mean(cls, timings: Sequence[Timings]) -> Timings:
        """The phase-by-phase mean of some steps' timings (zeros for none)."""
        if not timings:
            return cls()
        n = len(timings)
        return cls(**{name: sum(getattr(t, name) for t in timings) / n for name in cls.model_fields})

    @classmethod
    def episode_summary(cls, timings: Sequence[Timings]) -> str:
        """The typical step of an episode. The first step is left out when there are others: its capture
        starts the environment and its model call warms up (grammar compile, CUDA graph capture)."""
        if len(timings) > 1:
            return cls.mean(timings[1:]).summary("per step after the first")
        return cls.mean(timings).summary()


class Attempt(BaseModel):
    """One answer of the model within a step; a step has more than one when an answer was unusable."""

    raw_text: str
    error: str | None = None
    notes: list[str] = Field(default_factory=list)
    model_seconds: float = 0.0
    prompt_tokens: int | None = None
    new_tokens: int | None = None
    # Why the model stopped (None when unknown, and in recordings made before it was kept); replays pass it on.
    finish: Finish | None = None


class SafetyRecord(BaseModel):
    """The safety policy's view of an action it held back: its verdict and why, what the action touches, and who
    decided (a human, the policy, no terminal to ask)."""

    verdict: str
    reasons: list[str] = Field(default_factory=list)
    target: str | None = None
    decision: str | None = None


class StepRecord(BaseModel):
    index: int
    screenshot: str  # file name inside the episode folder
    screen: ScreenGeometry  # the screenshot's physical size, its scale and origin
    model_image: tuple[int, int]  # (width, height) of the screenshot as the model saw it
    messages: list[dict[str, Any]]  # the prompt of the first attempt, images as placeholders
    attempts: list[Attempt]
    action: dict[str, Any] | None = None  # the tool call's arguments, in model-image coordinates
    # The tool call as the model wrote it (no defaults filled in); the next prompts' progress quotes it.
    call: dict[str, Any] | None = None
    mapped_action: dict[str, Any] | None = None  # the same in the driver's coordinates
    executed: bool = False
    # The safety policy's view of the action: verdict, reasons, and who decided when a human was asked.
    safety: SafetyRecord | None = None
    # Whether this step's screen differs from the previous step's (None on the first step).
    screen_changed: bool | None = None
    error: str | None = None  # why the step's action was not carried out, shown to the model next step
    extras: dict[str, Any] = Field(default_factory=dict)
    timings: Timings = Field(default_factory=Timings)

    def progress_line(self) -> str:
        """How this step appears in the next prompts' task progress: the model's own call, as the cookbook
        writes history, and what went wrong with it."""
        if self.call is None:
            return f"(no usable action: {self.error})"
        line = json.dumps(self.call, ensure_ascii=False)
        if self.error:
            line += f" (failed: {self.error})"
        return line


class EpisodeResult(BaseModel):
    task: str
    stop_reason: StopReason
    # Set when the agent itself ended the episode with terminate.
    status: Literal["success", "failure"] | None = None
    answer: str | None = None
    steps: int
    error: str | None = None
    out_dir: str | None = None

    @property
    def terminated(self) -> bool:
        """The agent itself stopped (terminate or answer), as opposed to being stopped."""
        return self.stop_reason in ("terminate", "answer")

    @property
    def success(self) -> bool:
        """The agent reported success (evals read success from real state instead)."""
        return self.stop_reason == "answer" or (self.stop_reason == "terminate" and self.status == "success")
