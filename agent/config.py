"""Settings of the agent loop: one object instead of many keyword arguments."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class AgentConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_steps: int = Field(default=30, ge=1, le=1000, description="Steps before the episode is stopped.")
    history_images: int = Field(
        default=1, ge=1, le=8, description="Screenshots shown to the model, the current one included."
    )
    retries_on_bad_answer: int = Field(
        default=1, ge=0, le=3, description="Re-prompts quoting the error when an answer cannot be used."
    )
    stuck_after: int = Field(
        default=3, ge=2, le=50,
        description="Stop as stuck after this many identical actions in a row that leave the screen unchanged.",
    )
    dry_run: bool = Field(default=False, description="Show each action but execute nothing.")
    answer: bool = Field(
        default=False, description="Offer the model `answer` (our extension) for a task that asks a question."
    )
    extra_instructions: str = Field(default="", description="Appended to the system prompt.")
    stop_file: Path | None = Field(
        default=None, description="When this file exists, the loop stops before the next step (a kill switch)."
    )
