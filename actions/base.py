"""What every action shares: frozen pydantic models, points, and the mapping of points between spaces."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

Point = tuple[int, int]


# A number given as a string must be one whole number, as JSON writes it ("12", "-3.5", "1e2"); float() alone
# would also take "1_000", "nan" and "inf".
_NUMBER_TEXT = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")


def coerce_number(value: Any) -> Any:
    """A number, or a string holding one, as a float; true and false are refused (pydantic's lax mode would read
    them as 1 and 0, and `[true, 5]` would become a click at (1, 5))."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {str(value).lower()}; write the number itself")
    if isinstance(value, str):
        if not _NUMBER_TEXT.fullmatch(value.strip()):
            raise ValueError(f"expected a number, got the string {value!r}; write the number itself")
        return float(value)
    return value


def _coerce_pixel(value: Any) -> Any:
    value = coerce_number(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"expected a pixel position, got {value}")
        return round(value)
    return value


def _coerce_point(value: Any) -> Any:
    """Accept [x, y] as numbers or numeric strings ("[12, 40]", ["12", "40"], [12.6, 40.2]); round to pixels."""
    if isinstance(value, str):
        value = [p.strip() for p in value.strip().strip("[]()").split(",")]
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return tuple(_coerce_pixel(v) for v in value)
    return value


PointField = Annotated[Point, BeforeValidator(_coerce_point)]


# The bounds come before the validator so pydantic writes them as JSON-schema minimum/maximum, which
# constrained decoding needs to keep a number from running on.
Seconds = Annotated[float, Field(ge=0, le=60), BeforeValidator(coerce_number)]


class Action(BaseModel):
    """Base of every action. Subclasses set `action` to a literal tag and declare their point fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: str
    # Fields holding screen points; mapping between coordinate spaces touches these and nothing else.
    point_fields: ClassVar[tuple[str, ...]] = ()
    # True for actions that end the episode (terminate, answer).
    ends_episode: ClassVar[bool] = False

    def points(self) -> list[Point]:
        return [p for name in self.point_fields if (p := getattr(self, name)) is not None]

    def map_points(self, fn: Callable[[Point], Point]) -> Action:
        """A copy with every point passed through `fn` (model space to driver space, say)."""
        updates = {name: fn(p) for name in self.point_fields if (p := getattr(self, name)) is not None}
        return self.model_copy(update=updates) if updates else self

    def arguments(self) -> dict[str, Any]:
        """The `arguments` object of the tool call, as the model writes it."""
        return self.model_dump(mode="json", exclude_none=True)


# Actions both spaces share, with the argument names of Qwen's tools.


class Type(Action):
    """Type a string of text into the focused input."""

    action: Literal["type"] = "type"
    text: str = Field(description="Text to type.")


class Wait(Action):
    """Wait for the screen to change."""

    action: Literal["wait"] = "wait"
    time: Seconds = Field(default=1.0, description="Seconds to wait.")


class Terminate(Action):
    """End the task and report whether it was completed."""

    action: Literal["terminate"] = "terminate"
    status: Literal["success", "failure"] = Field(description="Whether the task was completed.")
    ends_episode: ClassVar[bool] = True


# Our extension for question tasks: Qwen2.5-VL's tools have no `answer` (Qwen3-VL added it).
class Answer(Action):
    """Answer the user's question and end the task."""

    action: Literal["answer"] = "answer"
    text: str = Field(description="The answer to the user's question.")
    ends_episode: ClassVar[bool] = True
