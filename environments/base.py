"""The environment protocol: observe the screen at native resolution, act from a typed action, close.

Drivers receive actions whose points are already in their own coordinates (see `actions.geometry`);
they never see the model's image space.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from PIL import Image
from pydantic import BaseModel, ConfigDict

from actions.base import Action
from actions.geometry import ScreenGeometry
from actions.space import ActionSpace


class DriverError(Exception):
    """Base of the errors drivers raise; messages say what was wrong and what to do."""


class ActionFailed(DriverError):
    """This action could not be carried out (unknown key, app not installed); the episode can go on and
    the message is shown to the model."""


class EnvironmentUnavailable(DriverError):
    """The environment cannot start or has died (no display, browser crashed, device gone); the episode ends."""


class Dialog(BaseModel):
    """A JS dialog open on a page: `type` is alert, confirm, prompt or beforeunload."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    type: str
    message: str


class ObservationExtras(BaseModel):
    """What a driver can say about the screen besides the screenshot; each driver fills its own fields.

    The fields are in the order each driver recorded them as a dict, so `model_dump(exclude_none=True)` gives the
    same JSON in steps.jsonl. An unknown field is refused: a new one is added here, typed.
    """

    # Strict: what a driver puts here is recorded as it is, never coerced into something else.
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    # The browser: the page's address, how many tabs are open, the page's title, or the dialog in front of it.
    url: str | None = None
    tabs: int | None = None
    title: str | None = None
    dialog: Dialog | None = None
    # The desktop: the monitor captured and the focused window's title.
    monitor: int | None = None
    window_title: str | None = None
    # Android: the app and activity in front, whether the frame came back all black (a secure window), and the
    # accessibility tree as uiautomator's XML.
    foreground_package: str | None = None
    foreground_activity: str | None = None
    black_frame: bool | None = None
    accessibility_tree: str | None = None


@dataclass(frozen=True)
class Observation:
    """One look at the screen.

    `screenshot` is in physical pixels at native resolution; `geometry` says how those pixels relate to
    the coordinates the driver acts in. `extras` carries what a driver can add (url, title, foreground
    app, accessibility tree) as typed optional fields. `warnings` are what the model should know about the
    screen or its last action (text typed where no field has focus, an all-black frame): one short line
    each, shown to it in the next prompt.
    """

    screenshot: Image.Image
    geometry: ScreenGeometry
    extras: ObservationExtras = field(default_factory=ObservationExtras)
    warnings: tuple[str, ...] = ()
    captured_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if self.screenshot.size != (self.geometry.width, self.geometry.height):
            raise EnvironmentUnavailable(
                f"screenshot is {self.screenshot.size[0]}x{self.screenshot.size[1]} but the driver reported a "
                f"{self.geometry.width}x{self.geometry.height} screen; this is a driver bug, please report it"
            )


@runtime_checkable
class Environment(Protocol):
    """What the agent loop needs from a place to act: a driver for a desktop, a browser or a phone."""

    action_space: ActionSpace

    def reset(self) -> Observation:
        """Bring the environment to its starting state and observe it."""
        ...

    def observe(self) -> Observation:
        """Capture the screen as it is now."""
        ...

    def act(self, action: Action) -> None:
        """Carry out one action (points in driver coordinates) and wait, bounded, for its effect.

        Raises ActionFailed for an action that cannot be done, EnvironmentUnavailable when the
        environment is gone. Terminate and answer are never passed here.
        """
        ...

    def close(self) -> None:
        """Release everything the environment holds; safe to call twice."""
        ...


class EnvironmentWrapper:
    """An environment around another one (`inner`): it forwards the protocol, and subclasses change what they
    need. `unwrapped` is the driver at the bottom; capabilities are found through the layers
    (`environments.capabilities.capability`)."""

    def __init__(self, inner: Environment) -> None:
        self.inner = inner
        self.action_space: ActionSpace = inner.action_space

    @property
    def unwrapped(self) -> Environment:
        inner = self.inner
        return inner.unwrapped if isinstance(inner, EnvironmentWrapper) else inner

    def reset(self) -> Observation:
        return self.inner.reset()

    def observe(self) -> Observation:
        return self.inner.observe()

    def act(self, action: Action) -> None:
        self.inner.act(action)

    def close(self) -> None:
        self.inner.close()
