"""Prompts in the exact format of the Qwen2.5-VL cookbooks (computer_use, mobile_agent).

The system turn is what Qwen-Agent 0.0.15's `NousFnCallPrompt` makes of "You are a helpful assistant." and the
cookbook's tool (`ComputerUse` or `MobileUse`, kept verbatim as package data in `prompts/tools/`), stating the
resolution of the image the model will see (the resized one, so its coordinates land there). The user turn has
the cookbook's layout: the mobile cookbook's query and task progress, or the computer cookbook's raw query, then
the screenshot.

Our extensions add to that text and never rewrite it, and appear only where they are needed: actions the
cookbook's tool lacks (`answer`, the browser's `navigate`/`back`/`forward`) add their line, enum entry and
arguments at the end; a user's instructions, `--think` and the secrets paragraph follow "You are a helpful
assistant."; notes about the last step (an error, a refusal, no visible change, a driver's warning) come after
the query, one line each.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from string import Template
from typing import Any

from PIL import Image

from actions.base import Action
from actions.space import ActionSpace
from prompts.messages import ChatMessage, ImagePart, TextPart

# Appended to the system prompt when the backend lets the model think before its tool call.
THOUGHT_INSTRUCTION = (
    "\n\nBefore each tool call, write one or two short sentences about what you see and why you act; "
    "then give exactly one tool call."
)
# The mobile cookbook's words for the steps done so far; the computer cookbook has none, so it borrows these.
PROGRESS_INTRO = "Task progress (You have done the following operation on the current device): "
# What Qwen-Agent 0.0.15's BaseTool.function adds to a tool's name, description and parameters.
ARGS_FORMAT = "Format the arguments as a JSON object."


@cache
def _template(name: str) -> Template:
    return Template(resources.files("prompts").joinpath("templates", name).read_text(encoding="utf-8"))


@cache
def cookbook_tool(tool_name: str) -> dict[str, Any]:
    """The cookbook's tool as data: `description` (with ${width}, ${height}) and `parameters`."""
    return json.loads(resources.files("prompts").joinpath("tools", f"{tool_name}.json").read_text(encoding="utf-8"))


def tool_definition(space: ActionSpace, width: int, height: int) -> dict[str, Any]:
    """The space's tool as the Nous template lists it, for an image of `width`x`height`: the cookbook's tool,
    plus the space's actions it lacks."""
    tool = cookbook_tool(space.tool_name)
    parameters = copy.deepcopy(tool["parameters"])
    known = set(parameters["properties"]["action"]["enum"])
    missing = known - set(space.tags)
    if missing:
        raise ValueError(f"the {space.name} space lacks the cookbook's actions {sorted(missing)}")
    for cls in space.actions:
        if cls.model_fields["action"].default not in known:
            _add_action(parameters["properties"], cls)
    return {
        "type": "function",
        "function": {
            "name_for_human": space.tool_name,
            "name": space.tool_name,
            "description": Template(tool["description"]).substitute(width=width, height=height),
            "parameters": parameters,
            "args_format": ARGS_FORMAT,
        },
    }


def _add_action(properties: dict[str, Any], cls: type[Action]) -> None:
    """An extension action, written after the cookbook's ones in the cookbook's style."""
    tag = cls.model_fields["action"].default
    action = properties["action"]
    action["description"] += f"\n* `{tag}`: {(cls.__doc__ or '').strip().splitlines()[0]}"
    action["enum"].append(tag)
    schema = cls.model_json_schema()["properties"]
    for name, info in cls.model_fields.items():
        if name == "action":
            continue
        if name in properties:
            properties[name]["description"] += f" Also used by `action={tag}`: {info.description}"
        else:
            need = "Required only by" if info.is_required() else "Optional, used by"
            properties[name] = {"description": f"{info.description} {need} `action={tag}`.",
                                "type": schema[name].get("type", "string")}


def system_prompt(space: ActionSpace, width: int, height: int, extra_instructions: str = "") -> str:
    """The system turn. `extra_instructions` is the insertion point for a user's own rules."""
    return _template("system.txt").substitute(
        instructions=extra_instructions,
        tool_json=json.dumps(tool_definition(space, width, height), ensure_ascii=False),
    ).rstrip("\n")


def query_text(space: ActionSpace, task: str, progress: str) -> str:
    """The user turn's text before the screenshot. The mobile cookbook always states the progress, however
    empty; the computer cookbook sends the raw query, so the progress joins it only once there is some."""
    if space.tool_name == "mobile_use":
        return f"The user query:  {task}\n{PROGRESS_INTRO}{progress}"
    return f"{task}\n{PROGRESS_INTRO}{progress}" if progress else task


@dataclass(frozen=True)
class PastStep:
    """One earlier step as the prompt shows it: a progress line, and optionally its screenshot and answer."""

    progress: str
    screenshot: Image.Image | None = None
    answer: str | None = None


@dataclass(frozen=True)
class PromptInputs:
    space: ActionSpace
    task: str
    screenshot: Image.Image
    # (width, height) of the screenshot as the model will see it.
    image_size: tuple[int, int]
    history: list[PastStep] = field(default_factory=list)
    # How many of the most recent screenshots to show as images (the current one included).
    history_images: int = 1
    # Said to the model about the last step, one line each (an error, a refusal, no visible change, a warning).
    notes: tuple[str, ...] = ()
    extra_instructions: str = ""


def build_messages(inputs: PromptInputs) -> list[ChatMessage]:
    """System turn, then the query with the progress of steps not shown as images, then the recent steps
    as (screenshot, answer) turns, then the current screenshot."""
    shown = max(0, min(inputs.history_images - 1, len(inputs.history)))
    older, recent = inputs.history[: len(inputs.history) - shown], inputs.history[len(inputs.history) - shown :]
    # As the cookbook writes it: "Step 1: {...}; Step 2: {...}; ", the screenshot right after the last space.
    progress = "".join(f"Step {i}: {s.progress}; " for i, s in enumerate(older, start=1))
    width, height = inputs.image_size
    messages = [
        ChatMessage.text("system", system_prompt(inputs.space, width, height, inputs.extra_instructions)),
    ]
    pending: list[TextPart | ImagePart] = [TextPart(query_text(inputs.space, inputs.task, progress))]
    for step in recent:
        if step.screenshot is not None and step.answer is not None:
            messages.append(ChatMessage("user", (*pending, ImagePart(step.screenshot))))
            messages.append(ChatMessage.text("assistant", step.answer))
            pending = []
    if inputs.notes:
        pending.append(TextPart("".join(f"\nNote: {note}" for note in inputs.notes) + "\n"))
    messages.append(ChatMessage("user", (*pending, ImagePart(inputs.screenshot))))
    return messages


def retry_message(error: str) -> ChatMessage:
    """The user turn that quotes why the last answer could not be used."""
    return ChatMessage.text(
        "user",
        f"Your last answer could not be carried out: {error}\n"
        "Answer again with exactly one <tool_call>...</tool_call> for the current screen.",
    )
