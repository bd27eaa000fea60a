"""The browser driver's settings: which Chromium, how big a viewport, how long to wait."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from environments.sites import site_problem

# Where Chromium draws and how input reaches it:
#   virtual   a headed Chromium in kiosk mode on an X display the driver starts (Xvfb); input is real X
#             events and the screenshot is the X screen, so native widgets and JS dialogs are seen and used
#             as on a person's desktop;
#   headless  Chromium's headless mode, page-level input: native popups (a <select> list, a date picker)
#             are neither drawn nor reachable by the pointer, and JS dialogs are not drawn;
#   window    a visible window on the user's own display (to watch), with page-level input like headless,
#             so the agent never moves the user's pointer;
#   auto      virtual where it can run (Linux with Xvfb, a viewport at least 500 CSS px wide), else headless.
DisplayMode = Literal["auto", "virtual", "headless", "window"]
DISPLAY_MODES: tuple[str, ...] = ("auto", "virtual", "headless", "window")


class BrowserSettings(BaseModel):
    """How to start and drive the browser. Times are in seconds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    executable_path: Path | None = Field(
        default=None, description="Chromium binary; None finds one (Playwright's own, then chromium on PATH)."
    )
    display: DisplayMode = "auto"
    viewport_width: int = Field(default=1280, ge=64, le=7680)
    viewport_height: int = Field(default=800, ge=64, le=4320)
    device_scale_factor: float = Field(default=1.0, gt=0, le=4)
    start_url: str = "about:blank"
    site: str | None = Field(
        default=None, description="A shipped site (environments/sites) to serve on this machine and start on, "
        "instead of start_url."
    )
    navigation_timeout: float = Field(default=15.0, gt=0, description="Bound on goto/back/forward and reset.")
    launch_timeout: float = Field(
        default=60.0, gt=0, description="Bound on starting Chromium (and its virtual display): slow under load."
    )
    action_timeout: float = Field(default=10.0, gt=0, description="Bound on a screenshot and on other page calls.")
    settle_timeout: float = Field(
        default=3.0, ge=0, description="After each action, wait at most this long for the page to settle: loaded, "
        "no request in flight, two animation frames drawn."
    )
    settle_delay: float = Field(
        default=0.0, ge=0, description="An extra pause after each action, before waiting for the page to settle."
    )
    upload_dir: Path | None = Field(
        default=None, description="Files the page may be given when it opens a file chooser; None: uploads are off."
    )
    drag_steps: int = Field(default=8, ge=1, description="Mouse moves between press and release of a drag.")
    touch: bool = Field(
        default=False, description="A phone: the MOBILE action space (tap, long press, swipe, type, system buttons) "
        "with touch input on the page (environments.browser.touch), instead of the mouse and keyboard's BROWSER."
    )
    extra_args: tuple[str, ...] = ()
    locale: str = "en-US"

    @field_validator("site")
    @classmethod
    def _known_site(cls, name: str | None) -> str | None:
        if name is not None and (why := site_problem(name)):
            raise ValueError(why)
        return name

    @model_validator(mode="after")
    def _one_start(self) -> BrowserSettings:
        if self.site is not None and self.start_url != "about:blank":
            raise ValueError(f"both a site ({self.site!r}) and a start address ({self.start_url!r}) were given; "
                             "give one: the site is served on this machine and opened first")
        return self
