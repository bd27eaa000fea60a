"""The COMPUTER actions as calls on a driver's primitive input: one table for the browser and the desktop.

The rules the drivers share live here, so they cannot drift apart: every key is checked before the first goes
down, and keys go down in order and up in reverse even after a failure; a click without a coordinate clicks
where the pointer is; a drag starts where the pointer is unless told otherwise and releases its button whatever
happens; a scroll's positive pixels (up) turn the wheel against its positive delta (down).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from actions.base import Action, Type, Wait
from actions.computer import (
    DoubleClick,
    Key,
    LeftClick,
    LeftClickDrag,
    MiddleClick,
    MouseMove,
    RightClick,
    Scroll,
)
from environments.keys import normalize_keys

Handler = Callable[[Any], None]


class ComputerInput(Protocol):
    """A pointer and a keyboard, in the points actions give; keys as canonical names (environments.keys)."""

    @property
    def position(self) -> tuple[float, float]: ...
    def move(self, x: float, y: float) -> None: ...
    def drag_to(self, x: float, y: float) -> None:
        """Move with a button held, at the pace this driver drags."""
    def click(self, x: float, y: float, button: str, count: int) -> None: ...
    def press(self, button: str) -> None: ...
    def release(self, button: str) -> None: ...
    def check_key(self, key: str) -> None:
        """Raise ActionFailed if this driver cannot press `key`."""
    def key_down(self, key: str) -> None: ...
    def key_up(self, key: str) -> None: ...
    def type(self, text: str) -> None: ...
    def wheel(self, pixels: int) -> None:
        """Turn the wheel at the pointer: positive pixels scroll down, as a wheel's delta does."""
    def wait(self, seconds: float) -> None: ...


def computer_handlers(inp: ComputerInput) -> dict[type[Action], Handler]:
    """The handler of each COMPUTER action, by action type, carried out on `inp`."""

    def key(action: Key) -> None:
        keys = normalize_keys(action.keys)
        for name in keys:  # all before any goes down: one this driver lacks fails the action with nothing pressed
            inp.check_key(name)
        pressed: list[str] = []
        try:
            for name in keys:
                inp.key_down(name)
                pressed.append(name)
        finally:
            # Release in reverse even after a failure, so no modifier stays held for the next action.
            for name in reversed(pressed):
                inp.key_up(name)

    def click(action: Any, button: str, count: int) -> None:
        x, y = action.coordinate if action.coordinate is not None else inp.position
        inp.click(x, y, button, count)

    def drag(action: LeftClickDrag) -> None:
        inp.move(*(action.start_coordinate if action.start_coordinate is not None else inp.position))
        inp.press("left")
        try:
            inp.drag_to(*action.coordinate)
        finally:
            inp.release("left")

    def scroll(action: Scroll) -> None:
        if action.coordinate is not None:
            inp.move(*action.coordinate)
        inp.wheel(-action.pixels)

    return {
        Key: key,
        Type: lambda a: inp.type(a.text),
        MouseMove: lambda a: inp.move(*a.coordinate),
        LeftClick: lambda a: click(a, "left", 1),
        RightClick: lambda a: click(a, "right", 1),
        MiddleClick: lambda a: click(a, "middle", 1),
        DoubleClick: lambda a: click(a, "left", 2),
        LeftClickDrag: drag,
        Scroll: scroll,
        Wait: lambda a: inp.wait(a.time),
    }
