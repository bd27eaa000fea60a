"""Prompts in Qwen2.5-VL's own function-call format (the Nous-style template of the Qwen cookbooks).

The system turn holds one tool, `computer_use` or `mobile_use`, as a JSON line inside <tools></tools>,
with the resolution of the image the model will see (the resized one, so its coordinates land there).
The user turn holds the query, the progress so far, and the screenshot(s).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from string import Template
from typing import Any

from PIL import Image

from actions.space import ActionSpace
from prompts.messages import ChatMessage, ImagePart, TextPart

# Appended to the system prompt when the backend lets the model think before its tool call.
THOUGHT_INSTRUCTION = (
    "\n\nBefore each tool call, write one or two short sentences about what you see and why you act; "
    "then give exactly one tool call."
)


@cache
def _template(name: str) -> Template:
    return Template(resources.files("prompts").joinpath("templates", name).read_text(encoding="utf-8"))


def tool_definition(space: ActionSpace, width: int, height: int) -> dict[str, Any]:
    """The space's tool in the shape the checkpoints were trained on, for an image of `width`x`height`."""
    lines = [*space.intro, f"* The screen's resolution is {width}x{height}.", *space.advice]
    action_lines = ["The action to perform. The available actions are:"]
    for cls in space.actions:
        tag = cls.model_fields["action"].default
        action_lines.append(f"* `{tag}`: {(cls.__doc__ or '').strip().splitlines()[0]}")
    properties: dict[str, Any] = {
        "action": {"description": "\n".join(action_lines), "enum": space.tags, "type": "string"}
    }
    for name, arg in space.arguments().items():
        users = ", ".join(f"`action={t}`" for t in (arg["required_by"] or arg["used_by"]))
        only = "Required only by" if arg["required_by"] else "Optional, used by"
        description = f"{arg['description']} {only} {users}.".lstrip()
        prop: dict[str, Any] = {"description": description}
        if arg["enum"]:
            prop["enum"] = arg["enum"]
        prop["type"] = arg["type"]
        properties[name] = prop
    return {
        "type": "function",
        "function": {
            "name_for_human": space.tool_name,
            "name": space.tool_name,
            "description": "\n".join(lines),
            "parameters": {"properties": properties, "required": ["action"], "type": "object"},
            "args_format": "Format the arguments as a JSON object.",
        },
    }


def system_prompt(space: ActionSpace, width: int, height: int, extra_instructions: str = "") -> str:
    """The system turn. `extra_instructions` is the insertion point for a user's own rules."""
    return _template("system.txt").substitute(
        instructions=extra_instructions,
        tool_json=json.dumps(tool_definition(space, width, height), ensure_ascii=False),
    ).rstrip("\n")


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
    # Said to the model about the last step (an error, a refused action, no visible change).
    feedback: str | None = None
    extra_instructions: str = ""


def build_messages(inputs: PromptInputs) -> list[ChatMessage]:
    """System turn, then the query with the progress of steps not shown as images, then the recent steps
    as (screenshot, answer) turns, then the current screenshot."""
    shown = max(0, min(inputs.history_images - 1, len(inputs.history)))
    older, recent = inputs.history[: len(inputs.history) - shown], inputs.history[len(inputs.history) - shown :]
    progress = " ".join(f"Step {i}: {s.progress};" for i, s in enumerate(older, start=1)) or "None."
    width, height = inputs.image_size
    messages = [
        ChatMessage.text("system", system_prompt(inputs.space, width, height, inputs.extra_instructions)),
    ]
    query = TextPart(_template("user.txt").substitute(task=inputs.task, progress=progress))
    pending: list[TextPart | ImagePart] = [query]
    for step in recent:
        if step.screenshot is not None and step.answer is not None:
            messages.append(ChatMessage("user", (*pending, ImagePart(step.screenshot))))
            messages.append(ChatMessage.text("assistant", step.answer))
            pending = []
    if inputs.feedback:
        pending.append(TextPart(f"Note: {inputs.feedback}\n"))
    messages.append(ChatMessage("user", (*pending, ImagePart(inputs.screenshot))))
    return messages


def retry_message(error: str) -> ChatMessage:
    """The user turn that quotes why the last answer could not be used."""
    return ChatMessage.text(
        "user",
        f"Your last answer could not be carried out: {error}\n"
        "Answer again with exactly one <tool_call>...</tool_call> for the current screen.",
    )
