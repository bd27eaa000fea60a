"""Action spaces: which actions an environment accepts, validated as a discriminated union, and their schemas."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter, ValidationError

from actions.base import Action, Answer
from actions.browser import BROWSER_ACTIONS
from actions.computer import COMPUTER_ACTIONS
from actions.mobile import MOBILE_ACTIONS

# Model text is bounded so constrained decoding can never run away inside a string.
MAX_TEXT_CHARS = 500
# How Qwen2.5-VL's chat template asks for a call (tests/data/qwen_cookbook): the tags on their own lines.
TOOL_CALL_OPEN = "<tool_call>\n"
TOOL_CALL_CLOSE = "\n</tool_call>"


def tool_call_text(tool_name: str, arguments: dict[str, Any]) -> str:
    """A call to `tool_name` written as Qwen2.5-VL writes it: what scripted agents answer and benchmarks replay."""
    return TOOL_CALL_OPEN + json.dumps({"name": tool_name, "arguments": arguments}) + TOOL_CALL_CLOSE


class UnknownSpaceError(KeyError):
    def __str__(self) -> str:
        return f"unknown action space {self.args[0]!r}; choose one of {', '.join(SPACES)}"


@dataclass(frozen=True)
class ActionSpace:
    """A named set of actions: one tool in Qwen's function-call format."""

    name: str
    # The cookbook tool the prompt describes this space with (prompts/tools/).
    tool_name: str
    actions: tuple[type[Action], ...]

    @cached_property
    def _adapter(self) -> TypeAdapter[Any]:
        union = Annotated[Union[self.actions], Field(discriminator="action")]
        return TypeAdapter(union)

    @property
    def tags(self) -> list[str]:
        return [cls.model_fields["action"].default for cls in self.actions]

    def validate(self, arguments: Any) -> Action:
        """Arguments of a tool call (a dict) to a typed action; raises pydantic's ValidationError."""
        return self._adapter.validate_python(arguments)

    def with_answer(self) -> ActionSpace:
        """This space plus `answer`, for tasks that ask a question (our extension: Qwen2.5-VL's tools have none)."""
        return self if Answer in self.actions else replace(self, actions=(*self.actions, Answer))

    def call_schema(self, width: int, height: int) -> dict[str, Any]:
        """JSON schema of one whole tool call, with points bounded to a `width`x`height` image.

        This is what constrained decoding enforces: the tool's name, then arguments that validate as one
        of the space's actions, every string and number bounded.
        """
        variants = []
        for cls in self.actions:
            schema = _clean_schema(cls.model_json_schema())
            for name in cls.point_fields:
                schema["properties"][name] = _point_schema(width, height)
            # The tag comes first and is always written, so the model commits to an action before arguments.
            props = schema["properties"]
            schema["properties"] = {"action": props.pop("action"), **props}
            schema["required"] = ["action", *[r for r in schema.get("required", []) if r != "action"]]
            variants.append(schema)
        return {
            "type": "object",
            "properties": {"name": {"const": self.tool_name}, "arguments": {"anyOf": variants}},
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }


def _point_schema(width: int, height: int) -> dict[str, Any]:
    return {
        "type": "array",
        "prefixItems": [
            {"type": "integer", "minimum": 0, "maximum": width - 1},
            {"type": "integer", "minimum": 0, "maximum": height - 1},
        ],
        "items": False,
        "minItems": 2,
        "maxItems": 2,
    }


def _clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Pydantic's schema of one action as a closed, bounded object: no titles or defaults, no nulls."""
    schema = copy.deepcopy(schema)
    schema.pop("title", None)
    schema.pop("description", None)
    schema["additionalProperties"] = False
    for name, prop in list(schema["properties"].items()):
        if "anyOf" in prop:  # Optional[X]: the model leaves the argument out rather than writing null
            (prop_inner,) = [p for p in prop.pop("anyOf") if p.get("type") != "null"]
            prop.update(prop_inner)
        for key in ("title", "default"):
            prop.pop(key, None)
        if "const" in prop:
            prop["enum"] = [prop.pop("const")]
        if prop.get("type") == "string" and "enum" not in prop:
            prop.setdefault("maxLength", MAX_TEXT_CHARS)
        if prop.get("type") == "array" and prop.get("items", {}).get("type") == "string":
            prop["items"].setdefault("maxLength", 40)
        schema["properties"][name] = prop
    return schema


COMPUTER = ActionSpace(name="computer", tool_name="computer_use", actions=COMPUTER_ACTIONS)
BROWSER = ActionSpace(name="browser", tool_name="computer_use", actions=BROWSER_ACTIONS)
MOBILE = ActionSpace(name="mobile", tool_name="mobile_use", actions=MOBILE_ACTIONS)

SPACES: dict[str, ActionSpace] = {s.name: s for s in (COMPUTER, BROWSER, MOBILE)}


def get_space(name: str) -> ActionSpace:
    try:
        return SPACES[name]
    except KeyError:
        raise UnknownSpaceError(name) from None


__all__ = ["ActionSpace", "COMPUTER", "BROWSER", "MOBILE", "SPACES", "get_space", "ValidationError"]
