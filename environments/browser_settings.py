"""The browser driver's settings: which Chromium, how big a viewport, how long to wait."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class BrowserSettings(BaseModel):
    """How to start and drive the browser. Times are in seconds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    executable_path: Path | None = Field(
        default=None, description="Chromium binary; None finds one (Playwright's own, then chromium on PATH)."
    )
    headless: bool = True
    viewport_width: int = Field(default=1280, ge=64, le=7680)
    viewport_height: int = Field(default=800, ge=64, le=4320)
    device_scale_factor: float = Field(default=1.0, gt=0, le=4)
    start_url: str = "about:blank"
    navigation_timeout: float = Field(default=15.0, gt=0, description="Bound on goto/back/forward and reset.")
    action_timeout: float = Field(default=10.0, gt=0, description="Bound on a screenshot and on other page calls.")
    settle_timeout: float = Field(
        default=3.0, ge=0, description="After each action, wait at most this long for load and network idle."
    )
    settle_delay: float = Field(
        default=0.1, ge=0, description="Pause after each action so new tabs, navigations and paints can start."
    )
    drag_steps: int = Field(default=8, ge=1, description="Mouse moves between press and release of a drag.")
    extra_args: tuple[str, ...] = ()
    locale: str = "en-US"
