"""The computer action space: Qwen2.5-VL's `computer_use` tool."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field

from actions.base import Action, PointField, Terminate, Type, Wait, coerce_number


def _split_combo(value: Any) -> Any:
    """Models sometimes write one string ("ctrl+c") where the tool wants a list of keys."""
    if isinstance(value, str):
        return [k.strip() for k in value.split("+")] if value.strip() != "+" else ["+"]
    return value


class Key(Action):
    """Press keys together: each is pressed in order, then released in reverse (["ctrl", "c"])."""

    action: Literal["key"] = "key"
    keys: Annotated[list[str], BeforeValidator(_split_combo)] = Field(min_length=1, max_length=6, description="Key names, pressed in order, released in reverse.")


class MouseMove(Action):
    """Move the cursor to a point."""

    action: Literal["mouse_move"] = "mouse_move"
    coordinate: PointField = Field(description="(x, y): pixels from the left and top edges.")
    point_fields: ClassVar[tuple[str, ...]] = ("coordinate",)


class _Click(Action):
    coordinate: PointField | None = Field(
        default=None, description="(x, y): where to click; the cursor's current place when left out."
    )
    point_fields: ClassVar[tuple[str, ...]] = ("coordinate",)


class LeftClick(_Click):
    """Click the left mouse button."""

    action: Literal["left_click"] = "left_click"


class RightClick(_Click):
    """Click the right mouse button."""

    action: Literal["right_click"] = "right_click"


class MiddleClick(_Click):
    """Click the middle mouse button."""

    action: Literal["middle_click"] = "middle_click"


class DoubleClick(_Click):
    """Double-click the left mouse button."""

    action: Literal["double_click"] = "double_click"


class LeftClickDrag(Action):
    """Press the left button at the cursor (or at `start_coordinate`), drag to `coordinate`, release."""

    action: Literal["left_click_drag"] = "left_click_drag"
    coordinate: PointField = Field(description="(x, y): where the drag ends.")
    start_coordinate: PointField | None = Field(
        default=None, description="(x, y): where the drag starts; the cursor's current place when left out."
    )
    point_fields: ClassVar[tuple[str, ...]] = ("start_coordinate", "coordinate")


class Scroll(Action):
    """Turn the scroll wheel: positive pixels scroll up, negative scroll down."""

    action: Literal["scroll"] = "scroll"
    pixels: Annotated[int, Field(ge=-10000, le=10000), BeforeValidator(coerce_number)] = Field(
        description="Amount to scroll; positive is up, negative is down."
    )
    coordinate: PointField | None = Field(
        default=None, description="(x, y): where to scroll; the cursor's current place when left out."
    )
    point_fields: ClassVar[tuple[str, ...]] = ("coordinate",)


COMPUTER_ACTIONS: tuple[type[Action], ...] = (
    Key,
    Type,
    MouseMove,
    LeftClick,
    LeftClickDrag,
    RightClick,
    MiddleClick,
    DoubleClick,
    Scroll,
    Wait,
    Terminate,
)
