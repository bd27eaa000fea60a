"""The environment protocol: observe the screen at native resolution, act from a typed action, close.

Drivers receive actions whose points are already in their own coordinates (see `actions.geometry`);
they never see the model's image space.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from PIL import Image

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


@dataclass(frozen=True)
class Observation:
    """One look at the screen.

    `screenshot` is in physical pixels at native resolution; `geometry` says how those pixels relate to
    the coordinates the driver acts in. `extras` carries what a driver can add (url, title, foreground
    app, accessibility tree) as plain JSON-able values. `warnings` are what the model should know about the
    screen or its last action (text typed where no field has focus, an all-black frame): one short line
    each, shown to it in the next prompt.
    """

    screenshot: Image.Image
    geometry: ScreenGeometry
    extras: dict[str, Any] = field(default_factory=dict)
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
