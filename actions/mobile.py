"""The mobile action space: Qwen2.5-VL's `mobile_use` tool."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from actions.base import Action, PointField, Seconds, Terminate, Type, Wait


class MobileKey(Action):
    """Send one key event by adb's keyevent name ("volume_up", "power", "KEYCODE_CAMERA")."""

    action: Literal["key"] = "key"
    text: str = Field(min_length=1, description="Key event name.")


class Click(Action):
    """Tap a point."""

    action: Literal["click"] = "click"
    coordinate: PointField = Field(description="(x, y): pixels from the left and top edges.")
    point_fields: ClassVar[tuple[str, ...]] = ("coordinate",)


class LongPress(Action):
    """Press and hold a point."""

    action: Literal["long_press"] = "long_press"
    coordinate: PointField = Field(description="(x, y): pixels from the left and top edges.")
    time: Seconds = Field(default=2.0, description="Seconds to hold.")
    point_fields: ClassVar[tuple[str, ...]] = ("coordinate",)


class Swipe(Action):
    """Swipe from `coordinate` to `coordinate2`."""

    action: Literal["swipe"] = "swipe"
    coordinate: PointField = Field(description="(x, y): where the swipe starts.")
    coordinate2: PointField = Field(description="(x, y): where the swipe ends.")
    point_fields: ClassVar[tuple[str, ...]] = ("coordinate", "coordinate2")


class SystemButton(Action):
    """Press a system button: Back, Home, Menu (recent apps) or Enter."""

    action: Literal["system_button"] = "system_button"
    button: Literal["Back", "Home", "Menu", "Enter"] = Field(description="Which system button.")


class Open(Action):
    """Open an app by its name."""

    action: Literal["open"] = "open"
    text: str = Field(min_length=1, description="The app's name.")


MOBILE_ACTIONS: tuple[type[Action], ...] = (
    MobileKey,
    Click,
    LongPress,
    Swipe,
    Type,
    SystemButton,
    Open,
    Wait,
    Terminate,
)
